//! `delta_fdw`: Delta Lake tables on local disk or S3-compatible storage.

use crate::error::{OdpError, Result};
use crate::fdw::options::validate_for;
use crate::fdw::{Estimate, ImportedTable, Source, SourceScan, TableContext};
use odp_fdw::batch::ScanBatch;
use odp_fdw::delta::options::{join_location, specs, validate_table, TableLocation};
use odp_fdw::delta::prune::Pruner;
use odp_fdw::delta::scan::{lookup_rows, select_files, DeltaScan};
use odp_fdw::delta::schema::DeltaType;
use odp_fdw::delta::table::{list_tables, snapshot, TableSnapshot};
use odp_fdw::delta::DeltaError;
use odp_fdw::options::{Catalog, OptionSpec, Options};
use odp_fdw::request::ScanRequest;
use pgrx::prelude::*;
use std::sync::Arc;

/// A Delta table opened for one foreign table.
pub struct DeltaSource {
    snapshot: Arc<TableSnapshot>,
}

impl Source for DeltaSource {
    type Scan = DeltaScanAdapter;

    fn option_specs(catalog: Catalog) -> &'static [OptionSpec] {
        specs(catalog)
    }

    fn validate(catalog: Catalog, options: &Options) -> Result<()> {
        if catalog == Catalog::Table {
            validate_table(options)?;
        }
        Ok(())
    }

    fn open(table: &TableContext) -> Result<Self> {
        let location = TableLocation::resolve(&table.server, &table.user, &table.table)?;
        let snapshot = snapshot(&location, Some(statement_start()))?;
        for column in &table.columns {
            let delta = snapshot
                .schema
                .column(&column.name)
                .ok_or_else(|| DeltaError::NoSuchColumn(column.name.clone()))?;
            if !type_fits(&delta.data_type, column.type_oid) {
                return Err(OdpError::ColumnType {
                    column: column.name.clone(),
                    pg_type: column.type_name.clone(),
                    source_type: delta.data_type.name(),
                });
            }
        }
        Ok(DeltaSource { snapshot })
    }

    fn estimate(&self, request: &ScanRequest) -> Result<Estimate> {
        let pruner = Pruner::new(&self.snapshot.schema, &request.quals);
        let (_, counters) = select_files(&self.snapshot, &pruner);
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
            rows: counters.rows_estimated as f64,
            total_rows,
            explain: vec![
                ("Delta Version".into(), self.snapshot.version.to_string()),
                ("Delta Files".into(), files),
            ],
        })
    }

    fn lookup_rows(&self, column: &str, total_rows: f64) -> f64 {
        lookup_rows(&self.snapshot, column).unwrap_or(total_rows)
    }

    fn import_schema(
        server: &Options,
        user: &Options,
        remote_schema: &str,
    ) -> Result<Vec<ImportedTable>> {
        let root = server.get("root").ok_or(OdpError::NotSupported(
            "IMPORT FOREIGN SCHEMA without a server \"root\"",
        ))?;
        let dir = if remote_schema == "public" {
            String::new()
        } else {
            remote_schema.to_string()
        };
        let base = if dir.is_empty() {
            join_location(None, root)?
        } else {
            join_location(Some(root), &dir)?
        };
        let location = TableLocation::root(server, user, base.as_str())?;
        let mut tables = Vec::new();
        for name in list_tables(&location)? {
            let path = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            let table_location = TableLocation::resolve(
                server,
                user,
                &Options::new([("path".to_string(), path.clone())]),
            )?;
            let snapshot = snapshot(&table_location, Some(statement_start()))?;
            let columns = snapshot
                .schema
                .columns
                .iter()
                .map(|c| (c.name.clone(), pg_type_sql(&c.data_type)))
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
        Ok(DeltaScanAdapter(DeltaScan::new(
            self.snapshot.clone(),
            request,
        )?))
    }
}

/// The start time of the current statement: the freshness token of Delta snapshots.
fn statement_start() -> i64 {
    // SAFETY: reads a backend-global timestamp set at statement start.
    unsafe { pg_sys::GetCurrentStatementStartTimestamp() }
}

/// The Postgres type IMPORT FOREIGN SCHEMA declares for a Delta type.
fn pg_type_sql(delta: &DeltaType) -> String {
    match delta {
        DeltaType::String => "text".into(),
        DeltaType::Long => "bigint".into(),
        DeltaType::Integer => "integer".into(),
        DeltaType::Short | DeltaType::Byte => "smallint".into(),
        DeltaType::Double => "double precision".into(),
        DeltaType::Float => "real".into(),
        DeltaType::Boolean => "boolean".into(),
        DeltaType::Date => "date".into(),
        DeltaType::Timestamp => "timestamptz".into(),
        DeltaType::TimestampNtz => "timestamp".into(),
        DeltaType::Decimal(p, s) => format!("numeric({p},{s})"),
        DeltaType::Binary => "bytea".into(),
        DeltaType::Array(element) => format!("{}[]", pg_type_sql(element)),
        DeltaType::Struct | DeltaType::Map => "jsonb".into(),
    }
}

/// Whether a Postgres column type can hold a Delta type.
fn type_fits(delta: &DeltaType, oid: pg_sys::Oid) -> bool {
    use pg_sys::*;
    match delta {
        DeltaType::String => matches!(oid, TEXTOID | VARCHAROID),
        DeltaType::Long => oid == INT8OID || oid == NUMERICOID,
        DeltaType::Integer => matches!(oid, INT4OID | INT8OID),
        DeltaType::Short | DeltaType::Byte => matches!(oid, INT2OID | INT4OID | INT8OID),
        DeltaType::Double => oid == FLOAT8OID,
        DeltaType::Float => matches!(oid, FLOAT4OID | FLOAT8OID),
        DeltaType::Boolean => oid == BOOLOID,
        DeltaType::Date => oid == DATEOID,
        DeltaType::Timestamp => oid == TIMESTAMPTZOID,
        DeltaType::TimestampNtz => oid == TIMESTAMPOID,
        DeltaType::Decimal(..) => oid == NUMERICOID,
        DeltaType::Binary => oid == BYTEAOID,
        DeltaType::Array(element) => match element.as_ref() {
            DeltaType::String => oid == TEXTARRAYOID,
            DeltaType::Long => oid == INT8ARRAYOID,
            DeltaType::Integer => oid == INT4ARRAYOID,
            DeltaType::Short => oid == INT2ARRAYOID,
            DeltaType::Double => oid == FLOAT8ARRAYOID,
            DeltaType::Float => oid == FLOAT4ARRAYOID,
            DeltaType::Boolean => oid == BOOLARRAYOID,
            _ => false,
        },
        DeltaType::Struct | DeltaType::Map => oid == JSONBOID,
    }
}

/// A running Delta scan seen through the FDW core.
pub struct DeltaScanAdapter(DeltaScan);

impl SourceScan for DeltaScanAdapter {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(self.0.next_batch()?)
    }

    fn explain(&self) -> Vec<(String, String)> {
        let c = self.0.counters();
        vec![
            ("Delta Files Read".into(), c.files_read.to_string()),
            (
                "Delta Row Groups Skipped".into(),
                c.row_groups_skipped.to_string(),
            ),
            ("Delta Rows Returned".into(), c.rows_returned.to_string()),
        ]
    }
}

crate::fdw_handler!(
    odp_delta_fdw_handler,
    pg_finfo_odp_delta_fdw_handler,
    DeltaSource
);

/// Validates `delta_fdw` options at CREATE/ALTER time.
#[pg_extern]
fn delta_fdw_validator(options: Vec<Option<String>>, catalog: Option<pg_sys::Oid>) {
    validate_for::<DeltaSource>(options, catalog);
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION odp.delta_fdw_handler() RETURNS fdw_handler
    AS 'MODULE_PATHNAME', 'odp_delta_fdw_handler' LANGUAGE C STRICT;
CREATE FOREIGN DATA WRAPPER delta_fdw
    HANDLER odp.delta_fdw_handler VALIDATOR odp.delta_fdw_validator;
"#,
    name = "delta_fdw",
    requires = [delta_fdw_validator]
);
