//! `neo4j_fdw`: node and relationship tables over Bolt (Neo4j; ArcadeDB locally).

use super::options::{specs, validate, ServerOptions, TableOptions};
use super::scan::GraphScan;
use super::table::GraphTable;
use super::types::arrow_type;
use super::write::GraphWriter;
use crate::batch::ScanBatch;
use crate::health::{network, Protocol, Target};
use crate::options::{Catalog, OptionSpec, Options, PathPrivilege};
use crate::request::ScanRequest;
use crate::security::resource::Resource;
use crate::source::{
    Capabilities, Estimate, Host, PgColumn, Result, Setting, SettingKind, Source, SourceError,
    SourceScan, SourceWriter, TableContext, TransactionParticipant,
};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::DataType;

/// The role whose members may change the graph (through tables or `odp.cypher`).
pub const WRITER_ROLE: &str = "odp_graph_writer";

/// `odp.graph_pushdown`: whether quals on graph tables go to the server as Cypher
/// (on by default; off measures what pushdown saves).
const PUSHDOWN: Setting = Setting {
    name: c"odp.graph_pushdown",
    short: c"Push quals on neo4j_fdw tables to the graph server",
    long: c"Off: every row is sent and Postgres filters (for comparisons).",
    kind: SettingKind::Bool { default: true },
    superuser_only: false,
};

/// A graph table opened for one foreign table.
pub struct GraphSource {
    table: GraphTable,
}

/// The graph's one Bolt transaction per server, shared by the transaction's writers
/// and `odp.cypher` writes, and the backend's connection pools.
struct GraphTransactions;

impl TransactionParticipant for GraphTransactions {
    fn has_pending(&self) -> bool {
        super::client::has_open_writes()
    }

    fn commit(&self) -> Result<Option<String>> {
        let committed = super::client::commit_writes()?;
        Ok((committed > 0).then(|| format!("committed {committed} graph transactions")))
    }

    fn transaction_ended(&self) {
        super::client::abandon_writes();
    }

    fn servers_changed(&self) {
        super::client::forget_pools();
    }
}

impl Source for GraphSource {
    type Scan = GraphScan;

    fn resources(table: &TableContext) -> Vec<Resource> {
        // a relationship table also reads the key properties of its end nodes
        ["label", "type", "start_label", "end_label"]
            .iter()
            .filter_map(|option| table.table.get(option))
            .map(|name| Resource::Name(format!("graph:{name}")))
            .collect()
    }

    fn option_specs(catalog: Catalog) -> &'static [OptionSpec] {
        specs(catalog)
    }

    fn probe(server: &Options, _host: &'static dyn Host) -> Option<Target> {
        Some(network(server.get("uri")?, 7687, Protocol::Bolt))
    }

    fn validate(catalog: Catalog, options: &Options, _privilege: PathPrivilege) -> Result<()> {
        Ok(validate(catalog, options)?)
    }

    fn settings() -> &'static [Setting] {
        &[PUSHDOWN]
    }

    fn participant() -> Option<&'static dyn TransactionParticipant> {
        Some(&GraphTransactions)
    }

    fn capabilities(_table_options: &Options) -> Capabilities {
        Capabilities::WRITABLE
    }

    fn open(table: &TableContext) -> Result<Self> {
        let server = ServerOptions::from_options(&table.server, &table.user)?;
        let options = TableOptions::from_options(&table.table)?;
        let declared = table.declared_columns("property", "no graph mapping")?;
        let mut graph = GraphTable::new(server, options, &declared)?;
        graph.pushdown = table.host.bool_setting(&PUSHDOWN);
        Ok(GraphSource { table: graph })
    }

    fn estimate(&self, _request: &ScanRequest) -> Result<Estimate> {
        let total = self.table.options.estimated_rows as f64;
        Ok(Estimate {
            rows: total,
            total_rows: total,
            explain: Vec::new(),
            ..Default::default()
        })
    }

    fn describe_plan(&self, request: &ScanRequest) -> Vec<(String, String)> {
        let query = self.table.query(request);
        let mut lines = vec![("Cypher".to_string(), query.text.clone())];
        if !query.params.is_empty() {
            let names: Vec<String> = query.params.iter().map(|(n, ..)| format!("${n}")).collect();
            lines.push(("Cypher Parameters".to_string(), names.join(", ")));
        }
        lines
    }

    fn lookup_rows(&self, _column: &str, total_rows: f64) -> f64 {
        // A property lookup; the graph server answers it from an index when one exists.
        (total_rows / 1000.0).max(1.0)
    }

    fn begin_scan(&self, request: &ScanRequest) -> Result<GraphScan> {
        Ok(GraphScan::new(&self.table, request))
    }

    fn open_writer(&self, table: &TableContext) -> Result<Box<dyn SourceWriter>> {
        // the same gate as odp.cypher(..., write => true): table grants alone do not
        // let a role change the graph
        if !table.host.is_member_of(WRITER_ROLE) {
            return Err(SourceError::privilege(
                "membership in odp_graph_writer (to write to a graph table)",
            ));
        }
        Ok(Box::new(GraphWriter::new(self.table.clone())))
    }
}

impl SourceWriter for GraphWriter {
    fn input_type(&self, column: &PgColumn) -> Result<DataType> {
        column.arrow_type(arrow_type, "no graph mapping")
    }

    fn write(&mut self, batch: &RecordBatch, _updated: bool) -> Result<()> {
        Ok(GraphWriter::write(self, batch)?)
    }

    fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        Ok(GraphWriter::delete(self, row_ids)?)
    }

    fn update(&mut self, row_ids: &[u64], batch: &RecordBatch) -> Result<()> {
        Ok(GraphWriter::update(self, row_ids, batch)?)
    }

    fn is_empty(&self) -> bool {
        GraphWriter::is_empty(self)
    }

    fn savepoint(&mut self) -> Result<usize> {
        Ok(GraphWriter::savepoint(self))
    }

    fn rollback_to(&mut self, mark: usize) {
        GraphWriter::rollback_to(self, mark);
    }

    /// Sends the changes through the server's shared Bolt transaction: visible to no
    /// one until [`GraphTransactions`] commits it, after every writer.
    fn prepare(&mut self) -> Result<()> {
        let sent = GraphWriter::commit(self)?;
        crate::runtime::debug(&format!("odp: sent {sent} changes to the graph"));
        Ok(())
    }

    /// Nothing lands here: the shared Bolt transaction commits after every writer.
    fn commit(&mut self) -> Result<Option<String>> {
        Ok(None)
    }
}

impl SourceScan for GraphScan {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(GraphScan::next_batch(self)?)
    }

    fn explain(&self) -> Vec<(String, String)> {
        let c = self.counters();
        vec![
            ("Graph Rows Received".into(), c.rows_received.to_string()),
            ("Graph Batches".into(), c.batches.to_string()),
        ]
    }
}
