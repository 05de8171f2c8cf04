//! `neo4j_fdw`: node and relationship tables over Bolt (Neo4j; ArcadeDB locally), and
//! `odp.cypher()` for what tables cannot say.

use crate::error::{OdpError, OrReport, Result};
use crate::fdw::catalog::server_options;
use crate::fdw::options::validate_for;
use crate::fdw::{Estimate, PgColumn, Source, SourceScan, SourceWriter, TableContext};
use odp_fdw::arrow::array::RecordBatch;
use odp_fdw::arrow::datatypes::DataType;
use odp_fdw::batch::ScanBatch;
use odp_fdw::graph::cypher::quote;
use odp_fdw::graph::options::{specs, validate, ServerOptions, TableOptions};
use odp_fdw::graph::scan::GraphScan;
use odp_fdw::graph::statement::CypherRows;
use odp_fdw::graph::table::GraphTable;
use odp_fdw::graph::types::arrow_type;
use odp_fdw::graph::write::GraphWriter;
use odp_fdw::options::{Catalog, OptionSpec, Options, PathPrivilege};
use odp_fdw::request::ScanRequest;
use odp_fdw::security::resource::{Action, Resource};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, JsonB};

/// `odp.graph_pushdown`: whether quals on graph tables go to the server as Cypher
/// (on by default; off measures what pushdown saves).
pub static GRAPH_PUSHDOWN: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Registers the GUCs of this module.
pub fn init_gucs() {
    GucRegistry::define_bool_guc(
        c"odp.graph_pushdown",
        c"Push quals on neo4j_fdw tables to the graph server",
        c"Off: every row is sent and Postgres filters (for comparisons).",
        &GRAPH_PUSHDOWN,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// A graph table opened for one foreign table.
pub struct GraphSource {
    table: GraphTable,
}

impl Source for GraphSource {
    type Scan = GraphScanAdapter;

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

    fn validate(catalog: Catalog, options: &Options, _privilege: PathPrivilege) -> Result<()> {
        Ok(validate(catalog, options)?)
    }

    fn open(table: &TableContext) -> Result<Self> {
        let server = ServerOptions::from_options(&table.server, &table.user)?;
        let options = TableOptions::from_options(&table.table)?;
        let declared = table.declared_columns("property", "no graph mapping")?;
        let mut table = GraphTable::new(server, options, &declared)?;
        table.pushdown = GRAPH_PUSHDOWN.get();
        Ok(GraphSource { table })
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

    fn begin_scan(&self, request: &ScanRequest) -> Result<Self::Scan> {
        Ok(GraphScanAdapter(GraphScan::new(&self.table, request)))
    }

    fn insertable() -> bool {
        true
    }

    fn updatable() -> bool {
        true
    }

    fn open_writer(&self, _table: &TableContext) -> Result<Box<dyn SourceWriter>> {
        // the same gate as odp.cypher(..., write => true): table grants alone do not
        // let a role change the graph
        if !is_graph_writer() {
            return Err(OdpError::Privilege(
                "membership in odp_graph_writer (to write to a graph table)",
            ));
        }
        Ok(Box::new(GraphWriterAdapter {
            writer: GraphWriter::new(self.table.clone()),
        }))
    }
}

/// A transaction's changes to a graph table, seen through the FDW core.
struct GraphWriterAdapter {
    writer: GraphWriter,
}

impl SourceWriter for GraphWriterAdapter {
    fn input_type(&self, column: &PgColumn) -> Result<DataType> {
        column.arrow_type(arrow_type, "no graph mapping")
    }

    fn write(&mut self, batch: &RecordBatch, _updated: bool) -> Result<()> {
        Ok(self.writer.write(batch)?)
    }

    fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        Ok(self.writer.delete(row_ids)?)
    }

    fn update(&mut self, row_ids: &[u64], batch: &RecordBatch) -> Result<()> {
        Ok(self.writer.update(row_ids, batch)?)
    }

    fn is_empty(&self) -> bool {
        self.writer.is_empty()
    }

    fn savepoint(&mut self) -> Result<usize> {
        Ok(self.writer.savepoint())
    }

    fn rollback_to(&mut self, mark: usize) {
        self.writer.rollback_to(mark);
    }

    /// Sends the changes through the server's shared Bolt transaction: visible to no
    /// one until [`crate::sources::commit_shared`] commits it.
    fn prepare(&mut self) -> Result<()> {
        let sent = self.writer.commit()?;
        pgrx::debug1!("odp: sent {sent} changes to the graph");
        Ok(())
    }

    /// Nothing lands here: the shared Bolt transaction commits after every writer.
    fn commit(&mut self) -> Result<Option<String>> {
        Ok(None)
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
/// is a member of `odp_graph_writer` and passes `write => true`. A read streams its
/// rows `fetch_size` at a time (Postgres keeps a function's rows in a tuplestore that
/// spills to disk past `work_mem`); put a LIMIT in the Cypher to fetch fewer.
#[pg_extern(volatile)]
fn cypher(
    server: &str,
    query: &str,
    params: default!(JsonB, "'{}'"),
    write: default!(bool, false),
) -> SetOfIterator<'static, JsonB> {
    let target = graph_server(server);
    let action = if write { Action::Write } else { Action::Read };
    crate::fdw::resources::check_name("graph:cypher", action);
    if write && !is_graph_writer() {
        OdpError::Privilege("membership in odp_graph_writer (for write => true)").report();
    }
    let serde_json::Value::Object(params) = params.0 else {
        OdpError::Unsupported("params must be a JSON object".into()).report()
    };
    let mut rows = CypherRows::start(&target, query, &params, write).or_report();
    SetOfIterator::new(std::iter::from_fn(move || {
        rows.next_row().or_report().map(JsonB)
    }))
}

/// Whether the current role is a member of `odp_graph_writer`.
fn is_graph_writer() -> bool {
    // SAFETY: looks the role up (InvalidOid when missing) and reads the role graph.
    unsafe {
        let role = pg_sys::get_role_oid(c"odp_graph_writer".as_ptr(), true);
        role != pg_sys::InvalidOid && pg_sys::is_member_of_role(pg_sys::GetUserId(), role)
    }
}

/// Creates an index (or, with `is_unique`, a uniqueness constraint) on `property` of
/// nodes labelled `label` on the graph server `server`, if missing. Names are quoted,
/// never spliced. Needs membership in `odp_graph_writer`.
#[pg_extern(volatile)]
fn create_graph_index(
    label: &str,
    property: &str,
    is_unique: default!(bool, false),
    server: default!(&str, "'graph'"),
) -> String {
    if !is_graph_writer() {
        OdpError::Privilege("membership in odp_graph_writer").report();
    }
    crate::fdw::resources::check_name(&format!("graph:{label}"), Action::Admin);
    for (option, name) in [("label", label), ("property", property)] {
        odp_fdw::graph::options::check_name(option, name).or_report();
    }
    let (label, property) = (quote(label), quote(property));
    let statement = if is_unique {
        format!("CREATE CONSTRAINT IF NOT EXISTS FOR (n:{label}) REQUIRE n.{property} IS UNIQUE")
    } else {
        format!("CREATE INDEX IF NOT EXISTS FOR (n:{label}) ON (n.{property})")
    };
    let target = graph_server(server);
    CypherRows::start(&target, &statement, &serde_json::Map::new(), true)
        .and_then(CypherRows::collect_all)
        .or_report();
    statement
}

/// The indexes and constraints of the graph server `server` (`SHOW INDEXES`), one JSON
/// object per index as the server describes it.
#[pg_extern(volatile)]
fn graph_indexes(server: default!(&str, "'graph'")) -> SetOfIterator<'static, JsonB> {
    let target = graph_server(server);
    crate::fdw::resources::check_name("graph:cypher", Action::Read);
    let rows = CypherRows::start(&target, "SHOW INDEXES", &serde_json::Map::new(), false)
        .and_then(CypherRows::collect_all)
        .or_report();
    SetOfIterator::new(rows.into_iter().map(JsonB))
}

/// The options of the `neo4j_fdw` server `name` and the current user's mapping; the
/// current role needs USAGE on the server, as for its foreign tables.
fn graph_server(name: &str) -> ServerOptions {
    if crate::fdw::catalog::server_wrapper_with_usage(name).as_deref() != Some("neo4j_fdw") {
        OdpError::UndefinedObject(format!("neo4j_fdw server \"{name}\"")).report();
    }
    let (server, user) = server_options(name).unwrap_or_else(|| {
        OdpError::UndefinedObject(format!("foreign server \"{name}\"")).report()
    });
    ServerOptions::from_options(&server, &user).or_report()
}

pgrx::extension_sql!(
    r#"
-- Loads User and Product nodes and PURCHASED relationships from the lake into the graph
-- through the graph foreign tables (MERGE on their keys: running it twice gives the same
-- graph). With `since`, only purchases at or after it are loaded (all users and
-- products are merged). The graph changes when the calling transaction commits, in one
-- Bolt transaction.
CREATE FUNCTION odp.graph_sync(
    since timestamptz DEFAULT NULL,
    users text DEFAULT 'lake.users',
    products text DEFAULT 'lake.products',
    transactions text DEFAULT 'lake.transactions',
    graph_users text DEFAULT 'graph.users',
    graph_products text DEFAULT 'graph.products',
    graph_purchased text DEFAULT 'graph.purchased'
) RETURNS TABLE (users_merged bigint, products_merged bigint, purchases_merged bigint)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    n_users bigint;
    n_products bigint;
    n_purchases bigint;
BEGIN
    EXECUTE format('INSERT INTO %s (user_id, name) SELECT user_id::text, name::text FROM %s',
                   graph_users::regclass, users::regclass);
    GET DIAGNOSTICS n_users = ROW_COUNT;
    RAISE NOTICE 'odp.graph_sync: % users', n_users;
    EXECUTE format('INSERT INTO %s (product_id, name) SELECT product_id::text, name::text FROM %s',
                   graph_products::regclass, products::regclass);
    GET DIAGNOSTICS n_products = ROW_COUNT;
    RAISE NOTICE 'odp.graph_sync: % products', n_products;
    EXECUTE format(
        'INSERT INTO %s (user_id, product_id, date)
         SELECT user_id::text, product_id::text, transaction_time FROM %s
          WHERE $1 IS NULL OR transaction_time >= $1', graph_purchased::regclass, transactions::regclass)
      USING since;
    GET DIAGNOSTICS n_purchases = ROW_COUNT;
    RAISE NOTICE 'odp.graph_sync: % purchases', n_purchases;
    RETURN QUERY SELECT n_users, n_products, n_purchases;
END
$fn$;

-- Products bought by users who bought what `user_id` bought, that `user_id` has not
-- bought, ranked by how many such users bought them (then by id): one traversal on the
-- graph server `server`.
CREATE FUNCTION odp.graph_recommend(user_id text, k int DEFAULT 10, server text DEFAULT 'graph')
RETURNS TABLE (product_id text, score bigint) LANGUAGE sql VOLATILE AS $fn$
    SELECT row ->> 'product_id', (row ->> 'score')::bigint
      FROM odp.cypher(server,
        'MATCH (u:User {user_id: $id})-[:PURCHASED]->(:Product)<-[:PURCHASED]-(other:User)-[:PURCHASED]->(rec:Product)
          WHERE other <> u AND NOT (u)-[:PURCHASED]->(rec)
         RETURN rec.product_id AS product_id, count(DISTINCT other) AS score
          ORDER BY score DESC, product_id LIMIT $k',
        jsonb_build_object('id', user_id, 'k', k)) AS row
$fn$;
"#,
    name = "graph_helpers",
    requires = ["neo4j_fdw", cypher]
);
