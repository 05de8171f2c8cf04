//! The Delta log: snapshots of a version (and their cache), the schema, and the
//! snapshot a parallel scan's leader hands its workers.

pub mod handoff;
pub mod schema;
pub mod stats;
pub mod table;
