//! SQL functions of the graph: `odp.cypher()` for what tables cannot say, index
//! management, and the lake-to-graph helpers.

use crate::error::{OdpError, OrReport};
use crate::fdw::catalog::server_options;
use odp_fdw::graph::cypher::quote;
use odp_fdw::graph::options::ServerOptions;
use odp_fdw::graph::source::WRITER_ROLE;
use odp_fdw::graph::statement::CypherRows;
use odp_fdw::security::resource::Action;
use odp_fdw::source::Host;
use pgrx::prelude::*;
use pgrx::JsonB;

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
        OdpError::privilege("membership in odp_graph_writer (for write => true)").report();
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
    crate::host::HOST.is_member_of(WRITER_ROLE)
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
        OdpError::privilege("membership in odp_graph_writer").report();
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
    requires = ["wrappers", cypher]
);
