//! `delta_fdw`: Delta Lake tables on local disk or S3-compatible storage.

use super::log::handoff;
use super::log::table::{
    cache_key, create_table, list_tables, snapshot, CacheKey, NewColumn, TableSnapshot,
};
use super::options::{
    names_own_location, partition_by, specs, validate_column, validate_server, validate_table,
    writer_zone, TableLocation, TimeTravel,
};
use super::read::scan::DeltaScan;
use super::read::select::{lookup_rows, select_files};
use super::read::summary::summarize;
use super::write::commit::PendingCommit;
use super::write::pending::PendingView;
use super::write::whole_files::deletes_whole_files;
use super::write::write_options::WriteOptions;
use super::write::TableWriter;
use super::DeltaError;
use crate::aggregate::AggregateSpec;
use crate::batch::ScanBatch;
use crate::health::Target;
use crate::options::{Catalog, OptionSpec, Options, PathPrivilege};
use crate::parquet::filter::applies_exactly;
use crate::parquet::prune::{Pruner, WriterZone};
use crate::parquet::schema::LakeType;
use crate::parquet::types::{lake_type_for, mapping};
use crate::parquet::{footer, hot_files};
use crate::request::{Op, Qual, ScanRequest};
use crate::security::resource::Resource;
use crate::source::{
    Capabilities, CommitOrder, Estimate, Host, ImportedTable, LocationChooser, PgColumn, Result,
    Setting, SettingKind, Source, SourceError, SourceScan, SourceWriter, TableContext,
    TransactionParticipant,
};
use crate::storage::S3Config;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::DataType;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::Arc;

/// A cache budget in MB (64 by default, up to 16 GB): superusers only, since it is
/// memory every backend may keep for the rest of its life.
const fn cache_budget(name: &'static CStr, short: &'static CStr, long: &'static CStr) -> Setting {
    Setting {
        name,
        short,
        long,
        kind: SettingKind::Int {
            default: 64,
            min: 0,
            max: 16 * 1024,
        },
        superuser_only: true,
    }
}

/// `odp.parquet_footer_cache_mb`: memory for cached Parquet footers per backend.
const FOOTER_CACHE_MB: Setting = cache_budget(
    c"odp.parquet_footer_cache_mb",
    c"Memory for Parquet footers (file metadata) cached per backend, in MB",
    c"Footers of Delta data files are kept across queries, least recently used first out; 0 turns the cache off.",
);

/// `odp.decoded_file_cache_mb`: memory for decoded files that lookups return to, per
/// backend.
const DECODED_FILE_CACHE_MB: Setting = cache_budget(
    c"odp.decoded_file_cache_mb",
    c"Memory for decoded Delta files that lookups return to, per backend, in MB",
    c"A file read by a second selective scan is decoded whole and kept, least recently used first out; later lookups filter it without reading Parquet. 0 turns the cache off.",
);

/// A Delta table opened for one foreign table.
pub struct DeltaSource {
    snapshot: Arc<TableSnapshot>,
    zone: WriterZone,
    host: &'static dyn Host,
}

/// The versions a transaction pinned: forgotten when it ends.
struct PinnedVersions;

impl TransactionParticipant for PinnedVersions {
    fn transaction_ended(&self) {
        PINNED.with_borrow_mut(HashMap::clear);
    }
}

impl DeltaSource {
    /// The table's location and writer time zone, after applying this session's cache
    /// budgets (what opening the source needs first, in the leader or a worker).
    fn resolve(table: &TableContext) -> Result<(TableLocation, WriterZone)> {
        let megabytes =
            |setting: &Setting| table.host.int_setting(setting).max(0) as u64 * 1024 * 1024;
        footer::set_budget(megabytes(&FOOTER_CACHE_MB));
        hot_files::set_budget(megabytes(&DECODED_FILE_CACHE_MB));
        let location = TableLocation::resolve(&table.server, &table.user, &table.table)?;
        Ok((location, writer_zone(&table.table)?))
    }

    /// The source over `snapshot`, once the table's columns fit the Delta schema.
    fn checked(
        table: &TableContext,
        snapshot: Arc<TableSnapshot>,
        zone: WriterZone,
    ) -> Result<Self> {
        for column in &table.columns {
            let delta = snapshot
                .schema
                .column(&column.name)
                .ok_or_else(|| DeltaError::NoSuchColumn(column.name.clone()))?;
            let fits = column
                .pg_type
                .as_ref()
                .is_some_and(|pg| mapping(&delta.data_type).accepts(pg));
            if !fits {
                return Err(column.no_mapping(&delta.data_type.name()));
            }
        }
        Ok(DeltaSource {
            snapshot,
            zone,
            host: table.host,
        })
    }
}

impl Source for DeltaSource {
    type Scan = DeltaScan;

    fn resources(table: &TableContext) -> Vec<Resource> {
        // the location the path resolves to, named as a path relative to the server root
        // (`./transactions/` and `transactions` are the same table)
        let path = TableLocation::resolve(&table.server, &table.user, &table.table)
            .map(|location| TableLocation::path_option(&table.server, &location.url))
            .unwrap_or_else(|_| table.table.get("path").unwrap_or_default().to_string());
        vec![Resource::Name(format!("delta:{path}"))]
    }

    fn local_storage(table: &TableContext) -> Option<LocationChooser> {
        let location = TableLocation::resolve(&table.server, &table.user, &table.table).ok()?;
        if location.url.scheme() != "file" {
            return None;
        }
        let own = table.table.get("path").is_some_and(names_own_location);
        Some(if own {
            LocationChooser::ServerAndTableOwners
        } else {
            LocationChooser::ServerOwner
        })
    }

    fn option_specs(catalog: Catalog) -> &'static [OptionSpec] {
        specs(catalog)
    }

    fn settings() -> &'static [Setting] {
        &[FOOTER_CACHE_MB, DECODED_FILE_CACHE_MB]
    }

    fn participant() -> Option<&'static dyn TransactionParticipant> {
        Some(&PinnedVersions)
    }

    fn capabilities(_table_options: &Options) -> Capabilities {
        Capabilities {
            parallel: true,
            ..Capabilities::WRITABLE
        }
    }

    /// The local root directory, or the S3 endpoint the server's tables use.
    fn probe(server: &Options, _host: &'static dyn Host) -> Option<Target> {
        let s3 = S3Config::from_options(server, &Options::default());
        Some(match (server.get("endpoint"), server.get("root")) {
            (Some(_), _) => s3.probe_target(),
            (None, Some(root)) if root.starts_with('/') || root.starts_with("file://") => {
                Target::Directory(root.trim_start_matches("file://").to_string())
            }
            (None, Some(_)) => s3.probe_target(),
            (None, None) => Target::Invalid("server has neither \"endpoint\" nor \"root\"".into()),
        })
    }

    fn validate(catalog: Catalog, options: &Options, privilege: PathPrivilege) -> Result<()> {
        match catalog {
            Catalog::Table => validate_table(options, privilege)?,
            Catalog::Server => validate_server(options, privilege)?,
            Catalog::Column => validate_column(options)?,
            Catalog::UserMapping => crate::storage::validate_user_mapping(options)?,
            _ => {}
        }
        Ok(())
    }

    fn open(table: &TableContext) -> Result<Self> {
        let (location, zone) = Self::resolve(table)?;
        let host = table.host;
        let snapshot = match transaction_snapshot(&location, host) {
            Err(DeltaError::TableNotFound(_)) if table.table.bool("create_if_missing", false) => {
                Self::check_local_write(table)?;
                create_table(&location, &new_columns(table)?, &partition_by(&table.table))?;
                snapshot(&location, Some(host.statement_start()))?
            }
            other => other?,
        };
        Self::checked(table, snapshot, zone)
    }

    fn worker_handoff(&self) -> Vec<u8> {
        handoff::handoff(&self.snapshot)
    }

    fn open_in_worker(table: &TableContext, handoff: &[u8]) -> Result<Self> {
        let (location, zone) = Self::resolve(table)?;
        Self::checked(table, handoff::receive(handoff, &location)?, zone)
    }

    fn estimate(&self, request: &ScanRequest) -> Result<Estimate> {
        let pruner = Pruner::new(&self.snapshot.schema, &request.quals, self.zone);
        let (files, counters) = select_files(&self.snapshot, &pruner);
        let selected = files.len();
        let total_rows = self
            .snapshot
            .total_records()
            .unwrap_or(counters.files_total * 100_000) as f64;
        let files = format!(
            "{} of {} (pruned by partition: {}, skipped by stats: {})",
            counters.files_total
                - counters.files_pruned_by_partition
                - counters.files_skipped_by_stats,
            counters.files_total,
            counters.files_pruned_by_partition,
            counters.files_skipped_by_stats
        );
        Ok(Estimate {
            parallel_units: selected,
            rows: counters.rows_estimated as f64,
            total_rows,
            explain: vec![
                ("Delta Version".into(), self.snapshot.version.to_string()),
                ("Delta Files".into(), files),
            ],
        })
    }

    fn lookup_rows(&self, column: &str, total_rows: f64) -> f64 {
        lookup_rows(&self.snapshot, column, self.zone).unwrap_or(total_rows)
    }

    fn import_schema(
        server: &Options,
        user: &Options,
        remote_schema: &str,
        privilege: PathPrivilege,
        host: &'static dyn Host,
    ) -> Result<Vec<ImportedTable>> {
        let base = TableLocation::import_root(server, user, remote_schema, privilege)?;
        let mut tables = Vec::new();
        for name in list_tables(&base, remote_schema)? {
            let url = base
                .url
                .join(&format!("{name}/"))
                .map_err(|e| DeltaError::BadLocation(name.clone(), e.to_string()))?;
            let path = TableLocation::path_option(server, &url);
            let options = Options::new([("path".to_string(), path.clone())]);
            let location = TableLocation::resolve(server, user, &options)?;
            let snapshot = snapshot(&location, Some(host.statement_start()))?;
            let columns = snapshot
                .schema
                .columns
                .iter()
                .map(|c| (c.name.clone(), mapping(&c.data_type).declared_sql))
                .collect();
            tables.push(ImportedTable {
                name,
                columns,
                options: vec![("path".into(), path)],
            });
        }
        Ok(tables)
    }

    fn begin_scan(&self, request: &ScanRequest) -> Result<Self::Scan> {
        Ok(DeltaScan::new(self.snapshot.clone(), request, self.zone)?)
    }

    fn begin_scan_pending(
        &self,
        request: &ScanRequest,
        pending: &dyn std::any::Any,
    ) -> Result<Self::Scan> {
        let view = pending
            .downcast_ref::<PendingView>()
            .ok_or_else(|| SourceError::unsupported("a pending change of another source kind"))?;
        let snapshot = Arc::new(view.apply(&self.snapshot)?);
        Ok(DeltaScan::new(snapshot, request, self.zone)?.hiding(view.deleted.clone()))
    }

    fn begin_shared_scan(
        &self,
        request: &ScanRequest,
        claim: Box<dyn FnMut() -> usize>,
    ) -> Result<Self::Scan> {
        let scan = DeltaScan::new(self.snapshot.clone(), request, self.zone)?;
        Ok(scan.shared(claim))
    }

    fn applies_exactly(&self, qual: &Qual) -> bool {
        applies_exactly(&self.snapshot.schema, qual)
    }

    fn aggregates(&self, columns: &[String]) -> bool {
        // partition values become constant arrays: not for decimals, whose text in the
        // log may have another scale than the column
        columns.iter().all(|name| {
            self.snapshot
                .schema
                .column(name)
                .is_some_and(|c| !c.is_partition || !matches!(c.data_type, LakeType::Decimal(..)))
        })
    }

    fn summarize(&self, request: &ScanRequest, spec: &AggregateSpec) -> Result<Option<ScanBatch>> {
        Ok(summarize(&self.snapshot, request, spec, self.zone)?)
    }

    /// Not under a pinned version: whole files are chosen at the newest version, which
    /// may hold rows the transaction's snapshot does not.
    fn deletes_without_reading(&self, quals: &[(String, Op)]) -> bool {
        !self.host.repeatable_reads()
            && deletes_whole_files(&self.snapshot.schema, self.zone, quals)
    }

    fn direct_delete_description(&self) -> &'static str {
        "whole files, no rows read"
    }

    fn open_writer(&self, table: &TableContext) -> Result<Box<dyn SourceWriter>> {
        let location = TableLocation::resolve(&table.server, &table.user, &table.table)?;
        let options = WriteOptions::from_options(&table.table)?;
        Ok(Box::new(DeltaWriter {
            writer: TableWriter::open(&location, self.zone, &options)?,
            pending: None,
        }))
    }
}

/// The columns of the Delta table `create_if_missing` creates for a foreign table.
fn new_columns(table: &TableContext) -> Result<Vec<NewColumn>> {
    table
        .columns
        .iter()
        .map(|column| {
            let numeric = column.numeric_modifier();
            let data_type = column
                .pg_type
                .as_ref()
                .and_then(|pg| lake_type_for(pg, numeric))
                .ok_or_else(|| {
                    column.no_mapping("no Delta type (declare numeric(p,s) with p <= 38; jsonb columns need an existing table)")
                })?;
            Ok(NewColumn {
                name: column.name.clone(),
                data_type,
                nullable: true,
                generation_expression: column.options.get("generation_expression").map(str::to_string),
            })
        })
        .collect()
}

/// A transaction's writes to a Delta table and its prepared commit.
struct DeltaWriter {
    writer: TableWriter,
    /// the prepared commit, between [`SourceWriter::prepare`] and the end of the commit
    pending: Option<PendingCommit>,
}

impl SourceWriter for DeltaWriter {
    fn input_type(&self, column: &PgColumn) -> Result<DataType> {
        let delta = self.writer.column(&column.name)?;
        mapping(&delta.data_type)
            .arrow
            .ok_or_else(|| SourceError::unsupported("writing struct, map or nested array columns"))
    }

    fn write(&mut self, batch: &RecordBatch, updated: bool) -> Result<()> {
        Ok(self.writer.write(batch, updated)?)
    }

    fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        Ok(self.writer.delete(row_ids)?)
    }

    fn delete_where(&mut self, quals: &[Qual]) -> Result<u64> {
        Ok(self.writer.delete_whole_files(quals)?)
    }

    fn is_empty(&self) -> bool {
        self.writer.is_empty()
    }

    fn savepoint(&mut self) -> Result<usize> {
        Ok(self.writer.savepoint()?)
    }

    fn rollback_to(&mut self, mark: usize) {
        self.writer.rollback_to(mark);
    }

    fn release(&mut self, live: usize) {
        self.writer.release(live);
    }

    fn commit_order(&self) -> CommitOrder {
        CommitOrder::Conflicting
    }

    fn pending_view(&mut self) -> Result<Option<Box<dyn std::any::Any>>> {
        Ok(Some(Box::new(self.writer.pending_view()?)))
    }

    fn prepare(&mut self) -> Result<()> {
        self.pending = self.writer.prepare_commit()?;
        Ok(())
    }

    fn commit(&mut self) -> Result<Option<String>> {
        let rows = self.writer.rows();
        let Some(pending) = self.pending.as_mut() else {
            return Ok(None);
        };
        let version = pending.land()?;
        Ok(Some(format!(
            "committed {rows} rows as Delta version {version}"
        )))
    }

    fn after_commit(&mut self) {
        if let Some(pending) = self.pending.take() {
            if let Some(version) = pending.landed() {
                pending.checkpoint_if_due(version);
            }
        }
    }
}

thread_local! {
    /// The versions a REPEATABLE READ or SERIALIZABLE transaction reads: each table's
    /// snapshot at its first read in the transaction, by table URL and storage options
    /// (a snapshot carries the credentials it was read with).
    static PINNED: RefCell<HashMap<CacheKey, Arc<TableSnapshot>>> = RefCell::new(HashMap::new());
}

/// The snapshot a scan of `location` reads: the version current at the statement's
/// start under READ COMMITTED; under REPEATABLE READ and SERIALIZABLE the version the
/// transaction first read (so every statement of it sees the same rows).
fn transaction_snapshot(
    location: &TableLocation,
    host: &dyn Host,
) -> super::Result<Arc<TableSnapshot>> {
    if !host.repeatable_reads() || location.time_travel != TimeTravel::Latest {
        return snapshot(location, Some(host.statement_start()));
    }
    let key = cache_key(location);
    if let Some(pinned) = PINNED.with_borrow(|p| p.get(&key).cloned()) {
        return Ok(pinned);
    }
    let current = snapshot(location, Some(host.statement_start()))?;
    PINNED.with_borrow_mut(|p| p.insert(key, current.clone()));
    Ok(current)
}

impl SourceScan for DeltaScan {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(DeltaScan::next_batch(self)?)
    }

    fn explain(&self) -> Vec<(String, String)> {
        let c = self.counters();
        let mut lines = vec![
            ("Delta Files Read".into(), c.files_read.to_string()),
            (
                "Delta Row Groups Skipped".into(),
                c.row_groups_skipped.to_string(),
            ),
            ("Delta Rows Returned".into(), c.rows_returned.to_string()),
        ];
        // like Postgres's own "Rows Removed by Filter", shown when it happened
        if c.pages_skipped > 0 {
            lines.insert(
                2,
                ("Delta Pages Skipped".into(), c.pages_skipped.to_string()),
            );
        }
        if c.files_from_cache > 0 {
            lines.insert(
                1,
                (
                    "Delta Files From Cache".into(),
                    c.files_from_cache.to_string(),
                ),
            );
        }
        lines
    }
}
