//! Storage management of a Delta table: history, partitions, compaction, dropping a
//! partition, restoring a version, checkpoints and vacuum. Every change is one Delta
//! commit checked against the table's writer rules like ODP's writes; long loops check
//! for interrupts. One file per operation.

mod checkpoint;
mod drop_partition;
mod history;
mod optimize;
mod restore;
mod vacuum;

pub use checkpoint::checkpoint;
pub use drop_partition::drop_partition;
pub use history::{history, partitions, HistoryEntry, PartitionSummary};
pub use optimize::{optimize, OptimizeMetrics};
pub use restore::restore;
pub use vacuum::{declared_retention_millis, vacuum};
