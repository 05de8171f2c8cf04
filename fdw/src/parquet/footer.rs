//! Parquet footers (file metadata) of data files, cached per process.
//!
//! Delta data files are immutable once committed (a rewrite gets a new name); plain
//! Parquet files under an object prefix may be replaced, so a footer is cached under
//! the file's URL, size and modification time. The cache is bounded by the bytes of
//! the decoded metadata (`odp.parquet_footer_cache_mb`).

use crate::cache::{CacheCounters, LruCache};
use crate::parquet::reader::ObjectFileReader;
use deltalake::parquet::arrow::async_reader::AsyncFileReader;
use deltalake::parquet::errors::Result;
use deltalake::parquet::file::metadata::ParquetMetaData;
use std::sync::{Arc, Mutex, OnceLock};

/// Default budget of the footer cache.
pub const DEFAULT_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

type Footers = LruCache<(String, u64, i64), Arc<ParquetMetaData>>;

fn footers() -> &'static Mutex<Footers> {
    static FOOTERS: OnceLock<Mutex<Footers>> = OnceLock::new();
    FOOTERS.get_or_init(|| Mutex::new(LruCache::new(DEFAULT_BUDGET_BYTES)))
}

/// The metadata of the file `name` (its URL within its storage scope) of `size` bytes
/// modified at `modified`: from the cache, or read through `reader` and cached.
pub async fn metadata(
    reader: &mut ObjectFileReader,
    name: &str,
    size: u64,
    modified: i64,
) -> Result<Arc<ParquetMetaData>> {
    let key = (name.to_string(), size, modified);
    if let Some(found) = footers().lock().ok().and_then(|mut c| c.get(&key)) {
        return Ok(found);
    }
    let metadata = reader.get_metadata(None).await?;
    if let Ok(mut cache) = footers().lock() {
        cache.put(key, metadata.clone(), metadata.memory_size() as u64);
    }
    Ok(metadata)
}

/// Sets the cache's budget (0 disables it).
pub fn set_budget(bytes: u64) {
    if let Ok(mut cache) = footers().lock() {
        cache.set_budget(bytes);
    }
}

/// What the footer cache did since the process started.
pub fn counters() -> CacheCounters {
    footers().lock().map(|c| c.counters()).unwrap_or_default()
}
