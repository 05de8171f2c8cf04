//! The source kit: what a foreign data wrapper's adapter implements, with no Postgres
//! types. The extension's FDW core turns any [`Source`] into a `FdwRoutine`; a new
//! wrapper is its adapter folder plus one line in the extension's registry.
//!
//! - [`Source`]: options, estimates and scans of one foreign table, and its optional
//!   capabilities ([`Capabilities`]: writes, parallel scans; aggregates and batched
//!   lookups through their methods);
//! - [`SourceScan`] and [`SourceWriter`]: a running scan, a transaction's writes;
//! - [`TransactionParticipant`]: what a source shares across the tables of a
//!   transaction or session (one Bolt transaction, pinned versions, connections);
//! - [`SourceError`]: every failure with its [`ErrorClass`];
//! - [`Setting`]: the settings (GUCs) a source declares.

mod context;
mod error;
mod participant;

pub use context::{Estimate, Host, ImportedTable, LocationChooser, PgColumn, TableContext};
pub use error::{Classify, ErrorClass, Result, SourceError};
pub use participant::{Setting, SettingKind, TransactionParticipant};

use crate::aggregate::AggregateSpec;
use crate::batch::ScanBatch;
use crate::options::{Catalog, OptionSpec, Options, PathPrivilege};
use crate::request::{Op, Qual, ScanRequest};
use crate::security::resource::Resource;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::DataType;

/// What a foreign table offers beyond reading, decided from its options alone (before
/// the source is opened, as the planner asks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// INSERT and COPY FROM ([`Source::open_writer`])
    pub insert: bool,
    /// UPDATE and DELETE: scans give every row an identity when asked
    /// (`ScanRequest::row_ids`), and the writer deletes rows by it
    pub update: bool,
    /// scans split among parallel workers ([`Source::begin_shared_scan`],
    /// [`Source::worker_handoff`], [`Source::open_in_worker`])
    pub parallel: bool,
}

impl Capabilities {
    /// Reads only.
    pub const READ_ONLY: Capabilities = Capabilities {
        insert: false,
        update: false,
        parallel: false,
    };
    /// INSERT, UPDATE and DELETE, no parallel scans.
    pub const WRITABLE: Capabilities = Capabilities {
        insert: true,
        update: true,
        parallel: false,
    };
}

/// A source of rows behind a foreign data wrapper.
pub trait Source: Sized + 'static {
    /// The running scan.
    type Scan: SourceScan;

    /// Options accepted in each catalog.
    fn option_specs(catalog: Catalog) -> &'static [OptionSpec];

    /// Rules across options beyond their individual shapes (called after the specs
    /// pass), for a role with `privilege`.
    fn validate(_catalog: Catalog, _options: &Options, _privilege: PathPrivilege) -> Result<()> {
        Ok(())
    }

    /// The settings (GUCs) the source reads through [`Host`].
    fn settings() -> &'static [Setting] {
        &[]
    }

    /// What the source shares across the tables of a transaction or a session.
    fn participant() -> Option<&'static dyn TransactionParticipant> {
        None
    }

    /// What a foreign table with options `table_options` offers beyond reading
    /// (asked while planning, often: from the options alone, without opening anything).
    fn capabilities(_table_options: &Options) -> Capabilities {
        Capabilities::READ_ONLY
    }

    /// What `odp.health()` probes for a server of this source with `server` options
    /// (the endpoint its tables use); `None`: nothing to probe.
    fn probe(_server: &Options, _host: &'static dyn Host) -> Option<crate::health::Target> {
        None
    }

    /// Opens the source for one foreign table, checking its columns.
    fn open(table: &TableContext) -> Result<Self>;

    /// What the leader of a parallel scan hands its workers (through shared memory) so
    /// that every participant reads the same data.
    fn worker_handoff(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Opens the source in a parallel worker from the leader's [`Source::worker_handoff`].
    fn open_in_worker(table: &TableContext, _handoff: &[u8]) -> Result<Self> {
        Self::open(table)
    }

    /// Starts one participant's share of a parallel scan: `claim` hands out the next
    /// unit of work (a file), counting from 0 across all participants.
    fn begin_shared_scan(
        &self,
        request: &ScanRequest,
        _claim: Box<dyn FnMut() -> usize>,
    ) -> Result<Self::Scan> {
        self.begin_scan(request)
    }

    /// The resources the table's data is to resource policies (`delta:transactions`,
    /// everything under `objects:images/users/`, ...), from its options alone.
    fn resources(table: &TableContext) -> Vec<Resource>;

    /// Whether the table's data lives on the database server's own file system, and
    /// who chose that location: writing there needs that role to hold
    /// `pg_write_server_files` ([`Host::check_local_write`]). `None`: remote storage.
    fn local_storage(_table: &TableContext) -> Option<LocationChooser> {
        None
    }

    /// Fails unless the roles that chose where `table` keeps its data on the database
    /// server's file system may write there (nothing to check for remote storage).
    fn check_local_write(table: &TableContext) -> Result<()> {
        match Self::local_storage(table) {
            Some(chooser) => table.host.check_local_write(table.relid, chooser),
            None => Ok(()),
        }
    }

    /// Estimates the rows a request returns.
    fn estimate(&self, request: &ScanRequest) -> Result<Estimate>;

    /// Rows the source must read to answer `column = <one unknown value>`: the cost of
    /// one inner scan of a parameterized path (a batched lookup). Without pruning on
    /// that column, all rows.
    fn lookup_rows(&self, _column: &str, total_rows: f64) -> f64 {
        total_rows
    }

    /// Tables found under `remote_schema` of a server, for `IMPORT FOREIGN SCHEMA` run
    /// by a role with `privilege`.
    fn import_schema(
        _server: &Options,
        _user: &Options,
        _remote_schema: &str,
        _privilege: PathPrivilege,
        _host: &'static dyn Host,
    ) -> Result<Vec<ImportedTable>> {
        Err(SourceError::unsupported("IMPORT FOREIGN SCHEMA"))
    }

    /// EXPLAIN lines describing what a scan for `request` sends (the request's run-time
    /// values are NULL placeholders).
    fn describe_plan(&self, _request: &ScanRequest) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Starts a scan.
    fn begin_scan(&self, request: &ScanRequest) -> Result<Self::Scan>;

    /// A scan like [`Source::begin_scan`] that sees the transaction's own changes,
    /// `pending` (what this source's writer gave [`SourceWriter::pending_view`]).
    fn begin_scan_pending(
        &self,
        _request: &ScanRequest,
        _pending: &dyn std::any::Any,
    ) -> Result<Self::Scan> {
        Err(SourceError::unsupported(
            "reading this foreign table again in the transaction that changed it (COMMIT first)",
        ))
    }

    /// Whether every row a scan with `qual` among its quals returns satisfies `qual`
    /// under Postgres's semantics: Postgres then does not check it again, and an
    /// aggregate over such a scan may be computed below Postgres.
    fn applies_exactly(&self, _qual: &Qual) -> bool {
        false
    }

    /// Whether batches of the source's scans of these columns may feed the aggregation
    /// kernel ([`crate::aggregate`]), which then computes pushed-down aggregates.
    fn aggregates(&self, _columns: &[String]) -> bool {
        false
    }

    /// The aggregate of `spec` over the rows of `request`, when the source knows it
    /// without reading rows (from its statistics); `None` to aggregate its batches.
    fn summarize(
        &self,
        _request: &ScanRequest,
        _spec: &AggregateSpec,
    ) -> Result<Option<ScanBatch>> {
        Ok(None)
    }

    /// Whether a DELETE whose whole WHERE clause is these comparisons (column and
    /// operator; values of the column's comparison family) is done by
    /// [`SourceWriter::delete_where`] without reading rows.
    fn deletes_without_reading(&self, _quals: &[(String, Op)]) -> bool {
        false
    }

    /// How EXPLAIN describes a DELETE done by [`SourceWriter::delete_where`].
    fn direct_delete_description(&self) -> &'static str {
        "no rows read"
    }

    /// Opens the writer that collects this transaction's writes to the table; the FDW
    /// core keeps one per foreign table and transaction and commits it at pre-commit.
    fn open_writer(&self, _table: &TableContext) -> Result<Box<dyn SourceWriter>> {
        Err(SourceError::unsupported("INSERT"))
    }
}

/// The writes of one transaction to one foreign table. Rows arrive as Arrow batches;
/// nothing may become visible to other sessions before [`SourceWriter::commit`].
pub trait SourceWriter {
    /// The Arrow type the source takes the values of `column` in.
    fn input_type(&self, column: &PgColumn) -> Result<DataType>;

    /// Takes rows: columns named as the foreign table's, in their `input_type`s.
    /// `updated` rows are the new versions of rows an UPDATE deleted: values the
    /// source derives (generated columns) are derived again rather than checked.
    fn write(&mut self, batch: &RecordBatch, updated: bool) -> Result<()>;

    /// Deletes rows by the identities its scans gave them.
    fn delete(&mut self, _row_ids: &[u64]) -> Result<()> {
        Err(SourceError::unsupported("UPDATE and DELETE"))
    }

    /// Replaces the rows named by `row_ids` with the rows of `batch` (one for one, in
    /// order). By default the old rows are deleted and the new ones written as updated
    /// versions; sources that update in place override it.
    fn update(&mut self, row_ids: &[u64], batch: &RecordBatch) -> Result<()> {
        self.delete(row_ids)?;
        self.write(batch, true)
    }

    /// Deletes every row satisfying all `quals` without reading rows (only called when
    /// [`Source::deletes_without_reading`] accepted their shape); returns how many.
    fn delete_where(&mut self, _quals: &[Qual]) -> Result<u64> {
        Err(SourceError::unsupported("DELETE without reading rows"))
    }

    /// Where this writer's atomic step comes among the transaction's writers (lower
    /// first): the ones most likely to fail at their step (a Delta log entry that can
    /// lose a race) go before the ones that cannot be undone, and sources that announce
    /// changes (a Redis stream entry) after the stores they announce.
    fn commit_order(&self) -> CommitOrder {
        CommitOrder::Store
    }

    /// Whether the transaction has changed nothing through this writer yet.
    fn is_empty(&self) -> bool;

    /// Marks the writes so far (a savepoint starts) and returns the mark.
    fn savepoint(&mut self) -> Result<usize>;

    /// Forgets the writes made after `mark` (ROLLBACK TO SAVEPOINT).
    fn rollback_to(&mut self, mark: usize);

    /// Keeps only the first `live` marks: the subtransactions of the others committed
    /// into their parent (RELEASE SAVEPOINT), their writes stay.
    fn release(&mut self, _live: usize) {}

    /// The transaction's changes so far as its scans must see them, for
    /// [`Source::begin_scan_pending`] of the same source; `None`: this source cannot
    /// show them, and reading the table again before COMMIT fails (`0A000`).
    fn pending_view(&mut self) -> Result<Option<Box<dyn std::any::Any>>> {
        Ok(None)
    }

    /// Does everything of the commit that can fail while nothing is visible yet
    /// (files uploaded, conflicts checked, connections tried). Called once, at
    /// pre-commit, before any writer's [`SourceWriter::commit`]; an error aborts the
    /// whole transaction with nothing changed.
    fn prepare(&mut self) -> Result<()> {
        Ok(())
    }

    /// The atomic step that makes the prepared writes durable and visible, run with
    /// interrupts held; returns a description of what was committed, or `None` for
    /// nothing. See docs/transactions.md for what a failure here means.
    fn commit(&mut self) -> Result<Option<String>>;

    /// Work after the commit that must not fail it (a Delta checkpoint); it reports
    /// its own failures as warnings.
    fn after_commit(&mut self) {}
}

/// The commit order of writers (see [`SourceWriter::commit_order`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CommitOrder {
    /// a store whose commit can fail on a concurrent change (Delta)
    Conflicting,
    /// a store whose commit rarely fails once prepared
    Store,
    /// a source that announces changes of the stores (a Redis stream)
    Announcement,
}

/// A scan in progress.
pub trait SourceScan {
    /// The next batch, or `None` when the scan is done.
    fn next_batch(&mut self) -> Result<Option<ScanBatch>>;

    /// `EXPLAIN ANALYZE` lines: what the scan actually did.
    fn explain(&self) -> Vec<(String, String)>;
}
