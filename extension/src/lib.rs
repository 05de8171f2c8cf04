//! ODP: one Postgres extension that plans and secures queries over Delta Lake,
//! object storage, Redis and graph databases.
//!
//! Layers: `odp_fdw` (pure-Rust source adapters) → [`fdw`] (the FDW core over
//! `pg_sys::FdwRoutine`) → [`sources`] (one module per wrapper) → [`api`] (SQL functions).

use pgrx::prelude::*;

pub mod api;
pub mod error;
pub mod fdw;
pub mod sources;

::pgrx::pg_module_magic!(name, version);

/// Called when the library is loaded: registers GUCs and the adapters' runtime hooks.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    api::health::init_gucs();
    odp_fdw::runtime::install_hooks(odp_fdw::runtime::Hooks {
        check_interrupts,
        on_thread_start: block_signals,
    });
}

/// Lets Postgres act on a pending cancel, timeout or termination: its ERROR becomes a
/// Rust panic that unwinds through the adapter to the FDW callback's guard.
fn check_interrupts() {
    pgrx::check_for_interrupts!();
}

/// Blocks every signal on a helper thread, so Postgres's handlers (statement timeout,
/// cancel, termination) run on the backend's own thread only.
fn block_signals() {
    // SAFETY: sigfillset initialises the set; pthread_sigmask changes only this thread.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
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
