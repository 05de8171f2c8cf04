//! Errors of the Delta adapter.

use crate::options::OptionError;
use crate::parquet::error::ReadError;
use thiserror::Error;

/// Everything that can go wrong reading or writing a Delta table.
#[derive(Debug, Error)]
pub enum DeltaError {
    /// the table location has no `_delta_log`
    #[error("no Delta table at \"{0}\"")]
    TableNotFound(String),
    /// the location could not be parsed or resolved
    #[error("invalid table location \"{0}\": {1}")]
    BadLocation(String, String),
    /// an absolute path, URL or server root named by a role that may not leave a root
    #[error("only superusers and members of pg_read_server_files may use the absolute location \"{0}\" (table paths of other roles are relative to the server root)")]
    OutsideRoot(String),
    /// a relative path that leads outside the server root
    #[error("path \"{0}\" leads outside the server root")]
    EscapesRoot(String),
    /// `IMPORT FOREIGN SCHEMA` named a directory that does not exist
    #[error("remote schema \"{0}\" does not exist: no such directory under the server root")]
    SchemaNotFound(String),
    /// an option value with the wrong shape
    #[error(transparent)]
    InvalidOption(#[from] OptionError),
    /// storage could not be reached (network, permissions)
    #[error("cannot reach Delta storage: {0}")]
    Storage(String),
    /// the log or a data file is not what the protocol says
    #[error("corrupt Delta table: {0}")]
    CorruptLog(String),
    /// a Delta type ODP cannot map
    #[error("unsupported Delta type \"{0}\"")]
    UnsupportedType(String),
    /// a table feature ODP cannot read yet
    #[error("unsupported Delta feature: {0}")]
    UnsupportedFeature(String),
    /// a foreign table column has no counterpart in the Delta schema
    #[error("column \"{0}\" does not exist in the Delta table")]
    NoSuchColumn(String),
    /// time travel to a version or time that does not exist
    #[error("cannot time travel: {0}")]
    TimeTravel(String),
    /// a Parquet data file could not be decoded
    #[error("cannot read data file \"{path}\": {reason}")]
    DataFile { path: String, reason: String },
    /// a value cannot be stored in its Delta column
    #[error("invalid value for column \"{column}\": {reason}")]
    InvalidValue { column: String, reason: String },
    /// NULL in a column the Delta schema declares NOT NULL
    #[error("null value in column \"{0}\" violates the Delta table's not-null constraint")]
    NullValue(String),
    /// a generated column given a value other than its generation expression's
    #[error("value of generated column \"{0}\" does not match its generation expression")]
    GeneratedMismatch(String),
    /// another writer committed a conflicting change first
    #[error("could not commit to the Delta table because of a concurrent change: {0}")]
    WriteConflict(String),
    /// an UPDATE or DELETE of a table that declares `delta.appendOnly`
    #[error(
        "cannot update or delete rows of the append-only Delta table \"{0}\" (delta.appendOnly)"
    )]
    AppendOnly(String),
    /// an earlier write of the transaction to the table stopped part-way (an error or a
    /// cancel while rows went to files): what it wrote can no longer be trusted
    #[error("an earlier write to the Delta table \"{0}\" in this transaction stopped part-way; roll the transaction back")]
    Unfinished(String),
    /// the async runtime could not start
    #[error("async runtime unavailable: {0}")]
    Runtime(String),
    /// a parallel worker could not read the snapshot its leader handed over
    #[error("the parallel scan leader's snapshot is unreadable: {0}")]
    Handoff(String),
}

impl From<ReadError> for DeltaError {
    fn from(error: ReadError) -> DeltaError {
        match error {
            ReadError::DataFile { path, reason } => DeltaError::DataFile { path, reason },
            ReadError::NoSuchColumn(column) => DeltaError::NoSuchColumn(column),
            ReadError::Unsupported(what) => DeltaError::UnsupportedFeature(what),
            ReadError::Runtime(why) => DeltaError::Runtime(why),
        }
    }
}

/// Result alias of the Delta adapter.
pub type Result<T> = std::result::Result<T, DeltaError>;

impl DeltaError {
    /// Classifies an error from the `deltalake` crate.
    pub fn from_delta(location: &str, err: deltalake::DeltaTableError) -> DeltaError {
        use deltalake::DeltaTableError as E;
        match err {
            E::NotATable(_) | E::InvalidTableLocation(_) => {
                DeltaError::TableNotFound(location.to_string())
            }
            E::ObjectStore { source } => match source {
                deltalake::ObjectStoreError::NotFound { .. } => {
                    DeltaError::TableNotFound(location.to_string())
                }
                other => DeltaError::Storage(other.to_string()),
            },
            E::InvalidVersion(v) => DeltaError::TimeTravel(format!("version {v} does not exist")),
            E::InvalidDateTimeString { .. } => DeltaError::TimeTravel("invalid timestamp".into()),
            other => {
                // The kernel reports a missing table as a generic error; recognise it by text.
                let text = other.to_string();
                let missing = [
                    "Invalid table location",
                    "Path does not exist",
                    "No files in log segment",
                    "not a Delta table",
                ];
                if missing.iter().any(|m| text.contains(m)) {
                    DeltaError::TableNotFound(location.to_string())
                } else {
                    DeltaError::Storage(text)
                }
            }
        }
    }
}

impl crate::source::Classify for DeltaError {
    fn class(&self) -> crate::source::ErrorClass {
        use crate::source::ErrorClass::*;
        match self {
            DeltaError::InvalidOption(e) => e.class(),
            DeltaError::OutsideRoot(_) | DeltaError::EscapesRoot(_) => Privilege,
            DeltaError::SchemaNotFound(_) => SchemaNotFound,
            DeltaError::InvalidValue { .. } => BadData,
            DeltaError::NullValue(_) => NotNull,
            DeltaError::GeneratedMismatch(_) => Check,
            DeltaError::WriteConflict(_) => Conflict,
            DeltaError::AppendOnly(_) | DeltaError::Unfinished(_) => NotReady,
            DeltaError::TableNotFound(_) => TableNotFound,
            DeltaError::BadLocation(..) => InvalidOption,
            DeltaError::Storage(_) => Unreachable,
            DeltaError::CorruptLog(_) | DeltaError::DataFile { .. } => Corrupt,
            DeltaError::UnsupportedType(_) | DeltaError::UnsupportedFeature(_) => Unsupported,
            DeltaError::NoSuchColumn(_) => ColumnNotFound,
            DeltaError::TimeTravel(_) => InvalidParameter,
            DeltaError::Runtime(_) => Resources,
            DeltaError::Handoff(_) => Internal,
        }
    }
}
