//! The FDW core: the `pg_sys::FdwRoutine` glue around any source of the source kit
//! ([`odp_fdw::source`]).
//!
//! A source implements [`Source`] (options, estimates, scans that yield Arrow batches)
//! and never touches `pg_sys`; [`routine`] turns it into a `FdwRoutine`, [`quals`]
//! extracts pushable conditions (constants and parameters), [`datum`] converts Arrow
//! values into tuples, [`options`] validates CREATE/ALTER options.

pub mod analyze;
pub mod catalog;
pub mod collation;
pub mod datum;
pub mod direct;
mod emit;
mod exact;
mod executor;
mod explain;
mod grouped;
pub mod import;
pub mod lookahead;
mod memory;
pub mod modify;
mod node;
pub mod options;
pub mod paths;
pub mod pgtype;
pub mod plan;
mod planner_tests;
pub mod policy;
pub mod quals;
pub mod resources;
pub mod routine;
pub mod rows;
pub mod scan;
pub mod upper;
pub mod xact;

pub use odp_fdw::source::{
    CommitOrder, Estimate, ImportedTable, PgColumn, Source, SourceScan, SourceWriter, TableContext,
};
