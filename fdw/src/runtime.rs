//! The async runtime adapters block on.
//!
//! A Postgres backend is single-threaded and may be interrupted by signals, so adapters
//! run their I/O on a current-thread Tokio runtime created once per process: no worker
//! threads linger in the backend, and nothing runs while Postgres code is executing.

use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

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

/// Runs `future` to completion on the process-wide runtime; fails only when the
/// runtime itself cannot be created (no file descriptors left, for example).
pub fn block_on<F: Future>(future: F) -> Result<F::Output, String> {
    Ok(runtime()?.block_on(future))
}
