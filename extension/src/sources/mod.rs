//! One module per foreign data wrapper: each implements [`crate::fdw::Source`] over an
//! adapter of `odp_fdw` and registers its handler and validator.

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
