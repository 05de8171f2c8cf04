//! Properties of the option validators: arbitrary option lists never panic, the shapes
//! accepted are exactly the documented ones, messages never echo a value, relative
//! Delta paths stay under their root and server URLs never carry credentials.

use super::{check, string_from};
use crate::options::{validate, Catalog, Kind, OptionSpec, Options, PathPrivilege, HOUR_MS};
use proptest::prelude::*;
use redis::IntoConnectionInfo;

const CATALOGS: [Catalog; 5] = [
    Catalog::Wrapper,
    Catalog::Server,
    Catalog::UserMapping,
    Catalog::Table,
    Catalog::Column,
];

/// The spec lists of every adapter.
const ADAPTERS: [fn(Catalog) -> &'static [OptionSpec]; 4] = [
    crate::delta::options::specs,
    crate::graph::options::specs,
    crate::objects::options::specs,
    crate::redis::options::specs,
];

/// A character no option name or message contains: a value holding it cannot be
/// mistaken for text of the message.
const MARKER: char = '\u{1F511}';

/// Option values near the shapes validators look at, and hostile ones.
fn option_value() -> impl Strategy<Value = String> {
    prop_oneof![
        string_from(&['0', '1', '9', '+', '-', ' ', '.', 'e'], 0..22),
        prop::sample::select(
            &[
                "true",
                "TRUE",
                "on",
                "Off",
                "yes",
                "no",
                "1",
                "0",
                "t",
                "objects",
                "csv",
                "hash",
                "",
                "18446744073709551616",
                "1000000000000000",
                "-1",
                "UTC",
                "+09:00",
            ][..]
        )
        .prop_map(str::to_string),
        string_from(
            &['a', '/', ':', '.', '%', '?', '#', '@', '{', '}', '\\', '\n', '\0', 'é', ' '],
            0..16
        ),
        any::<String>(),
    ]
}

/// `(name, value)` lists for `specs`: known names, with some unknown ones, values that
/// sometimes carry [`MARKER`].
fn option_list(specs: &'static [OptionSpec]) -> impl Strategy<Value = Vec<(String, String)>> {
    let names: Vec<String> = specs
        .iter()
        .map(|s| s.name.to_string())
        .chain(["nonsense".to_string(), "URI".to_string()])
        .collect();
    let entry = (prop::sample::select(names), option_value(), any::<bool>()).prop_map(
        |(name, value, marked)| {
            let value = if marked {
                format!("{value}{MARKER}")
            } else {
                value
            };
            (name, value)
        },
    );
    proptest::collection::vec(entry, 0..5)
}

/// Whether `value` has the shape `kind` documents, written from the documentation:
/// non-empty text; `true`/`false`/`on`/`off`/`yes`/`no`/`1`/`0` in any case; a decimal
/// integer (with an optional `+`) no greater than the bound; one of the words.
fn fits(kind: Kind, value: &str) -> bool {
    match kind {
        Kind::Text => !value.is_empty(),
        Kind::Bool => ["true", "false", "on", "off", "yes", "no", "1", "0"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(value)),
        Kind::UpTo(max) => integer(value).is_some_and(|n| n <= max as u128),
        Kind::Millis => integer(value).is_some_and(|n| (1..=HOUR_MS as u128).contains(&n)),
        Kind::OneOf(words) => words.contains(&value),
    }
}

/// A decimal integer (with an optional `+`).
fn integer(value: &str) -> Option<u128> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    (!digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.trim_start_matches('0').len() <= 20)
        .then(|| digits.parse::<u128>().ok())
        .flatten()
}

/// The shared validator accepts an option list exactly when every name is known,
/// every value has its documented shape and every required option is present; its
/// messages never contain a value (it may be a secret).
#[test]
fn shapes_are_checked_and_values_never_echoed() {
    check(
        512,
        (
            0..ADAPTERS.len(),
            prop::sample::select(&CATALOGS[..]),
            (0..ADAPTERS.len()).prop_flat_map(|i| {
                // lists drawn from every adapter's specs, so names are often unknown here
                prop::sample::select(&CATALOGS[..])
                    .prop_flat_map(move |c| option_list(ADAPTERS[i](c)))
            }),
        ),
        |(adapter, catalog, options)| {
            let specs = ADAPTERS[adapter](catalog);
            let expected = options
                .iter()
                .all(|(name, value)| specs.iter().any(|s| s.name == name && fits(s.kind, value)))
                && specs
                    .iter()
                    .filter(|s| s.required)
                    .all(|s| options.iter().any(|(n, _)| n == s.name));
            let result = validate(catalog, specs, &options);
            prop_assert_eq!(result.is_ok(), expected, "{:?}", result);
            if let Err(e) = result {
                let message = e.to_string();
                prop_assert!(!message.is_empty());
                prop_assert!(!message.contains(MARKER), "{message:?} echoes a value");
            }
            Ok(())
        },
    );
}

/// Every adapter's own checks (CREATE/ALTER time, and reading options at scan time)
/// never panic on arbitrary option values: each gives a result or a clear error.
#[test]
fn adapter_checks_never_panic() {
    check(
        512,
        (
            option_list(&crate::objects::options::SERVER_OPTIONS),
            prop::sample::select(&CATALOGS[..]).prop_flat_map(|c| {
                (0..ADAPTERS.len()).prop_flat_map(move |i| option_list(ADAPTERS[i](c)))
            }),
            any::<bool>(),
        ),
        |(server, table, privileged)| {
            let privilege = if privileged {
                PathPrivilege::AnyLocation
            } else {
                PathPrivilege::ServerRootOnly
            };
            let server = Options::new(server);
            let table = Options::new(table);
            let none = Options::default();
            let messages: Vec<String> = [
                crate::delta::options::validate_table(&table, privilege)
                    .err()
                    .map(|e| e.to_string()),
                crate::delta::options::validate_server(&server, privilege)
                    .err()
                    .map(|e| e.to_string()),
                crate::delta::options::validate_column(&table)
                    .err()
                    .map(|e| e.to_string()),
                crate::delta::options::TableLocation::resolve(&server, &none, &table)
                    .err()
                    .map(|e| e.to_string()),
                crate::delta::write::write_options::WriteOptions::from_options(&table)
                    .err()
                    .map(|e| e.to_string()),
                crate::objects::options::ServerOptions::from_options(&server, &none, "/tmp")
                    .err()
                    .map(|e| e.to_string()),
                crate::objects::options::TableOptions::from_options(&table)
                    .err()
                    .map(|e| e.to_string()),
                crate::graph::options::ServerOptions::from_options(&server, &none)
                    .err()
                    .map(|e| e.to_string()),
                crate::graph::options::TableOptions::from_options(&table)
                    .err()
                    .map(|e| e.to_string()),
                crate::redis::options::ServerOptions::from_options(&server, &none)
                    .err()
                    .map(|e| e.to_string()),
                crate::redis::options::TableOptions::from_options(&table)
                    .err()
                    .map(|e| e.to_string()),
            ]
            .into_iter()
            .flatten()
            .chain(CATALOGS.iter().flat_map(|&catalog| {
                [
                    crate::objects::options::validate(catalog, &table, privilege)
                        .err()
                        .map(|e| e.to_string()),
                    crate::graph::options::validate(catalog, &table)
                        .err()
                        .map(|e| e.to_string()),
                    crate::redis::options::validate(catalog, &table)
                        .err()
                        .map(|e| e.to_string()),
                ]
                .into_iter()
                .flatten()
            }))
            .collect();
            for message in messages {
                prop_assert!(!message.trim().is_empty());
            }
            Ok(())
        },
    );
}

/// A relative Delta `path` resolves under the server root or is refused: the
/// location's URL starts with the root's, and no segment of it walks up.
#[test]
fn relative_delta_paths_stay_under_the_root() {
    check(
        512,
        (
            prop::sample::select(
                &[
                    "s3://bucket/root",
                    "/srv/data",
                    "file:///srv/data/",
                    "s3://bucket",
                ][..],
            ),
            string_from(
                &[
                    'a', '.', '/', '\\', '%', '2', 'e', 'E', 'f', '5', 'c', '?', '#', ':', '@',
                    ' ', 'é', '\t',
                ],
                1..14,
            ),
        ),
        |(root, path)| {
            let server = Options::new([("root".to_string(), root.to_string())]);
            let table = Options::new([("path".to_string(), path.clone())]);
            let root_url = crate::delta::options::TableLocation::resolve(
                &server,
                &Options::default(),
                &Options::new([("path".to_string(), "t".to_string())]),
            )
            .expect("a plain name resolves")
            .url
            .as_str()
            .strip_suffix("t/")
            .expect("a plain name is a directory under the root")
            .to_string();
            if crate::delta::options::names_own_location(&path) {
                // an absolute path or URL is not relative: privilege decides (checked at CREATE)
                prop_assert!(crate::delta::options::validate_table(
                    &table,
                    PathPrivilege::ServerRootOnly
                )
                .is_err());
                return Ok(());
            }
            if let Ok(location) =
                crate::delta::options::TableLocation::resolve(&server, &Options::default(), &table)
            {
                let url = location.url.as_str();
                prop_assert!(
                    url.starts_with(&root_url),
                    "{path:?} resolves to {url} outside {root_url}"
                );
                let rest = &url[root_url.len()..];
                prop_assert!(
                    rest.split('/').all(|s| s != ".."
                        && s != "."
                        && !s.to_ascii_lowercase().contains("%2e%2e")),
                    "{path:?} resolves to {url}"
                );
            }
            Ok(())
        },
    );
}

/// A Redis server URL the validator accepts carries no credentials, as the Redis
/// client itself reads it (credentials belong in the user mapping).
#[test]
fn redis_urls_never_carry_credentials() {
    check(
        512,
        (
            prop::sample::select(&["redis", "rediss", "redis+unix", "unix", "http"][..]),
            string_from(&['a', 'u', ':', '@', '1', '.', '%', '3', 'A', '/'], 0..10),
            string_from(&['/', 'a', '0', '.', 's'], 0..6),
            prop::collection::vec(
                prop::sample::select(
                    &[
                        "db=1",
                        "pass=pw",
                        "password=pw",
                        "user=u",
                        "db",
                        "=",
                        "&",
                        "%70ass=pw",
                    ][..],
                ),
                0..3,
            ),
        ),
        |(scheme, authority, path, query)| {
            let url = format!(
                "{scheme}://{authority}{path}{}{}",
                if query.is_empty() { "" } else { "?" },
                query.concat()
            );
            if crate::redis::options::validate_url(&url).is_ok() {
                if let Ok(info) = url.as_str().into_connection_info() {
                    prop_assert_eq!(info.redis_settings().password(), None, "{}", url);
                }
            }
            Ok(())
        },
    );
}

/// A graph server URI the validator accepts carries no user name or password.
#[test]
fn graph_uris_never_carry_credentials() {
    check(
        512,
        (
            prop::sample::select(&["bolt", "bolt+s", "neo4j", "neo4j+s", "http"][..]),
            string_from(
                &['a', 'u', ':', '@', '1', '.', '%', '4', '0', '/', '\\'],
                0..12,
            ),
        ),
        |(scheme, authority)| {
            let uri = format!("{scheme}://{authority}");
            if crate::graph::options::validate_uri(&uri).is_ok() {
                let parsed = url::Url::parse(&uri).expect("accepted URIs parse");
                prop_assert!(
                    parsed.username().is_empty() && parsed.password().is_none(),
                    "{}",
                    uri
                );
            }
            Ok(())
        },
    );
}
