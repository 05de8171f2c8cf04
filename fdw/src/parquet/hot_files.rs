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
//! Delta data files are immutable once committed (a rewrite gets a new name), but the
//! files of a Parquet file table may be replaced in place: an entry is keyed by the
//! file's URL, size and modification time, like footers.

use crate::cache::{CacheCounters, LruCache};
use deltalake::arrow::array::RecordBatch;
use std::sync::{Arc, Mutex, OnceLock};

/// Default budget of the cache.
pub const DEFAULT_BUDGET_BYTES: u64 = 64 * 1024 * 1024;
/// Files remembered as read by one lookup or as too large (each counts as one unit of
/// that budget).
const REMEMBERED_FILES: u64 = 4096;
/// Bytes an entry counts beyond its arrays (key, batch list), so that no entry is free.
const ENTRY_OVERHEAD: u64 = 1024;

/// A file and the columns decoded from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HotFile {
    /// the file's URL within its storage scope
    pub name: String,
    /// the file's size in bytes
    pub size: u64,
    /// the file's last modification (Unix milliseconds)
    pub modified: i64,
    /// the Parquet root columns read, in file order
    pub roots: Vec<usize>,
}

struct HotFiles {
    decoded: LruCache<HotFile, Arc<Vec<RecordBatch>>>,
    remembered: LruCache<HotFile, Remembered>,
    /// whole decodes that outgrew the largest entry
    too_large: u64,
}

/// What the cache knows of a file it does not hold.
#[derive(Debug, Clone, Copy)]
enum Remembered {
    /// one lookup read it
    SeenOnce,
    /// it decoded to more than the largest entry of this budget
    TooLarge { budget: u64 },
}

/// What a lookup of a file not in the cache does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// the file's first lookup: read it as usual (the file is now remembered)
    FirstLookup,
    /// a second lookup: decode the file whole and [`put`] it
    Decode,
    /// the file decoded to more than [`largest_entry`] under the current budget: read
    /// it as usual
    TooLarge,
}

fn hot_files() -> &'static Mutex<HotFiles> {
    static HOT_FILES: OnceLock<Mutex<HotFiles>> = OnceLock::new();
    HOT_FILES.get_or_init(|| {
        Mutex::new(HotFiles {
            decoded: LruCache::new(DEFAULT_BUDGET_BYTES),
            remembered: LruCache::new(REMEMBERED_FILES),
            too_large: 0,
        })
    })
}

impl HotFiles {
    fn largest_entry(&self) -> u64 {
        self.decoded.budget() / 8
    }

    fn remember_too_large(&mut self, file: HotFile) {
        let budget = self.decoded.budget();
        self.remembered
            .put(file, Remembered::TooLarge { budget }, 1);
        self.too_large += 1;
    }
}

/// The largest entry the cache keeps, counting its overhead: an eighth of the budget
/// (0 when the cache is off).
pub fn largest_entry() -> u64 {
    hot_files()
        .lock()
        .map(|c| c.largest_entry().saturating_sub(ENTRY_OVERHEAD))
        .unwrap_or(0)
}

/// The decoded batches of `file`, if cached.
pub fn get(file: &HotFile) -> Option<Arc<Vec<RecordBatch>>> {
    hot_files().lock().ok()?.decoded.get(file)
}

/// What to do with `file`, not in the cache, for a lookup.
pub fn admission(file: &HotFile) -> Admission {
    let Ok(mut cache) = hot_files().lock() else {
        return Admission::TooLarge;
    };
    let budget = cache.decoded.budget();
    match cache.remembered.get(file) {
        // judged against this budget or a larger one: still too large
        Some(Remembered::TooLarge { budget: judged }) if judged >= budget => Admission::TooLarge,
        Some(_) => {
            cache.remembered.remove(file);
            Admission::Decode
        }
        None => {
            cache.remembered.put(file.clone(), Remembered::SeenOnce, 1);
            Admission::FirstLookup
        }
    }
}

/// Remembers that `file` decodes to more than [`largest_entry`].
pub fn too_large(file: HotFile) {
    if let Ok(mut cache) = hot_files().lock() {
        cache.remember_too_large(file);
    }
}

/// Keeps the decoded batches of `file`; ones larger than [`largest_entry`] are not
/// kept, and the file is remembered as too large.
pub fn put(file: HotFile, batches: Arc<Vec<RecordBatch>>) {
    let bytes = ENTRY_OVERHEAD
        + batches
            .iter()
            .map(|b| b.get_array_memory_size() as u64)
            .sum::<u64>();
    if let Ok(mut cache) = hot_files().lock() {
        if bytes <= cache.largest_entry() {
            cache.decoded.put(file, batches, bytes);
        } else {
            cache.remember_too_large(file);
        }
    }
}

/// Sets the cache's budget (0 disables it).
pub fn set_budget(bytes: u64) {
    if let Ok(mut cache) = hot_files().lock() {
        cache.decoded.set_budget(bytes);
    }
}

/// What the cache did since the process started, and how many whole decodes outgrew
/// the largest entry.
pub fn counters() -> (CacheCounters, u64) {
    hot_files()
        .lock()
        .map(|c| (c.decoded.counters(), c.too_large))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::Int64Array;

    #[test]
    fn a_file_is_cached_after_its_second_lookup() {
        let file = HotFile {
            name: "memory:///hot_files_test/part-0.parquet".into(),
            size: 10,
            modified: 1,
            roots: vec![0],
        };
        assert_eq!(admission(&file), Admission::FirstLookup);
        assert!(get(&file).is_none());
        assert_eq!(admission(&file), Admission::Decode);
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
        too_large(rewritten.clone());
        assert_eq!(admission(&rewritten), Admission::TooLarge);
        assert_eq!(admission(&rewritten), Admission::TooLarge, "and stays so");
        set_budget(DEFAULT_BUDGET_BYTES * 2);
        assert_eq!(
            admission(&rewritten),
            Admission::Decode,
            "a larger budget tries again"
        );
        set_budget(DEFAULT_BUDGET_BYTES);
        assert!(largest_entry() > 0);
    }
}
