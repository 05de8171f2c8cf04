//! Delta Lake adapter: options, the log and its snapshots, file selection, writes and
//! maintenance. Reading the selected files is the Parquet layer's ([`crate::parquet`]).

pub mod error;
pub mod log;
pub mod maintain;
pub mod options;
#[cfg(test)]
mod proptests;
pub mod read;
mod s3;
pub mod source;
pub mod write;

pub use error::{DeltaError, Result};
pub use source::DeltaSource;
