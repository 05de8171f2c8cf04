//! The FDW core: one safe trait per source, and the `pg_sys::FdwRoutine` glue around it.
//!
//! A source implements [`Source`] (options, estimates, scans that yield Arrow batches)
//! and never touches `pg_sys`; [`routine`] turns it into a `FdwRoutine`, [`quals`]
//! extracts pushable conditions (constants and parameters), [`datum`] converts Arrow
//! values into tuples, [`options`] validates CREATE/ALTER options.

pub mod analyze;
pub mod catalog;
pub mod collation;
pub mod datum;
pub mod direct;
pub mod import;
pub mod lookahead;
pub mod modify;
pub mod options;
pub mod paths;
pub mod pgtype;
pub mod plan;
pub mod policy;
pub mod quals;
pub mod resources;
pub mod routine;
pub mod rows;
pub mod scan;
pub mod upper;
pub mod xact;

use crate::error::Result;
use odp_fdw::arrow::array::RecordBatch;
use odp_fdw::arrow::datatypes::DataType;
use odp_fdw::batch::ScanBatch;
use odp_fdw::options::{Catalog, OptionSpec, Options, PathPrivilege};
use odp_fdw::request::{Op, Qual, ScanRequest};
use odp_fdw::types::PgType;
use pgrx::pg_sys;

/// One column of a foreign table as Postgres declares it.
#[derive(Debug, Clone)]
pub struct PgColumn {
    /// attribute number (1-based)
    pub attnum: i16,
    /// column name
    pub name: String,
    /// type OID
    pub type_oid: pg_sys::Oid,
    /// type modifier (`numeric(p,s)`), -1 when none
    pub type_mod: i32,
    /// `format_type` rendering, for messages
    pub type_name: String,
    /// the column's FDW options
    pub options: Options,
}

impl PgColumn {
    /// The column's type, or an error saying the source has `what` for it.
    pub fn pg_type(&self, what: &str) -> Result<PgType> {
        pgtype::pg_type_of(self.type_oid).ok_or_else(|| self.no_mapping(what))
    }

    /// The Arrow type `arrow_type` gives the column's type, or an error saying the
    /// source has `what` for it.
    pub fn arrow_type(
        &self,
        arrow_type: fn(&PgType) -> Option<DataType>,
        what: &str,
    ) -> Result<DataType> {
        arrow_type(&self.pg_type(what)?).ok_or_else(|| self.no_mapping(what))
    }

    /// The `(precision, scale)` of a `numeric(p, s)` column, `None` without a modifier.
    pub fn numeric_modifier(&self) -> Option<(u8, i8)> {
        (self.type_mod >= 4).then(|| {
            let modifier = self.type_mod - 4;
            (((modifier >> 16) & 0xffff) as u8, (modifier & 0xffff) as i8)
        })
    }

    fn no_mapping(&self, what: &str) -> crate::error::OdpError {
        crate::error::OdpError::ColumnType {
            column: self.name.clone(),
            pg_type: self.type_name.clone(),
            source_type: what.to_string(),
        }
    }
}

/// Who chose where a table's data lives on the server's file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationChooser {
    /// the foreign server's owner (its `root`)
    ServerOwner,
    /// the foreign table's owner (an absolute path in its options), and the server's
    ServerAndTableOwners,
}

/// Everything a source learns about the foreign table it serves.
#[derive(Debug, Clone)]
pub struct TableContext {
    /// the foreign table
    pub relid: pg_sys::Oid,
    /// options of the foreign server
    pub server: Options,
    /// options of the current user's mapping (empty when there is none)
    pub user: Options,
    /// options of the foreign table
    pub table: Options,
    /// live (not dropped) columns in attribute order
    pub columns: Vec<PgColumn>,
}

impl TableContext {
    /// The columns as (name, type, value of the column option `option`); an error
    /// names a column whose type the source has `what` for.
    pub fn declared_columns(
        &self,
        option: &str,
        what: &str,
    ) -> Result<Vec<(String, PgType, Option<String>)>> {
        self.columns
            .iter()
            .map(|c| {
                Ok((
                    c.name.clone(),
                    c.pg_type(what)?,
                    c.options.get(option).map(str::to_string),
                ))
            })
            .collect()
    }
}

/// Planner numbers a source provides.
#[derive(Debug, Clone, Default)]
pub struct Estimate {
    /// rows the scan returns for this request, before Postgres applies its quals
    pub rows: f64,
    /// rows in the whole table
    pub total_rows: f64,
    /// `EXPLAIN` lines describing the plan-time decision (files pruned, version...)
    pub explain: Vec<(String, String)>,
    /// units of work (files) a parallel scan could share out among workers
    pub parallel_units: usize,
}

impl Estimate {
    /// Rows the planner assumes a scan a row policy restricts returns, whatever the
    /// table holds.
    const UNDER_POLICY_ROWS: f64 = 1000.0;

    /// The estimate of every scan a row policy restricts: fixed, so that no plan, row
    /// count or cost depends on rows the role may not see.
    pub fn under_policy() -> Estimate {
        Estimate {
            rows: Self::UNDER_POLICY_ROWS,
            total_rows: Self::UNDER_POLICY_ROWS,
            explain: Vec::new(),
            parallel_units: 0,
        }
    }
}

/// A table a source offers to `IMPORT FOREIGN SCHEMA`.
#[derive(Debug, Clone)]
pub struct ImportedTable {
    /// table name
    pub name: String,
    /// columns as (name, Postgres type in SQL)
    pub columns: Vec<(String, String)>,
    /// foreign table options
    pub options: Vec<(String, String)>,
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

    /// Opens the source for one foreign table, checking its columns.
    fn open(table: &TableContext) -> Result<Self>;

    /// Whether scans may be split among parallel workers: the source then implements
    /// [`Source::begin_shared_scan`], [`Source::worker_handoff`] and
    /// [`Source::open_in_worker`].
    fn parallel_safe() -> bool {
        false
    }

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
    fn resources(table: &TableContext) -> Vec<odp_fdw::security::resource::Resource>;

    /// Whether the table's data lives on the database server's own file system, and
    /// who chose that location: writing there needs that role to hold
    /// `pg_write_server_files` ([`options::check_local_write`]). `None`: remote storage.
    fn local_storage(_table: &TableContext) -> Option<LocationChooser> {
        None
    }

    /// Estimates the rows a request returns.
    fn estimate(&self, request: &ScanRequest) -> Result<Estimate>;

    /// Rows the source must read to answer `column = <one unknown value>`: the cost of
    /// one inner scan of a parameterized path. Without pruning on that column, all rows.
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
    ) -> Result<Vec<ImportedTable>> {
        Err(crate::error::OdpError::NotSupported(
            "IMPORT FOREIGN SCHEMA",
        ))
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
        Err(crate::error::OdpError::NotSupported(
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
    /// kernel (`odp_fdw::aggregate`), which then computes pushed-down aggregates.
    fn aggregates(&self, _columns: &[String]) -> bool {
        false
    }

    /// The aggregate of `spec` over the rows of `request`, when the source knows it
    /// without reading rows (from its statistics); `None` to aggregate its batches.
    fn summarize(
        &self,
        _request: &ScanRequest,
        _spec: &odp_fdw::aggregate::AggregateSpec,
    ) -> Result<Option<ScanBatch>> {
        Ok(None)
    }

    /// Whether foreign tables of this source accept INSERT (and COPY FROM).
    fn insertable() -> bool {
        false
    }

    /// Whether foreign tables of this source accept UPDATE and DELETE: its scans then
    /// give every row an identity when asked (`ScanRequest::row_ids`), and its writer
    /// deletes rows by it.
    fn updatable() -> bool {
        false
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
        Err(crate::error::OdpError::NotSupported("INSERT"))
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
        Err(crate::error::OdpError::NotSupported("UPDATE and DELETE"))
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
        Err(crate::error::OdpError::NotSupported(
            "DELETE without reading rows",
        ))
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

/// Declares the C-level handler of a wrapper: `$handler` returns the `FdwRoutine` of
/// `$source`, and `$finfo` (which must be `pg_finfo_` + `$handler`) tells Postgres it
/// uses the version-1 calling convention.
#[macro_export]
macro_rules! fdw_handler {
    ($handler:ident, $finfo:ident, $source:ty) => {
        /// The wrapper's handler: returns its `FdwRoutine`.
        #[pgrx::pg_guard]
        #[unsafe(no_mangle)]
        pub extern "C-unwind" fn $handler(
            _fcinfo: pgrx::pg_sys::FunctionCallInfo,
        ) -> pgrx::pg_sys::Datum {
            $crate::fdw::routine::fdw_routine::<$source>()
        }

        /// Version-1 calling convention marker of the handler.
        #[unsafe(no_mangle)]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1: pgrx::pg_sys::Pg_finfo_record =
                pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
    };
}
