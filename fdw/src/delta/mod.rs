//! Delta Lake adapter: options, schema, pruning, snapshots and Parquet scans.

pub mod error;
pub mod log;
pub mod maintain;
pub mod options;
#[cfg(test)]
mod proptests;
pub mod read;
pub mod rowid;
mod s3;
pub mod source;
pub mod types;
pub mod write;

pub use error::{DeltaError, Result};
pub use source::DeltaSource;
