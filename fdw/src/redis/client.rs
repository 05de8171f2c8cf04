//! Connections to Redis. A backend keeps one multiplexed connection per server and
//! credentials, reused by every statement; a connection that failed is dropped and the
//! next statement connects again. Reads found a kept connection broken (the server
//! restarted) are sent again on a new one ([`run_retrying`]); a write's commit first
//! checks its kept connection with a `PING` that may be retried. With `cluster`, the connection is a cluster client
//! that routes each key to its slot's node.

use super::error::{RedisError, Result};
use super::options::ServerOptions;
use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};
use std::cell::RefCell;
use std::collections::HashMap;

/// A connection to one Redis server or one cluster.
#[derive(Clone)]
pub enum Connection {
    /// a single server (or a primary behind a proxy)
    Single(MultiplexedConnection),
    /// a Redis Cluster
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

impl Connection {
    /// Whether MULTI/EXEC can span any set of keys (not across cluster slots).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Connection::Cluster(_))
    }
}

thread_local! {
    /// Open connections of this backend, by server and credentials.
    static CONNECTIONS: RefCell<HashMap<ServerOptions, Connection>> = RefCell::new(HashMap::new());
}

/// Forgets every open connection (a server or user mapping changed): each closes once
/// no running request holds it.
pub fn forget_connections() {
    CONNECTIONS.with(|all| {
        if let Ok(mut all) = all.try_borrow_mut() {
            all.clear();
        }
    });
}

/// Runs `work` on a connection to `server`, connecting first when needed, and maps
/// failures to [`RedisError`]s. A connection that failed is forgotten. `work` runs once:
/// use it for requests that must not be sent twice (writes).
pub fn run<T>(
    server: &ServerOptions,
    work: impl AsyncFnOnce(&mut Connection) -> ::redis::RedisResult<T>,
) -> Result<T> {
    run_once(server, work).map_err(Failed::into_error)
}

/// Like [`run`], for requests that may be sent twice (reads, idempotent scripts): when a
/// connection kept from an earlier statement turns out to be broken (the server
/// restarted, say), the request is sent again, once, on a new connection, so the first
/// statement after a restart does not fail.
pub fn run_retrying<T>(
    server: &ServerOptions,
    work: impl AsyncFn(&mut Connection) -> ::redis::RedisResult<T>,
) -> Result<T> {
    match run_once(server, &work) {
        Err(Failed::OnKept(_)) => run_once(server, &work).map_err(Failed::into_error),
        other => other.map_err(Failed::into_error),
    }
}

/// A failed request.
enum Failed {
    /// the connection, kept from an earlier request, was broken: worth one more try
    OnKept(RedisError),
    /// any other failure
    Other(RedisError),
}

impl Failed {
    fn into_error(self) -> RedisError {
        match self {
            Failed::OnKept(e) | Failed::Other(e) => e,
        }
    }
}

fn run_once<T>(
    server: &ServerOptions,
    work: impl AsyncFnOnce(&mut Connection) -> ::redis::RedisResult<T>,
) -> std::result::Result<T, Failed> {
    let cached = CONNECTIONS.with_borrow(|c| c.get(server).cloned());
    let kept = cached.is_some();
    let outcome = crate::runtime::block_on(async {
        let mut connection = match cached {
            Some(c) => c,
            None => {
                let c = connect(server).await?;
                CONNECTIONS.with_borrow_mut(|all| all.insert(server.clone(), c.clone()));
                c
            }
        };
        work(&mut connection).await.map_err(|e| classify(server, e))
    })
    .map_err(|e| Failed::Other(RedisError::Runtime(e)))?;
    outcome.map_err(|e| {
        if !matches!(e, RedisError::Command(_)) {
            CONNECTIONS.with_borrow_mut(|all| all.remove(server));
        }
        if kept && matches!(e, RedisError::Connect { .. }) {
            Failed::OnKept(e)
        } else {
            Failed::Other(e)
        }
    })
}

/// Opens a connection with the server's timeouts and the user mapping's credentials.
async fn connect(server: &ServerOptions) -> Result<Connection> {
    let failed = |e: ::redis::RedisError| classify(server, e);
    let info = server.url.as_str().into_connection_info().map_err(failed)?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = &server.user {
        settings = settings.set_username(user);
    }
    if let Some(password) = &server.password {
        settings = settings.set_password(password.expose());
    }
    let info = info.set_redis_settings(settings);
    if server.cluster {
        let client = ::redis::cluster::ClusterClientBuilder::new(vec![info])
            .connection_timeout(server.connect_timeout())
            .response_timeout(server.command_timeout())
            .build()
            .map_err(failed)?;
        let connection =
            tokio::time::timeout(server.connect_timeout(), client.get_async_connection())
                .await
                .map_err(|_| connect_timeout(server))?
                .map_err(failed)?;
        Ok(Connection::Cluster(connection))
    } else {
        let client = ::redis::Client::open(info).map_err(failed)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(server.connect_timeout()))
            .set_response_timeout(Some(server.command_timeout()));
        let connection = tokio::time::timeout(
            server.connect_timeout(),
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| connect_timeout(server))?
        .map_err(failed)?;
        Ok(Connection::Single(connection))
    }
}

fn connect_timeout(server: &ServerOptions) -> RedisError {
    RedisError::Connect {
        url: server.url.clone(),
        reason: format!("no connection within {} ms", server.connect_timeout_ms),
    }
}

/// Maps a client error to the adapter's error.
fn classify(server: &ServerOptions, e: ::redis::RedisError) -> RedisError {
    let text = e.to_string();
    if e.kind() == ::redis::ErrorKind::AuthenticationFailed
        || text.contains("WRONGPASS")
        || text.contains("NOAUTH")
    {
        RedisError::Auth(text)
    } else if e.code() == Some("NOPERM") {
        RedisError::DeniedCommand(text)
    } else if e.is_timeout() {
        RedisError::Timeout(server.command_timeout_ms)
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        RedisError::Connect {
            url: server.url.clone(),
            reason: text,
        }
    } else {
        RedisError::Command(text)
    }
}
