//! Options of `object_fdw` servers, user mappings and foreign tables.

use super::error::{ObjectError, Result};
use super::keys::check_prefix;
use crate::options::{
    Catalog, Kind, OptionError, OptionSpec, Options, PathPrivilege, ESTIMATE_MAX,
};
use crate::storage::{self, S3Config};
use std::path::PathBuf;
use std::sync::LazyLock;

/// Server options: where objects live, how to reach the store, and the limits.
pub static SERVER_OPTIONS: LazyLock<Vec<OptionSpec>> = LazyLock::new(|| {
    storage::server_options(
        &[OptionSpec::optional("root", Kind::Text)],
        &[
            OptionSpec::optional("max_content_mb", Kind::UpTo(1_024)),
            OptionSpec::optional("multipart_mb", Kind::UpTo(5_120)),
        ],
    )
});

/// The formats a table reads its objects as.
pub const FORMATS: &[&str] = &["objects", "parquet", "csv", "json"];

/// Foreign table options: the key prefix, what the objects are, and whether an INSERT
/// may replace an existing object.
pub const TABLE_OPTIONS: &[OptionSpec] = &[
    OptionSpec::optional("prefix", Kind::Text),
    OptionSpec::optional("format", Kind::OneOf(FORMATS)),
    OptionSpec::optional("overwrite", Kind::Bool),
    OptionSpec::optional("estimated_objects", Kind::UpTo(ESTIMATE_MAX)),
    OptionSpec::optional("estimated_rows", Kind::UpTo(ESTIMATE_MAX)),
    OptionSpec::optional("csv_header", Kind::Bool),
    OptionSpec::optional("csv_delimiter", Kind::Text),
];

/// The specs for one catalog.
pub fn specs(catalog: Catalog) -> &'static [OptionSpec] {
    match catalog {
        Catalog::Server => &SERVER_OPTIONS,
        Catalog::UserMapping => storage::USER_MAPPING_OPTIONS,
        Catalog::Table => TABLE_OPTIONS,
        Catalog::Column | Catalog::Wrapper => &[],
    }
}

/// Checks options beyond their shapes (run at CREATE/ALTER): a root is set only by a
/// privileged role and must parse; a prefix must be a plain key prefix.
pub fn validate(catalog: Catalog, options: &Options, privilege: PathPrivilege) -> Result<()> {
    match catalog {
        Catalog::Server => {
            if let Some(root) = options.get("root") {
                if privilege == PathPrivilege::ServerRootOnly {
                    return Err(ObjectError::RootPrivilege);
                }
                Root::parse(root)?;
            }
            Ok(())
        }
        Catalog::Table => {
            TableOptions::from_options(options)?;
            Ok(())
        }
        Catalog::UserMapping => Ok(storage::validate_user_mapping(options)?),
        _ => Ok(()),
    }
}

fn bad(name: &str, expected: &str) -> ObjectError {
    ObjectError::InvalidOption(OptionError::BadValue {
        name: name.into(),
        expected: expected.into(),
    })
}

/// Where a server's objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// a bucket, with the key prefix every table of the server lives under ("" or
    /// ending in `/`)
    S3 { bucket: String, base: String },
    /// a local directory
    Local(PathBuf),
}

impl Root {
    /// Parses `s3://bucket[/prefix]` or an absolute directory path.
    pub fn parse(root: &str) -> Result<Root> {
        let bad = |reason: &str| ObjectError::BadRoot {
            root: root.to_string(),
            reason: reason.to_string(),
        };
        if root.starts_with('/') {
            let path = PathBuf::from(root);
            if path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(bad("a local root may not contain .."));
            }
            return Ok(Root::Local(path));
        }
        // taken literally, not as a URL: a prefix is a key prefix, where `#`, `?`, a
        // space or `é` are themselves, never a fragment, query or percent-encoding
        let (scheme, rest) = root
            .split_once("://")
            .ok_or_else(|| bad("expected s3://bucket/prefix or an absolute directory"))?;
        if !scheme.eq_ignore_ascii_case("s3") && !scheme.eq_ignore_ascii_case("s3a") {
            return Err(bad("expected s3://bucket/prefix or an absolute directory"));
        }
        let (bucket, base) = rest.split_once('/').unwrap_or((rest, ""));
        // (legacy us-east-1 buckets may hold capitals and underscores)
        let valid_bucket = !bucket.is_empty()
            && bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !valid_bucket {
            return Err(bad(
                "no bucket, or a bucket name with characters S3 does not allow",
            ));
        }
        let bucket = bucket.to_string();
        if !base.is_empty() {
            check_prefix(base)?;
        }
        let base = match base.trim_end_matches('/') {
            "" => String::new(),
            b => format!("{b}/"),
        };
        Ok(Root::S3 { bucket, base })
    }

    /// How messages name the root.
    pub fn describe(&self) -> String {
        match self {
            Root::S3 { bucket, base } => format!("s3://{bucket}/{base}"),
            Root::Local(path) => path.display().to_string(),
        }
    }
}

/// Everything needed to reach a server's objects.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// where the objects live
    pub root: Root,
    /// how to reach and sign for the S3 store (unused for a local root)
    pub s3: S3Config,
    /// the largest object whose content a query may read or write
    pub max_content_bytes: u64,
    /// objects larger than this are uploaded in parts
    pub multipart_bytes: u64,
}

const MIB: u64 = 1024 * 1024;

impl ServerOptions {
    /// Combines server and user-mapping options; `default_root` is the local directory
    /// a server without `root` uses.
    pub fn from_options(server: &Options, user: &Options, default_root: &str) -> Result<Self> {
        let root = Root::parse(server.get("root").unwrap_or(default_root))?;
        Ok(ServerOptions {
            root,
            s3: S3Config::from_options(server, user),
            max_content_bytes: server
                .uint("max_content_mb")
                .unwrap_or(64)
                .saturating_mul(MIB),
            multipart_bytes: server
                .uint("multipart_mb")
                .unwrap_or(16)
                .max(5)
                .saturating_mul(MIB),
        })
    }

    /// How messages name the store's endpoint.
    pub fn endpoint_name(&self) -> String {
        match &self.root {
            Root::S3 { .. } => self.s3.endpoint_name(),
            Root::Local(path) => path.display().to_string(),
        }
    }
}

/// What a table's objects are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// one row per object: key, size, etag, last_modified, content_type, metadata, content
    Objects,
    /// rows of the Parquet files under the prefix
    Parquet,
    /// rows of the CSV files under the prefix
    Csv,
    /// rows of the JSON-lines files under the prefix
    Json,
}

impl Format {
    /// The option value naming the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Objects => "objects",
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// A foreign table's options.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// every key of the table starts with this ("" or a key prefix)
    pub prefix: String,
    /// what the objects are
    pub format: Format,
    /// INSERT may replace an existing object (off: it fails instead)
    pub overwrite: bool,
    /// the planner's guess of the objects under the prefix
    pub estimated_objects: u64,
    /// the planner's guess of the rows in the data files (file formats)
    pub estimated_rows: u64,
    /// CSV files start with a header line
    pub csv_header: bool,
    /// the CSV field delimiter
    pub csv_delimiter: u8,
}

impl TableOptions {
    /// Parses and checks a table's options.
    pub fn from_options(table: &Options) -> Result<TableOptions> {
        let prefix = table.get("prefix").unwrap_or("").to_string();
        check_prefix(&prefix)?;
        let format = match table.get("format").unwrap_or("objects") {
            "parquet" => Format::Parquet,
            "csv" => Format::Csv,
            "json" => Format::Json,
            _ => Format::Objects,
        };
        let csv_delimiter = match table.get("csv_delimiter").unwrap_or(",").as_bytes() {
            [byte] if byte.is_ascii() && *byte != b'\n' && *byte != b'\r' => *byte,
            _ => return Err(bad("csv_delimiter", "one ASCII character")),
        };
        Ok(TableOptions {
            prefix,
            format,
            overwrite: table.bool("overwrite", false),
            estimated_objects: table.uint("estimated_objects").unwrap_or(1_000),
            estimated_rows: table.uint("estimated_rows").unwrap_or(100_000),
            csv_header: table.bool("csv_header", true),
            csv_delimiter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_parse_buckets_and_directories() {
        assert_eq!(
            Root::parse("s3://odp-objects").unwrap(),
            Root::S3 {
                bucket: "odp-objects".into(),
                base: String::new()
            }
        );
        assert_eq!(
            Root::parse("s3://b/base/dir").unwrap(),
            Root::S3 {
                bucket: "b".into(),
                base: "base/dir/".into()
            }
        );
        assert_eq!(
            Root::parse("/srv/objects").unwrap(),
            Root::Local("/srv/objects".into())
        );
        assert!(Root::parse("/srv/../etc").is_err());
        assert!(Root::parse("relative/dir").is_err());
        assert!(Root::parse("http://x/y").is_err());
    }

    #[test]
    fn a_root_needs_privilege() {
        let server = Options::new([("root".to_string(), "/tmp/x".to_string())]);
        assert!(matches!(
            validate(Catalog::Server, &server, PathPrivilege::ServerRootOnly),
            Err(ObjectError::RootPrivilege)
        ));
        assert!(validate(Catalog::Server, &server, PathPrivilege::AnyLocation).is_ok());
    }
}
