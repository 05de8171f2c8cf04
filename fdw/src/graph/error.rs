//! Errors of the graph adapter.

use crate::options::OptionError;
use thiserror::Error;

/// Everything that can go wrong talking to a Bolt server.
#[derive(Debug, Error)]
pub enum GraphError {
    /// an option value with the wrong shape
    #[error(transparent)]
    InvalidOption(#[from] OptionError),
    /// the server could not be reached
    #[error("cannot connect to the graph server at {uri}: {reason}")]
    Connect { uri: String, reason: String },
    /// the server refused the credentials
    #[error("the graph server refused the credentials: {0}")]
    Auth(String),
    /// the server did not answer in time
    #[error("the graph server did not answer within {0} ms")]
    Timeout(u64),
    /// the server rejected or failed a query, with its status code
    #[error("graph query failed: {code}: {message}")]
    Server { code: String, message: String },
    /// a reply ODP could not use
    #[error("graph query failed: {0}")]
    Query(String),
    /// a value does not fit its column
    #[error("column \"{column}\": {reason}")]
    BadValue { column: String, reason: String },
    /// a parameter of `odp.cypher` without a Bolt form
    #[error("parameter ${name}: {reason}")]
    Parameter { name: String, reason: String },
    /// rows an UPDATE would change that another transaction deleted meanwhile
    #[error("could not serialize access: {0} rows were deleted by a concurrent transaction")]
    ChangedConcurrently(u64),
    /// a COMMIT sent without an answer (time-out, lost connection): the server may
    /// have committed or not
    #[error("the graph server did not confirm the COMMIT ({0}): whether it committed is unknown")]
    CommitUnknown(String),
    /// the graph transactions of some servers committed, then another failed: those
    /// stay committed
    #[error(
        "committed the graph transactions of {committed} of {total} servers, then failed: {reason}"
    )]
    PartlyCommitted {
        committed: usize,
        total: usize,
        reason: String,
    },
    /// a column type without a mapping
    #[error("column \"{column}\": type {pg_type} is not supported by neo4j_fdw")]
    UnsupportedType { column: String, pg_type: String },
    /// relationships that could not be merged: an end node is missing
    #[error("{0} relationships were not written: their start or end node does not exist")]
    MissingEnds(u64),
    /// rows an UPDATE would move to other end nodes, or that changed meanwhile
    #[error("{0} rows were not updated: a relationship's end nodes cannot change (delete and insert it), or it was changed meanwhile")]
    Moved(u64),
    /// an operation not offered
    #[error("{0}")]
    Unsupported(String),

    /// a query run read-only (no `write => true`) that could change the graph
    #[error("odp.cypher without write => true runs read-only queries; this one has {0} (members of odp_graph_writer may pass write => true)")]
    WriteInReadOnly(String),
    /// the async runtime could not start
    #[error("async runtime unavailable: {0}")]
    Runtime(String),
}

/// Result alias of the graph adapter.
pub type Result<T> = std::result::Result<T, GraphError>;

impl crate::source::Classify for GraphError {
    fn class(&self) -> crate::source::ErrorClass {
        use crate::source::ErrorClass::*;
        match self {
            GraphError::InvalidOption(e) => e.class(),
            GraphError::Connect { .. } => Unreachable,
            GraphError::Auth(_) => Auth,
            GraphError::Timeout(_) => ConnectionLost,
            GraphError::Query(_) => Remote,
            GraphError::Server { code, .. } => server_class(code),
            GraphError::BadValue { .. } | GraphError::UnsupportedType { .. } => TypeMismatch,
            GraphError::Unsupported(_) | GraphError::Moved(_) => Unsupported,
            GraphError::WriteInReadOnly(_) => ReadOnlyTransaction,
            GraphError::MissingEnds(_) => ForeignKey,
            GraphError::Parameter { .. } => InvalidParameter,
            GraphError::ChangedConcurrently(_) => Conflict,
            GraphError::CommitUnknown(_) => CommitUnknown,
            GraphError::PartlyCommitted { .. } => PartlyApplied,
            GraphError::Runtime(_) => Resources,
        }
    }
}

/// The class of a graph server's status code (Neo4j's codes; ArcadeDB uses them too).
fn server_class(code: &str) -> crate::source::ErrorClass {
    use crate::source::ErrorClass::*;
    if code.contains("TransientError") || code.contains("DeadlockDetected") {
        Conflict
    } else if code.contains("ConstraintValidationFailed") {
        Unique
    } else if code.contains("SyntaxError") {
        Syntax
    } else if code.contains("Security.Forbidden") {
        Privilege
    } else {
        Remote
    }
}
