//! Options of `delta_fdw` servers, user mappings and foreign tables.

use super::error::{DeltaError, Result};
use crate::options::{Catalog, Kind, OptionError, OptionSpec, Options, PathPrivilege};
use crate::parquet::prune::WriterZone;
use crate::storage::{self, S3Config};
use std::collections::HashMap;
use std::sync::LazyLock;
use url::Url;

/// Server options: where tables live and how to reach the object store.
pub static SERVER_OPTIONS: LazyLock<Vec<OptionSpec>> =
    LazyLock::new(|| storage::server_options(&[OptionSpec::optional("root", Kind::Text)], &[]));

/// Foreign table options: the table location, optional time travel, and the time zone
/// the writer evaluated generated date columns in.
pub const TABLE_OPTIONS: &[OptionSpec] = &[
    OptionSpec::required("path", Kind::Text),
    OptionSpec::optional("version", Kind::UpTo(i64::MAX as u64)),
    OptionSpec::optional("timestamp", Kind::Text),
    OptionSpec::optional("writer_time_zone", Kind::Text),
    OptionSpec::optional("create_if_missing", Kind::Bool),
    OptionSpec::optional("partition_by", Kind::Text),
    OptionSpec::optional("compression", Kind::Text),
    OptionSpec::optional("target_file_mb", Kind::UpTo(4_096)),
    OptionSpec::optional("row_group_rows", Kind::UpTo(100_000_000)),
    OptionSpec::optional("sort_by", Kind::Text),
    OptionSpec::optional("bloom_filter_columns", Kind::Text),
    OptionSpec::optional("batch_size", Kind::UpTo(1_000_000)),
];

/// Column options: the generation expression of a column of a table ODP creates.
pub const COLUMN_OPTIONS: &[OptionSpec] =
    &[OptionSpec::optional("generation_expression", Kind::Text)];

/// The specs for one catalog.
pub fn specs(catalog: Catalog) -> &'static [OptionSpec] {
    match catalog {
        Catalog::Server => &SERVER_OPTIONS,
        Catalog::UserMapping => storage::USER_MAPPING_OPTIONS,
        Catalog::Table => TABLE_OPTIONS,
        Catalog::Column => COLUMN_OPTIONS,
        Catalog::Wrapper => &[],
    }
}

/// Which snapshot of a table to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TimeTravel {
    /// the newest committed version, re-checked on every scan
    Latest,
    /// a fixed version
    Version(u64),
    /// the version current at this RFC 3339 time
    Timestamp(String),
}

/// A resolved table location with the storage options `deltalake` needs.
#[derive(Clone, PartialEq, Eq)]
pub struct TableLocation {
    /// table root URL (`file:///...` or `s3://bucket/prefix/table`)
    pub url: Url,
    /// object store options (endpoint, credentials, ...)
    pub storage_options: HashMap<String, String>,
    /// which snapshot to read
    pub time_travel: TimeTravel,
}

/// Names of storage options whose values are credentials, never shown.
fn is_credential(option: &str) -> bool {
    let upper = option.to_ascii_uppercase();
    upper.contains("SECRET") || upper.contains("TOKEN") || upper.contains("PASSWORD")
}

impl std::fmt::Debug for TableLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut options: Vec<(&str, &str)> = self
            .storage_options
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if is_credential(k) { "***" } else { v.as_str() },
                )
            })
            .collect();
        options.sort();
        f.debug_struct("TableLocation")
            .field("url", &self.url.as_str())
            .field("storage_options", &options)
            .field("time_travel", &self.time_travel)
            .finish()
    }
}

impl TableLocation {
    /// Combines server, user mapping and table options into a location. A relative
    /// path must stay under the server root; an absolute path or URL was allowed when
    /// the table was created (see [`validate_table`]).
    pub fn resolve(server: &Options, user: &Options, table: &Options) -> Result<TableLocation> {
        let path = table.get("path").ok_or_else(|| {
            DeltaError::BadLocation(String::new(), "option \"path\" is required".into())
        })?;
        let url = match explicit_location(path)? {
            Some(url) => url,
            None => {
                let root = server.get("root").ok_or_else(|| {
                    DeltaError::BadLocation(
                        path.to_string(),
                        "relative path needs a server \"root\"".into(),
                    )
                })?;
                join_confined(&root_url(root)?, path)?
            }
        };
        Ok(TableLocation {
            storage_options: storage_options(&url, server, user),
            url,
            time_travel: time_travel(table)?,
        })
    }

    /// The location `IMPORT FOREIGN SCHEMA` lists: the server root for `public`, a
    /// directory under it, or (with [`PathPrivilege::AnyLocation`]) any absolute path
    /// or URL.
    pub fn import_root(
        server: &Options,
        user: &Options,
        remote_schema: &str,
        privilege: PathPrivilege,
    ) -> Result<TableLocation> {
        let explicit = explicit_location(remote_schema)?;
        let url = match (explicit, server.get("root")) {
            (Some(_), _) if privilege == PathPrivilege::ServerRootOnly => {
                return Err(DeltaError::OutsideRoot(remote_schema.to_string()))
            }
            (Some(url), _) => url,
            (None, None) => {
                return Err(DeltaError::BadLocation(
                    remote_schema.to_string(),
                    "IMPORT FOREIGN SCHEMA needs a server \"root\"".into(),
                ))
            }
            (None, Some(root)) if remote_schema == "public" => root_url(root)?,
            (None, Some(root)) => join_confined(&root_url(root)?, remote_schema)?,
        };
        Ok(TableLocation {
            storage_options: storage_options(&url, server, user),
            url,
            time_travel: TimeTravel::Latest,
        })
    }

    /// The `path` option naming `url` in a foreign table of this server: relative to
    /// the root when the location is under it, the URL itself otherwise.
    pub fn path_option(server: &Options, url: &Url) -> String {
        let relative = server
            .get("root")
            .and_then(|root| root_url(root).ok())
            .and_then(|root| url.as_str().strip_prefix(root.as_str()).map(str::to_string));
        match relative {
            Some(rest) => rest.trim_end_matches('/').to_string(),
            None => url.to_string(),
        }
    }
}

/// Checks table options that do not depend on the server (run at CREATE/ALTER FOREIGN
/// TABLE): the path's shape and confinement, time travel, and the writer's zone.
pub fn validate_table(table: &Options, privilege: PathPrivilege) -> Result<()> {
    if let Some(path) = table.get("path") {
        if explicit_location(path)?.is_some() {
            if privilege == PathPrivilege::ServerRootOnly {
                return Err(DeltaError::OutsideRoot(path.to_string()));
            }
        } else {
            // Any root will do: a relative path that escapes one escapes all.
            join_confined(&root_url("/")?, path)?;
        }
    }
    writer_zone(table)?;
    super::write::write_options::WriteOptions::from_options(table)?;
    time_travel(table).map(|_| ())
}

/// Checks column options (run at CREATE/ALTER FOREIGN TABLE): a generation expression
/// must be one ODP evaluates, `CAST(column AS DATE)` or its synonyms.
pub fn validate_column(column: &Options) -> Result<()> {
    match column.get("generation_expression") {
        Some(expression) if crate::parquet::prune::date_generation_source(expression).is_none() => {
            Err(DeltaError::InvalidOption(OptionError::BadValue {
                name: "generation_expression".into(),
                expected: "CAST(column AS DATE), to_date(column) or date(column)".into(),
            }))
        }
        _ => Ok(()),
    }
}

/// The partition columns named by the `partition_by` table option.
pub fn partition_by(table: &Options) -> Vec<String> {
    table.names("partition_by")
}

/// Checks server options (run at CREATE/ALTER SERVER): the root decides what every
/// table of the server can reach, so only privileged roles may set it.
pub fn validate_server(server: &Options, privilege: PathPrivilege) -> Result<()> {
    match server.get("root") {
        Some(root) if privilege == PathPrivilege::ServerRootOnly => {
            Err(DeltaError::OutsideRoot(root.to_string()))
        }
        Some(root) => root_url(root).map(|_| ()),
        None => Ok(()),
    }
}

/// The zone named by the `writer_time_zone` table option (UTC when absent).
pub fn writer_zone(table: &Options) -> Result<WriterZone> {
    match table.get("writer_time_zone") {
        None => Ok(WriterZone::Utc),
        Some(text) => WriterZone::parse(text).ok_or_else(|| {
            DeltaError::InvalidOption(OptionError::BadValue {
                name: "writer_time_zone".into(),
                expected: "UTC, an offset such as +09:00 or -05:30, or unknown".into(),
            })
        }),
    }
}

fn time_travel(table: &Options) -> Result<TimeTravel> {
    match (table.uint("version"), table.get("timestamp")) {
        (Some(_), Some(_)) => Err(DeltaError::TimeTravel(
            "set either \"version\" or \"timestamp\", not both".into(),
        )),
        (Some(v), None) => Ok(TimeTravel::Version(v)),
        (None, Some(t)) => Ok(TimeTravel::Timestamp(t.to_string())),
        (None, None) => Ok(TimeTravel::Latest),
    }
}

/// An absolute path or URL as a URL; `None` for a path relative to a server root.
fn explicit_location(path: &str) -> Result<Option<Url>> {
    let bad = |why: &str| DeltaError::BadLocation(path.to_string(), why.to_string());
    if path.starts_with('/') {
        let mut dir = path.to_string();
        if !dir.ends_with('/') {
            dir.push('/');
        }
        return Url::from_directory_path(&dir)
            .map(Some)
            .map_err(|_| bad("not an absolute directory path"));
    }
    match Url::parse(path) {
        Ok(url) if url.cannot_be_a_base() => Err(bad("not a hierarchical URL")),
        Ok(url) => Ok(Some(url)),
        Err(url::ParseError::RelativeUrlWithoutBase) => Ok(None),
        Err(e) => Err(bad(&e.to_string())),
    }
}

/// Whether a table's `path` option names its own location (an absolute path or a
/// URL) rather than one under the server root.
pub fn names_own_location(path: &str) -> bool {
    matches!(explicit_location(path), Ok(Some(_)))
}

/// A server root (absolute path or URL) as a directory URL ending in `/`.
fn root_url(root: &str) -> Result<Url> {
    let mut url = explicit_location(root)?.ok_or_else(|| {
        DeltaError::BadLocation(root.to_string(), "a root must be absolute".into())
    })?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// Resolves a relative `path` under `root`, refusing any result outside it (`..`,
/// `%2e%2e`, `//host`, backslashes and the like all end up there). A relative path is
/// plain text: `%` (an escape a store would decode, so that `%73ales` and `sales` name
/// one table under two resource names), `?` and `#` (which a URL drops from the path)
/// and empty segments (`a//b`, the same directory as `a/b` on a file system) are
/// refused, so each table has one spelling.
fn join_confined(root: &Url, path: &str) -> Result<Url> {
    let outside = || DeltaError::EscapesRoot(path.to_string());
    let lower = path.to_ascii_lowercase();
    // Encoded separators would be decoded into path components by some stores.
    let encoded_separator = lower.contains("%2f") || lower.contains("%5c");
    let dot_dot = |part: &str| part.replace("%2e", ".") == "..";
    if encoded_separator || lower.split(['/', '\\']).any(dot_dot) {
        return Err(outside());
    }
    if let Some(c) = path.chars().find(|c| matches!(c, '%' | '?' | '#')) {
        return Err(DeltaError::BadLocation(
            path.to_string(),
            format!("a relative path may not contain '{c}'"),
        ));
    }
    if path.trim_end_matches('/').contains("//") {
        return Err(DeltaError::BadLocation(
            path.to_string(),
            "a relative path may not contain an empty segment (//)".into(),
        ));
    }
    let url = root
        .join(&format!("{}/", path.trim_end_matches('/')))
        .map_err(|e| DeltaError::BadLocation(path.to_string(), e.to_string()))?;
    let under = url.scheme() == root.scheme()
        && url.host_str() == root.host_str()
        && url.port() == root.port()
        && url.path().starts_with(root.path());
    if under {
        Ok(url)
    } else {
        Err(outside())
    }
}

/// The deltalake storage options of a table at `url`: the server's S3 configuration
/// for S3 locations ([`crate::storage`]), none for local ones.
fn storage_options(url: &Url, server: &Options, user: &Options) -> HashMap<String, String> {
    if url.scheme() != "s3" && url.scheme() != "s3a" {
        return HashMap::new();
    }
    S3Config::from_options(server, user).to_storage_options()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> Options {
        Options::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    fn table(path: &str) -> Options {
        o(&[("path", path)])
    }

    fn resolve(root: &str, path: &str) -> Result<TableLocation> {
        TableLocation::resolve(&o(&[("root", root)]), &o(&[]), &table(path))
    }

    #[test]
    fn relative_paths_join_the_server_root() {
        let url = resolve("s3://lake/warehouse", "transactions").unwrap().url;
        assert_eq!(url.as_str(), "s3://lake/warehouse/transactions/");
        let url = resolve("/data", "sales/users").unwrap().url;
        assert_eq!(url.as_str(), "file:///data/sales/users/");
        assert!(TableLocation::resolve(&o(&[]), &o(&[]), &table("users")).is_err());
    }

    #[test]
    fn relative_paths_cannot_leave_the_root() {
        for escape in [
            "../etc",
            "a/../../etc",
            "%2e%2e/etc",
            "%2E%2e/x",
            "..\\x",
            "x/%2e.",
            "x%2F..%2F..%2Fetc",
            "a%5c..%5cb",
        ] {
            assert!(
                matches!(
                    resolve("/data/lake", escape),
                    Err(DeltaError::EscapesRoot(_))
                ),
                "{escape} escaped"
            );
            assert!(
                matches!(
                    resolve("s3://bucket/lake", escape),
                    Err(DeltaError::EscapesRoot(_))
                ),
                "{escape} escaped on s3"
            );
            assert!(validate_table(&table(escape), PathPrivilege::ServerRootOnly).is_err());
        }
    }

    #[test]
    fn debug_output_hides_credentials() {
        let server = o(&[
            ("root", "s3://lake/w"),
            ("endpoint", "http://127.0.0.1:9000"),
        ]);
        let user = o(&[
            ("access_key_id", "AKIDEXAMPLE"),
            ("secret_access_key", "s3cr3t"),
            ("session_token", "t0k3n"),
        ]);
        let location = TableLocation::resolve(&server, &user, &table("t")).unwrap();
        let shown = format!("{location:?}");
        assert!(
            shown.contains("AKIDEXAMPLE") && shown.contains("127.0.0.1:9000"),
            "{shown}"
        );
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
            "{shown}"
        );
    }

    #[test]
    fn a_relative_path_has_one_spelling() {
        for spelling in [
            "%73ales",
            "sales%5Ftbl",
            "sales?x",
            "sales#x",
            "a/b%20c",
            "a//b",
        ] {
            for root in ["/data/lake", "s3://bucket/lake"] {
                assert!(
                    matches!(resolve(root, spelling), Err(DeltaError::BadLocation(..))),
                    "{spelling} under {root}"
                );
            }
            assert!(validate_table(&table(spelling), PathPrivilege::ServerRootOnly).is_err());
        }
        assert!(resolve("/data/lake", "sales_tbl").is_ok());
    }

    #[test]
    fn absolute_paths_and_urls_need_the_privilege() {
        for location in [
            "/etc",
            "//host/x",
            "file:///etc",
            "s3://other-bucket/t",
            "file:/etc",
        ] {
            assert!(matches!(
                validate_table(&table(location), PathPrivilege::ServerRootOnly),
                Err(DeltaError::OutsideRoot(_))
            ));
            assert!(validate_table(&table(location), PathPrivilege::AnyLocation).is_ok());
        }
        assert!(validate_table(&table("sales/users"), PathPrivilege::ServerRootOnly).is_ok());
        let root = o(&[("root", "/data")]);
        assert!(validate_server(&root, PathPrivilege::ServerRootOnly).is_err());
        assert!(validate_server(&root, PathPrivilege::AnyLocation).is_ok());
    }

    #[test]
    fn import_lists_under_the_root_unless_privileged() {
        let server = o(&[("root", "/data/lake")]);
        let at = |schema: &str, privilege| {
            TableLocation::import_root(&server, &o(&[]), schema, privilege)
                .map(|l| l.url.to_string())
        };
        assert_eq!(
            at("public", PathPrivilege::ServerRootOnly).unwrap(),
            "file:///data/lake/"
        );
        assert_eq!(
            at("sales", PathPrivilege::ServerRootOnly).unwrap(),
            "file:///data/lake/sales/"
        );
        assert!(at("/etc", PathPrivilege::ServerRootOnly).is_err());
        assert!(at("..", PathPrivilege::ServerRootOnly).is_err());
        assert_eq!(
            at("/etc", PathPrivilege::AnyLocation).unwrap(),
            "file:///etc/"
        );
        let url = Url::parse("file:///data/lake/sales/users/").unwrap();
        assert_eq!(TableLocation::path_option(&server, &url), "sales/users");
        let url = Url::parse("file:///etc/t/").unwrap();
        assert_eq!(TableLocation::path_option(&server, &url), "file:///etc/t/");
    }

    #[test]
    fn writer_zone_option_is_checked() {
        assert!(validate_table(
            &o(&[("path", "t"), ("writer_time_zone", "+09:00")]),
            PathPrivilege::ServerRootOnly
        )
        .is_ok());
        assert!(matches!(
            validate_table(
                &o(&[("path", "t"), ("writer_time_zone", "Mars/Base")]),
                PathPrivilege::ServerRootOnly
            ),
            Err(DeltaError::InvalidOption(_))
        ));
    }

    #[test]
    fn s3_options_carry_credentials_from_the_user_mapping() {
        let loc = TableLocation::resolve(
            &o(&[
                ("root", "s3://lake"),
                ("endpoint", "http://127.0.0.1:9000"),
                ("allow_http", "true"),
                ("path_style", "true"),
            ]),
            &o(&[("access_key_id", "k"), ("secret_access_key", "s")]),
            &o(&[("path", "t"), ("version", "3")]),
        )
        .unwrap();
        assert_eq!(loc.time_travel, TimeTravel::Version(3));
        assert_eq!(loc.storage_options["AWS_ACCESS_KEY_ID"], "k");
        assert_eq!(
            loc.storage_options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"],
            "false"
        );
        assert_eq!(loc.storage_options["AWS_ALLOW_HTTP"], "true");
    }

    #[test]
    fn version_and_timestamp_together_are_refused() {
        let err = TableLocation::resolve(
            &o(&[]),
            &o(&[]),
            &o(&[
                ("path", "/t"),
                ("version", "1"),
                ("timestamp", "2026-01-01T00:00:00Z"),
            ]),
        );
        assert!(matches!(err, Err(DeltaError::TimeTravel(_))));
    }
}
