//! One module per foreign data wrapper: each implements [`crate::fdw::Source`] over an
//! adapter of `odp_fdw` and registers its handler and validator.

/// Commits what writers of several tables share (the graph's one Bolt transaction per
/// server), after every writer of the transaction committed its own part.
pub fn commit_shared() -> crate::error::Result<()> {
    Ok(odp_fdw::graph::client::commit_writes()?)
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
