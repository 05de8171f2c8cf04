//! The Parquet layer: reading lake tables stored as Parquet files, for Delta tables and
//! for plain Parquet file tables alike.
//!
//! A caller hands it the table's columns ([`schema`]), the pushed-down quals bound as a
//! [`prune::Pruner`] and a plain list of files ([`scan::ParquetFile`]); it reads them
//! with cached footers ([`footer`]), row groups and pages skipped by statistics, page
//! indexes and bloom filters ([`skipping`]), projection and row filters ([`batches`],
//! [`filter`]), and the cache of files lookups decode whole ([`hot_files`]). Which files
//! a table has, and which of them a query may skip from table-level metadata, is the
//! caller's business (the Delta log, an object listing).

pub mod batches;
pub mod counters;
pub mod error;
pub mod filter;
pub mod footer;
pub mod generated;
pub mod hot_files;
pub mod prune;
pub mod reader;
pub mod rowid;
pub mod scan;
pub mod schema;
pub mod skipping;
pub mod types;

#[cfg(test)]
pub(crate) mod proptests;
