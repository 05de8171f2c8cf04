//! The streaming feature pipeline's worker: a background worker (started when `odp` is
//! in `shared_preload_libraries`) that applies the purchases in the outbox
//! `odp.feature_outbox` to the users' feature hashes, and `odp.pipeline_status()`.
//!
//! A purchase is written to the outbox by `odp.publish_transaction()` inside the
//! purchasing transaction, so it exists exactly when that transaction committed. The
//! worker moves each purchase through three steps, each its own transaction or round
//! trip, so a crash between any two repeats at most the last one:
//! 1. **claim**: give up to [`BATCH`] unclaimed purchases the next apply numbers
//!    (committed before Redis sees them; skipped while a batch refresh holds
//!    [`REFRESH_LOCK`]);
//! 2. **apply**: one script per purchase, which a hash that took that apply number, or
//!    a later one, skips (see `odp_fdw::redis::features`);
//! 3. **forget**: delete the applied purchases from the outbox (failed ones keep their
//!    error there).
//!
//! On SIGTERM it exits with status 1, so the postmaster starts it again after a second
//! unless the server is shutting down.

use crate::error::{OdpError, OrReport};
use crate::fdw::catalog::server_options;
use odp_fdw::redis::features::{self, Outcome, Purchase};
use odp_fdw::redis::options::ServerOptions;
use odp_fdw::redis::template::KeyTemplate;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::collections::HashMap;
use std::ffi::CString;
use std::time::Duration;

/// `odp.feature_stream`: whether the worker applies the outbox.
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

/// Purchases claimed, applied and forgotten per batch.
const BATCH: i64 = 256;
/// How long the worker waits when the outbox has nothing to apply.
const IDLE_MS: u64 = 20;
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
        match worker.step() {
            Ok(true) => {}
            Ok(false) => {
                if !BackgroundWorker::wait_latch(Some(Duration::from_millis(IDLE_MS))) {
                    break;
                }
            }
            Err(e) => {
                log!("{WORKER_NAME}: {e}");
                worker.target = None;
                if !BackgroundWorker::wait_latch(Some(Duration::from_secs(1))) {
                    break;
                }
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

/// A purchase claimed from the outbox.
struct Claimed {
    apply_number: i64,
    user_id: Option<String>,
    product_id: Option<String>,
    amount: Option<f64>,
}

/// Claims the next purchases (unless a batch refresh holds its lock) and returns the
/// claimed purchases not yet applied, oldest apply number first: those of this claim
/// and any a crashed worker left. Run in its own transaction, committed before Redis
/// sees the apply numbers.
fn claim() -> Result<Vec<Claimed>, pgrx::spi::Error> {
    let _path = crate::fdw::catalog::PinnedSearchPath::start();
    Spi::connect_mut(|client| {
        let refresh_running = !client
            .select(
                "SELECT pg_catalog.pg_try_advisory_xact_lock(7300, 1)",
                None,
                &[],
            )?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false);
        if !refresh_running {
            client.update(
                "UPDATE odp.feature_outbox o
                    SET applied_as = pg_catalog.nextval('odp.feature_apply_seq'::pg_catalog.regclass)
                   FROM (SELECT id FROM odp.feature_outbox WHERE applied_as IS NULL
                          ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) c
                  WHERE o.id OPERATOR(pg_catalog.=) c.id",
                None,
                &[BATCH.into()],
            )?;
        }
        let mut claimed = Vec::new();
        for row in client.select(
            "SELECT applied_as, user_id, product_id, total_amount FROM odp.feature_outbox
              WHERE applied_as IS NOT NULL AND error IS NULL ORDER BY applied_as LIMIT $1",
            None,
            &[BATCH.into()],
        )? {
            claimed.push(Claimed {
                apply_number: row.get::<i64>(1)?.unwrap_or_default(),
                user_id: row.get(2)?,
                product_id: row.get(3)?,
                amount: row.get(4)?,
            });
        }
        Ok(claimed)
    })
}

/// Deletes the applied (or skipped) purchases from the outbox and records the error of
/// each failed one there, where it stays.
fn forget(done: Vec<i64>, failed: Vec<(i64, String)>) -> Result<(), pgrx::spi::Error> {
    let _path = crate::fdw::catalog::PinnedSearchPath::start();
    Spi::connect_mut(|client| {
        client.update(
            "DELETE FROM odp.feature_outbox WHERE applied_as OPERATOR(pg_catalog.=) ANY ($1)",
            None,
            &[done.into()],
        )?;
        // failures are rare: one statement each
        for (number, error) in failed {
            client.update(
                "UPDATE odp.feature_outbox SET error = $2
                  WHERE applied_as OPERATOR(pg_catalog.=) $1",
                None,
                &[number.into(), error.into()],
            )?;
        }
        Ok(())
    })
}

/// The worker's state between batches.
#[derive(Default)]
struct Worker {
    /// the server and feature key template, read when the worker (re)starts or reloads
    target: Option<(ServerOptions, KeyTemplate)>,
    categories: HashMap<String, String>,
    /// products the last reads did not find, with when they were read (milliseconds
    /// since the epoch)
    missing: HashMap<String, i64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Worker {
    /// Claims, applies and forgets one batch; whether there was one.
    fn step(&mut self) -> Result<bool, String> {
        if self.target.is_none() {
            let server = BackgroundWorker::transaction(stream_server)?;
            let keys = setting(&FEATURE_KEYS).unwrap_or_else(|| "users:{user_id}:features".into());
            let template = KeyTemplate::parse(&keys).map_err(|e| e.to_string())?;
            if template.columns() != ["user_id"] {
                return Err(format!(
                    "odp.feature_key_template \"{keys}\" must name exactly one column, user_id"
                ));
            }
            self.target = Some((server, template));
        }
        let (server, template) = self.target.clone().expect("set above");
        let claimed = BackgroundWorker::transaction(claim)
            .map_err(|e| format!("claiming from odp.feature_outbox: {e}"))?;
        if claimed.is_empty() {
            return Ok(false);
        }
        // A product unknown to the cache may be new: read the products again (once per
        // batch at most). A product a read did not find is looked for again only a
        // second later, so bad data cannot make every batch re-read the table.
        let now = now_ms();
        let stale = claimed
            .iter()
            .filter_map(|c| c.product_id.as_ref())
            .any(|p| {
                !self.categories.contains_key(p)
                    && self
                        .missing
                        .get(p)
                        .is_none_or(|&read| now > read + MISSING_PRODUCT_RETRY_MS)
            });
        if stale {
            self.load_products()?;
            for product in claimed.iter().filter_map(|c| c.product_id.as_ref()) {
                if !self.categories.contains_key(product) {
                    self.missing.insert(product.clone(), now);
                }
            }
        }
        let mut purchases = Vec::with_capacity(claimed.len());
        let mut failed = Vec::new();
        for c in &claimed {
            let key = match &c.user_id {
                None => Err("no user_id".to_string()),
                Some(user) => template.render(&[user.as_str()]).map_err(|e| e.to_string()),
            };
            match key {
                Ok(features_key) => purchases.push(Purchase {
                    apply_number: c.apply_number,
                    features_key,
                    amount: c.amount,
                    category: c
                        .product_id
                        .as_ref()
                        .and_then(|p| self.categories.get(p))
                        .cloned(),
                }),
                Err(reason) => failed.push((c.apply_number, reason)),
            }
        }
        let outcomes =
            features::apply(&server, &purchases, CATEGORIES).map_err(|e| e.to_string())?;
        let (mut done, mut applied, mut retry) = (Vec::with_capacity(purchases.len()), 0, None);
        for (numbers, outcome) in outcomes {
            match outcome {
                Outcome::Applied(n) => {
                    applied += n;
                    done.extend(numbers);
                }
                Outcome::Failed {
                    reason,
                    permanent: true,
                } => failed.extend(numbers.into_iter().map(|n| (n, reason.clone()))),
                // nothing of that hash changed: its purchases stay claimed and are tried
                // again first, in order
                Outcome::Failed { reason, .. } => retry = Some(reason),
            }
        }
        if !failed.is_empty() {
            log!(
                "{WORKER_NAME}: {} purchases failed; kept in odp.feature_outbox with their error",
                failed.len()
            );
        }
        let tally = features::Tally {
            applied,
            skipped: done.len() - applied,
            failed: failed.len(),
        };
        features::record(&server, tally).map_err(|e| e.to_string())?;
        BackgroundWorker::transaction(|| forget(done, failed))
            .map_err(|e| format!("forgetting applied purchases: {e}"))?;
        match retry {
            Some(reason) => Err(format!("applying purchases (tried again): {reason}")),
            None => Ok(true),
        }
    }

    /// Reads every product's category.
    fn load_products(&mut self) -> Result<(), String> {
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

thread_local! {
    /// Whether the current transaction added a purchase to the outbox.
    static PUBLISHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called by `odp.publish_transaction()`: the transaction adds a purchase to the outbox.
#[pg_extern(volatile, parallel_unsafe)]
fn note_publishing() {
    PUBLISHING.set(true);
}

/// The feature stream's part in every transaction: the publishing lock below.
pub struct PublishingLock;

/// The feature stream's transaction participant.
pub static PUBLISHING_LOCK: PublishingLock = PublishingLock;

impl odp_fdw::source::TransactionParticipant for PublishingLock {
    fn before_commit(&self) {
        lock_if_publishing();
    }

    fn transaction_ended(&self) {
        PUBLISHING.set(false);
    }
}

/// At pre-commit, before any atomic step of the commit (a Delta log entry): a
/// transaction that added purchases takes advisory lock (7300, 2) shared until it ends.
/// `odp.refresh_features` waits for the holders after reading the lake, so a purchase
/// whose Delta commit landed before that read is visible in the outbox when the refresh
/// claims. Only transactions in their commit hold it: one idle in a transaction does not
/// hold up a refresh.
fn lock_if_publishing() {
    if !PUBLISHING.replace(false) {
        return;
    }
    // SAFETY: builds an advisory lock tag as SET_LOCKTAG_ADVISORY does and takes it in
    // the current transaction (the call is guarded: an error becomes an ERROR).
    unsafe {
        let tag = pg_sys::LOCKTAG {
            locktag_field1: pg_sys::MyDatabaseId.to_u32(),
            locktag_field2: 7300,
            locktag_field3: 2,
            locktag_field4: 2,
            locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
            locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
        };
        pg_sys::LockAcquire(&tag, pg_sys::ShareLock as pg_sys::LOCKMODE, false, false);
    }
}

/// The streaming pipeline's state: the outbox (purchases waiting to be claimed, claimed
/// and not yet applied, failed ones kept with their error), the counters the feature
/// store keeps (applied, skipped, failed), when the worker last applied a batch, and
/// the worker's process id (NULL when not running).
// pgrx reads the column names from the tuple type, so it cannot be a type alias.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile)]
fn pipeline_status() -> TableIterator<
    'static,
    (
        name!(outbox, String),
        name!(waiting, i64),
        name!(pending, i64),
        name!(failed_kept, i64),
        name!(applied, i64),
        name!(skipped, i64),
        name!(failed, i64),
        name!(last_batch, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(worker_pid, Option<i32>),
    ),
> {
    let server = stream_server().unwrap_or_else(|e| OdpError::Unsupported(e).report());
    let stats = features::stats(&server).or_report();
    // the outbox holds every user's purchases: counted as the extension's owner, not
    // read by the (monitoring) caller
    let (waiting, pending, failed_kept, pid) = {
        let _superuser = crate::fdw::catalog::AsSuperuser::start();
        let counts = Spi::get_three::<i64, i64, i64>(
            "SELECT pg_catalog.count(*) FILTER (WHERE applied_as IS NULL),
                    pg_catalog.count(*) FILTER (WHERE applied_as IS NOT NULL AND error IS NULL),
                    pg_catalog.count(*) FILTER (WHERE error IS NOT NULL)
               FROM odp.feature_outbox",
        )
        .unwrap_or_else(|e| pgrx::error!("reading odp.feature_outbox: {e}"));
        let pid = Spi::get_one_with_args::<i32>(
            "SELECT a.pid FROM pg_catalog.pg_stat_activity a
              WHERE a.backend_type OPERATOR(pg_catalog.=) $1 LIMIT 1",
            &[WORKER_NAME.into()],
        )
        .ok()
        .flatten();
        (counts.0, counts.1, counts.2, pid)
    };
    let last_batch = stats.last_batch_ms.and_then(|ms| {
        pgrx::datum::TimestampWithTimeZone::try_from(
            (ms * 1000 - odp_fdw::temporal::POSTGRES_EPOCH_MICROS) as pg_sys::TimestampTz,
        )
        .ok()
    });
    TableIterator::once((
        "odp.feature_outbox".to_string(),
        waiting.unwrap_or(0),
        pending.unwrap_or(0),
        failed_kept.unwrap_or(0),
        stats.applied,
        stats.skipped,
        stats.failed,
        last_batch,
        pid,
    ))
}

pgrx::extension_sql!(
    r#"
-- The pipeline's state (outbox counts, the worker's pid) is for monitoring roles, not
-- for every role that can connect.
REVOKE EXECUTE ON FUNCTION odp.pipeline_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION odp.pipeline_status() TO pg_monitor;
"#,
    name = "pipeline_privileges",
    requires = [pipeline_status, "features"]
);
