//! The async runtime adapters block on, and the host's hooks into it.
//!
//! A Postgres backend is single-threaded and is stopped by signals, so adapters run their
//! I/O on a current-thread Tokio runtime created once per process. Libraries still start
//! threads of their own (Tokio's blocking pool for local file I/O and DNS, and the Delta
//! kernel's background executor with its own runtime). Postgres's signal handlers must
//! run on the backend's thread only, so while a future runs [`block_on`] keeps the
//! host's signals blocked ([`Hooks::block_signals`]): every thread started meanwhile
//! inherits the blocked mask. At every poll, and at least every
//! [`INTERRUPT_CHECK_INTERVAL`] while waiting, it restores the mask for a moment and
//! calls [`Hooks::check_interrupts`], so a cancel or timeout stops a request that hangs.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::Poll;
use std::time::Duration;
use tokio::runtime::Runtime;

/// How often a blocked call wakes up to check for interrupts.
pub const INTERRUPT_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Functions the host process provides; without them adapters run unhooked (tests).
#[derive(Debug, Clone, Copy)]
pub struct Hooks {
    /// Stops the current work if the host was asked to (it may unwind by panicking:
    /// adapters hold no locks across calls to it).
    pub check_interrupts: fn(),
    /// Blocks the host's asynchronous signals on the calling thread, remembering the
    /// mask it replaces.
    pub block_signals: fn(),
    /// Restores the mask [`Hooks::block_signals`] replaced.
    pub restore_signals: fn(),
    /// Holds off the host's interrupts (cancel, timeout, termination) until
    /// [`Hooks::resume_interrupts`]: [`Hooks::check_interrupts`] then returns normally.
    pub hold_interrupts: fn(),
    /// Ends one [`Hooks::hold_interrupts`].
    pub resume_interrupts: fn(),
    /// Reports a warning to the client and the server log (work that failed after a
    /// commit, which must not fail the commit).
    pub warning: fn(&str),
    /// Writes a debugging line to the host's log (shown at its debug levels).
    pub debug: fn(&str),
    /// The value of the test-only fault setting (see [`crate::fault`]), empty when unset.
    pub fault_setting: fn() -> String,
    /// The directory for temporary files of staged writes: the host's own, which it
    /// empties of names starting with [`SPILL_PREFIX`] when it starts after a crash.
    pub spill_dir: fn() -> std::path::PathBuf,
}

/// How the names of temporary files and directories of staged writes begin (the
/// prefix Postgres removes from its temporary-file directory when it starts).
pub const SPILL_PREFIX: &str = "pgsql_tmp_odp_";

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// Installs the host's hooks; only the first call counts, and it must come before the
/// first call into an adapter (the extension installs them when it is loaded).
pub fn install_hooks(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

thread_local! {
    /// Whether this thread is inside [`block_on`] with the host's signals blocked.
    static SIGNALS_BLOCKED: Cell<bool> = const { Cell::new(false) };
}

/// Gives the host a chance to stop the current work (cancel, timeout, termination).
/// Inside [`block_on`] the host's signals are deliverable for the duration of the check.
pub fn check_interrupts() {
    let Some(hooks) = HOOKS.get() else {
        return;
    };
    if SIGNALS_BLOCKED.get() {
        (hooks.restore_signals)();
        let _block_again = Guard(hooks.block_signals);
        (hooks.check_interrupts)();
    } else {
        (hooks.check_interrupts)();
    }
}

/// Holds the host's interrupts until the returned guard is dropped: for a step that must
/// not be abandoned half-way once it started, such as writing a commit's log entry (a
/// cancel then waits for the step to finish; timeouts of its I/O still apply).
pub fn hold_interrupts() -> impl Drop {
    let hooks = HOOKS.get();
    if let Some(hooks) = hooks {
        (hooks.hold_interrupts)();
    }
    Guard(|| {
        if let Some(hooks) = HOOKS.get() {
            (hooks.resume_interrupts)();
        }
    })
}

/// Reports `message` as a warning through the host (stderr without hooks).
pub fn warning(message: &str) {
    match HOOKS.get() {
        Some(hooks) => (hooks.warning)(message),
        None => eprintln!("WARNING: {message}"),
    }
}

/// Writes `message` to the host's debug log (nothing without hooks).
pub fn debug(message: &str) {
    if let Some(hooks) = HOOKS.get() {
        (hooks.debug)(message);
    }
}

/// A name part for temporary files, directories or keys of staged writes: the process
/// id and 96 random bits, so no two writers, of one machine or of several sharing a
/// store, pick the same (a failing random source leaves zeros: the process id still
/// tells apart the writers of one machine).
pub fn unique_name() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 12];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}_{hex}", std::process::id())
}

/// Where staged writes put their temporary files (the system's temporary directory
/// without hooks).
pub fn spill_dir() -> std::path::PathBuf {
    HOOKS
        .get()
        .map(|h| (h.spill_dir)())
        .unwrap_or_else(std::env::temp_dir)
}

/// The test-only fault setting, empty without hooks.
pub(crate) fn fault_setting() -> String {
    HOOKS.get().map(|h| (h.fault_setting)()).unwrap_or_default()
}

/// Runs a hook when dropped, also while a panic unwinds.
struct Guard(fn());

impl Drop for Guard {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Blocks the host's signals until the returned guard is dropped; `None` when there are
/// no hooks or this thread already blocked them.
fn block_signals() -> Option<impl Drop> {
    let hooks = HOOKS.get()?;
    if SIGNALS_BLOCKED.get() {
        return None;
    }
    (hooks.block_signals)();
    SIGNALS_BLOCKED.set(true);
    Some(Guard(|| {
        SIGNALS_BLOCKED.set(false);
        if let Some(hooks) = HOOKS.get() {
            (hooks.restore_signals)();
        }
    }))
}

fn runtime() -> Result<&'static Runtime, String> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `future` to completion on the process-wide runtime with the host's signals
/// blocked, checking for interrupts while it runs; fails only when the runtime itself
/// cannot be created (no file descriptors left, for example).
pub fn block_on<F: Future>(future: F) -> Result<F::Output, String> {
    let _blocked = block_signals();
    let runtime = runtime()?;
    Ok(runtime.block_on(async {
        let mut future = pin!(future);
        let mut tick = pin!(tokio::time::sleep(INTERRUPT_CHECK_INTERVAL));
        std::future::poll_fn(|cx| {
            check_interrupts();
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            while tick.as_mut().poll(cx).is_ready() {
                let next = tokio::time::Instant::now() + INTERRUPT_CHECK_INTERVAL;
                tick.as_mut().reset(next);
            }
            Poll::Pending
        })
        .await
    }))
}
