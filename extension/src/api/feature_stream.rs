//! The streaming feature pipeline's worker: a background worker (started when `odp` is
//! in `shared_preload_libraries`) that applies the transactions appended to the Redis
//! stream to the users' feature hashes, and `odp.pipeline_status()`.
//!
//! The worker is one consumer of one consumer group, always under the same name, so
//! entries it read but never acknowledged (it stopped or crashed) are read again first
//! when it starts; applying an entry twice changes nothing (see
//! `odp_fdw::redis::stream`). On SIGTERM it exits with status 1, so the postmaster
//! starts it again after a second unless the server is shutting down.

use crate::error::{OdpError, OrReport};
use crate::fdw::catalog::server_options;
use odp_fdw::redis::options::ServerOptions;
use odp_fdw::redis::stream::{self, Purchase};
use odp_fdw::redis::template::KeyTemplate;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::collections::HashMap;
use std::ffi::CString;
use std::time::Duration;

/// `odp.feature_stream`: whether the worker applies the stream.
pub static FEATURE_STREAM: GucSetting<bool> = GucSetting::<bool>::new(false);
/// `odp.feature_stream_server`: the `redis_fdw` server (and the worker's user mapping to
/// it) holding the stream and the feature hashes.
pub static STREAM_SERVER: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"features"));
/// `odp.feature_stream_database`: the database whose tables the worker reads.
pub static STREAM_DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"odp"));
/// `odp.feature_products_table`: where the worker finds each product's category.
pub static PRODUCTS_TABLE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"lake.products"));
/// `odp.feature_key_template`: the feature hashes the worker updates.
pub static FEATURE_KEYS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"users:{user_id}:features"));

/// Entries read per round trip.
const BATCH: usize = 256;
/// How long one read waits for new entries.
const BLOCK_MS: u64 = 100;
/// Categories kept in `last_categories` (as `odp.refresh_features`).
const CATEGORIES: usize = 5;
/// A product missing from the products table is looked for again after this long.
const MISSING_PRODUCT_RETRY_MS: i64 = 1_000;
/// The worker's name in `pg_stat_activity.backend_type`.
pub const WORKER_NAME: &str = "odp feature stream";

/// Registers the GUCs of this module.
pub fn init_gucs() {
    GucRegistry::define_bool_guc(
        c"odp.feature_stream",
        c"Apply the transactions stream to the feature store",
        c"Needs odp in shared_preload_libraries.",
        &FEATURE_STREAM,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"odp.feature_stream_server",
        c"The redis_fdw server of the feature stream",
        c"Its options and the user mapping of the worker's user say how to reach Redis.",
        &STREAM_SERVER,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"odp.feature_stream_database",
        c"Database the feature stream worker connects to",
        c"Read when the worker starts.",
        &STREAM_DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"odp.feature_products_table",
        c"Table the feature stream worker reads product categories from",
        c"Columns product_id and category.",
        &PRODUCTS_TABLE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"odp.feature_key_template",
        c"Key template of the feature hashes the stream worker updates",
        c"Must name user_id.",
        &FEATURE_KEYS,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

/// Registers the worker (only while shared_preload_libraries are loaded).
pub fn register_worker() {
    // SAFETY: reads a postmaster-global flag.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    BackgroundWorkerBuilder::new(WORKER_NAME)
        .set_type(WORKER_NAME)
        .set_function("odp_feature_stream_main")
        .set_library("odp")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(1)))
        .load();
}

fn setting(guc: &GucSetting<Option<CString>>) -> Option<String> {
    guc.get().map(|s| s.to_string_lossy().into_owned())
}

/// The worker's entry point.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn odp_feature_stream_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // Connect only once enabled: the database may not exist where the stream is off.
    while !FEATURE_STREAM.get() {
        if !BackgroundWorker::wait_latch(Some(Duration::from_millis(500))) {
            return;
        }
        reload_on_sighup();
    }
    let database = setting(&STREAM_DATABASE).unwrap_or_else(|| "odp".into());
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    let mut worker = Worker::default();
    // every wait reports (and consumes) a SIGTERM received meanwhile: each one ends the
    // loop
    while BackgroundWorker::wait_latch(Some(Duration::from_millis(1))) {
        if reload_on_sighup() {
            worker.target = None;
        }
        if !FEATURE_STREAM.get() {
            if !BackgroundWorker::wait_latch(Some(Duration::from_millis(500))) {
                break;
            }
            continue;
        }
        if let Err(e) = worker.step() {
            log!("{WORKER_NAME}: {e}");
            worker.target = None;
            if !BackgroundWorker::wait_latch(Some(Duration::from_secs(1))) {
                break;
            }
        }
    }
    // SAFETY: ends the worker process; status 1 asks the postmaster to restart it.
    unsafe { pg_sys::proc_exit(1) }
}

/// Re-reads the configuration files after a SIGHUP; whether it did.
fn reload_on_sighup() -> bool {
    if !BackgroundWorker::sighup_received() {
        return false;
    }
    // SAFETY: re-reads the configuration files, as backends do on SIGHUP.
    unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
    true
}

/// The feature stream's server (its options and the current user's mapping), read
/// from the catalog in the current transaction.
fn stream_server() -> Result<ServerOptions, String> {
    let name = setting(&STREAM_SERVER).unwrap_or_else(|| "features".into());
    let (server, user) = server_options(&name).ok_or(format!(
        "no foreign server \"{name}\" (odp.feature_stream_server)"
    ))?;
    ServerOptions::from_options(&server, &user).map_err(|e| e.to_string())
}

/// The worker's state between batches.
#[derive(Default)]
struct Worker {
    /// the server and feature key template, read when the worker (re)starts or reloads
    target: Option<(ServerOptions, KeyTemplate)>,
    /// read this consumer's pending entries before new ones
    recovered: bool,
    categories: HashMap<String, String>,
    /// when the products were read (milliseconds since the epoch)
    products_loaded_ms: i64,
    /// products the last reads did not find, with when they were read
    missing: HashMap<String, i64>,
}

impl Worker {
    /// Reads one batch (pending entries first), applies and acknowledges it.
    fn step(&mut self) -> Result<(), String> {
        if self.target.is_none() {
            let server = BackgroundWorker::transaction(stream_server)?;
            let keys = setting(&FEATURE_KEYS).unwrap_or_else(|| "users:{user_id}:features".into());
            let template = KeyTemplate::parse(&keys).map_err(|e| e.to_string())?;
            if template.columns() != ["user_id"] {
                return Err(format!(
                    "odp.feature_key_template \"{keys}\" must name exactly one column, user_id"
                ));
            }
            stream::ensure_group(&server).map_err(|e| e.to_string())?;
            self.target = Some((server, template));
            self.recovered = false;
        }
        let (server, template) = self.target.clone().expect("set above");
        let pending = !self.recovered;
        let entries = stream::read(&server, WORKER_NAME, pending, BATCH, BLOCK_MS)
            .map_err(|e| e.to_string())?;
        if pending && entries.is_empty() {
            self.recovered = true;
            return Ok(());
        }
        if entries.is_empty() {
            return Ok(());
        }
        // A product unknown to the cache read before its entry was appended may be new:
        // read the products again (once per batch at most). A product a read did not
        // find is looked for again only a second later, so bad data cannot make every
        // batch re-read the table.
        let stale = entries.iter().any(|e| {
            let (Some(product), Some(ms)) = (
                e.fields.get("product_id"),
                e.id.split('-').next().and_then(|ms| ms.parse::<i64>().ok()),
            ) else {
                return false;
            };
            !self.categories.contains_key(product)
                && ms >= self.products_loaded_ms
                && self
                    .missing
                    .get(product)
                    .is_none_or(|&read| ms > read + MISSING_PRODUCT_RETRY_MS)
        });
        if stale {
            self.load_products()?;
            for entry in &entries {
                if let Some(product) = entry.fields.get("product_id") {
                    if !self.categories.contains_key(product) {
                        self.missing
                            .insert(product.clone(), self.products_loaded_ms);
                    }
                }
            }
        }
        let mut purchases = Vec::with_capacity(entries.len());
        for entry in &entries {
            let (Some(user), Some(amount)) = (
                entry.fields.get("user_id"),
                entry
                    .fields
                    .get("total_amount")
                    .and_then(|a| a.parse::<f64>().ok()),
            ) else {
                log!(
                    "{WORKER_NAME}: entry {} has no user_id or total_amount; skipped",
                    entry.id
                );
                continue;
            };
            let features_key = match template.render(&[user.as_str()]) {
                Ok(key) => key,
                Err(e) => {
                    log!("{WORKER_NAME}: entry {}: {e}; skipped", entry.id);
                    continue;
                }
            };
            purchases.push(Purchase {
                entry_id: entry.id.clone(),
                features_key,
                amount,
                category: entry
                    .fields
                    .get("product_id")
                    .and_then(|p| self.categories.get(p))
                    .cloned(),
            });
        }
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let outcome = stream::apply_and_ack(&server, &purchases, &ids, CATEGORIES)
            .map_err(|e| e.to_string())?;
        if outcome.failed > 0 {
            log!(
                "{WORKER_NAME}: {} entries failed; kept in {}",
                outcome.failed,
                stream::FAILED_STREAM
            );
        }
        Ok(())
    }

    /// Reads every product's category.
    fn load_products(&mut self) -> Result<(), String> {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let table = setting(&PRODUCTS_TABLE).unwrap_or_else(|| "lake.products".into());
        let query = format!(
            "SELECT product_id::pg_catalog.text, category::pg_catalog.text FROM {}",
            quote_qualified(&table)
        );
        let rows: Result<Vec<(String, String)>, pgrx::spi::Error> =
            BackgroundWorker::transaction(|| {
                let _path = crate::fdw::catalog::PinnedSearchPath::start();
                Spi::connect(|client| {
                    let mut rows = Vec::new();
                    for row in client.select(query.as_str(), None, &[])? {
                        if let (Some(p), Some(c)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
                            rows.push((p, c));
                        }
                    }
                    Ok(rows)
                })
            });
        let rows = rows.map_err(|e| format!("reading {table}: {e}"))?;
        self.categories = rows.into_iter().collect();
        self.missing
            .retain(|product, _| !self.categories.contains_key(product));
        self.products_loaded_ms = started;
        Ok(())
    }
}

/// `schema.table` with each part quoted as an identifier.
fn quote_qualified(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// The streaming pipeline's state: the stream's length, entries delivered but not
/// acknowledged, entries not yet delivered (lag), applied, redelivered and failed counts,
/// when the worker last applied a batch, and the worker's process id (NULL when not
/// running).
// pgrx reads the column names from the tuple type, so it cannot be a type alias.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile)]
fn pipeline_status() -> TableIterator<
    'static,
    (
        name!(stream, String),
        name!(length, i64),
        name!(pending, i64),
        name!(lag, Option<i64>),
        name!(applied, i64),
        name!(duplicates, i64),
        name!(failed, i64),
        name!(last_batch, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(worker_pid, Option<i32>),
    ),
> {
    let server = stream_server().unwrap_or_else(|e| OdpError::Unsupported(e).report());
    let status = stream::status(&server).or_report();
    let pid = {
        let _path = crate::fdw::catalog::PinnedSearchPath::start();
        Spi::get_one_with_args::<i32>(
            "SELECT a.pid FROM pg_catalog.pg_stat_activity a              WHERE a.backend_type OPERATOR(pg_catalog.=) $1 LIMIT 1",
            &[WORKER_NAME.into()],
        )
    }
    .ok()
    .flatten();
    let last_batch = status.last_batch_ms.and_then(|ms| {
        pgrx::datum::TimestampWithTimeZone::try_from(
            (ms * 1000 - 946_684_800_000_000) as pg_sys::TimestampTz,
        )
        .ok()
    });
    TableIterator::once((
        stream::TRANSACTIONS_STREAM.to_string(),
        status.length,
        status.pending,
        status.lag,
        status.applied,
        status.duplicates,
        status.failed,
        last_batch,
        pid,
    ))
}

/// The id of the newest entry in the transactions stream (`0-0` when empty): the
/// watermark `odp.refresh_features` stamps on the hashes it writes.
#[pg_extern(volatile)]
fn stream_watermark() -> String {
    let server = stream_server().unwrap_or_else(|e| OdpError::Unsupported(e).report());
    stream::last_entry_id(&server).or_report()
}

pgrx::extension_sql!(
    r#"
-- The pipeline's state (stream length, lag, the worker's pid, the newest entry) is for
-- monitoring roles, not for every role that can connect.
REVOKE EXECUTE ON FUNCTION odp.pipeline_status(), odp.stream_watermark() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION odp.pipeline_status(), odp.stream_watermark() TO pg_monitor;
"#,
    name = "pipeline_privileges",
    requires = [pipeline_status, stream_watermark]
);
