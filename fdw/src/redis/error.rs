//! Errors of the Redis adapter.

use crate::options::OptionError;
use thiserror::Error;

/// Everything that can go wrong reading or writing Redis.
#[derive(Debug, Error)]
pub enum RedisError {
    /// a commit that failed after some of its blocks were applied (Redis has no
    /// rollback): those changes stay
    #[error("applied {applied} of {total} changes to Redis, then failed: {reason}")]
    PartlyApplied {
        applied: u64,
        total: u64,
        reason: String,
    },
    /// an option value with the wrong shape
    #[error(transparent)]
    InvalidOption(#[from] OptionError),
    /// the key template is malformed or names an unknown column
    #[error("invalid key_template \"{template}\": {reason}")]
    Template { template: String, reason: String },
    /// the server could not be reached or refused the connection
    #[error("cannot connect to Redis at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// the server refused the credentials
    #[error("Redis refused the credentials: {0}")]
    Auth(String),
    /// the Redis user may not run a command on a key (ACL `NOPERM`)
    #[error("Redis denied access to key \"{key}\": {reason}")]
    Denied { key: String, reason: String },
    /// the Redis user may not run a command at all (ACL `NOPERM`)
    #[error("Redis denied the command: {0}")]
    DeniedCommand(String),
    /// the server did not answer in time
    #[error("Redis did not answer within {0} ms")]
    Timeout(u64),
    /// a command failed on the server
    #[error("Redis command failed: {0}")]
    Command(String),
    /// a stored value is not valid for its column's type
    #[error("key \"{key}\", {field}: {reason}")]
    BadValue {
        key: String,
        field: String,
        reason: String,
    },
    /// a hash row inserted without any non-NULL field (Redis has no empty hashes)
    #[error("row for key \"{0}\" has no non-NULL field: Redis cannot store an empty hash or stream entry")]
    EmptyHash(String),
    /// NULL as the member, score or value of a collection element
    #[error("row for key \"{0}\": a string value, set member, sorted-set member and score, or list value cannot be NULL")]
    NullElement(String),
    /// a key of the table's template holding another Redis type
    #[error("key \"{key}\" holds a Redis {found}, not a {expected}")]
    WrongType {
        key: String,
        found: String,
        expected: &'static str,
    },
    /// NULL in a key column of a row written
    #[error("null value in key column \"{0}\": a key needs every key column")]
    NullKey(String),
    /// a stored text value is not valid UTF-8 (or holds a NUL byte)
    #[error("key \"{key}\", {field}: value is not valid UTF-8 text")]
    InvalidText { key: String, field: String },
    /// a key-column value that cannot be placed in a key
    #[error("value for key column \"{column}\" cannot be used in a key: {reason}")]
    KeyValue { column: String, reason: String },
    /// a column type the adapter cannot map
    #[error("column \"{column}\": type {pg_type} is not supported by redis_fdw")]
    UnsupportedType { column: String, pg_type: String },
    /// an operation the table kind does not offer
    #[error("{0}")]
    Unsupported(String),
    /// a row identity that could not be given or resolved
    #[error(transparent)]
    RowId(#[from] crate::rowid::RowIdError),
    /// the async runtime could not start
    #[error("async runtime unavailable: {0}")]
    Runtime(String),
}

/// Result alias of the Redis adapter.
pub type Result<T> = std::result::Result<T, RedisError>;

impl crate::source::Classify for RedisError {
    fn class(&self) -> crate::source::ErrorClass {
        use crate::source::ErrorClass::*;
        match self {
            RedisError::InvalidOption(e) => e.class(),
            RedisError::Template { .. } => InvalidOption,
            RedisError::Connect { .. } => Unreachable,
            RedisError::Auth(_) => Auth,
            RedisError::Denied { .. } | RedisError::DeniedCommand(_) => Privilege,
            RedisError::Timeout(_) => ConnectionLost,
            RedisError::Command(_) => Remote,
            RedisError::BadValue { .. } => BadText,
            RedisError::InvalidText { .. } => BadEncoding,
            RedisError::NullKey(_) | RedisError::EmptyHash(_) | RedisError::NullElement(_) => {
                NotNull
            }
            RedisError::WrongType { .. } => WrongObjectType,
            RedisError::KeyValue { .. } => InvalidParameter,
            RedisError::UnsupportedType { .. } => TypeMismatch,
            RedisError::Unsupported(_) => Unsupported,
            RedisError::PartlyApplied { .. } => PartlyApplied,
            RedisError::RowId(_) => NotReady,
            RedisError::Runtime(_) => Resources,
        }
    }
}
