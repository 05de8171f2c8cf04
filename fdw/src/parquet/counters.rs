//! What a scan selected and read: the counts EXPLAIN and the metrics show.

/// What file selection and reading did, for EXPLAIN and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanCounters {
    /// files of the table
    pub files_total: u64,
    /// files excluded by partition values
    pub files_pruned_by_partition: u64,
    /// files excluded by the table's file statistics (a Delta log's)
    pub files_skipped_by_stats: u64,
    /// files opened
    pub files_read: u64,
    /// of those, files whose rows came decoded from the cache of files lookups return to
    pub files_from_cache: u64,
    /// Parquet row groups skipped by footer statistics, page indexes or bloom filters
    pub row_groups_skipped: u64,
    /// Parquet pages skipped by the page index
    pub pages_skipped: u64,
    /// rows returned
    pub rows_returned: u64,
    /// estimated rows in the selected files
    pub rows_estimated: u64,
}
