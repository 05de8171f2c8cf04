//! Property tests of the object adapter: keys are refused or kept literally, a `LIKE`
//! on the key narrows the listing without losing a matching key, server roots keep
//! their prefix, and CSV and JSON-lines files of any content decode or fail cleanly.

use super::files::FileTable;
use super::keys::{check_key, check_prefix, confine, listing, MAX_KEY_BYTES};
use super::options::{Root, ServerOptions, TableOptions};
use super::scan::{access, Access, ObjectScan};
use super::table::ObjectTable;
use crate::arrow::array::AsArray;
use crate::arrow::datatypes::TimestampMicrosecondType;
use crate::batch::ColumnData;
use crate::options::Options;
use crate::proptests::{check, like_matches, string_from};
use crate::request::{Op, Qual, ScanRequest};
use crate::types::PgType;
use crate::value::Value;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::LazyLock;

/// Characters of keys: separators, dots, and what stores or URLs treat specially.
const KEY: &[char] = &[
    'a', 'b', '/', '.', '%', '#', '?', '*', ' ', 'é', '\n', '\u{7f}', '\\', '+',
];
/// Characters of key prefixes and roots (no control characters: those are refused).
const PREFIX: &[char] = &['a', 'b', '/', '.', '%', '#', '?', ' ', 'é', '"', '{', '+'];
/// Characters of `LIKE` patterns on keys.
const PATTERN: &[char] = &['a', 'b', '/', '.', '%', '_', '\\', '#', 'é'];

/// A key `check_key` should accept: segments that are neither empty, `.` nor `..`.
fn plain_key() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        string_from(
            &['a', 'b', '.', '%', '#', '?', '*', ' ', 'é', '+', '\\'],
            1..5,
        ),
        1..4,
    )
    .prop_map(|segments| segments.join("/"))
    .prop_filter("not a dot segment", |k| {
        k.split('/').all(|s| s != "." && s != "..")
    })
}

/// A table of `format 'objects'` under `prefix` in a bucket (no request leaves the
/// machine: a scan sends its listing with its first batch). The store is opened once.
fn bucket_table(prefix: &str) -> ObjectTable {
    static TABLE: LazyLock<ObjectTable> = LazyLock::new(|| {
        let server = ServerOptions::from_options(
            &Options::new([("root".to_string(), "s3://bucket".to_string())]),
            &Options::default(),
            "/tmp",
        )
        .expect("a bucket root");
        let options = TableOptions::from_options(&Options::default()).expect("no options");
        ObjectTable::new(server, options, &[("key".to_string(), PgType::Text)])
            .expect("a key column")
    });
    let mut table = TABLE.clone();
    check_prefix(prefix).expect("a checked prefix");
    table.options.prefix = prefix.to_string();
    table
}

/// A qual on the key column.
fn key_qual(key: String) -> impl Strategy<Value = Qual> {
    let text = |s: String| Value::Text(s);
    let qual = |op: Op, value: Value| Qual {
        column: "key".into(),
        op,
        value,
    };
    prop_oneof![
        string_from(PATTERN, 0..6).prop_map(move |p| qual(Op::Like, text(p))),
        Just(qual(Op::Eq, text(key.clone()))),
        string_from(KEY, 0..5).prop_map(move |k| qual(Op::Eq, text(k))),
        proptest::collection::vec(
            prop_oneof![Just(key).boxed(), string_from(KEY, 0..5).boxed()],
            0..3
        )
        .prop_map(move |items| qual(Op::In, Value::List(items.into_iter().map(text).collect()))),
    ]
}

/// Whether `key` satisfies `qual` in Postgres (`None`: Postgres refuses the pattern).
fn satisfies(key: &str, qual: &Qual) -> Option<bool> {
    match (&qual.op, &qual.value) {
        (Op::Eq, Value::Text(v)) => Some(key == v),
        (Op::In, Value::List(items)) => {
            Some(items.iter().any(|v| *v == Value::Text(key.to_string())))
        }
        (Op::Like, Value::Text(pattern)) => like_matches(key, pattern),
        _ => Some(true),
    }
}

/// A directory of its own for one property, emptied on every case.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("odp-proptest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("t")).expect("a scratch directory");
    dir
}

/// A table of `format` over the one file `t/<name>` holding `content` under `root`.
fn file_table(
    root: &std::path::Path,
    name: &str,
    content: &[u8],
    table: &[(&str, String)],
    columns: &[(String, PgType)],
) -> FileTable {
    std::fs::write(root.join("t").join(name), content).expect("the data file is written");
    let server = ServerOptions::from_options(
        &Options::new([("root".to_string(), root.display().to_string())]),
        &Options::default(),
        "/tmp",
    )
    .expect("a local root");
    let options = TableOptions::from_options(&Options::new(
        table
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .chain([("prefix".to_string(), "t/".to_string())]),
    ))
    .expect("table options");
    let declared: Vec<_> = columns
        .iter()
        .map(|(n, t)| (n.clone(), t.clone(), None))
        .collect();
    FileTable::new(server, options, &declared).expect("columns the formats read")
}

/// Every batch of a scan of all `columns`, or the first error.
fn read_all(
    table: &FileTable,
    columns: &[(String, PgType)],
) -> Result<Vec<Vec<ColumnData>>, String> {
    let request = ScanRequest {
        columns: columns.iter().map(|(n, _)| n.clone()).collect(),
        ..Default::default()
    };
    let mut scan = table.scan(&request).map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    while let Some(batch) = scan.next_batch().map_err(|e| e.to_string())? {
        batches.push(batch.columns);
    }
    Ok(batches)
}

/// Text shaped like CSV or JSON-lines data, with the characters their parsers trip on.
fn text_file() -> impl Strategy<Value = Vec<u8>> {
    let field = prop::sample::select(
        &[
            "1",
            "-7",
            "1.5",
            "1e400",
            "99999999999999999999",
            "-0",
            "true",
            "t",
            "NaN",
            "inf",
            "",
            "\"x\"",
            "\"a,b\"",
            "\"\"\"\"",
            "null",
            "2020-01-01",
            "2020-02-30",
            "2020-01-01T00:00:00+05:00",
            "\"2020-01-01 10:00:00\"",
            "{}",
            "[1]",
            "\"é\"",
            "{\"a\":1}",
            "\"\\u0000\"",
        ][..],
    );
    let csv_line = proptest::collection::vec(field.clone(), 0..5).prop_map(|f| f.join(","));
    let json_line = proptest::collection::vec(
        (prop::sample::select(&["a", "b", "c", "d"][..]), field),
        0..4,
    )
    .prop_map(|pairs| {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    });
    prop_oneof![
        proptest::collection::vec(prop_oneof![csv_line, json_line], 0..5)
            .prop_map(|lines| lines.join("\n").into_bytes()),
        string_from(
            &[
                '{', '}', '"', ':', ',', '[', ']', 'a', '1', '-', '.', 'e', 'n', '\n', '\r', ' ',
                '\\', ';', '\t'
            ],
            0..40
        )
        .prop_map(String::into_bytes),
        any::<Vec<u8>>(),
    ]
}

/// Declared columns `a`, `b`, `c` of types the text formats read.
fn text_columns() -> impl Strategy<Value = Vec<(String, PgType)>> {
    proptest::collection::vec(
        prop::sample::select(vec![
            PgType::Bool,
            PgType::Int2,
            PgType::Int4,
            PgType::Int8,
            PgType::Float4,
            PgType::Float8,
            PgType::Text,
            PgType::Jsonb,
            PgType::Date,
            PgType::Timestamp,
            PgType::TimestampTz,
        ]),
        1..4,
    )
    .prop_map(|types| {
        types
            .into_iter()
            .zip(["a", "b", "c"])
            .map(|(t, n)| (n.to_string(), t))
            .collect()
    })
}

/// A key is refused, or stored literally as itself: no empty, `.` or `..` segment,
/// no leading or trailing `/`, no control character, at most 1024 bytes; a key of
/// plain segments is accepted; a key confined to a prefix starts with it.
#[test]
fn keys_are_refused_or_literal() {
    check(
        512,
        (
            prop_oneof![string_from(KEY, 0..12), plain_key(), any::<String>()],
            string_from(PREFIX, 0..4),
        ),
        |(key, prefix)| {
            match check_key(&key) {
                Ok(path) => {
                    prop_assert_eq!(path.as_ref(), key.as_str());
                    prop_assert!(key.len() <= MAX_KEY_BYTES);
                    prop_assert!(!key.chars().any(char::is_control));
                    prop_assert!(key
                        .split('/')
                        .all(|s| !s.is_empty() && s != "." && s != ".."));
                }
                Err(e) => {
                    let plain = !key.is_empty()
                        && !key.chars().any(char::is_control)
                        && key
                            .split('/')
                            .all(|s| !s.is_empty() && s != "." && s != "..")
                        && key.len() <= MAX_KEY_BYTES;
                    prop_assert!(!plain, "{:?} refused: {}", key, e);
                }
            }
            if confine(&key, &prefix).is_ok() {
                prop_assert!(key.starts_with(&prefix));
            }
            Ok(())
        },
    );
}

/// The objects a scan reads include every key under the table's prefix that
/// satisfies the key quals in Postgres: looked up, or listed (the listing's
/// directory holds it and it sorts after the listing's start).
#[test]
fn access_finds_every_matching_key() {
    check(
        512,
        (
            prop_oneof![
                Just(String::new()),
                plain_key(),
                plain_key().prop_map(|p| p + "/")
            ],
            plain_key(),
            any::<bool>(),
        )
            .prop_flat_map(|(prefix, key, under)| {
                let key = if under { format!("{prefix}{key}") } else { key };
                (
                    Just(prefix),
                    Just(key.clone()),
                    proptest::collection::vec(key_qual(key), 0..3),
                )
            }),
        |(prefix, key, quals)| {
            prop_assume!(check_key(&key).is_ok() && check_prefix(&prefix).is_ok());
            let verdicts: Option<Vec<bool>> = quals.iter().map(|q| satisfies(&key, q)).collect();
            prop_assume!(verdicts.is_some(), "Postgres refuses the pattern");
            if !key.starts_with(&prefix) || !verdicts.unwrap_or_default().iter().all(|&m| m) {
                return Ok(());
            }
            let request = ScanRequest {
                quals,
                ..Default::default()
            };
            match access(&bucket_table(&prefix), &request) {
                Access::Keys(keys) => {
                    prop_assert!(keys.contains(&key), "{:?} not among {:?}", key, keys)
                }
                Access::List(narrowed) => {
                    prop_assert!(key.starts_with(&narrowed), "{:?} lacks {:?}", key, narrowed);
                    let plan = listing(&narrowed);
                    prop_assert!(plan.dir.is_none_or(|dir| key.starts_with(&(dir + "/"))));
                    prop_assert!(plan.start_after.is_none_or(|s| key.as_str() >= s.as_str()));
                }
                Access::Nothing => prop_assert!(false, "{:?} matches, yet nothing is read", key),
            }
            Ok(())
        },
    );
}

/// A `LIKE` on the key never makes a scan fail to start: Postgres answers such a
/// query (with the matching keys, perhaps none), so the scan must too.
#[test]
fn like_on_the_key_never_fails_a_scan() {
    check(
        512,
        (
            prop_oneof![Just(String::new()), Just("a/".to_string())],
            string_from(PATTERN, 0..6),
        ),
        |(prefix, pattern)| {
            prop_assume!(
                like_matches("", &pattern).is_some(),
                "Postgres refuses the pattern"
            );
            let request = ScanRequest {
                columns: vec!["key".into()],
                quals: vec![Qual {
                    column: "key".into(),
                    op: Op::Like,
                    value: Value::Text(pattern.clone()),
                }],
                ..Default::default()
            };
            let started = ObjectScan::new(&bucket_table(&prefix), &request);
            prop_assert!(
                started.is_ok(),
                "key LIKE {:?}: {}",
                pattern,
                started.err().map(|e| e.to_string()).unwrap_or_default()
            );
            Ok(())
        },
    );
}

/// A server root `s3://bucket/prefix` keeps its prefix as written, or is refused:
/// keys are stored literally, so the root's prefix must be too.
#[test]
fn s3_roots_keep_their_prefix() {
    check(512, string_from(PREFIX, 1..8), |prefix| {
        prop_assume!(check_prefix(&prefix).is_ok());
        if let Ok(Root::S3 { base, .. }) = Root::parse(&format!("s3://bucket/{prefix}")) {
            prop_assert_eq!(base, format!("{}/", prefix.trim_end_matches('/')));
        }
        Ok(())
    });
}

/// CSV and JSON-lines files of any content are read, or refused with an error
/// naming the problem; no content makes the reader panic.
#[test]
fn text_files_decode_or_fail_cleanly() {
    check(
        128,
        (
            text_file(),
            text_columns(),
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(&[",", ";", "\t", "|"][..]),
        ),
        |(content, columns, csv, header, delimiter)| {
            let root = scratch("text");
            let (name, options) = if csv {
                (
                    "data.csv",
                    vec![
                        ("format", "csv".to_string()),
                        ("csv_header", header.to_string()),
                        ("csv_delimiter", delimiter.to_string()),
                    ],
                )
            } else {
                ("data.json", vec![("format", "json".to_string())])
            };
            let table = file_table(&root, name, &content, &options, &columns);
            if let Err(message) = read_all(&table, &columns) {
                prop_assert!(!message.trim().is_empty());
            }
            std::fs::remove_dir_all(&root).expect("the scratch directory is removed");
            Ok(())
        },
    );
}

/// A `timestamp` (without time zone) read from a CSV or JSON-lines file is the wall
/// clock time written, as Postgres reads it: an offset after it is ignored, never
/// applied. (A clear error is also allowed.)
#[test]
fn text_timestamps_keep_the_wall_clock() {
    check(
        128,
        (
            0i64..4_102_444_800,
            prop::sample::select(&["T", " "][..]),
            proptest::option::of(-48i32..56),
            any::<bool>(),
        ),
        |(seconds, separator, offset, csv)| {
            let wall = chrono::DateTime::from_timestamp(seconds, 0)
                .expect("in range")
                .naive_utc();
            let zone = match offset {
                None => String::new(),
                Some(0) => "Z".into(),
                Some(q) => format!(
                    "{}{:02}:{:02}",
                    if q < 0 { '-' } else { '+' },
                    q.abs() / 4,
                    q.abs() % 4 * 15
                ),
            };
            let text = format!(
                "{}{separator}{}{zone}",
                wall.format("%Y-%m-%d"),
                wall.format("%H:%M:%S")
            );
            let root = scratch("timestamps");
            let columns = vec![("a".to_string(), PgType::Timestamp)];
            let table = if csv {
                file_table(
                    &root,
                    "data.csv",
                    format!("a\n{text}\n").as_bytes(),
                    &[("format", "csv".to_string())],
                    &columns,
                )
            } else {
                file_table(
                    &root,
                    "data.json",
                    format!("{{\"a\":\"{text}\"}}\n").as_bytes(),
                    &[("format", "json".to_string())],
                    &columns,
                )
            };
            let read = read_all(&table, &columns);
            std::fs::remove_dir_all(&root).expect("the scratch directory is removed");
            if let Ok(batches) = read {
                let values: Vec<i64> = batches
                    .iter()
                    .filter_map(|columns| match &columns[0] {
                        ColumnData::Array(a) => Some(
                            a.as_primitive::<TimestampMicrosecondType>()
                                .iter()
                                .flatten()
                                .collect::<Vec<_>>(),
                        ),
                        ColumnData::Constant(_) => None,
                    })
                    .flatten()
                    .collect();
                prop_assert_eq!(
                    values,
                    vec![wall.and_utc().timestamp_micros()],
                    "{:?}",
                    text
                );
            }
            Ok(())
        },
    );
}
