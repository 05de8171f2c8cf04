//! Connections to a Bolt server: one `neo4rs` pool per backend, server and credentials,
//! reused by every statement. Reaching the server is bounded by the connect timeout (a
//! TCP probe before a pool is made); every query, batch of rows and COMMIT by the query
//! timeout (neo4rs itself retries transient failures for up to a minute).

use super::error::{GraphError, Result};
use super::options::ServerOptions;
use crate::security::secret::Secret;
use neo4rs::{ConfigBuilder, Graph};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

thread_local! {
    /// Pools of this backend, by server and credentials.
    static POOLS: RefCell<HashMap<ServerOptions, Graph>> = RefCell::new(HashMap::new());
    /// The open write transaction of the current host transaction, per server: every
    /// graph table of a server writes through it, and it commits once, after them all.
    static WRITES: RefCell<Vec<(ServerOptions, neo4rs::Txn)>> = const { RefCell::new(Vec::new()) };
}

/// Runs one statement of the host transaction's writes to `server` in its shared Bolt
/// transaction (opened by the first), within the query timeout; returns the sum of the
/// statement's `done` column.
pub fn write_statement(server: &ServerOptions, query: neo4rs::Query) -> Result<i64> {
    let open = WRITES.with_borrow(|w| w.iter().any(|(s, _)| s == server));
    if !open {
        let graph = pool(server)?;
        let txn = run(server, graph.start_txn())?;
        WRITES.with_borrow_mut(|w| w.push((server.clone(), txn)));
    }
    let mut txn = WRITES
        .with_borrow_mut(|w| {
            let i = w.iter().position(|(s, _)| s == server)?;
            Some(w.swap_remove(i).1)
        })
        .expect("opened above");
    let outcome = run(server, async {
        let mut stream = txn.execute(query).await?;
        let mut done = 0i64;
        while let Some(row) = stream.next(txn.handle()).await? {
            done += row.get::<i64>("done").unwrap_or(0);
        }
        Ok(done)
    });
    WRITES.with_borrow_mut(|w| w.push((server.clone(), txn)));
    outcome
}

/// Whether the host transaction has shared write transactions open.
pub fn has_open_writes() -> bool {
    WRITES.with_borrow(|w| !w.is_empty())
}

/// Commits the shared write transactions of the host transaction (called once, after
/// every writer sent its statements); returns how many there were.
pub fn commit_writes() -> Result<usize> {
    let open = WRITES.with_borrow_mut(std::mem::take);
    let count = open.len();
    for (server, txn) in open {
        run(&server, txn.commit())?;
    }
    Ok(count)
}

/// Rolls back the shared write transactions (the host transaction aborted).
pub fn abandon_writes() {
    let open = WRITES.with_borrow_mut(std::mem::take);
    for (server, txn) in open {
        // The server also rolls back an unfinished transaction when its connection
        // closes; an error here changes nothing.
        let _ = run(&server, txn.rollback());
    }
}

/// The pool for `server`, created on first use (without a round trip).
pub fn pool(server: &ServerOptions) -> Result<Graph> {
    if let Some(graph) = POOLS.with_borrow(|p| p.get(server).cloned()) {
        return Ok(graph);
    }
    probe(server)?;
    // neo4rs bounds both the TCP connect and every message it waits for with this one
    // setting: the query timeout, so a long query or COMMIT is not cut at the connect
    // timeout (which `probe` enforces).
    let mut config = ConfigBuilder::new()
        .uri(server.uri.as_str())
        .user(server.user.as_deref().unwrap_or(""))
        .password(server.password.as_ref().map_or("", Secret::expose))
        .fetch_size(server.fetch_size as usize)
        .max_connections(server.pool_size as usize)
        .connection_timeout(server.query_timeout().max(server.connect_timeout()));
    if let Some(db) = &server.database {
        config = config.db(db.as_str());
    }
    let config = config.build().map_err(|e| classify(server, e))?;
    let graph = Graph::connect(config).map_err(|e| classify(server, e))?;
    POOLS.with_borrow_mut(|p| p.insert(server.clone(), graph.clone()));
    Ok(graph)
}

/// Opens (and closes) a TCP connection to the server within the connect timeout, so an
/// unreachable server fails fast before a pool is made for it.
fn probe(server: &ServerOptions) -> Result<()> {
    let failed = |reason: String| GraphError::Connect {
        uri: server.uri.clone(),
        reason,
    };
    let url = url::Url::parse(&server.uri).map_err(|e| failed(e.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| failed("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port().unwrap_or(7687);
    let timeout = server.connect_timeout();
    let connected = crate::runtime::block_on(async move {
        tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
    })
    .map_err(failed)?;
    match connected {
        Err(_) => Err(failed(format!(
            "no connection within {} ms",
            server.connect_timeout_ms
        ))),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Runs `work` within the query timeout; a failure other than a query error forgets
/// the pool, so the next statement connects again.
pub fn run<T, F: Future<Output = std::result::Result<T, neo4rs::Error>>>(
    server: &ServerOptions,
    work: F,
) -> Result<T> {
    let outcome = crate::runtime::block_on(async {
        tokio::time::timeout(server.query_timeout(), work).await
    })
    .map_err(GraphError::Runtime)?
    .map_err(|_| GraphError::Timeout(server.query_timeout_ms))
    .and_then(|r| r.map_err(|e| classify(server, e)));
    if matches!(
        outcome,
        Err(GraphError::Connect { .. } | GraphError::Auth(_) | GraphError::Timeout(_))
    ) {
        POOLS.with_borrow_mut(|p| p.remove(server));
    }
    outcome
}

/// Maps a driver error to the adapter's error.
fn classify(server: &ServerOptions, e: neo4rs::Error) -> GraphError {
    match e {
        neo4rs::Error::Neo4j(e) if e.code().contains("Security.Unauthorized") => {
            GraphError::Auth(e.message().to_string())
        }
        neo4rs::Error::Neo4j(e) => GraphError::Server {
            code: e.code().to_string(),
            message: e.message().to_string(),
        },
        neo4rs::Error::IOError { .. }
        | neo4rs::Error::ConnectionError
        | neo4rs::Error::UnsupportedScheme(_)
        | neo4rs::Error::InvalidDnsName(_)
        | neo4rs::Error::UrlParseError(_) => GraphError::Connect {
            uri: server.uri.clone(),
            reason: e.to_string(),
        },
        neo4rs::Error::AuthenticationError(m) => GraphError::Auth(m),
        other => GraphError::Query(other.to_string()),
    }
}

/// Runs `query` with `params` (a JSON object: each value becomes a Bolt parameter,
/// nothing is spliced into the text) in one transaction, committed only when `write`,
/// and returns each row as a JSON object of its columns.
pub fn run_cypher(
    server: &ServerOptions,
    query: &str,
    params: &serde_json::Map<String, serde_json::Value>,
    write: bool,
) -> Result<Vec<serde_json::Value>> {
    if !write {
        if let Some(what) = super::read_only::write_in(query) {
            return Err(GraphError::WriteInReadOnly(what));
        }
    }
    let mut q = neo4rs::query(query);
    for (name, value) in params {
        q = q.param(name, super::types::json_to_bolt(value));
    }
    let graph = pool(server)?;
    let rows = run(server, async {
        let mut txn = graph.start_txn().await?;
        let mut stream = txn.execute(q).await?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next(txn.handle()).await? {
            rows.push(row);
        }
        if write {
            txn.commit().await?;
        } else {
            txn.rollback().await?;
        }
        Ok(rows)
    })?;
    rows.iter()
        .map(|row| {
            let mut object = serde_json::Map::new();
            for key in row.keys() {
                let value: neo4rs::BoltType = row
                    .get(&key.value)
                    .map_err(|e| GraphError::Query(e.to_string()))?;
                object.insert(
                    key.value.clone(),
                    super::types::to_json(&value).map_err(GraphError::Query)?,
                );
            }
            Ok(serde_json::Value::Object(object))
        })
        .collect()
}
