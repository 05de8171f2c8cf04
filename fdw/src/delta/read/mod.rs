//! Reading a Delta table: which files a scan reads (pruning, statistics skipping),
//! reading them (footers, row groups, pages, row filters, the decoded-file cache), and
//! answers from statistics.

mod batches;
pub mod counters;
pub mod filter;
pub mod footer;
pub mod generated;
pub mod hot_files;
pub mod prune;
pub mod reader;
pub mod scan;
pub mod select;
pub mod skipping;
pub mod summary;
