//! The one place where errors from every layer become Postgres errors with a SQLSTATE.

use odp_fdw::aggregate::AggregateError;
use odp_fdw::delta::DeltaError;
use odp_fdw::graph::GraphError;
use odp_fdw::objects::ObjectError;
use odp_fdw::options::OptionError;
use odp_fdw::redis::RedisError;
use odp_fdw::security::jwt::JwtError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use thiserror::Error;

/// Any error ODP reports to a client.
#[derive(Debug, Error)]
pub enum OdpError {
    /// a bad option in CREATE/ALTER SERVER, USER MAPPING or FOREIGN TABLE
    #[error(transparent)]
    Option(#[from] OptionError),
    /// a pushed-down aggregate failed
    #[error(transparent)]
    Aggregate(#[from] odp_fdw::aggregate::AggregateError),
    /// the Delta adapter failed
    #[error(transparent)]
    Delta(#[from] DeltaError),
    /// the Redis adapter failed
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// the graph adapter failed
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// the object-store adapter failed
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// a foreign table column does not fit the source's column
    #[error("column \"{column}\" has type {pg_type}, but the source column is {source_type}")]
    ColumnType {
        column: String,
        pg_type: String,
        source_type: String,
    },
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
    /// the current role lacks a privilege the operation needs
    #[error("permission denied: {0} is required")]
    Privilege(&'static str),
    /// a vacuum retention shorter than the table declares, without `force`
    #[error("retention of {asked_ms} ms is shorter than the table's delta.deletedFileRetentionDuration ({declared_ms} ms); pass force => true to vacuum anyway")]
    Retention { asked_ms: i64, declared_ms: i64 },
    /// a named object (a foreign server) does not exist
    #[error("{0} does not exist")]
    UndefinedObject(String),
    /// a failure while reading rows a row policy may hide: its details could show them
    #[error("reading the source failed; details are withheld because a row policy applies")]
    Withheld(PgSqlErrorCode),
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
    /// a JSON Web Token was refused
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// a row policy whose condition cannot be used
    #[error("invalid row policy: {0}")]
    Policy(String),
    /// the operation is not offered by this source
    #[error("{0} is not supported by this foreign data wrapper")]
    NotSupported(&'static str),
    /// a test-only fault point fired (odp.test_fault)
    #[error(transparent)]
    Injected(#[from] odp_fdw::fault::Injected),
}

/// Result alias for code that reports to Postgres.
pub type Result<T> = std::result::Result<T, OdpError>;

impl OdpError {
    /// The SQLSTATE a client sees.
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        let option = |e: &OptionError| match e {
            OptionError::Unknown { .. } => ERRCODE_FDW_INVALID_OPTION_NAME,
            OptionError::Missing { .. } => ERRCODE_FDW_OPTION_NAME_NOT_FOUND,
            OptionError::BadValue { .. } => ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
        };
        match self {
            OdpError::Injected(_) => ERRCODE_IO_ERROR,
            OdpError::Option(e) => option(e),
            OdpError::Aggregate(e) => match e {
                AggregateError::FloatOverflow | AggregateError::NumericOverflow => {
                    ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE
                }
                AggregateError::Type(_) => ERRCODE_FDW_INVALID_DATA_TYPE,
                AggregateError::Arrow(_) => ERRCODE_FDW_ERROR,
            },
            OdpError::Delta(e) => match e {
                DeltaError::InvalidOption(e) => option(e),
                DeltaError::OutsideRoot(_) | DeltaError::EscapesRoot(_) => {
                    ERRCODE_INSUFFICIENT_PRIVILEGE
                }
                DeltaError::SchemaNotFound(_) => ERRCODE_FDW_SCHEMA_NOT_FOUND,
                DeltaError::InvalidValue { .. } => ERRCODE_DATA_EXCEPTION,
                DeltaError::NullValue(_) => ERRCODE_NOT_NULL_VIOLATION,
                DeltaError::GeneratedMismatch(_) => ERRCODE_CHECK_VIOLATION,
                DeltaError::WriteConflict(_) => ERRCODE_T_R_SERIALIZATION_FAILURE,
                DeltaError::AppendOnly(_) | DeltaError::Unfinished(_) => {
                    ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
                }
                DeltaError::TableNotFound(_) => ERRCODE_FDW_TABLE_NOT_FOUND,
                DeltaError::BadLocation(..) => ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
                DeltaError::Storage(_) => ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
                DeltaError::CorruptLog(_) | DeltaError::DataFile { .. } => ERRCODE_DATA_CORRUPTED,
                DeltaError::UnsupportedType(_) | DeltaError::UnsupportedFeature(_) => {
                    ERRCODE_FEATURE_NOT_SUPPORTED
                }
                DeltaError::NoSuchColumn(_) => ERRCODE_FDW_COLUMN_NAME_NOT_FOUND,
                DeltaError::TimeTravel(_) => ERRCODE_INVALID_PARAMETER_VALUE,
                DeltaError::Runtime(_) => ERRCODE_FDW_OUT_OF_MEMORY,
                DeltaError::Handoff(_) => ERRCODE_INTERNAL_ERROR,
            },
            OdpError::Redis(e) => match e {
                RedisError::InvalidOption(e) => option(e),
                RedisError::Template { .. } => ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
                RedisError::Connect { .. } => ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
                RedisError::Auth(_) => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                RedisError::Denied { .. } | RedisError::DeniedCommand(_) => {
                    ERRCODE_INSUFFICIENT_PRIVILEGE
                }
                RedisError::Timeout(_) => ERRCODE_CONNECTION_FAILURE,
                RedisError::Command(_) => ERRCODE_FDW_ERROR,
                RedisError::BadValue { .. } => ERRCODE_INVALID_TEXT_REPRESENTATION,
                RedisError::InvalidText { .. } => ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
                RedisError::NullKey(_) | RedisError::EmptyHash(_) | RedisError::NullElement(_) => {
                    ERRCODE_NOT_NULL_VIOLATION
                }
                RedisError::WrongType { .. } => ERRCODE_WRONG_OBJECT_TYPE,
                RedisError::KeyValue { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
                RedisError::UnsupportedType { .. } => ERRCODE_DATATYPE_MISMATCH,
                RedisError::Unsupported(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
                RedisError::PartlyApplied { .. } => ERRCODE_FDW_ERROR,
                RedisError::RowId(_) => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                RedisError::Runtime(_) => ERRCODE_FDW_OUT_OF_MEMORY,
            },
            OdpError::Graph(e) => match e {
                GraphError::InvalidOption(e) => option(e),
                GraphError::Connect { .. } => ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
                GraphError::Auth(_) => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                GraphError::Timeout(_) => ERRCODE_CONNECTION_FAILURE,
                GraphError::Query(_) => ERRCODE_FDW_ERROR,
                GraphError::Server { code, .. } => graph_server_sqlstate(code),
                GraphError::BadValue { .. } => ERRCODE_DATATYPE_MISMATCH,
                GraphError::UnsupportedType { .. } => ERRCODE_DATATYPE_MISMATCH,
                GraphError::Unsupported(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
                GraphError::WriteInReadOnly(_) => ERRCODE_READ_ONLY_SQL_TRANSACTION,
                GraphError::MissingEnds(_) => ERRCODE_FOREIGN_KEY_VIOLATION,
                GraphError::Moved(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
                GraphError::Parameter { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
                GraphError::ChangedConcurrently(_) => ERRCODE_T_R_SERIALIZATION_FAILURE,
                GraphError::CommitUnknown(_) => ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN,
                GraphError::PartlyCommitted { .. } => ERRCODE_FDW_ERROR,
                GraphError::Runtime(_) => ERRCODE_FDW_OUT_OF_MEMORY,
            },
            OdpError::Objects(e) => match e {
                ObjectError::InvalidOption(e) => option(e),
                ObjectError::BadRoot { .. } => ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
                ObjectError::RootPrivilege | ObjectError::Denied(_) => {
                    ERRCODE_INSUFFICIENT_PRIVILEGE
                }
                ObjectError::Unaddressable(_) => ERRCODE_INVALID_TEXT_REPRESENTATION,
                ObjectError::BadKey { .. }
                | ObjectError::OutsidePrefix { .. }
                | ObjectError::BadValue { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
                ObjectError::Column { .. } => ERRCODE_DATATYPE_MISMATCH,
                ObjectError::Connect { .. } => ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
                ObjectError::Timeout(_) => ERRCODE_CONNECTION_FAILURE,
                ObjectError::Auth(_) => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                ObjectError::AlreadyExists(_) => ERRCODE_UNIQUE_VIOLATION,
                ObjectError::Changed(_) => ERRCODE_T_R_SERIALIZATION_FAILURE,
                ObjectError::PartlyApplied { .. } => ERRCODE_FDW_ERROR,
                ObjectError::TooLarge { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                ObjectError::Unsupported(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
                ObjectError::Store { .. } => ERRCODE_FDW_ERROR,
                ObjectError::BadFile { .. } => ERRCODE_DATA_CORRUPTED,
                ObjectError::RowId(_) => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                ObjectError::Runtime(_) => ERRCODE_FDW_OUT_OF_MEMORY,
            },
            OdpError::ColumnType { .. } => ERRCODE_DATATYPE_MISMATCH,
            OdpError::NotSupported(_) | OdpError::Unsupported(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
            OdpError::TooLong { .. } => ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
            OdpError::OutOfRange(_) => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            OdpError::Privilege(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            OdpError::NotDeltaTable => ERRCODE_WRONG_OBJECT_TYPE,
            OdpError::Retention { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            OdpError::UndefinedObject(_) => ERRCODE_UNDEFINED_OBJECT,
            OdpError::Policy(_) => ERRCODE_INVALID_OBJECT_DEFINITION,
            OdpError::Withheld(code) => *code,
            OdpError::Jwt(JwtError::BadKey { .. } | JwtError::UnsupportedAlgorithm(_)) => {
                ERRCODE_INVALID_PARAMETER_VALUE
            }
            OdpError::Jwt(_) => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            OdpError::Auth(_) => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            OdpError::InvalidArgument(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            OdpError::ResourceDenied { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            OdpError::DatetimeOutOfRange(_) => ERRCODE_DATETIME_FIELD_OVERFLOW,
        }
    }

    /// Raises this error as a Postgres ERROR (unwinds to the nearest `#[pg_guard]`).
    /// Whether the failed commit step changed its source before failing (Redis blocks
    /// or objects already applied): the COMMIT must not then be reported as failed.
    pub fn partly_landed(&self) -> bool {
        matches!(
            self,
            OdpError::Redis(RedisError::PartlyApplied { .. })
                | OdpError::Objects(ObjectError::PartlyApplied { .. })
                | OdpError::Graph(GraphError::PartlyCommitted { .. })
        )
    }

    pub fn report(self) -> ! {
        ErrorReport::new(self.sqlstate(), self.to_string(), "odp").report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

/// The SQLSTATE of a graph server's status code (Neo4j's codes; ArcadeDB uses them too).
fn graph_server_sqlstate(code: &str) -> PgSqlErrorCode {
    use PgSqlErrorCode::*;
    if code.contains("TransientError") || code.contains("DeadlockDetected") {
        ERRCODE_T_R_SERIALIZATION_FAILURE
    } else if code.contains("ConstraintValidationFailed") {
        ERRCODE_UNIQUE_VIOLATION
    } else if code.contains("SyntaxError") {
        ERRCODE_SYNTAX_ERROR
    } else if code.contains("Security.Forbidden") {
        ERRCODE_INSUFFICIENT_PRIVILEGE
    } else {
        ERRCODE_FDW_ERROR
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
