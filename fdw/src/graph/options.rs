//! Options of `neo4j_fdw` servers, user mappings, foreign tables and columns.

use super::error::{GraphError, Result};
use crate::options::{Catalog, Kind, OptionError, OptionSpec, Options, ESTIMATE_MAX};
use crate::security::secret::Secret;
use std::time::Duration;

/// Server options.
pub const SERVER_OPTIONS: &[OptionSpec] = &[
    OptionSpec::required("uri", Kind::Text),
    OptionSpec::optional("database", Kind::Text),
    OptionSpec::optional("connect_timeout_ms", Kind::Millis),
    OptionSpec::optional("query_timeout_ms", Kind::Millis),
    OptionSpec::optional("fetch_size", Kind::UpTo(100_000)),
    OptionSpec::optional("pool_size", Kind::UpTo(64)),
];

/// User mapping options.
pub const USER_MAPPING_OPTIONS: &[OptionSpec] = &[
    OptionSpec::optional("user", Kind::Text),
    OptionSpec::optional("password", Kind::Text),
];

/// Foreign table options: `label` (a node table) or `type` (a relationship table, with
/// the labels and key properties of its end nodes).
pub const TABLE_OPTIONS: &[OptionSpec] = &[
    OptionSpec::optional("label", Kind::Text),
    OptionSpec::optional("type", Kind::Text),
    OptionSpec::optional("start_label", Kind::Text),
    OptionSpec::optional("start_key", Kind::Text),
    OptionSpec::optional("end_label", Kind::Text),
    OptionSpec::optional("end_key", Kind::Text),
    OptionSpec::optional("estimated_rows", Kind::UpTo(ESTIMATE_MAX)),
    OptionSpec::optional("key", Kind::Text),
    OptionSpec::optional("merge_on", Kind::Text),
    OptionSpec::optional("detach", Kind::Bool),
];

/// Column options: the property a column reads (default: the column name).
pub const COLUMN_OPTIONS: &[OptionSpec] = &[OptionSpec::optional("property", Kind::Text)];

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

const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 3_000;
const DEFAULT_QUERY_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_FETCH_SIZE: u64 = 1_000;
const DEFAULT_POOL_SIZE: u64 = 4;
const DEFAULT_ESTIMATED_ROWS: u64 = 10_000;

/// How to reach a graph server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerOptions {
    /// `bolt://`, `bolt+s://`, `neo4j://` (routing) or `neo4j+s://` URI
    pub uri: String,
    /// database name (the server's default when absent)
    pub database: Option<String>,
    /// connection timeout, in milliseconds
    pub connect_timeout_ms: u64,
    /// timeout of one query or one batch of rows, in milliseconds
    pub query_timeout_ms: u64,
    /// rows pulled per round trip
    pub fetch_size: u64,
    /// connections kept per backend
    pub pool_size: u64,
    /// user name (user mapping)
    pub user: Option<String>,
    /// password (user mapping)
    pub password: Option<Secret>,
}

impl ServerOptions {
    /// Reads server and user mapping options.
    pub fn from_options(server: &Options, user: &Options) -> Result<ServerOptions> {
        let uri = server
            .get("uri")
            .ok_or(OptionError::Missing {
                name: "uri",
                noun: Catalog::Server.noun(),
            })?
            .to_string();
        validate_uri(&uri)?;
        let positive = |name: &str, default: u64| server.uint(name).unwrap_or(default).max(1);
        Ok(ServerOptions {
            uri,
            database: server.get("database").map(str::to_string),
            connect_timeout_ms: positive("connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS),
            query_timeout_ms: positive("query_timeout_ms", DEFAULT_QUERY_TIMEOUT_MS),
            fetch_size: positive("fetch_size", DEFAULT_FETCH_SIZE),
            pool_size: positive("pool_size", DEFAULT_POOL_SIZE),
            user: user.get("user").map(str::to_string),
            password: user.get("password").map(Secret::new),
        })
    }

    /// The connection timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The query timeout.
    pub fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.query_timeout_ms)
    }
}

/// Checks a server URI: a Bolt scheme and a host, no credentials.
pub fn validate_uri(uri: &str) -> Result<()> {
    let bad = |expected: &str| {
        GraphError::InvalidOption(OptionError::BadValue {
            name: "uri".into(),
            expected: expected.into(),
        })
    };
    let parsed = url::Url::parse(uri).map_err(|_| bad("a bolt:// or neo4j:// URI"))?;
    if !matches!(parsed.scheme(), "bolt" | "bolt+s" | "neo4j" | "neo4j+s") {
        return Err(bad("a bolt://, bolt+s://, neo4j:// or neo4j+s:// URI"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("a URI with a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "a URI without credentials (put them in the user mapping)",
        ));
    }
    Ok(())
}

/// What a foreign table maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableShape {
    /// nodes with this label: a row per node
    Node { label: String },
    /// relationships of this type: a row per relationship, with its end nodes' keys
    Relationship {
        rel_type: String,
        start_label: Option<String>,
        start_key: String,
        end_label: Option<String>,
        end_key: String,
    },
}

/// The table options the adapter uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// nodes or relationships
    pub shape: TableShape,
    /// rows the planner assumes the table holds
    pub estimated_rows: u64,
    /// node tables: the property INSERT merges nodes on
    pub key: Option<String>,
    /// relationship tables: the properties INSERT merges relationships on (besides
    /// their end nodes)
    pub merge_on: Vec<String>,
    /// node tables: DELETE also removes the nodes' relationships
    pub detach: bool,
}

impl TableOptions {
    /// Reads and checks the table options.
    pub fn from_options(table: &Options) -> Result<TableOptions> {
        let name = |option: &str| -> Result<Option<String>> {
            table
                .get(option)
                .map(|v| check_name(option, v).map(|_| v.to_string()))
                .transpose()
        };
        let shape = match (name("label")?, name("type")?) {
            (Some(label), None) => TableShape::Node { label },
            (None, Some(rel_type)) => TableShape::Relationship {
                rel_type,
                start_label: name("start_label")?,
                start_key: name("start_key")?.ok_or(OptionError::Missing {
                    name: "start_key",
                    noun: Catalog::Table.noun(),
                })?,
                end_label: name("end_label")?,
                end_key: name("end_key")?.ok_or(OptionError::Missing {
                    name: "end_key",
                    noun: Catalog::Table.noun(),
                })?,
            },
            _ => {
                return Err(OptionError::BadValue {
                    name: "label".into(),
                    expected: "exactly one of label (a node table) or type (a relationship table)"
                        .into(),
                }
                .into())
            }
        };
        let merge_on = table
            .get("merge_on")
            .map(|list| {
                list.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for property in &merge_on {
            check_name("merge_on", property)?;
        }
        Ok(TableOptions {
            shape,
            estimated_rows: table
                .uint("estimated_rows")
                .unwrap_or(DEFAULT_ESTIMATED_ROWS),
            key: name("key")?,
            merge_on,
            detach: table.bool("detach", false),
        })
    }
}

/// Labels, types and property names: any text but empty, NUL or very long (they are
/// always quoted, see [`super::cypher::quote`]).
pub fn check_name(option: &str, name: &str) -> Result<()> {
    // (a backslash is refused: Neo4j reads `\u0060` inside a backtick-quoted name as a
    // backtick, which would end the quoting)
    if name.is_empty() || name.contains(['\0', '\\']) || name.len() > 256 {
        return Err(OptionError::BadValue {
            name: option.into(),
            expected: "a non-empty name of at most 256 bytes without NUL or backslash".into(),
        }
        .into());
    }
    Ok(())
}

/// Checks options beyond their individual shapes (CREATE/ALTER time).
pub fn validate(catalog: Catalog, options: &Options) -> Result<()> {
    match catalog {
        Catalog::Server => {
            if let Some(uri) = options.get("uri") {
                validate_uri(uri)?;
            }
        }
        Catalog::Table => {
            TableOptions::from_options(options)?;
        }
        Catalog::Column => {
            if let Some(p) = options.get("property") {
                check_name("property", p)?;
            }
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
    fn names_cannot_smuggle_a_backtick_escape() {
        assert!(check_name("label", "User").is_ok());
        assert!(check_name("label", "a\\u0060) DETACH DELETE (n").is_err());
        assert!(check_name("label", "a\0b").is_err());
        assert!(TableOptions::from_options(&o(&[("label", "U\\u0060x")])).is_err());
    }

    #[test]
    fn numeric_options_are_bounded() {
        let specs = specs(Catalog::Server);
        let checked = |value: &str| {
            crate::options::validate(
                Catalog::Server,
                specs,
                &[
                    ("uri".into(), "bolt://h".into()),
                    ("fetch_size".into(), value.into()),
                ],
            )
        };
        assert!(checked("100000").is_ok());
        assert!(checked("100000000000").is_err());
    }

    #[test]
    fn uris_and_shapes() {
        assert!(validate_uri("bolt://127.0.0.1:7687").is_ok());
        assert!(validate_uri("neo4j+s://cluster.example.com").is_ok());
        assert!(validate_uri("http://x").is_err());
        assert!(validate_uri("bolt://neo4j:secret@host").is_err());
        let node = TableOptions::from_options(&o(&[("label", "User")])).unwrap();
        assert_eq!(
            node.shape,
            TableShape::Node {
                label: "User".into()
            }
        );
        assert!(TableOptions::from_options(&o(&[])).is_err());
        assert!(TableOptions::from_options(&o(&[("label", "A"), ("type", "B")])).is_err());
        assert!(
            TableOptions::from_options(&o(&[("type", "PURCHASED"), ("start_key", "user_id")]))
                .is_err()
        );
        let rel = TableOptions::from_options(&o(&[
            ("type", "PURCHASED"),
            ("start_label", "User"),
            ("start_key", "user_id"),
            ("end_label", "Product"),
            ("end_key", "product_id"),
        ]))
        .unwrap();
        assert!(matches!(rel.shape, TableShape::Relationship { .. }));
        assert!(TableOptions::from_options(&o(&[("label", "")])).is_err());
    }
}
