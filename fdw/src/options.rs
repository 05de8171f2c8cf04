//! Typed option specifications and their validation, shared by every adapter.
//!
//! Each adapter lists the options it accepts per catalog; [`validate`] rejects unknown
//! names (listing the valid ones), missing required options and malformed values.
//! Messages name the option, never echo its value (it may be a secret).

use std::collections::HashMap;
use thiserror::Error;

/// Where an option is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catalog {
    /// `CREATE FOREIGN DATA WRAPPER ... OPTIONS`
    Wrapper,
    /// `CREATE SERVER ... OPTIONS`
    Server,
    /// `CREATE USER MAPPING ... OPTIONS`
    UserMapping,
    /// `CREATE FOREIGN TABLE ... OPTIONS`
    Table,
    /// column options in `CREATE FOREIGN TABLE (col type OPTIONS (...))`
    Column,
}

impl Catalog {
    /// Human name used in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Catalog::Wrapper => "foreign-data wrapper",
            Catalog::Server => "server",
            Catalog::UserMapping => "user mapping",
            Catalog::Table => "foreign table",
            Catalog::Column => "column",
        }
    }
}

/// Whether the role creating or altering an object may name locations outside a server
/// root (superusers and members of `pg_read_server_files`, as for `file_fdw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPrivilege {
    /// only paths under the server root
    ServerRootOnly,
    /// any absolute path or URL
    AnyLocation,
}

/// The shape an option's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// any text
    Text,
    /// `true`/`false`/`on`/`off`/`1`/`0`
    Bool,
    /// a non-negative integer no greater than the bound: every numeric option has one,
    /// so that no value can make a backend allocate, wait or keep without limit
    UpTo(u64),
    /// one of a fixed set of words
    OneOf(&'static [&'static str]),
    /// a time-out: a positive number of milliseconds, at most [`HOUR_MS`] (the one
    /// rule of every source's time-outs: zero is refused, never clamped)
    Millis,
}

/// Bound of time options in milliseconds: an hour.
pub const HOUR_MS: u64 = 3_600_000;
/// Bound of the row, key and object counts options give the planner (or a trim).
pub const ESTIMATE_MAX: u64 = 1_000_000_000_000_000;
/// Bound of expiry options in seconds: ten years.
pub const TEN_YEARS_S: u64 = 315_360_000;

/// One accepted option.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// option name, lower case
    pub name: &'static str,
    /// whether CREATE fails without it
    pub required: bool,
    /// the value's shape
    pub kind: Kind,
}

impl OptionSpec {
    /// An optional option.
    pub const fn optional(name: &'static str, kind: Kind) -> Self {
        OptionSpec {
            name,
            required: false,
            kind,
        }
    }
    /// A required option.
    pub const fn required(name: &'static str, kind: Kind) -> Self {
        OptionSpec {
            name,
            required: true,
            kind,
        }
    }
}

/// Why a set of options was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OptionError {
    /// the name is not accepted here
    #[error("invalid option \"{name}\" for {noun}; valid options: {valid}")]
    Unknown {
        name: String,
        noun: &'static str,
        valid: String,
    },
    /// a required option is absent
    #[error("missing required option \"{name}\" for {noun}")]
    Missing {
        name: &'static str,
        noun: &'static str,
    },
    /// the value does not have the expected shape
    #[error("invalid value for option \"{name}\": expected {expected}")]
    BadValue { name: String, expected: String },
}

/// Parses a boolean option value the way Postgres does for reloptions.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Checks `options` against `specs` for the given catalog.
pub fn validate(
    catalog: Catalog,
    specs: &[OptionSpec],
    options: &[(String, String)],
) -> Result<(), OptionError> {
    for (name, value) in options {
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            let valid = if specs.is_empty() {
                "(none)".to_string()
            } else {
                specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            };
            return Err(OptionError::Unknown {
                name: name.clone(),
                noun: catalog.noun(),
                valid,
            });
        };
        check_kind(spec, value)?;
    }
    for spec in specs.iter().filter(|s| s.required) {
        if !options.iter().any(|(n, _)| n == spec.name) {
            return Err(OptionError::Missing {
                name: spec.name,
                noun: catalog.noun(),
            });
        }
    }
    Ok(())
}

fn check_kind(spec: &OptionSpec, value: &str) -> Result<(), OptionError> {
    let bad = |expected: String| OptionError::BadValue {
        name: spec.name.to_string(),
        expected,
    };
    match spec.kind {
        Kind::Text if value.is_empty() => Err(bad("a non-empty string".into())),
        Kind::Text => Ok(()),
        Kind::Bool => parse_bool(value)
            .map(|_| ())
            .ok_or_else(|| bad("a boolean".into())),
        Kind::UpTo(max) => match value.parse::<u64>() {
            Ok(n) if n <= max => Ok(()),
            _ => Err(bad(format!("an integer from 0 to {max}"))),
        },
        Kind::Millis => match value.parse::<u64>() {
            Ok(n) if (1..=HOUR_MS).contains(&n) => Ok(()),
            _ => Err(bad(format!(
                "a positive number of milliseconds up to {HOUR_MS}"
            ))),
        },
        Kind::OneOf(words) if words.contains(&value) => Ok(()),
        Kind::OneOf(words) => Err(bad(format!("one of {}", words.join(", ")))),
    }
}

/// Options of one object, looked up by name.
#[derive(Debug, Clone, Default)]
pub struct Options(HashMap<String, String>);

impl Options {
    /// Collects `(name, value)` pairs; later duplicates win, as in Postgres.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Options(pairs.into_iter().collect())
    }
    /// The names in the comma-separated list of option `name` (empty when unset).
    pub fn names(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|list| {
                list.split(',')
                    .map(|name| name.trim().to_string())
                    .filter(|name| !name.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    /// A boolean option (already validated), or `default`.
    pub fn bool(&self, name: &str, default: bool) -> bool {
        self.get(name).and_then(parse_bool).unwrap_or(default)
    }
    /// An integer option (already validated).
    pub fn uint(&self, name: &str) -> Option<u64> {
        self.get(name).and_then(|v| v.parse().ok())
    }
    /// Merges `other` over `self` (user mapping over server, say).
    pub fn merged(mut self, other: &Options) -> Options {
        self.0
            .extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec::required("path", Kind::Text),
        OptionSpec::optional("version", Kind::UpTo(1000)),
        OptionSpec::optional("mode", Kind::OneOf(&["a", "b"])),
    ];

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn unknown_option_names_it_and_lists_valid_ones() {
        let err =
            validate(Catalog::Table, SPECS, &opts(&[("path", "x"), ("pth", "y")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid option \"pth\" for foreign table; valid options: path, version, mode"
        );
    }

    #[test]
    fn missing_required_option_is_refused() {
        let err = validate(Catalog::Table, SPECS, &[]).unwrap_err();
        assert_eq!(
            err,
            OptionError::Missing {
                name: "path",
                noun: "foreign table"
            }
        );
    }

    #[test]
    fn malformed_values_are_refused_without_echoing_them() {
        let err = validate(
            Catalog::Table,
            SPECS,
            &opts(&[("path", "x"), ("version", "secret-ish")]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secret-ish"));
        assert!(validate(
            Catalog::Table,
            SPECS,
            &opts(&[("path", "x"), ("mode", "c")])
        )
        .is_err());
        assert!(validate(
            Catalog::Table,
            SPECS,
            &opts(&[("path", "x"), ("mode", "b")])
        )
        .is_ok());
    }
}
