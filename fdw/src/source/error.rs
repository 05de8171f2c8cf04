//! What kind of failure an error is. Every adapter error classifies itself into an
//! [`ErrorClass`]; the extension gives each class its SQLSTATE in one place.

use crate::aggregate::AggregateError;
use crate::options::OptionError;
use std::fmt;

/// The kinds of failure a client can tell apart (each is one SQLSTATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// an option name the catalog does not accept
    UnknownOption,
    /// a required option is missing
    MissingOption,
    /// an option value (or a combination of options) that cannot be used
    InvalidOption,
    /// the service cannot be reached or refused the connection
    Unreachable,
    /// the connection failed or timed out while in use
    ConnectionLost,
    /// the outcome of a commit sent to the service is unknown
    CommitUnknown,
    /// the service refused the credentials
    Auth,
    /// the role lacks a privilege (here or on the service)
    Privilege,
    /// the source's table does not exist
    TableNotFound,
    /// the remote schema does not exist
    SchemaNotFound,
    /// the source has no column of that name
    ColumnNotFound,
    /// a named object (a server) does not exist
    UndefinedObject,
    /// a value the source holds or receives that does not fit its declaration
    BadData,
    /// text that does not parse as the declared type
    BadText,
    /// bytes that are not valid text in the database's encoding
    BadEncoding,
    /// an argument or parameter that cannot be used
    InvalidParameter,
    /// a number out of the type's range
    NumericOutOfRange,
    /// a date or timestamp out of the type's range
    DatetimeOutOfRange,
    /// text longer than its `varchar(n)` column
    TooLong,
    /// a NULL where the source needs a value
    NotNull,
    /// a value that breaks a rule the table declares (a generated column)
    Check,
    /// a value that already exists where it must be unique
    Unique,
    /// a reference to something that does not exist (a relationship's end nodes)
    ForeignKey,
    /// a column type the source's data does not fit
    TypeMismatch,
    /// a data type the source cannot compute with
    UnsupportedDataType,
    /// an object of another kind than the operation needs
    WrongObjectType,
    /// a concurrent change conflicts: retrying the transaction may succeed
    Conflict,
    /// the object is not in the state the operation needs
    NotReady,
    /// a write inside a read-only transaction
    ReadOnlyTransaction,
    /// a commit step failed after changing part of its source
    PartlyApplied,
    /// the source does not offer the operation
    Unsupported,
    /// stored data (a log, a data file) is damaged
    Corrupt,
    /// the adapter's runtime (threads, memory) failed
    Resources,
    /// a size past what the source allows
    TooLarge,
    /// a statement the service could not parse
    Syntax,
    /// a definition (a row policy) that cannot be used
    InvalidDefinition,
    /// an internal inconsistency
    Internal,
    /// an injected fault (tests) or a local I/O failure
    Io,
    /// any other failure the service reported
    Remote,
}

/// An error that knows its [`ErrorClass`].
pub trait Classify: std::error::Error {
    /// The kind of failure.
    fn class(&self) -> ErrorClass;
}

/// A failure of a source as the FDW core sees it: its class and its message. Built
/// from any adapter error with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    class: ErrorClass,
    message: String,
}

/// Result of the source kit.
pub type Result<T> = std::result::Result<T, SourceError>;

impl SourceError {
    /// An error of `class` saying `message`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> SourceError {
        SourceError {
            class,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// `what` is not offered by the source.
    pub fn unsupported(what: &str) -> SourceError {
        Self::new(
            ErrorClass::Unsupported,
            format!("{what} is not supported by this foreign data wrapper"),
        )
    }

    /// The current role lacks `what`.
    pub fn privilege(what: &str) -> SourceError {
        Self::new(
            ErrorClass::Privilege,
            format!("permission denied: {what} is required"),
        )
    }

    /// A foreign-table column whose type does not fit the source's column.
    pub fn column_type(column: &str, pg_type: &str, source_type: &str) -> SourceError {
        Self::new(
            ErrorClass::TypeMismatch,
            format!(
                "column \"{column}\" has type {pg_type}, but the source column is {source_type}"
            ),
        )
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceError {}

impl<E: Classify> From<E> for SourceError {
    fn from(error: E) -> SourceError {
        SourceError::new(error.class(), error.to_string())
    }
}

impl Classify for OptionError {
    fn class(&self) -> ErrorClass {
        match self {
            OptionError::Unknown { .. } => ErrorClass::UnknownOption,
            OptionError::Missing { .. } => ErrorClass::MissingOption,
            OptionError::BadValue { .. } => ErrorClass::InvalidOption,
        }
    }
}

impl Classify for AggregateError {
    fn class(&self) -> ErrorClass {
        match self {
            AggregateError::FloatOverflow | AggregateError::NumericOverflow => {
                ErrorClass::NumericOutOfRange
            }
            AggregateError::Type(_) => ErrorClass::UnsupportedDataType,
            AggregateError::Arrow(_) => ErrorClass::Remote,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("lost the race")]
    struct Race;

    impl Classify for Race {
        fn class(&self) -> ErrorClass {
            ErrorClass::Conflict
        }
    }

    #[test]
    fn an_adapter_error_keeps_its_class_and_text() {
        let e: SourceError = Race.into();
        assert_eq!(e.class(), ErrorClass::Conflict);
        assert_eq!(e.to_string(), "lost the race");
    }

    #[test]
    fn shared_messages_read_as_before() {
        assert_eq!(
            SourceError::unsupported("INSERT").to_string(),
            "INSERT is not supported by this foreign data wrapper"
        );
        assert_eq!(
            SourceError::column_type("a", "integer", "string").to_string(),
            "column \"a\" has type integer, but the source column is string"
        );
        assert_eq!(
            SourceError::privilege("X").to_string(),
            "permission denied: X is required"
        );
    }
}
