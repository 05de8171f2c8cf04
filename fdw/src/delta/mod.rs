//! Delta Lake adapter: options, schema, pruning, snapshots and Parquet scans.

mod batches;
pub mod commit;
pub mod counters;
pub mod error;
pub mod filter;
pub mod footer;
pub mod generated;
pub mod handoff;
pub mod hot_files;
pub mod maintain;
pub mod options;
pub mod partition_spill;
pub mod pending;
#[cfg(test)]
mod proptests;
pub mod prune;
pub mod reader;
pub mod rowid;
mod s3;
pub mod scan;
pub mod schema;
pub mod select;
pub mod skipping;
pub mod source;
pub mod summary;
pub mod table;
pub mod types;
pub mod whole_files;
pub mod write;
pub mod write_options;

pub use error::{DeltaError, Result};
pub use source::DeltaSource;
