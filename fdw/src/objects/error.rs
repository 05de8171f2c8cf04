//! Errors of the object-store adapter.

use crate::options::OptionError;
use thiserror::Error;

/// Everything that can go wrong reading or writing objects.
#[derive(Debug, Error)]
pub enum ObjectError {
    /// a commit that failed after deleting or replacing objects (which cannot be
    /// restored); the objects it created were removed again
    #[error("changed {applied} of {total} objects, then failed: {reason}")]
    PartlyApplied {
        applied: usize,
        total: usize,
        reason: String,
    },
    /// an option value with the wrong shape
    #[error(transparent)]
    InvalidOption(#[from] OptionError),
    /// the server root is not a bucket URL or an absolute directory
    #[error("invalid object root \"{root}\": {reason}")]
    BadRoot { root: String, reason: String },
    /// a role without the right to name storage locations set a root
    #[error("only superusers and members of pg_read_server_files may set an object server's root")]
    RootPrivilege,
    /// a key that is not a plain object key
    #[error("invalid object key \"{key}\": {reason}")]
    BadKey { key: String, reason: String },
    /// a key in the store that no table row can name (written by another client)
    #[error("the store holds a key ODP cannot address ({0}); listings that cover it fail until it is renamed or removed")]
    Unaddressable(String),
    /// a key written outside the table's prefix
    #[error("object key \"{key}\" is outside the table's prefix \"{prefix}\"")]
    OutsidePrefix { key: String, prefix: String },
    /// a declared column the adapter does not provide, or with the wrong type
    #[error("column \"{column}\": {reason}")]
    Column { column: String, reason: String },
    /// a value written that the store cannot take
    #[error("{column} of object \"{key}\": {reason}")]
    BadValue {
        key: String,
        column: &'static str,
        reason: String,
    },
    /// the store could not be reached
    #[error("cannot reach the object store at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    /// the store did not answer in time
    #[error("the object store did not answer within {0} ms")]
    Timeout(u64),
    /// the store refused the credentials
    #[error("the object store refused the credentials: {0}")]
    Auth(String),
    /// the store refused the operation on an object
    #[error("the object store denied access to \"{0}\"")]
    Denied(String),
    /// a create-only upload found the object there
    #[error("object \"{0}\" already exists (the table option overwrite is off)")]
    AlreadyExists(String),
    /// an update found the object changed since the scan read it
    #[error("object \"{0}\" was changed by someone else since it was read")]
    Changed(String),
    /// an object larger than the content limit
    #[error(
        "object \"{key}\" has {size} bytes, more than the server's max_content_mb ({limit} bytes)"
    )]
    TooLarge { key: String, size: u64, limit: u64 },
    /// an operation the store or format does not offer
    #[error("{0}")]
    Unsupported(String),
    /// any other failure reported by the store
    #[error("object store request for \"{key}\" failed: {reason}")]
    Store { key: String, reason: String },
    /// a data file under the prefix that cannot be read in the table's format
    #[error("cannot read \"{key}\" as {format}: {reason}")]
    BadFile {
        key: String,
        format: &'static str,
        reason: String,
    },
    /// a row identity that could not be given or resolved
    #[error(transparent)]
    RowId(#[from] crate::rowid::RowIdError),
    /// the async runtime could not start
    #[error("async runtime unavailable: {0}")]
    Runtime(String),
}

/// Result alias of the object-store adapter.
pub type Result<T> = std::result::Result<T, ObjectError>;

/// What an `object_store` failure means for the object `key`, in the terms of this
/// adapter: credentials, permissions, conflicts, reachability and time-outs apart.
pub fn classify(
    error: object_store::Error,
    key: &str,
    endpoint: &str,
    timeout_ms: u64,
    local_root: Option<&std::path::Path>,
) -> ObjectError {
    use object_store::Error as E;
    let mut text = error.to_string();
    // a local root's absolute path is the server's business, not the caller's
    if let Some(root) = local_root {
        let resolved = std::fs::canonicalize(root).ok();
        for spelling in [Some(root), resolved.as_deref()].into_iter().flatten() {
            if let Some(spelling) = spelling.to_str().map(|s| s.trim_end_matches('/')) {
                if !spelling.is_empty() {
                    text = text.replace(spelling, "<root>");
                }
            }
        }
    }
    match error {
        E::AlreadyExists { .. } => ObjectError::AlreadyExists(key.to_string()),
        E::Precondition { .. } => ObjectError::Changed(key.to_string()),
        E::Unauthenticated { .. } => ObjectError::Auth(first_line(&text)),
        E::PermissionDenied { .. } if is_credential_error(&text) => {
            ObjectError::Auth(first_line(&text))
        }
        E::PermissionDenied { .. } => ObjectError::Denied(key.to_string()),
        E::InvalidPath { .. } => ObjectError::Unaddressable(first_line(&text)),
        E::NotImplemented { .. } | E::NotSupported { .. } => {
            ObjectError::Unsupported(first_line(&text))
        }
        _ if is_credential_error(&text) => ObjectError::Auth(first_line(&text)),
        _ if is_timeout(&text) => ObjectError::Timeout(timeout_ms),
        _ if is_unreachable(&text) => ObjectError::Connect {
            endpoint: endpoint.to_string(),
            reason: last_cause(&text),
        },
        _ => ObjectError::Store {
            key: key.to_string(),
            reason: first_line(&text),
        },
    }
}

fn is_credential_error(text: &str) -> bool {
    [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
    ]
    .iter()
    .any(|code| text.contains(code))
}

/// A request that hit its time-out (the retry summary's `retry_timeout` setting does not
/// count: it is printed with every retried failure).
fn is_timeout(text: &str) -> bool {
    text.to_ascii_lowercase().contains("timed out")
}

fn is_unreachable(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "error sending request",
        "connection refused",
        "connect error",
        "dns error",
        "tcp connect",
    ]
    .iter()
    .any(|s| lower.contains(s))
}

/// The innermost cause of a retried request's message (`... after 2 retries ... - HTTP
/// error: error sending request`), without timings.
fn last_cause(text: &str) -> String {
    let line = first_line(text);
    match line.rsplit_once(" - ") {
        Some((_, cause)) => cause.trim().to_string(),
        None => line,
    }
}

/// The first line of a message, without the XML bodies some stores append.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.find("<?xml") {
        Some(i) => line[..i].trim_end().to_string(),
        None => line.to_string(),
    }
}

impl crate::source::Classify for ObjectError {
    fn class(&self) -> crate::source::ErrorClass {
        use crate::source::ErrorClass::*;
        match self {
            ObjectError::InvalidOption(e) => e.class(),
            ObjectError::BadRoot { .. } => InvalidOption,
            ObjectError::RootPrivilege | ObjectError::Denied(_) => Privilege,
            ObjectError::Unaddressable(_) => BadText,
            ObjectError::BadKey { .. }
            | ObjectError::OutsidePrefix { .. }
            | ObjectError::BadValue { .. } => InvalidParameter,
            ObjectError::Column { .. } => TypeMismatch,
            ObjectError::Connect { .. } => Unreachable,
            ObjectError::Timeout(_) => ConnectionLost,
            ObjectError::Auth(_) => Auth,
            ObjectError::AlreadyExists(_) => Unique,
            ObjectError::Changed(_) => Conflict,
            ObjectError::PartlyApplied { .. } => PartlyApplied,
            ObjectError::TooLarge { .. } => TooLarge,
            ObjectError::Unsupported(_) => Unsupported,
            ObjectError::Store { .. } => Remote,
            ObjectError::BadFile { .. } => Corrupt,
            ObjectError::RowId(_) => NotReady,
            ObjectError::Runtime(_) => Resources,
        }
    }
}
