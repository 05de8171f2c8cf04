//! The async runtime adapters block on, and the host's hooks into it.
//!
//! A Postgres backend is single-threaded and is stopped by signals, so adapters run their
//! I/O on a current-thread Tokio runtime created once per process. Its only extra threads
//! are Tokio's blocking pool (`spawn_blocking`, used by `object_store` for local files and
//! by DNS lookups); the host's [`Hooks::on_thread_start`] runs on each of them first, so
//! the extension can block signals there and keep them for the backend's own thread.
//! While a future runs, [`Hooks::check_interrupts`] is called at every poll and at least
//! every [`INTERRUPT_CHECK_INTERVAL`], so a cancel or timeout stops a request that hangs.

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::Poll;
use std::time::Duration;
use tokio::runtime::Runtime;

/// How often a blocked call wakes up to check for interrupts.
pub const INTERRUPT_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Functions the host process provides; both default to doing nothing.
#[derive(Debug, Clone, Copy)]
pub struct Hooks {
    /// Stops the current work if the host was asked to (it may unwind by panicking:
    /// adapters hold no locks across calls to it).
    pub check_interrupts: fn(),
    /// Runs first on every thread the runtime starts.
    pub on_thread_start: fn(),
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// Installs the host's hooks; only the first call counts, and it must come before the
/// first call into an adapter (the extension installs them when it is loaded).
pub fn install_hooks(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

/// Gives the host a chance to stop the current work (cancel, timeout, termination).
pub fn check_interrupts() {
    if let Some(hooks) = HOOKS.get() {
        (hooks.check_interrupts)();
    }
}

fn runtime() -> Result<&'static Runtime, String> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .on_thread_start(|| {
                    if let Some(hooks) = HOOKS.get() {
                        (hooks.on_thread_start)();
                    }
                })
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `future` to completion on the process-wide runtime, checking for interrupts
/// while it runs; fails only when the runtime itself cannot be created (no file
/// descriptors left, for example).
pub fn block_on<F: Future>(future: F) -> Result<F::Output, String> {
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
