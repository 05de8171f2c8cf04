//! Pure-Rust source adapters for ODP.
//!
//! Nothing here links against Postgres: every adapter takes a [`request::ScanRequest`]
//! (what the planner pushed down) and produces Arrow record batches, so the logic is
//! unit-testable with plain `cargo test`. The `odp` extension turns batches into tuples.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod batch;
pub mod cache;
pub mod delta;
pub mod fault;
pub mod graph;
pub mod health;
pub mod lookup;
pub mod metrics;
pub mod numeric;
pub mod objects;
pub mod options;
pub mod parquet;
#[cfg(test)]
mod proptests;
pub mod redis;
pub mod request;
pub mod rowid;
pub mod runtime;
pub mod security;
pub mod source;
pub mod storage;
pub mod temporal;
#[cfg(feature = "test-source")]
pub mod test_source;
pub mod types;
pub mod value;

pub use deltalake::arrow;
