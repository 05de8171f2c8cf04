//! `redis_fdw`: Redis keys named by a key template, as rows.

use super::codec::arrow_type;
use super::options::{specs, validate, ServerOptions, TableOptions};
use super::scan::RedisScan;
use super::table::{ColumnSource, KeyPlan, RedisTable};
use super::write::RedisWriter;
use crate::batch::ScanBatch;
use crate::health::{network, Protocol, Target};
use crate::options::{Catalog, OptionSpec, Options, PathPrivilege};
use crate::request::{Op, Qual, ScanRequest};
use crate::security::resource::Resource;
use crate::source::{
    Capabilities, CommitOrder, Estimate, Host, PgColumn, Result, Source, SourceScan, SourceWriter,
    TableContext, TransactionParticipant,
};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::DataType;

/// A Redis table opened for one foreign table.
pub struct RedisSource {
    table: RedisTable,
}

/// Redis connections are kept per backend: a changed server drops them.
struct RedisConnections;

impl TransactionParticipant for RedisConnections {
    fn servers_changed(&self) {
        super::client::forget_connections();
    }
}

impl Source for RedisSource {
    type Scan = RedisScan;

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

    fn probe(server: &Options, _host: &'static dyn Host) -> Option<Target> {
        Some(network(server.get("url")?, 6379, Protocol::Redis))
    }

    fn validate(catalog: Catalog, options: &Options, _privilege: PathPrivilege) -> Result<()> {
        Ok(validate(catalog, options)?)
    }

    fn participant() -> Option<&'static dyn TransactionParticipant> {
        Some(&RedisConnections)
    }

    fn capabilities(_table_options: &Options) -> Capabilities {
        Capabilities::WRITABLE
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

    fn begin_scan(&self, request: &ScanRequest) -> Result<RedisScan> {
        Ok(RedisScan::new(&self.table, request)?)
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
        Ok(Box::new(RedisWriter::new(self.table.clone())))
    }
}

impl SourceWriter for RedisWriter {
    fn input_type(&self, column: &PgColumn) -> Result<DataType> {
        column.arrow_type(arrow_type, "no Redis encoding")
    }

    fn write(&mut self, batch: &RecordBatch, updated: bool) -> Result<()> {
        Ok(RedisWriter::write(self, batch, updated)?)
    }

    fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        Ok(RedisWriter::delete(self, row_ids)?)
    }

    fn delete_where(&mut self, quals: &[Qual]) -> Result<u64> {
        Ok(RedisWriter::delete_where(self, quals)?)
    }

    fn is_empty(&self) -> bool {
        RedisWriter::is_empty(self)
    }

    fn commit_order(&self) -> CommitOrder {
        CommitOrder::Announcement
    }

    fn savepoint(&mut self) -> Result<usize> {
        Ok(RedisWriter::savepoint(self))
    }

    fn rollback_to(&mut self, mark: usize) {
        RedisWriter::rollback_to(self, mark);
    }

    fn commit(&mut self) -> Result<Option<String>> {
        let changed = RedisWriter::commit(self)?;
        Ok((changed > 0).then(|| format!("applied {changed} changes to Redis")))
    }
}

impl SourceScan for RedisScan {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(RedisScan::next_batch(self)?)
    }

    fn explain(&self) -> Vec<(String, String)> {
        let c = self.counters();
        let access = match self.plan() {
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
