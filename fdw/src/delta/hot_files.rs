//! Decoded columns of data files that lookups return to, cached per process.
//!
//! A lookup needs few rows of a file, but each column it reads costs the column's whole
//! dictionary page, decompressed and decoded: about 1 MB for 27,000 distinct ids. A
//! file that a second lookup reads within a short while is decoded whole instead (the
//! columns that lookup reads, every row) and kept, within `odp.decoded_file_cache_mb`;
//! from then on lookups filter the decoded rows without touching Parquet. A file's
//! first lookup only remembers the file, so one-off lookups never pay for a whole
//! decode.
//!
//! Delta data files are immutable once committed (a rewrite gets a new name); an entry
//! is keyed by the file's URL, size and modification time all the same, like footers.

use crate::cache::{CacheCounters, LruCache};
use deltalake::arrow::array::RecordBatch;
use std::sync::{Arc, Mutex, OnceLock};

/// Default budget of the cache.
pub const DEFAULT_BUDGET_BYTES: u64 = 64 * 1024 * 1024;
/// Files remembered as read by one lookup (each counts as one unit of that budget).
const REMEMBERED_FILES: u64 = 4096;

/// A file and the columns decoded from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HotFile {
    pub url: String,
    pub size: u64,
    pub modified: i64,
    /// the Parquet root columns read, in file order
    pub roots: Vec<usize>,
}

struct HotFiles {
    decoded: LruCache<HotFile, Arc<Vec<RecordBatch>>>,
    /// files one lookup read, not decoded whole yet
    seen_once: LruCache<HotFile, ()>,
}

fn hot_files() -> &'static Mutex<HotFiles> {
    static HOT_FILES: OnceLock<Mutex<HotFiles>> = OnceLock::new();
    HOT_FILES.get_or_init(|| {
        Mutex::new(HotFiles {
            decoded: LruCache::new(DEFAULT_BUDGET_BYTES),
            seen_once: LruCache::new(REMEMBERED_FILES),
        })
    })
}

/// The largest decode worth caching: an eighth of the budget (0 when the cache is off).
pub fn largest_entry() -> u64 {
    hot_files()
        .lock()
        .map(|c| c.decoded.budget() / 8)
        .unwrap_or(0)
}

/// The decoded batches of `file`, if cached.
pub fn get(file: &HotFile) -> Option<Arc<Vec<RecordBatch>>> {
    hot_files().lock().ok()?.decoded.get(file)
}

/// Whether a lookup read `file` before (then the caller decodes it whole and calls
/// [`put`]); otherwise remembers this read.
pub fn seen_before(file: &HotFile) -> bool {
    let Ok(mut cache) = hot_files().lock() else {
        return false;
    };
    if cache.seen_once.get(file).is_some() {
        cache.seen_once.remove(file);
        return true;
    }
    cache.seen_once.put(file.clone(), (), 1);
    false
}

/// Keeps the decoded batches of `file`.
pub fn put(file: HotFile, batches: Arc<Vec<RecordBatch>>) {
    let bytes = batches
        .iter()
        .map(|b| b.get_array_memory_size() as u64)
        .sum();
    if let Ok(mut cache) = hot_files().lock() {
        cache.decoded.put(file, batches, bytes);
    }
}

/// Sets the cache's budget (0 disables it).
pub fn set_budget(bytes: u64) {
    if let Ok(mut cache) = hot_files().lock() {
        cache.decoded.set_budget(bytes);
    }
}

/// What the cache did since the process started.
pub fn counters() -> CacheCounters {
    hot_files()
        .lock()
        .map(|c| c.decoded.counters())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::Int64Array;

    #[test]
    fn a_file_is_cached_after_its_second_lookup() {
        let file = HotFile {
            url: "memory:///hot_files_test/part-0.parquet".into(),
            size: 10,
            modified: 1,
            roots: vec![0],
        };
        assert!(!seen_before(&file), "first lookup: remembered only");
        assert!(get(&file).is_none());
        assert!(seen_before(&file), "second lookup: decode and keep");
        let column = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let batch = RecordBatch::try_from_iter([("id", column as _)]).unwrap();
        put(file.clone(), Arc::new(vec![batch]));
        assert_eq!(get(&file).map(|b| b[0].num_rows()), Some(3));
        let rewritten = HotFile {
            modified: 2,
            ..file.clone()
        };
        assert!(
            get(&rewritten).is_none(),
            "another modification time is another file"
        );
        assert!(largest_entry() > 0);
    }
}
