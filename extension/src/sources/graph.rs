//! `neo4j_fdw`: node and relationship tables over Bolt (Neo4j; ArcadeDB locally), and
//! `odp.cypher()` for what tables cannot say.

use crate::error::{OdpError, OrReport, Result};
use crate::fdw::catalog::server_options;
use crate::fdw::options::validate_for;
use crate::fdw::pgtype::pg_type_of;
use crate::fdw::{Estimate, Source, SourceScan, TableContext};
use odp_fdw::batch::ScanBatch;
use odp_fdw::graph::client::run_cypher;
use odp_fdw::graph::options::{specs, validate, ServerOptions, TableOptions};
use odp_fdw::graph::scan::GraphScan;
use odp_fdw::graph::table::GraphTable;
use odp_fdw::options::{Catalog, OptionSpec, Options, PathPrivilege};
use odp_fdw::request::ScanRequest;
use pgrx::prelude::*;
use pgrx::JsonB;

/// A graph table opened for one foreign table.
pub struct GraphSource {
    table: GraphTable,
}

impl Source for GraphSource {
    type Scan = GraphScanAdapter;

    fn option_specs(catalog: Catalog) -> &'static [OptionSpec] {
        specs(catalog)
    }

    fn validate(catalog: Catalog, options: &Options, _privilege: PathPrivilege) -> Result<()> {
        Ok(validate(catalog, options)?)
    }

    fn open(table: &TableContext) -> Result<Self> {
        let server = ServerOptions::from_options(&table.server, &table.user)?;
        let options = TableOptions::from_options(&table.table)?;
        let declared = table
            .columns
            .iter()
            .map(|c| {
                let pg = pg_type_of(c.type_oid).ok_or_else(|| OdpError::ColumnType {
                    column: c.name.clone(),
                    pg_type: c.type_name.clone(),
                    source_type: "no graph mapping".into(),
                })?;
                Ok((
                    c.name.clone(),
                    pg,
                    c.options.get("property").map(str::to_string),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GraphSource {
            table: GraphTable::new(server, options, &declared)?,
        })
    }

    fn estimate(&self, _request: &ScanRequest) -> Result<Estimate> {
        let total = self.table.options.estimated_rows as f64;
        Ok(Estimate {
            rows: total,
            total_rows: total,
            explain: Vec::new(),
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

    fn begin_scan(&self, request: &ScanRequest) -> Result<Self::Scan> {
        Ok(GraphScanAdapter(GraphScan::new(&self.table, request)))
    }
}

/// A running graph scan.
pub struct GraphScanAdapter(GraphScan);

impl SourceScan for GraphScanAdapter {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(self.0.next_batch()?)
    }

    fn explain(&self) -> Vec<(String, String)> {
        let c = self.0.counters();
        vec![
            ("Graph Rows Received".into(), c.rows_received.to_string()),
            ("Graph Batches".into(), c.batches.to_string()),
        ]
    }
}

crate::fdw_handler!(
    odp_neo4j_fdw_handler,
    pg_finfo_odp_neo4j_fdw_handler,
    GraphSource
);

/// Validates `neo4j_fdw` options at CREATE/ALTER time.
#[pg_extern]
fn neo4j_fdw_validator(options: Vec<Option<String>>, catalog: Option<pg_sys::Oid>) {
    validate_for::<GraphSource>(options, catalog);
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION odp.neo4j_fdw_handler() RETURNS fdw_handler
    AS 'MODULE_PATHNAME', 'odp_neo4j_fdw_handler' LANGUAGE C STRICT;
CREATE FOREIGN DATA WRAPPER neo4j_fdw
    HANDLER odp.neo4j_fdw_handler VALIDATOR odp.neo4j_fdw_validator;
"#,
    name = "neo4j_fdw",
    requires = [neo4j_fdw_validator]
);

pgrx::extension_sql!(
    r#"
-- Members of odp_graph_writer may run odp.cypher(..., write => true).
DO $$ BEGIN
    CREATE ROLE odp_graph_writer NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
"#,
    name = "graph_roles"
);

/// Runs a Cypher query on the `neo4j_fdw` server `server` with `params` (a JSON
/// object: strings, numbers, booleans, nulls, arrays and objects become Bolt values;
/// nothing is spliced into the text) and returns each row as a JSON object (nodes,
/// relationships and paths with their labels, types and properties). The query runs in
/// a transaction that is rolled back, so it cannot change the graph, unless the caller
/// is a member of `odp_graph_writer` and passes `write => true`.
#[pg_extern(volatile)]
fn cypher(
    server: &str,
    query: &str,
    params: default!(JsonB, "'{}'"),
    write: default!(bool, false),
) -> SetOfIterator<'static, JsonB> {
    let (server_options, user) = server_options(server).unwrap_or_else(|| {
        OdpError::Unsupported(format!("no foreign server \"{server}\"")).report()
    });
    let target = ServerOptions::from_options(&server_options, &user).or_report();
    if write && !is_graph_writer() {
        OdpError::Privilege("membership in odp_graph_writer (for write => true)").report();
    }
    let serde_json::Value::Object(params) = params.0 else {
        OdpError::Unsupported("params must be a JSON object".into()).report()
    };
    let out: Vec<JsonB> = run_cypher(&target, query, &params, write)
        .or_report()
        .into_iter()
        .map(JsonB)
        .collect();
    SetOfIterator::new(out)
}

/// Whether the current role is a member of `odp_graph_writer`.
fn is_graph_writer() -> bool {
    Spi::get_one::<bool>(
        "SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = 'odp_graph_writer'",
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}
