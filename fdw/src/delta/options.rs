//! Options of `delta_fdw` servers, user mappings and foreign tables.

use super::error::{DeltaError, Result};
use crate::options::{Catalog, Kind, OptionSpec, Options};
use std::collections::HashMap;
use url::Url;

/// Server options: where tables live and how to reach the object store.
pub const SERVER_OPTIONS: &[OptionSpec] = &[
    OptionSpec::optional("root", Kind::Text),
    OptionSpec::optional("endpoint", Kind::Text),
    OptionSpec::optional("region", Kind::Text),
    OptionSpec::optional("path_style", Kind::Bool),
    OptionSpec::optional("allow_http", Kind::Bool),
];

/// User mapping options: credentials, readable only by their owner and superusers.
pub const USER_MAPPING_OPTIONS: &[OptionSpec] = &[
    OptionSpec::optional("access_key_id", Kind::Text),
    OptionSpec::optional("secret_access_key", Kind::Text),
    OptionSpec::optional("session_token", Kind::Text),
];

/// Foreign table options: the table location and optional time travel.
pub const TABLE_OPTIONS: &[OptionSpec] = &[
    OptionSpec::required("path", Kind::Text),
    OptionSpec::optional("version", Kind::UInt),
    OptionSpec::optional("timestamp", Kind::Text),
];

/// The specs for one catalog.
pub fn specs(catalog: Catalog) -> &'static [OptionSpec] {
    match catalog {
        Catalog::Server => SERVER_OPTIONS,
        Catalog::UserMapping => USER_MAPPING_OPTIONS,
        Catalog::Table => TABLE_OPTIONS,
        Catalog::Wrapper | Catalog::Column => &[],
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLocation {
    /// table root URL (`file:///...` or `s3://bucket/prefix/table`)
    pub url: Url,
    /// object store options (endpoint, credentials, ...)
    pub storage_options: HashMap<String, String>,
    /// which snapshot to read
    pub time_travel: TimeTravel,
}

impl TableLocation {
    /// Combines server, user mapping and table options into a location.
    pub fn resolve(server: &Options, user: &Options, table: &Options) -> Result<TableLocation> {
        let path = table.get("path").ok_or_else(|| {
            DeltaError::BadLocation(String::new(), "option \"path\" is required".into())
        })?;
        let url = join_location(server.get("root"), path)?;
        Ok(TableLocation {
            storage_options: storage_options(&url, server, user),
            url,
            time_travel: time_travel(table)?,
        })
    }

    /// Location for a root alone (IMPORT FOREIGN SCHEMA, health checks).
    pub fn root(server: &Options, user: &Options, root: &str) -> Result<TableLocation> {
        let url = join_location(None, root)?;
        Ok(TableLocation {
            storage_options: storage_options(&url, server, user),
            url,
            time_travel: TimeTravel::Latest,
        })
    }
}

/// Checks table options that do not depend on the server: the path's shape and
/// time travel (run at CREATE/ALTER FOREIGN TABLE).
pub fn validate_table(table: &Options) -> Result<()> {
    if let Some(path) = table.get("path") {
        check_path(path)?;
        if path.contains("://") {
            join_location(None, path)?;
        }
    }
    time_travel(table).map(|_| ())
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

fn check_path(path: &str) -> Result<()> {
    if path.split('/').any(|part| part == "..") {
        return Err(DeltaError::BadLocation(
            path.to_string(),
            "\"..\" is not allowed".into(),
        ));
    }
    Ok(())
}

/// Resolves `path` against `root`: absolute URLs and absolute paths stand alone.
pub fn join_location(root: Option<&str>, path: &str) -> Result<Url> {
    let bad = |why: &str| DeltaError::BadLocation(path.to_string(), why.to_string());
    check_path(path)?;
    if path.contains("://") {
        return Url::parse(path).map_err(|e| bad(&e.to_string()));
    }
    if path.starts_with('/') {
        return Url::from_directory_path(path).map_err(|_| bad("not an absolute directory path"));
    }
    let root = root.ok_or_else(|| bad("relative path needs a server \"root\""))?;
    let mut base = join_location(None, root)?;
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(&format!("{}/", path.trim_end_matches('/')))
        .map_err(|e| bad(&e.to_string()))
}

fn storage_options(url: &Url, server: &Options, user: &Options) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if url.scheme() != "s3" && url.scheme() != "s3a" {
        return out;
    }
    let mut set = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            out.insert(key.to_string(), v.to_string());
        }
    };
    set("AWS_ENDPOINT_URL", server.get("endpoint"));
    set(
        "AWS_REGION",
        Some(server.get("region").unwrap_or("us-east-1")),
    );
    set(
        "AWS_ALLOW_HTTP",
        Some(if server.bool("allow_http", false) {
            "true"
        } else {
            "false"
        }),
    );
    set(
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
        Some(if server.bool("path_style", false) {
            "false"
        } else {
            "true"
        }),
    );
    set("AWS_ACCESS_KEY_ID", user.get("access_key_id"));
    set("AWS_SECRET_ACCESS_KEY", user.get("secret_access_key"));
    set("AWS_SESSION_TOKEN", user.get("session_token"));
    if user.get("access_key_id").is_none() {
        set("AWS_SKIP_SIGNATURE", Some("true"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> Options {
        Options::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    #[test]
    fn relative_paths_join_the_server_root() {
        let url = join_location(Some("s3://lake/warehouse"), "transactions").unwrap();
        assert_eq!(url.as_str(), "s3://lake/warehouse/transactions/");
        let url = join_location(Some("/data"), "users").unwrap();
        assert_eq!(url.as_str(), "file:///data/users/");
        assert!(join_location(Some("/data"), "../etc").is_err());
        assert!(join_location(None, "users").is_err());
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
