//! One module per foreign data wrapper: each implements [`crate::fdw::Source`] over an
//! adapter of `odp_fdw` and registers its handler and validator.

use pgrx::{pg_guard, pg_sys};

/// Registers the catalog callbacks that drop the backend's Redis connections and graph
/// pools when a foreign server or user mapping changes (at load), so an `ALTER SERVER`
/// or a new password never leaves the old connection open for the backend's life.
pub fn init() {
    for cache in [
        pg_sys::SysCacheIdentifier::FOREIGNSERVEROID,
        pg_sys::SysCacheIdentifier::USERMAPPINGOID,
    ] {
        // SAFETY: registers a function pointer that lives as long as the library.
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(
                cache as i32,
                Some(forget_connections),
                pg_sys::Datum::from(0),
            )
        };
    }
}

/// Syscache callback: a server or user mapping changed. The next statement connects
/// again (connections in use by a running scan stay until it ends).
#[pg_guard]
unsafe extern "C-unwind" fn forget_connections(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    odp_fdw::redis::client::forget_connections();
    odp_fdw::graph::client::forget_pools();
}

/// Whether writers share something to commit (an open Bolt transaction).
pub fn has_shared() -> bool {
    odp_fdw::graph::client::has_open_writes()
}

/// Commits what writers of several tables share (the graph's one Bolt transaction per
/// server), after every writer of the transaction committed its own part; describes
/// what it committed.
pub fn commit_shared() -> crate::error::Result<Option<String>> {
    let committed = odp_fdw::graph::client::commit_writes()?;
    Ok((committed > 0).then(|| format!("committed {committed} graph transactions")))
}

/// Drops what writers share (the transaction aborted, or committed without them).
pub fn abandon_shared() {
    odp_fdw::graph::client::abandon_writes();
}

pub mod delta;
pub mod graph;
pub mod objects;
pub mod redis;
#[cfg(any(test, feature = "pg_test"))]
pub mod test_source;
