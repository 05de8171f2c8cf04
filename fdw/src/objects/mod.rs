//! `object_fdw`: the objects under a prefix of an S3-compatible bucket (or of a local
//! directory, the embedded default) as rows of keys, metadata and content.
//!
//! `options` parses server, user-mapping and table options; `keys` validates keys and
//! confines them to the table's prefix; `store` opens the `object_store` client with its
//! timeouts and signs URLs; `table` maps the fixed column set; `scan` lists or looks up
//! objects and fetches what the query references; `write` stages uploads and deletes
//! until the transaction commits; `files` reads Parquet, CSV and JSON-lines files under a
//! prefix as one table.

pub mod error;
pub mod files;
pub mod keys;
pub mod options;
#[cfg(test)]
mod proptests;
pub mod scan;
pub mod source;
pub mod store;
pub mod table;
pub mod write;

pub use error::{ObjectError, Result};
pub use source::ObjectSource;

/// Runs a future of the adapter on the runtime.
fn block<F: std::future::Future>(future: F) -> Result<F::Output> {
    crate::runtime::block_on(future).map_err(ObjectError::Runtime)
}
