//! Options of `redis_fdw` servers, user mappings, foreign tables and columns.

use super::error::{RedisError, Result};
use crate::options::{Catalog, Kind, OptionError, OptionSpec, Options, ESTIMATE_MAX, TEN_YEARS_S};
use crate::security::secret::Secret;
use std::time::Duration;

/// Server options: where Redis is and how long to wait for it.
pub const SERVER_OPTIONS: &[OptionSpec] = &[
    OptionSpec::required("url", Kind::Text),
    OptionSpec::optional("cluster", Kind::Bool),
    OptionSpec::optional("connect_timeout_ms", Kind::Millis),
    OptionSpec::optional("command_timeout_ms", Kind::Millis),
];

/// User mapping options: credentials (Redis ACL user, or only a password).
pub const USER_MAPPING_OPTIONS: &[OptionSpec] = &[
    OptionSpec::optional("user", Kind::Text),
    OptionSpec::optional("password", Kind::Text),
];

/// Foreign table options.
pub const TABLE_OPTIONS: &[OptionSpec] = &[
    OptionSpec::required("key_template", Kind::Text),
    OptionSpec::optional("kind", Kind::Text),
    OptionSpec::optional("ttl_seconds", Kind::UpTo(TEN_YEARS_S)),
    OptionSpec::optional("scan_count", Kind::UpTo(100_000)),
    OptionSpec::optional("estimated_keys", Kind::UpTo(ESTIMATE_MAX)),
    OptionSpec::optional("stream_maxlen", Kind::UpTo(ESTIMATE_MAX)),
];

/// Column options: the hash field a column reads (default: the column name).
pub const COLUMN_OPTIONS: &[OptionSpec] = &[OptionSpec::optional("field", Kind::Text)];

/// The options accepted in `catalog`.
pub fn specs(catalog: Catalog) -> &'static [OptionSpec] {
    match catalog {
        Catalog::Server => SERVER_OPTIONS,
        Catalog::UserMapping => USER_MAPPING_OPTIONS,
        Catalog::Table => TABLE_OPTIONS,
        Catalog::Column => COLUMN_OPTIONS,
        Catalog::Wrapper => &[],
    }
}

/// Default time to establish a connection.
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// Default time to wait for one reply.
const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 5_000;
/// Default `COUNT` hint of each `SCAN` call.
const DEFAULT_SCAN_COUNT: u64 = 1_000;
/// Default key count the planner assumes for a table scanned by pattern.
const DEFAULT_ESTIMATED_KEYS: u64 = 100_000;

/// How to reach a Redis deployment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerOptions {
    /// `redis://`, `rediss://` or `redis+unix://` URL (host or socket, database)
    pub url: String,
    /// the URL is one seed node of a Redis Cluster
    pub cluster: bool,
    /// connection establishment timeout, in milliseconds
    pub connect_timeout_ms: u64,
    /// per-reply timeout, in milliseconds
    pub command_timeout_ms: u64,
    /// ACL user name (user mapping)
    pub user: Option<String>,
    /// password (user mapping)
    pub password: Option<Secret>,
}

impl ServerOptions {
    /// Reads server and user mapping options.
    pub fn from_options(server: &Options, user: &Options) -> Result<ServerOptions> {
        let url = server
            .get("url")
            .ok_or_else(|| OptionError::Missing {
                name: "url",
                noun: Catalog::Server.noun(),
            })?
            .to_string();
        validate_url(&url)?;
        Ok(ServerOptions {
            url,
            cluster: server.bool("cluster", false),
            connect_timeout_ms: server
                .uint("connect_timeout_ms")
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT_MS)
                .max(1),
            command_timeout_ms: server
                .uint("command_timeout_ms")
                .unwrap_or(DEFAULT_COMMAND_TIMEOUT_MS)
                .max(1),
            user: user.get("user").map(str::to_string),
            password: user.get("password").map(Secret::new),
        })
    }

    /// The connection timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The per-reply timeout.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }
}

/// Checks the shape of a server URL: `redis://` or `rediss://` with a host, or
/// `redis+unix://` with a socket path (a Redis on the same machine); no password
/// (credentials belong in the user mapping, which only its owner can read).
pub fn validate_url(url: &str) -> Result<()> {
    let bad = |expected: &str| {
        RedisError::InvalidOption(OptionError::BadValue {
            name: "url".into(),
            expected: expected.into(),
        })
    };
    let expected = "a redis://, rediss:// or redis+unix:// URL";
    let parsed = url::Url::parse(url).map_err(|_| bad(expected))?;
    match parsed.scheme() {
        "redis" | "rediss" if parsed.host_str().is_none_or(str::is_empty) => {
            return Err(bad("a URL with a host"))
        }
        "redis" | "rediss" => {}
        "redis+unix" | "unix" if parsed.path().is_empty() => {
            return Err(bad("a socket path (redis+unix:///path/to/redis.sock)"))
        }
        "redis+unix" | "unix" => {}
        _ => return Err(bad(expected)),
    }
    // (a socket URL carries credentials as `?pass=` or `?user=`: only `db` is allowed)
    let credentials_in_query = parsed.query_pairs().any(|(name, _)| name != "db");
    if parsed.password().is_some() || credentials_in_query {
        return Err(bad(
            "a URL without a password or other query parameters than db (put credentials in the user mapping)",
        ));
    }
    Ok(())
}

/// What a foreign table's keys hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// hashes: each non-key column is a field
    Hash,
    /// strings: the one non-key column is the value
    String,
    /// streams, written only: each row inserted is an entry (`XADD`) whose fields are
    /// the non-key columns
    Stream,
    /// sets: a row per member
    Set,
    /// sorted sets: a row per member, with its score
    SortedSet,
    /// lists: a row per element, with its position
    List,
}

impl TableKind {
    /// The Redis type name (`TYPE`, `SCAN ... TYPE`) of keys of this kind.
    pub fn redis_type(self) -> &'static str {
        match self {
            TableKind::Hash => "hash",
            TableKind::String => "string",
            TableKind::Stream => "stream",
            TableKind::Set => "set",
            TableKind::SortedSet => "zset",
            TableKind::List => "list",
        }
    }
}

/// The table options the adapter uses.
#[derive(Debug, Clone, PartialEq)]
pub struct TableOptions {
    /// key template, e.g. `users:{user_id}:features`
    pub key_template: String,
    /// what the keys hold
    pub kind: TableKind,
    /// expiry set on every key written, in seconds
    pub ttl_seconds: Option<u64>,
    /// `COUNT` hint of `SCAN`
    pub scan_count: u64,
    /// keys the planner assumes a pattern scan finds
    pub estimated_keys: u64,
    /// streams are trimmed to about this many entries (`XADD MAXLEN ~`)
    pub stream_maxlen: Option<u64>,
}

impl TableOptions {
    /// Reads and checks the table options.
    pub fn from_options(table: &Options) -> Result<TableOptions> {
        let key_template = table
            .get("key_template")
            .ok_or_else(|| OptionError::Missing {
                name: "key_template",
                noun: Catalog::Table.noun(),
            })?
            .to_string();
        let kind = match table.get("kind").unwrap_or("hash") {
            "hash" => TableKind::Hash,
            "string" => TableKind::String,
            "stream" => TableKind::Stream,
            "set" => TableKind::Set,
            "zset" => TableKind::SortedSet,
            "list" => TableKind::List,
            _ => {
                return Err(OptionError::BadValue {
                    name: "kind".into(),
                    expected: "hash, string, set, zset, list or stream".into(),
                }
                .into())
            }
        };
        let ttl_seconds = match table.uint("ttl_seconds") {
            Some(_) if kind == TableKind::Stream => {
                return Err(OptionError::BadValue {
                    name: "ttl_seconds".into(),
                    expected: "no expiry on a stream (it would drop entries not yet consumed)"
                        .into(),
                }
                .into())
            }
            Some(0) => {
                return Err(OptionError::BadValue {
                    name: "ttl_seconds".into(),
                    expected: "a positive number of seconds".into(),
                }
                .into())
            }
            other => other,
        };
        Ok(TableOptions {
            key_template,
            kind,
            ttl_seconds,
            scan_count: table
                .uint("scan_count")
                .unwrap_or(DEFAULT_SCAN_COUNT)
                .clamp(1, 100_000),
            estimated_keys: table
                .uint("estimated_keys")
                .unwrap_or(DEFAULT_ESTIMATED_KEYS),
            stream_maxlen: table.uint("stream_maxlen"),
        })
    }
}

/// Checks options beyond their individual shapes (CREATE/ALTER time).
pub fn validate(catalog: Catalog, options: &Options) -> Result<()> {
    match catalog {
        Catalog::Server => {
            if let Some(url) = options.get("url") {
                validate_url(url)?;
            }
        }
        Catalog::Table => {
            let table = TableOptions::from_options(options)?;
            super::template::KeyTemplate::parse(&table.key_template)?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> Options {
        Options::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn urls_must_be_redis_without_password() {
        assert!(validate_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(validate_url("rediss://cache.example.com").is_ok());
        assert!(validate_url("redis+unix:///run/redis.sock").is_ok());
        assert!(validate_url("http://127.0.0.1:6379").is_err());
        assert!(validate_url("redis://:secret@127.0.0.1").is_err());
        assert!(validate_url("redis+unix:///run/redis.sock?pass=secret").is_err());
        assert!(validate_url("redis+unix:///run/redis.sock?db=1&user=u&pass=secret").is_err());
        assert!(validate_url("redis://127.0.0.1?password=secret").is_err());
        assert!(validate_url("redis+unix:///run/redis.sock?db=1").is_ok());
        assert!(validate_url("not a url").is_err());
    }

    #[test]
    fn table_options_parse() {
        let t = TableOptions::from_options(&o(&[("key_template", "u:{id}")])).unwrap();
        assert_eq!(t.kind, TableKind::Hash);
        assert_eq!(t.ttl_seconds, None);
        assert!(
            TableOptions::from_options(&o(&[("key_template", "u:{id}"), ("kind", "heap")]))
                .is_err()
        );
        assert!(TableOptions::from_options(&o(&[
            ("key_template", "u:{id}"),
            ("ttl_seconds", "0")
        ]))
        .is_err());
        assert!(validate(Catalog::Table, &o(&[("key_template", "u:{id")])).is_err());
    }
}
