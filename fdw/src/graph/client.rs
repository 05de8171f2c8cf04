//! Connections to a Bolt server: `neo4rs` pools per backend, server and credentials,
//! reused by every statement. Each open scan, write transaction or `odp.cypher` call
//! holds a [`Lease`] on one connection; when every connection of a pool is lent,
//! another pool of `pool_size` is made, so open scans of a plan never wait for each
//! other (a nested loop over two graph tables needs two connections). Reaching the
//! server is bounded by the connect timeout (a TCP probe before a pool is made); every
//! query, batch of rows and COMMIT by the query timeout (neo4rs itself retries
//! transient failures for up to a minute).

use super::error::{GraphError, Result};
use super::options::ServerOptions;
use crate::security::secret::Secret;
use neo4rs::{ConfigBuilder, Graph};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

/// A pool of this backend and how many of its connections are lent out.
struct Pool {
    graph: Graph,
    lent: Rc<Cell<usize>>,
}

/// Connections one backend may hold at once to one server (open scans, write
/// transactions and `odp.cypher` calls): past it a new lease is refused.
pub const MAX_LEASES: usize = 64;

/// One connection of a pool, reserved for as long as the lease lives.
pub struct Lease {
    server: ServerOptions,
    graph: Graph,
    lent: Rc<Cell<usize>>,
    /// the connection carries a write transaction that is not finished: when the lease
    /// ends so, its pool is forgotten, so the connection closes (and the server rolls
    /// the transaction back) instead of waiting, idle and holding locks, for reuse
    unfinished_write: Cell<bool>,
}

impl Lease {
    /// The pool the connection comes from.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Marks whether the connection carries an unfinished write transaction.
    pub fn set_unfinished_write(&self, unfinished: bool) {
        self.unfinished_write.set(unfinished);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.lent.set(self.lent.get().saturating_sub(1));
        let discard = self.unfinished_write.get();
        POOLS.with(|pools| {
            let Ok(mut pools) = pools.try_borrow_mut() else {
                return;
            };
            let Some(list) = pools.get_mut(&self.server) else {
                return;
            };
            // an extra pool goes once it is idle; a pool whose connection carries an
            // unfinished write goes at once
            let position = list.iter().position(|p| Rc::ptr_eq(&p.lent, &self.lent));
            if let Some(i) = position {
                if discard || (i > 0 && self.lent.get() == 0) {
                    list.remove(i);
                }
            }
        });
    }
}

/// The open write transaction of one server for the host transaction (its lease is
/// marked unfinished until the transaction commits).
struct OpenWrite {
    server: ServerOptions,
    txn: neo4rs::Txn,
    _lease: Lease,
}

thread_local! {
    /// Pools of this backend, by server and credentials.
    static POOLS: RefCell<HashMap<ServerOptions, Vec<Pool>>> = RefCell::new(HashMap::new());
    /// The open write transaction of the current host transaction, per server: every
    /// graph table of a server writes through it, and it commits once, after them all.
    static WRITES: RefCell<Vec<OpenWrite>> = const { RefCell::new(Vec::new()) };
}

/// Runs one statement of the host transaction's writes to `server` in its shared Bolt
/// transaction (opened by the first), within the query timeout; returns the sum of the
/// statement's `done` column.
pub fn write_statement(server: &ServerOptions, query: neo4rs::Query) -> Result<i64> {
    let open = WRITES.with_borrow(|w| w.iter().any(|o| &o.server == server));
    if !open {
        let lease = lease(server)?;
        lease.set_unfinished_write(true);
        let txn = run(server, lease.graph().start_txn())?;
        WRITES.with_borrow_mut(|w| {
            w.push(OpenWrite {
                server: server.clone(),
                txn,
                _lease: lease,
            })
        });
    }
    let mut write = WRITES
        .with_borrow_mut(|w| {
            let i = w.iter().position(|o| &o.server == server)?;
            Some(w.swap_remove(i))
        })
        .expect("opened above");
    let txn = &mut write.txn;
    let outcome = run(server, async {
        let mut stream = txn.execute(query).await?;
        let mut done = 0i64;
        while let Some(row) = stream.next(txn.handle()).await? {
            done += row.get::<i64>("done").unwrap_or(0);
        }
        Ok(done)
    });
    WRITES.with_borrow_mut(|w| w.push(write));
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
    // (a failure drops the rest uncommitted: their leases forget their pools; once one
    // server committed, a later failure is a partial commit, never a failed one)
    for (committed, write) in open.into_iter().enumerate() {
        let OpenWrite {
            server,
            txn,
            _lease,
        } = write;
        match commit(&server, txn) {
            Ok(()) => _lease.set_unfinished_write(false),
            Err(e) if committed == 0 => return Err(e),
            Err(e) => {
                return Err(GraphError::PartlyCommitted {
                    committed,
                    total: count,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(count)
}

/// Commits `txn`. A COMMIT the server did not answer (a time-out, a lost connection,
/// any failure but the server's own error reply) is [`GraphError::CommitUnknown`]:
/// the server may have committed.
pub fn commit(server: &ServerOptions, txn: neo4rs::Txn) -> Result<()> {
    run(server, txn.commit()).map_err(|e| match e {
        GraphError::Server { .. } | GraphError::Auth(_) => e,
        unanswered => GraphError::CommitUnknown(unanswered.to_string()),
    })
}

/// Abandons the shared write transactions (the host transaction aborted) without a
/// round trip: their leases forget their pools, so the connections close as their last
/// users let go and the server rolls the transactions back. Nothing waits for a server
/// that may be hung while the abort holds interrupts.
pub fn abandon_writes() {
    let open = WRITES.with_borrow_mut(std::mem::take);
    drop(open);
}

/// Forgets every pool (a server or user mapping changed): their connections close as
/// the scans and the write transaction holding them let go.
pub fn forget_pools() {
    POOLS.with(|pools| {
        if let Ok(mut pools) = pools.try_borrow_mut() {
            pools.clear();
        }
    });
}

/// A connection of `server` for one scan, write transaction or statement: from a pool
/// with a connection to spare, or from a new pool when all are lent out.
pub fn lease(server: &ServerOptions) -> Result<Lease> {
    let size = server.pool_size.max(1) as usize;
    let spare = POOLS.with_borrow(|pools| {
        pools.get(server).and_then(|list| {
            list.iter()
                .find(|p| p.lent.get() < size)
                .map(|p| (p.graph.clone(), p.lent.clone()))
        })
    });
    let (graph, lent) = match spare {
        Some(found) => found,
        None => {
            let held: usize = POOLS.with_borrow(|pools| {
                pools
                    .get(server)
                    .map_or(0, |list| list.iter().map(|p| p.lent.get()).sum())
            });
            if held >= MAX_LEASES {
                return Err(GraphError::Unsupported(format!(
                    "more than {MAX_LEASES} graph scans or statements open at once on one server"
                )));
            }
            let graph = connect(server)?;
            let lent = Rc::new(Cell::new(0));
            POOLS.with_borrow_mut(|pools| {
                pools.entry(server.clone()).or_default().push(Pool {
                    graph: graph.clone(),
                    lent: lent.clone(),
                })
            });
            (graph, lent)
        }
    };
    lent.set(lent.get() + 1);
    Ok(Lease {
        server: server.clone(),
        graph,
        lent,
        unfinished_write: Cell::new(false),
    })
}

/// A new pool for `server` (after a TCP probe; the pool itself connects lazily).
fn connect(server: &ServerOptions) -> Result<Graph> {
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
    Graph::connect(config).map_err(|e| classify(server, e))
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
