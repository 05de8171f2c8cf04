//! Opening Delta tables and listing their files, with a per-process snapshot cache.
//!
//! A snapshot is cached per (location, time travel). For `Latest`, every statement
//! checks that its commit file is unchanged and no next commit exists (two metadata
//! requests, no listing) and reloads only when a writer committed since.

use crate::delta::error::{DeltaError, Result};
use crate::delta::log::stats::parse_stats;
use crate::delta::options::{TableLocation, TimeTravel};
use crate::parquet::counters::ScanCounters;
use crate::parquet::prune::{FileStats, Pruner};
use crate::parquet::reader::ObjectFileReader;
use crate::parquet::schema::{LakeSchema, LakeType};
use crate::runtime::check_interrupts;
use deltalake::kernel::Remove;
use deltalake::parquet::arrow::ParquetRecordBatchStreamBuilder;
use deltalake::{DeltaTable, DeltaTableBuilder, ObjectStore};
use object_store::ObjectStoreExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The files a scan reads (positions in the snapshot's `files`) and what selecting
/// them skipped.
pub type Selection = (Vec<usize>, ScanCounters);

/// Add actions parsed between two interrupt checks.
const FILES_PER_INTERRUPT_CHECK: usize = 1024;

static SNAPSHOT_REQUESTS: AtomicU64 = AtomicU64::new(0);
static VERSION_CHECKS: AtomicU64 = AtomicU64::new(0);
static LOG_LOADS: AtomicU64 = AtomicU64::new(0);

/// What the snapshot cache of this process did since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// snapshots asked for (planning, scans, imports)
    pub snapshot_requests: u64,
    /// requests that asked storage for the newest version (one LIST each)
    pub version_checks: u64,
    /// tables opened or replayed from their log
    pub log_loads: u64,
}

/// The counters of the snapshot cache.
pub fn cache_counters() -> CacheCounters {
    CacheCounters {
        snapshot_requests: SNAPSHOT_REQUESTS.load(Ordering::Relaxed),
        version_checks: VERSION_CHECKS.load(Ordering::Relaxed),
        log_loads: LOG_LOADS.load(Ordering::Relaxed),
    }
}

/// One data file of a snapshot.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// path relative to the table root, as the object store names it
    pub path: deltalake::Path,
    /// size in bytes
    pub size: u64,
    /// partition values by physical column name
    pub partition_values: HashMap<String, Option<String>>,
    /// parsed statistics, when the writer recorded them
    pub stats: Option<FileStats>,
    /// whether rows of this file are deleted through a deletion vector
    pub has_deletion_vector: bool,
    /// the path exactly as the log's add action spells it (what a remove must repeat)
    pub log_path: String,
    /// the add action's statistics JSON, as written
    pub stats_json: Option<String>,
    /// the add action's modification time (milliseconds since the epoch)
    pub modification_time: i64,
}

impl DataFile {
    /// The remove action of this file, stamped `now` (milliseconds since the epoch);
    /// `data_change` is false when its rows are written again unchanged (compaction).
    pub fn remove(&self, data_change: bool, now: i64) -> Remove {
        Remove {
            path: self.log_path.clone(),
            data_change,
            deletion_timestamp: Some(now),
            extended_file_metadata: Some(true),
            partition_values: Some(self.partition_values.clone().into_iter().collect()),
            size: Some(self.size as i64),
            ..Default::default()
        }
    }
}

/// Rows in data file `index` of `snapshot`, from its Parquet footer (for files whose
/// add action has no statistics).
pub fn file_rows(snapshot: &TableSnapshot, index: usize) -> Result<u64> {
    let file = &snapshot.files[index];
    let data_error = |reason: String| DeltaError::DataFile {
        path: file.path.to_string(),
        reason,
    };
    let reader = ObjectFileReader::open(
        snapshot.store.clone(),
        snapshot.local_root.as_deref(),
        file.path.clone(),
        file.size,
    )
    .map_err(|e| data_error(e.to_string()))?;
    let builder = crate::runtime::block_on(ParquetRecordBatchStreamBuilder::new(reader))
        .map_err(DeltaError::Runtime)?
        .map_err(|e| data_error(e.to_string()))?;
    Ok(builder.metadata().file_metadata().num_rows().max(0) as u64)
}

/// An immutable view of one table version.
#[derive(Debug)]
pub struct TableSnapshot {
    /// the version read
    pub version: u64,
    /// the table schema
    pub schema: LakeSchema,
    /// active data files
    pub files: Vec<DataFile>,
    /// object store rooted at the table
    pub store: Arc<dyn ObjectStore>,
    /// table root URL
    pub url: String,
    /// the table root directory, for tables on local disk
    pub local_root: Option<std::path::PathBuf>,
    /// the storage options' [`crate::storage::scope`]: caches of the files' contents
    /// are kept apart per scope
    pub storage_scope: u64,
    /// the last file selection made on this version, with the pruner it answered:
    /// planning and execution of a statement select the same files
    pub last_selection: Mutex<Option<(Pruner, Selection)>>,
}

impl TableSnapshot {
    /// The full URL of data file `index`, as row identities name it.
    pub fn file_url(&self, index: usize) -> String {
        format!("{}{}", self.url, self.files[index].path)
    }

    /// Rows in the table according to the log (files without stats count as unknown).
    pub fn total_records(&self) -> Option<u64> {
        self.files
            .iter()
            .map(|f| f.stats.as_ref().and_then(|s| s.num_records))
            .sum()
    }
}

struct CachedTable {
    table: DeltaTable,
    snapshot: Arc<TableSnapshot>,
    /// the freshness token under which the version was last confirmed as the latest
    confirmed: Option<i64>,
    /// the snapshot version's commit file as it was loaded (`None`: not found)
    commit: Option<CommitStamp>,
}

/// What identifies one write of a commit file: its size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CommitStamp {
    size: u64,
    /// milliseconds since the epoch, when storage reports it
    modified: Option<i64>,
}

/// The log's commit file of `version`, relative to the table root.
fn commit_path(version: u64) -> deltalake::Path {
    deltalake::Path::from(format!("_delta_log/{version:020}.json"))
}

/// The stamp of the commit file of `version`; `None` when it does not exist.
async fn commit_stamp(snapshot: &TableSnapshot, version: u64) -> Result<Option<CommitStamp>> {
    let path = commit_path(version);
    let here = &snapshot.url;
    if let Some(root) = &snapshot.local_root {
        return match std::fs::metadata(root.join(path.as_ref())) {
            Ok(meta) => Ok(Some(CommitStamp {
                size: meta.len(),
                modified: meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DeltaError::Storage(format!("{here}{path}: {e}"))),
        };
    }
    match snapshot.store.head(&path).await {
        Ok(meta) => Ok(Some(CommitStamp {
            size: meta.size,
            modified: Some(meta.last_modified.timestamp_millis()),
        })),
        Err(deltalake::ObjectStoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(DeltaError::Storage(format!("{here}{path}: {e}"))),
    }
}

/// Whether the cached snapshot is still the newest version: its commit file is there
/// as it was loaded (same size and time) and no next commit exists. A commit file is
/// never rewritten and the newest one never cleaned up, so anything else means a
/// writer committed (or the table was replaced).
async fn still_latest(entry: &CachedTable) -> Result<bool> {
    let version = entry.snapshot.version;
    Ok(entry.commit.is_some()
        && commit_stamp(&entry.snapshot, version).await? == entry.commit
        && commit_stamp(&entry.snapshot, version + 1).await?.is_none())
}

/// Tables (location and time travel) whose snapshots a backend keeps; the least
/// recently used is dropped beyond it.
const CACHED_TABLES: usize = 256;

/// Uses of the snapshot cache, in order: the last use of each entry.
static CACHE_TICK: AtomicU64 = AtomicU64::new(0);

/// What names one cached table: its URL, version and storage options (the credentials
/// and endpoint it is read with).
pub type CacheKey = (String, TimeTravel, Vec<(String, String)>);

fn cache() -> &'static Mutex<HashMap<CacheKey, (CachedTable, u64)>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, (CachedTable, u64)>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The cache key of `location`.
pub fn cache_key(location: &TableLocation) -> CacheKey {
    let mut opts: Vec<_> = location
        .storage_options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    opts.sort();
    (location.url.to_string(), location.time_travel.clone(), opts)
}

/// Returns the snapshot to scan: the cached one if it is still current.
///
/// `freshness` identifies a moment (the extension passes the statement start time):
/// a snapshot confirmed as the latest under the same token is reused without asking
/// storage again, so planning and execution of one statement see one version and pay
/// for one version check.
pub fn snapshot(location: &TableLocation, freshness: Option<i64>) -> Result<Arc<TableSnapshot>> {
    crate::runtime::block_on(snapshot_async(location, freshness)).map_err(DeltaError::Runtime)?
}

async fn snapshot_async(
    location: &TableLocation,
    freshness: Option<i64>,
) -> Result<Arc<TableSnapshot>> {
    SNAPSHOT_REQUESTS.fetch_add(1, Ordering::Relaxed);
    let key = cache_key(location);
    let cached = cache()
        .lock()
        .ok()
        .and_then(|mut c| c.remove(&key))
        .map(|(entry, _)| entry);
    let here = location.url.as_str();
    let mut table = match cached {
        Some(entry)
            if location.time_travel != TimeTravel::Latest
                || (freshness.is_some() && entry.confirmed == freshness) =>
        {
            let snapshot = entry.snapshot.clone();
            put(key, entry);
            return Ok(snapshot);
        }
        Some(mut entry) => {
            VERSION_CHECKS.fetch_add(1, Ordering::Relaxed);
            if still_latest(&entry).await? {
                let snapshot = entry.snapshot.clone();
                entry.confirmed = freshness;
                put(key, entry);
                return Ok(snapshot);
            }
            LOG_LOADS.fetch_add(1, Ordering::Relaxed);
            let mut table = entry.table;
            // (a listing that raced a writer creating log entries is read again)
            let mut retry = ListingRetry::default();
            loop {
                let outcome = table.update_state().await;
                if !retry.again(&outcome) {
                    break outcome.map_err(|e| DeltaError::from_delta(here, e))?;
                }
            }
            table
        }
        None => {
            LOG_LOADS.fetch_add(1, Ordering::Relaxed);
            open(location).await?
        }
    };
    if location.time_travel == TimeTravel::Latest && table.version().is_none() {
        table
            .load()
            .await
            .map_err(|e| DeltaError::from_delta(here, e))?;
    }
    let scope = crate::storage::scope(&location.storage_options);
    let snapshot = Arc::new(read_snapshot(&table, here, scope)?);
    // only a snapshot of the latest version is ever checked against its commit file
    let commit = if location.time_travel == TimeTravel::Latest {
        commit_stamp(&snapshot, snapshot.version).await?
    } else {
        None
    };
    put(
        key,
        CachedTable {
            table,
            snapshot: snapshot.clone(),
            confirmed: freshness,
            commit,
        },
    );
    Ok(snapshot)
}

fn put(key: CacheKey, entry: CachedTable) {
    if let Ok(mut c) = cache().lock() {
        let tick = CACHE_TICK.fetch_add(1, Ordering::Relaxed);
        c.insert(key, (entry, tick));
        while c.len() > CACHED_TABLES {
            let Some(oldest) = c
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            c.remove(&oldest);
        }
    }
}

/// A table builder for `location` with its storage options.
fn table_builder(location: &TableLocation) -> Result<DeltaTableBuilder> {
    crate::delta::s3::register();
    let here = location.url.as_str();
    Ok(DeltaTableBuilder::from_url(location.url.clone())
        .map_err(|e| DeltaError::BadLocation(here.to_string(), e.to_string()))?
        .with_storage_options(location.storage_options.clone()))
}

/// The object store rooted at `location`'s table, without reading the table.
pub(in crate::delta) fn store_for(location: &TableLocation) -> Result<Arc<dyn ObjectStore>> {
    Ok(table_builder(location)?
        .build_storage()
        .map_err(|e| DeltaError::from_delta(location.url.as_str(), e))?
        .object_store(None))
}

async fn open(location: &TableLocation) -> Result<DeltaTable> {
    let here = location.url.as_str();
    let builder = || -> Result<DeltaTableBuilder> {
        let builder = table_builder(location)?;
        Ok(match &location.time_travel {
            TimeTravel::Timestamp(t) => builder
                .with_datestring(t)
                .map_err(|_| DeltaError::TimeTravel(format!("invalid timestamp \"{t}\"")))?,
            TimeTravel::Latest | TimeTravel::Version(_) => builder,
        })
    };
    // a listing that raced a writer creating log entries is read again
    let mut retry = ListingRetry::default();
    let mut table = loop {
        let outcome = builder()?.load().await;
        if !retry.again(&outcome) {
            break outcome.map_err(|e| DeltaError::from_delta(here, e))?;
        }
    };
    if let TimeTravel::Version(v) = location.time_travel {
        let latest = table.version().unwrap_or_default();
        if v > latest {
            return Err(DeltaError::TimeTravel(format!(
                "version {v} does not exist (latest is {latest})"
            )));
        }
        if v != latest {
            table
                .load_version(v)
                .await
                .map_err(|e| DeltaError::from_delta(here, e))?;
        }
    }
    Ok(table)
}

/// Times a log read is tried when its listing raced other writers.
const LISTING_RACE_ATTEMPTS: u32 = 8;

/// Whether a log read failed because its listing raced writers creating new log
/// entries: a directory listing can miss an entry being created while it lists later
/// ones, and the reader then sees a gap in the versions. Reading again sees them all.
pub(in crate::delta) fn listing_raced(e: &deltalake::DeltaTableError) -> bool {
    e.to_string().contains("contiguous commit files")
}

/// The attempts of one log read whose listing may race writers.
#[derive(Default)]
pub(in crate::delta) struct ListingRetry {
    attempts: u32,
}

impl ListingRetry {
    /// Whether to read again after `outcome`: it failed by a raced listing and the
    /// attempts are not used up (it then pauses briefly, longer each time).
    pub(in crate::delta) fn again<T>(
        &mut self,
        outcome: &std::result::Result<T, deltalake::DeltaTableError>,
    ) -> bool {
        self.attempts += 1;
        let again =
            matches!(outcome, Err(e) if listing_raced(e)) && self.attempts < LISTING_RACE_ATTEMPTS;
        if again {
            std::thread::sleep(std::time::Duration::from_millis(
                10 * u64::from(self.attempts + 1),
            ));
        }
        again
    }
}

/// The `metaData` action of a loaded table's current version, as JSON.
pub fn table_metadata(table: &DeltaTable, here: &str) -> Result<serde_json::Value> {
    let state = table
        .snapshot()
        .map_err(|e| DeltaError::from_delta(here, e))?;
    serde_json::to_value(state.metadata()).map_err(|e| DeltaError::CorruptLog(e.to_string()))
}

/// The schema of a loaded table's current version.
pub fn table_schema(table: &DeltaTable, here: &str) -> Result<LakeSchema> {
    let metadata = table_metadata(table, here)?;
    let schema_string = metadata
        .get("schemaString")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let partition_columns: Vec<String> = metadata
        .get("partitionColumns")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    crate::delta::log::schema::parse_schema(schema_string, &partition_columns)
}

/// The table at its newest version, for a writer (from the cache when it is current).
pub fn open_for_write(location: &TableLocation) -> Result<DeltaTable> {
    let latest = TableLocation {
        time_travel: TimeTravel::Latest,
        ..location.clone()
    };
    if location.time_travel != TimeTravel::Latest {
        return Err(DeltaError::UnsupportedFeature(
            "writing to a table pinned to a version or timestamp".into(),
        ));
    }
    snapshot(&latest, None)?;
    cache()
        .lock()
        .ok()
        .and_then(|c| {
            c.get(&cache_key(&latest))
                .map(|(entry, _)| entry.table.clone())
        })
        .ok_or_else(|| DeltaError::Runtime("snapshot cache unavailable".into()))
}

fn read_snapshot(table: &DeltaTable, here: &str, storage_scope: u64) -> Result<TableSnapshot> {
    let state = table
        .snapshot()
        .map_err(|e| DeltaError::from_delta(here, e))?;
    let schema = table_schema(table, here)?;
    let files = state
        .log_data()
        .iter()
        .enumerate()
        .map(|(i, view)| {
            if i % FILES_PER_INTERRUPT_CHECK == 0 {
                check_interrupts();
            }
            view
        })
        .map(|view| DataFile {
            path: view.object_store_path(),
            size: view.size().max(0) as u64,
            partition_values: view.partition_values_map(),
            stats: view.stats().and_then(|s| parse_stats(&s, &schema)),
            has_deletion_vector: view.deletion_vector_descriptor().is_some(),
            log_path: view.path().to_string(),
            stats_json: view.stats(),
            modification_time: view.modification_time(),
        })
        .collect();
    Ok(TableSnapshot {
        version: state.version(),
        schema,
        files,
        store: table.log_store().object_store(None),
        url: here.to_string(),
        local_root: table
            .table_url()
            .to_file_path()
            .ok()
            .filter(|_| table.table_url().scheme() == "file"),
        storage_scope,
        last_selection: Mutex::default(),
    })
}

/// Names of the Delta tables directly under a location (directories holding a
/// `_delta_log`), sorted; [`DeltaError::SchemaNotFound`] naming `remote_schema` when the
/// location does not exist.
pub fn list_tables(location: &TableLocation, remote_schema: &str) -> Result<Vec<String>> {
    crate::runtime::block_on(list_tables_async(location, remote_schema))
        .map_err(DeltaError::Runtime)?
}

async fn list_tables_async(location: &TableLocation, remote_schema: &str) -> Result<Vec<String>> {
    let missing = || DeltaError::SchemaNotFound(remote_schema.to_string());
    if let Ok(dir) = location.url.to_file_path() {
        if location.url.scheme() == "file" && !dir.is_dir() {
            return Err(missing());
        }
    }
    let store = store_for(location)?;
    let listing = match store.list_with_delimiter(None).await {
        Ok(listing) => listing,
        Err(deltalake::ObjectStoreError::NotFound { .. }) => return Err(missing()),
        Err(e) => return Err(DeltaError::Storage(e.to_string())),
    };
    let is_local = location.url.scheme() == "file";
    if !is_local && listing.common_prefixes.is_empty() && listing.objects.is_empty() {
        // Object stores have no empty directories: nothing under the prefix means none.
        return Err(missing());
    }
    let mut names = Vec::new();
    for dir in listing.common_prefixes {
        check_interrupts();
        let log = dir.clone().join("_delta_log");
        let has_log = store
            .list_with_delimiter(Some(&log))
            .await
            .map(|l| !l.objects.is_empty())
            .unwrap_or(false);
        if let (true, Some(name)) = (has_log, dir.filename()) {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// A column of a Delta table to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewColumn {
    /// column name
    pub name: String,
    /// its Delta type
    pub data_type: LakeType,
    /// whether NULLs are allowed
    pub nullable: bool,
    /// `delta.generationExpression`, for generated columns
    pub generation_expression: Option<String>,
}

/// Creates an empty Delta table at `location` unless one exists there already (another
/// session may have created it first).
pub fn create_table(
    location: &TableLocation,
    columns: &[NewColumn],
    partition_by: &[String],
) -> Result<()> {
    crate::runtime::block_on(create_table_async(location, columns, partition_by))
        .map_err(DeltaError::Runtime)?
}

async fn create_table_async(
    location: &TableLocation,
    columns: &[NewColumn],
    partition_by: &[String],
) -> Result<()> {
    let here = location.url.as_str();
    let table = table_builder(location)?
        .build()
        .map_err(|e| DeltaError::from_delta(here, e))?;
    // No retries: when another session creates the table first, its version 0 stands
    // and this attempt fails (checked below) instead of committing a second metadata.
    let mut builder = table
        .create()
        .with_save_mode(deltalake::protocol::SaveMode::Ignore)
        .with_commit_properties(
            deltalake::kernel::transaction::CommitProperties::default().with_max_retries(0),
        )
        .with_partition_columns(partition_by.iter().cloned());
    for column in columns {
        let mut field = deltalake::kernel::StructField::new(
            column.name.clone(),
            kernel_type(&column.data_type)?,
            column.nullable,
        );
        if let Some(expression) = &column.generation_expression {
            field = field.with_metadata([("delta.generationExpression", expression.as_str())]);
        }
        builder = builder.with_columns([field]);
    }
    match builder.await {
        Ok(_) => Ok(()),
        Err(e) => {
            let created_by_another = table_builder(location)?.load().await.is_ok();
            if created_by_another {
                Ok(())
            } else {
                Err(DeltaError::from_delta(here, e))
            }
        }
    }
}

/// The `deltalake` type of a [`LakeType`] (struct and map types are not created).
fn kernel_type(data_type: &LakeType) -> Result<deltalake::kernel::DataType> {
    use deltalake::kernel::{ArrayType, DataType as K};
    Ok(match data_type {
        LakeType::String => K::STRING,
        LakeType::Long => K::LONG,
        LakeType::Integer => K::INTEGER,
        LakeType::Short => K::SHORT,
        LakeType::Byte => K::BYTE,
        LakeType::Double => K::DOUBLE,
        LakeType::Float => K::FLOAT,
        LakeType::Boolean => K::BOOLEAN,
        LakeType::Date => K::DATE,
        LakeType::Timestamp => K::TIMESTAMP,
        LakeType::TimestampNtz => K::TIMESTAMP_NTZ,
        LakeType::Binary => K::BINARY,
        LakeType::Decimal(p, s) => K::decimal(*p, u8::try_from(*s).unwrap_or(0))
            .map_err(|e| DeltaError::UnsupportedType(e.to_string()))?,
        LakeType::Array(element) => K::Array(Box::new(ArrayType::new(kernel_type(element)?, true))),
        LakeType::Struct | LakeType::Map => {
            return Err(DeltaError::UnsupportedType(format!(
                "{} (create it with its fields from another writer)",
                data_type.name()
            )))
        }
    })
}
