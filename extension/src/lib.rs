//! ODP: one Postgres extension that plans and secures queries over Delta Lake,
//! object storage, Redis and graph databases.
//!
//! Layers: `odp_fdw` (pure-Rust source adapters) → [`fdw`] (the FDW core over
//! `pg_sys::FdwRoutine`) → [`sources`] (one module per wrapper) → [`api`] (SQL functions).

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use pgrx::prelude::*;

pub mod api;
pub mod error;
pub mod fdw;
pub mod host;
pub mod sources;

::pgrx::pg_module_magic!(name, version);

/// Called when the library is loaded: registers GUCs, the feature stream worker (when
/// preloaded), the transaction callbacks of foreign writes and the adapters' runtime
/// hooks.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    fix_malloc_thresholds();
    api::health::init_gucs();
    api::feature_stream::init_gucs();
    fdw::lookahead::init_gucs();
    fdw::upper::init_gucs();
    api::security::init_gucs();
    api::security::init_session_reset();
    api::feature_stream::register_worker();
    fdw::policy::init();
    sources::init();
    // (the publishing lock first: its end-of-transaction reset cannot fail)
    let participants: Vec<&'static dyn odp_fdw::source::TransactionParticipant> =
        std::iter::once(&api::feature_stream::PUBLISHING_LOCK as _)
            .chain(sources::participants())
            .collect();
    fdw::xact::init(participants);
    odp_fdw::runtime::install_hooks(odp_fdw::runtime::Hooks {
        check_interrupts,
        block_signals,
        restore_signals,
        hold_interrupts,
        resume_interrupts,
        warning,
        debug,
        fault_setting: fdw::xact::fault_setting,
        spill_dir,
    });
}

/// The default tablespace's temporary-file directory (`base/pgsql_tmp` under the data
/// directory), created when missing as Postgres creates it; files there whose names
/// start with `pgsql_tmp` are removed when the server starts after a crash.
fn spill_dir() -> std::path::PathBuf {
    // SAFETY: DataDir is set once when the server starts and never changes after.
    let data = unsafe { std::ffi::CStr::from_ptr(pgrx::pg_sys::DataDir) };
    let dir = std::path::Path::new(&*data.to_string_lossy()).join("base/pgsql_tmp");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Fixes glibc's malloc thresholds at what its own heuristic reaches once a process has
/// freed a 4 MB block: Parquet column chunks and pages (hundreds of kilobytes) then come
/// from the heap, not from a fresh `mmap` each, and freeing them does not hand the top
/// of the heap back to the kernel. A new process (a parallel worker, a new connection)
/// otherwise page-faults on every such buffer until the heuristic catches up. Thresholds
/// an administrator set (`GLIBC_TUNABLES`, `MALLOC_MMAP_THRESHOLD_`,
/// `MALLOC_TRIM_THRESHOLD_`) are left alone. Fixing them also stops glibc from raising
/// the mmap threshold beyond 4 MB, and each process may keep up to 8 MB of freed heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_malloc_thresholds() {
    let tunables = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    let tunables = tunables.to_string_lossy();
    let tuned = tunables.contains("glibc.malloc.mmap_threshold")
        || tunables.contains("glibc.malloc.trim_threshold")
        || std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some();
    if !tuned {
        // SAFETY: mallopt only changes the allocator's tuning parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 8 << 20);
        }
    }
}

/// Other C libraries keep their own allocation strategy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_malloc_thresholds() {}

/// Lets Postgres act on a pending cancel, timeout or termination: its ERROR becomes a
/// Rust panic that unwinds through the adapter to the FDW callback's guard.
fn check_interrupts() {
    pgrx::check_for_interrupts!();
}

/// HOLD_INTERRUPTS(): a cancel or termination waits until [`resume_interrupts`].
pub(crate) fn hold_interrupts() {
    // SAFETY: the backend's interrupt holdoff counter, changed as HOLD_INTERRUPTS does
    // (adapters call this on the backend thread only).
    unsafe { pg_sys::InterruptHoldoffCount += 1 };
}

/// RESUME_INTERRUPTS(), never below zero: an ERROR raised inside the held section has
/// already reset the counter (errfinish) by the time the guard is dropped.
pub(crate) fn resume_interrupts() {
    // SAFETY: as in `hold_interrupts`.
    unsafe { pg_sys::InterruptHoldoffCount = pg_sys::InterruptHoldoffCount.saturating_sub(1) };
}

/// Reports an adapter's warning to the client and the server log.
fn warning(message: &str) {
    pgrx::warning!("odp: {message}");
}

/// Writes a debugging line of an adapter to the server log (DEBUG1).
fn debug(message: &str) {
    pgrx::debug1!("{message}");
}

/// The signal mask `block_signals` replaced, restored by `restore_signals` (backend
/// thread only).
static SAVED_SIGNAL_MASK: std::sync::Mutex<Option<libc::sigset_t>> = std::sync::Mutex::new(None);

/// Blocks every asynchronous signal on the backend thread while adapter code runs, so
/// the threads libraries start meanwhile inherit a mask that keeps Postgres's handlers
/// (statement timeout, cancel, termination, latches) on the backend's own thread.
fn block_signals() {
    // SAFETY: sigfillset/sigdelset initialise a local set; pthread_sigmask changes
    // only the calling thread's mask and writes the previous one into `previous`.
    let previous = unsafe {
        let mut blocked: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut blocked);
        for synchronous in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            libc::sigdelset(&mut blocked, synchronous);
        }
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &blocked, &mut previous);
        previous
    };
    if let Ok(mut saved) = SAVED_SIGNAL_MASK.lock() {
        *saved = Some(previous);
    }
}

/// Restores the mask `block_signals` replaced; pending signals are delivered now.
fn restore_signals() {
    let saved = SAVED_SIGNAL_MASK.lock().ok().and_then(|saved| *saved);
    if let Some(mask) = saved {
        // SAFETY: restores a mask read from this thread by pthread_sigmask.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut()) };
    }
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'odp'"]
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn version_matches_the_crate() {
        let v = Spi::get_one::<String>("SELECT odp.version()")
            .unwrap()
            .unwrap();
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
    }
}
