//! Reading a Delta table: which of a snapshot's files a scan reads (partition pruning,
//! statistics skipping over the log), the scan of them through the Parquet layer, and
//! answers from the log's statistics.

pub mod scan;
pub mod select;
pub mod summary;
