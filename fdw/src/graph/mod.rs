//! Graph adapter over Bolt (Neo4j, and ArcadeDB as the local stand-in): node and
//! relationship tables, Cypher built with parameters, Bolt values as Arrow arrays.

pub mod client;
pub mod cypher;
pub mod error;
pub mod options;
#[cfg(test)]
mod proptests;
pub mod read_only;
pub mod scan;
pub mod source;
pub mod statement;
pub mod table;
pub mod types;
pub mod write;

pub use error::{GraphError, Result};
pub use source::GraphSource;
