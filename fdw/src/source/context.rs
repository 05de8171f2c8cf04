//! What a source learns about the foreign table it serves, and what it asks of the
//! database server hosting it.

use super::error::{Result, SourceError};
use super::participant::Setting;
use crate::options::Options;
use crate::types::PgType;
use deltalake::arrow::datatypes::DataType;

/// One column of a foreign table as Postgres declares it.
#[derive(Debug, Clone)]
pub struct PgColumn {
    /// attribute number (1-based)
    pub attnum: i16,
    /// column name
    pub name: String,
    /// type OID
    pub type_oid: u32,
    /// the type, when ODP maps it (`None`: no source can hold the column)
    pub pg_type: Option<PgType>,
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
        self.pg_type.clone().ok_or_else(|| self.no_mapping(what))
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

    /// The error for a column whose type the source has `what` for.
    pub fn no_mapping(&self, what: &str) -> SourceError {
        SourceError::column_type(&self.name, &self.type_name, what)
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

/// What the database server offers a source: the session's state and its privilege
/// checks. The extension implements it over Postgres; call it only from the backend's
/// own thread, never from an adapter's runtime threads.
pub trait Host: Sync {
    /// The start of the current statement (microseconds since 2000-01-01): the
    /// freshness token of cached snapshots.
    fn statement_start(&self) -> i64;
    /// Whether the transaction's isolation level repeats reads (REPEATABLE READ or
    /// SERIALIZABLE).
    fn repeatable_reads(&self) -> bool;
    /// The database server's data directory.
    fn data_directory(&self) -> String;
    /// Whether the current role is a member of `role` (false when it does not exist).
    fn is_member_of(&self, role: &str) -> bool;
    /// Fails (42501) unless the roles `chooser` names may write to the server's file
    /// system for the foreign table `relid`.
    fn check_local_write(&self, relid: u32, chooser: LocationChooser) -> Result<()>;
    /// The current value of an integer setting the source declared.
    fn int_setting(&self, setting: &Setting) -> i32;
    /// The current value of a boolean setting the source declared.
    fn bool_setting(&self, setting: &Setting) -> bool;
}

/// Everything a source learns about the foreign table it serves.
#[derive(Clone)]
pub struct TableContext {
    /// the foreign table's OID
    pub relid: u32,
    /// options of the foreign server
    pub server: Options,
    /// options of the current user's mapping (empty when there is none)
    pub user: Options,
    /// options of the foreign table
    pub table: Options,
    /// live (not dropped) columns in attribute order
    pub columns: Vec<PgColumn>,
    /// the database server
    pub host: &'static dyn Host,
}

impl std::fmt::Debug for TableContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableContext")
            .field("relid", &self.relid)
            .field("columns", &self.columns.len())
            .finish_non_exhaustive()
    }
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
