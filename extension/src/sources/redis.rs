//! `redis_fdw`: Redis keys named by a key template, as rows.

use crate::error::Result;
use crate::fdw::options::validate_for;
use crate::fdw::{CommitOrder, Estimate, PgColumn, Source, SourceScan, SourceWriter, TableContext};
use odp_fdw::arrow::array::RecordBatch;
use odp_fdw::arrow::datatypes::DataType;
use odp_fdw::batch::ScanBatch;
use odp_fdw::options::{Catalog, OptionSpec, Options, PathPrivilege};
use odp_fdw::redis::codec::arrow_type;
use odp_fdw::redis::options::{specs, validate, ServerOptions, TableOptions};
use odp_fdw::redis::scan::RedisScan;
use odp_fdw::redis::table::{ColumnSource, KeyPlan, RedisTable};
use odp_fdw::redis::write::RedisWriter;
use odp_fdw::request::{Op, Qual, ScanRequest};
use odp_fdw::security::resource::Resource;
use pgrx::prelude::*;

/// A Redis table opened for one foreign table.
pub struct RedisSource {
    table: RedisTable,
}

impl Source for RedisSource {
    type Scan = RedisScanAdapter;

    fn resources(table: &TableContext) -> Vec<Resource> {
        // a template reaches every key starting with its text before the first column
        let template = table.table.get("key_template").unwrap_or_default();
        match template.find('{') {
            Some(brace) => vec![Resource::Under(format!("features:{}", &template[..brace]))],
            None => vec![Resource::Name(format!("features:{template}"))],
        }
    }

    fn option_specs(catalog: Catalog) -> &'static [OptionSpec] {
        specs(catalog)
    }

    fn validate(catalog: Catalog, options: &Options, _privilege: PathPrivilege) -> Result<()> {
        Ok(validate(catalog, options)?)
    }

    fn open(table: &TableContext) -> Result<Self> {
        let server = ServerOptions::from_options(&table.server, &table.user)?;
        let options = TableOptions::from_options(&table.table)?;
        let declared = table.declared_columns("field", "no Redis encoding")?;
        Ok(RedisSource {
            table: RedisTable::new(server, options, &declared)?,
        })
    }

    fn estimate(&self, request: &ScanRequest) -> Result<Estimate> {
        Ok(Estimate {
            rows: self.table.estimate(request),
            total_rows: self.table.options.estimated_keys as f64,
            explain: vec![(
                "Redis Key Template".into(),
                self.table.template.text().to_string(),
            )],
            ..Default::default()
        })
    }

    fn lookup_rows(&self, column: &str, total_rows: f64) -> f64 {
        if self.table.template.columns() == [column] {
            1.0
        } else {
            total_rows
        }
    }

    fn begin_scan(&self, request: &ScanRequest) -> Result<Self::Scan> {
        Ok(RedisScanAdapter(RedisScan::new(&self.table, request)?))
    }

    fn insertable() -> bool {
        true
    }

    fn updatable() -> bool {
        true
    }

    fn deletes_without_reading(&self, quals: &[(String, Op)]) -> bool {
        let keyed = |name: &str| {
            self.table
                .column(name)
                .is_some_and(|c| matches!(c.source, ColumnSource::Key(_)))
        };
        let every_key_column = self.table.template.columns().iter().all(|k| {
            quals
                .iter()
                .any(|(c, op)| c == k && matches!(op, Op::Eq | Op::In))
        });
        every_key_column
            && quals
                .iter()
                .all(|(c, op)| keyed(c) && matches!(op, Op::Eq | Op::In))
    }

    fn direct_delete_description(&self) -> &'static str {
        "DEL by key, no rows read"
    }

    fn open_writer(&self, _table: &TableContext) -> Result<Box<dyn SourceWriter>> {
        Ok(Box::new(RedisWriterAdapter(RedisWriter::new(
            self.table.clone(),
        ))))
    }
}

/// A transaction's changes to a Redis table, seen through the FDW core.
struct RedisWriterAdapter(RedisWriter);

impl SourceWriter for RedisWriterAdapter {
    fn input_type(&self, column: &PgColumn) -> Result<DataType> {
        column.arrow_type(arrow_type, "no Redis encoding")
    }

    fn write(&mut self, batch: &RecordBatch, updated: bool) -> Result<()> {
        Ok(self.0.write(batch, updated)?)
    }

    fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        Ok(self.0.delete(row_ids)?)
    }

    fn delete_where(&mut self, quals: &[Qual]) -> Result<u64> {
        Ok(self.0.delete_where(quals)?)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn commit_order(&self) -> CommitOrder {
        CommitOrder::Announcement
    }

    fn savepoint(&mut self) -> Result<usize> {
        Ok(self.0.savepoint())
    }

    fn rollback_to(&mut self, mark: usize) {
        self.0.rollback_to(mark);
    }

    fn commit(&mut self) -> Result<Option<String>> {
        let changed = self.0.commit()?;
        Ok((changed > 0).then(|| format!("applied {changed} changes to Redis")))
    }
}

/// A running Redis scan.
pub struct RedisScanAdapter(RedisScan);

impl SourceScan for RedisScanAdapter {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(self.0.next_batch()?)
    }

    fn explain(&self) -> Vec<(String, String)> {
        let c = self.0.counters();
        let access = match self.0.plan() {
            KeyPlan::Keys(keys) => format!("{} direct key reads", keys.len()),
            KeyPlan::Pattern(pattern) => format!("SCAN MATCH {pattern}"),
        };
        vec![
            ("Redis Access".into(), access),
            ("Redis Round Trips".into(), c.round_trips.to_string()),
            ("Redis SCAN Calls".into(), c.scan_calls.to_string()),
            ("Redis Keys Read".into(), c.keys_read.to_string()),
            ("Redis Rows Returned".into(), c.rows_returned.to_string()),
        ]
    }
}

crate::fdw_handler!(
    odp_redis_fdw_handler,
    pg_finfo_odp_redis_fdw_handler,
    RedisSource
);

/// Validates `redis_fdw` options at CREATE/ALTER time.
#[pg_extern]
fn redis_fdw_validator(options: Vec<Option<String>>, catalog: Option<pg_sys::Oid>) {
    validate_for::<RedisSource>(options, catalog);
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION odp.redis_fdw_handler() RETURNS fdw_handler
    AS 'MODULE_PATHNAME', 'odp_redis_fdw_handler' LANGUAGE C STRICT;
CREATE FOREIGN DATA WRAPPER redis_fdw
    HANDLER odp.redis_fdw_handler VALIDATOR odp.redis_fdw_validator;
"#,
    name = "redis_fdw",
    requires = [redis_fdw_validator]
);
