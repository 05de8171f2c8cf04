//! The one place where errors from every layer become Postgres errors with a SQLSTATE:
//! every error has an [`ErrorClass`], and [`sqlstate`] gives each class its code.

use odp_fdw::source::{ErrorClass, SourceError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use thiserror::Error;

/// Any error ODP reports to a client.
#[derive(Debug, Error)]
pub enum OdpError {
    /// a source (adapter) failed, or refused what it was asked
    #[error(transparent)]
    Source(SourceError),
    /// a value the source produced has no Postgres representation
    #[error("cannot convert source data: {0}")]
    Unsupported(String),
    /// a value does not fit the column it is written to
    #[error("value out of range: {0}")]
    OutOfRange(String),
    /// a date or timestamp the source cannot hold
    #[error("date/time value out of range: {0}")]
    DatetimeOutOfRange(String),
    /// a source value longer than its `varchar(n)` column allows
    #[error("column \"{column}\": value too long for type character varying({limit})")]
    TooLong { column: String, limit: usize },
    /// a storage function called on a relation that is not a Delta foreign table
    #[error("relation is not a foreign table of delta_fdw")]
    NotDeltaTable,
    /// a vacuum retention shorter than the table declares, without `force`
    #[error("retention of {asked_ms} ms is shorter than the table's delta.deletedFileRetentionDuration ({declared_ms} ms); pass force => true to vacuum anyway")]
    Retention { asked_ms: i64, declared_ms: i64 },
    /// a named object (a foreign server) does not exist
    #[error("{0} does not exist")]
    UndefinedObject(String),
    /// a failure while reading rows a row policy may hide: its details could show them
    #[error("reading the source failed; details are withheld because a row policy applies")]
    Withheld(ErrorClass),
    /// a resource policy does not allow the action
    #[error("permission denied: {action} on resource \"{resource}\" is not allowed by odp.resource_policies")]
    ResourceDenied {
        action: &'static str,
        resource: String,
    },
    /// an argument of an SQL function that cannot be used
    #[error("{0}")]
    InvalidArgument(String),
    /// credentials (an API key) were refused
    #[error("{0}")]
    Auth(String),
    /// a row policy whose condition cannot be used
    #[error("invalid row policy: {0}")]
    Policy(String),
}

impl<E: Into<SourceError>> From<E> for OdpError {
    fn from(error: E) -> OdpError {
        OdpError::Source(error.into())
    }
}

/// Result alias for code that reports to Postgres.
pub type Result<T> = std::result::Result<T, OdpError>;

impl OdpError {
    /// The current role lacks `what` (42501).
    pub fn privilege(what: &str) -> OdpError {
        OdpError::Source(SourceError::privilege(what))
    }

    /// `what` is not offered (0A000).
    pub fn not_supported(what: &str) -> OdpError {
        OdpError::Source(SourceError::unsupported(what))
    }

    /// The kind of failure.
    pub fn class(&self) -> ErrorClass {
        use ErrorClass::*;
        match self {
            OdpError::Source(e) => e.class(),
            OdpError::Unsupported(_) => Unsupported,
            OdpError::TooLong { .. } => TooLong,
            OdpError::OutOfRange(_) => NumericOutOfRange,
            OdpError::DatetimeOutOfRange(_) => DatetimeOutOfRange,
            OdpError::ResourceDenied { .. } => Privilege,
            OdpError::NotDeltaTable => WrongObjectType,
            OdpError::Retention { .. } | OdpError::InvalidArgument(_) => InvalidParameter,
            OdpError::UndefinedObject(_) => UndefinedObject,
            OdpError::Policy(_) => InvalidDefinition,
            OdpError::Withheld(class) => *class,
            OdpError::Auth(_) => Auth,
        }
    }

    /// The SQLSTATE a client sees.
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        sqlstate(self.class())
    }

    /// Whether the failed commit step changed its source before failing (Redis blocks
    /// or objects already applied): the COMMIT must not then be reported as failed.
    pub fn partly_landed(&self) -> bool {
        self.class() == ErrorClass::PartlyApplied
    }

    /// Raises this error as a Postgres ERROR (unwinds to the nearest `#[pg_guard]`).
    pub fn report(self) -> ! {
        ErrorReport::new(self.sqlstate(), self.to_string(), "odp").report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

/// The SQLSTATE of each class of failure.
pub fn sqlstate(class: ErrorClass) -> PgSqlErrorCode {
    use ErrorClass::*;
    use PgSqlErrorCode::*;
    match class {
        UnknownOption => ERRCODE_FDW_INVALID_OPTION_NAME,
        MissingOption => ERRCODE_FDW_OPTION_NAME_NOT_FOUND,
        InvalidOption => ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
        Unreachable => ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
        ConnectionLost => ERRCODE_CONNECTION_FAILURE,
        CommitUnknown => ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN,
        Auth => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        Privilege => ERRCODE_INSUFFICIENT_PRIVILEGE,
        TableNotFound => ERRCODE_FDW_TABLE_NOT_FOUND,
        SchemaNotFound => ERRCODE_FDW_SCHEMA_NOT_FOUND,
        ColumnNotFound => ERRCODE_FDW_COLUMN_NAME_NOT_FOUND,
        UndefinedObject => ERRCODE_UNDEFINED_OBJECT,
        BadData => ERRCODE_DATA_EXCEPTION,
        BadText => ERRCODE_INVALID_TEXT_REPRESENTATION,
        BadEncoding => ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
        InvalidParameter => ERRCODE_INVALID_PARAMETER_VALUE,
        NumericOutOfRange => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        DatetimeOutOfRange => ERRCODE_DATETIME_FIELD_OVERFLOW,
        TooLong => ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
        NotNull => ERRCODE_NOT_NULL_VIOLATION,
        Check => ERRCODE_CHECK_VIOLATION,
        Unique => ERRCODE_UNIQUE_VIOLATION,
        ForeignKey => ERRCODE_FOREIGN_KEY_VIOLATION,
        TypeMismatch => ERRCODE_DATATYPE_MISMATCH,
        UnsupportedDataType => ERRCODE_FDW_INVALID_DATA_TYPE,
        WrongObjectType => ERRCODE_WRONG_OBJECT_TYPE,
        Conflict => ERRCODE_T_R_SERIALIZATION_FAILURE,
        NotReady => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        ReadOnlyTransaction => ERRCODE_READ_ONLY_SQL_TRANSACTION,
        PartlyApplied | Remote => ERRCODE_FDW_ERROR,
        Unsupported => ERRCODE_FEATURE_NOT_SUPPORTED,
        Corrupt => ERRCODE_DATA_CORRUPTED,
        Resources => ERRCODE_FDW_OUT_OF_MEMORY,
        TooLarge => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        Syntax => ERRCODE_SYNTAX_ERROR,
        InvalidDefinition => ERRCODE_INVALID_OBJECT_DEFINITION,
        Internal => ERRCODE_INTERNAL_ERROR,
        Io => ERRCODE_IO_ERROR,
    }
}

/// Unwraps a result or raises its error in Postgres.
pub trait OrReport<T> {
    /// The value, or an ERROR with the mapped SQLSTATE.
    fn or_report(self) -> T;
}

impl<T, E: Into<OdpError>> OrReport<T> for std::result::Result<T, E> {
    fn or_report(self) -> T {
        self.unwrap_or_else(|e| e.into().report())
    }
}
