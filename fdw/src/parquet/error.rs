//! Why reading Parquet files failed. Each table format wraps these in its own error
//! (Delta in `DeltaError`, file tables in `ObjectError`).

use thiserror::Error;

/// Everything that can go wrong reading the Parquet files of a table.
#[derive(Debug, Error)]
pub enum ReadError {
    /// a data file could not be read or decoded
    #[error("cannot read data file \"{path}\": {reason}")]
    DataFile {
        /// the file's path in its store
        path: String,
        /// what went wrong
        reason: String,
    },
    /// a requested column is not one of the table's
    #[error("column \"{0}\" does not exist in the table")]
    NoSuchColumn(String),
    /// a read the layer cannot do (a refused file, row identities past their limits)
    #[error("{0}")]
    Unsupported(String),
    /// the async runtime or a shared table failed
    #[error("async runtime unavailable: {0}")]
    Runtime(String),
}

/// Result alias of the Parquet layer.
pub type Result<T> = std::result::Result<T, ReadError>;
