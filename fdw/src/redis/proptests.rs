//! Property tests of the Redis adapter: key templates read back what they render,
//! `SCAN MATCH` patterns match exactly the keys they describe (against a port of
//! Redis's glob matcher), key plans never miss a matching key, and stored values decode
//! to what Postgres's input functions give, or to a clear error.

use super::codec::{decode, encode, Origin};
use super::options::{ServerOptions, TableOptions};
use super::table::{KeyPlan, RedisTable};
use super::template::KeyTemplate;
use crate::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use crate::arrow::datatypes::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type};
use crate::options::Options;
use crate::proptests::{check, like_matches, string_from};
use crate::request::{Op, Qual};
use crate::types::PgType;
use crate::value::Value;
use proptest::prelude::*;
use std::sync::Arc;

/// Characters of template literals: separators and every glob character.
const LITERAL: &[char] = &[
    ':', '/', '*', '?', '[', ']', '\\', '^', '-', 'a', 'b', '\n', 'é',
];
/// Characters of key values: the literal ones and braces.
const VALUE: &[char] = &[
    ':', '/', '*', '?', '[', ']', '\\', '^', '-', 'a', 'b', '\n', 'é', '{', '}',
];

/// A key template as its literals: `literals[0] {c0} literals[1] {c1} ... literals[n]`.
#[derive(Debug, Clone)]
struct Shape {
    literals: Vec<String>,
}

impl Shape {
    fn columns(&self) -> usize {
        self.literals.len() - 1
    }

    fn text(&self) -> String {
        let mut text = self.literals[0].clone();
        for (i, literal) in self.literals[1..].iter().enumerate() {
            text.push_str(&format!("{{c{i}}}{literal}"));
        }
        text
    }

    fn template(&self) -> KeyTemplate {
        KeyTemplate::parse(&self.text()).expect("generated templates are well formed")
    }
}

/// Templates of 0 to 3 columns, with a non-empty literal between two columns.
fn shape() -> impl Strategy<Value = Shape> {
    (0usize..=3)
        .prop_flat_map(|n| {
            (
                string_from(LITERAL, 0..4),
                proptest::collection::vec(string_from(LITERAL, 1..4), n.saturating_sub(1)),
                string_from(LITERAL, 0..4),
            )
                .prop_map(move |(first, inner, last)| {
                    let literals = if n == 0 {
                        vec![format!("{first}{last}")]
                    } else {
                        std::iter::once(first).chain(inner).chain([last]).collect()
                    };
                    Shape { literals }
                })
        })
        .prop_filter("a template is not empty", |s| !s.text().is_empty())
}

/// Whether `SCAN ... MATCH pattern` returns `string`: every key for the pattern `*`
/// (db.c skips matching then), else Redis's `stringmatchlen` (util.c), byte for byte,
/// without the `nocase` flag.
fn redis_glob(pattern: &[u8], string: &[u8]) -> bool {
    pattern == b"*" || string_match(pattern, string)
}

fn string_match(pattern: &[u8], string: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    while p < pattern.len() && s < string.len() {
        match pattern[p] {
            b'*' => {
                while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                return (s..string.len())
                    .any(|start| string_match(&pattern[p + 1..], &string[start..]));
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let not = pattern.get(p) == Some(&b'^');
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    if pattern.get(p) == Some(&b'\\') && pattern.len() - p >= 2 {
                        p += 1;
                        matched |= pattern[p] == string[s];
                    } else if pattern.get(p) == Some(&b']') {
                        break;
                    } else if p >= pattern.len() {
                        p -= 1;
                        break;
                    } else if pattern.len() - p >= 3 && pattern[p + 1] == b'-' {
                        let (low, high) = (
                            pattern[p].min(pattern[p + 2]),
                            pattern[p].max(pattern[p + 2]),
                        );
                        p += 2;
                        matched |= (low..=high).contains(&string[s]);
                    } else {
                        matched |= pattern[p] == string[s];
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            c => {
                let literal = if c == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    pattern[p]
                } else {
                    c
                };
                if literal != string[s] {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            break;
        }
    }
    p == pattern.len() && s == string.len()
}

#[test]
fn glob_model_follows_redis() {
    assert!(redis_glob(b"u:*:f", b"u:a:b:f"));
    assert!(redis_glob(b"h?llo", b"hallo"));
    assert!(redis_glob(b"h[^e]llo", b"hallo"));
    assert!(!redis_glob(b"h[^e]llo", b"hello"));
    assert!(redis_glob(b"h[a-b]llo", b"hbllo"));
    assert!(redis_glob(b"a\\*b", b"a*b"));
    assert!(!redis_glob(b"a\\*b", b"axb"));
    assert!(redis_glob(b"ab*", b"ab"));
    assert!(redis_glob(b"*", b""));
    assert!(!redis_glob(b"*:", b""));
}

/// A key as a sequence of fixed texts and `*` (any run of bytes), matched by plain
/// backtracking: what a `SCAN MATCH` pattern means, with no glob syntax involved.
enum Segment {
    Text(String),
    Any,
}

fn segments_match(segments: &[Segment], key: &[u8]) -> bool {
    match segments.split_first() {
        None => key.is_empty(),
        Some((Segment::Text(t), rest)) => {
            key.starts_with(t.as_bytes()) && segments_match(rest, &key[t.len()..])
        }
        Some((Segment::Any, rest)) => (0..=key.len()).any(|i| segments_match(rest, &key[i..])),
    }
}

/// Inserts `c` into `text` at character position `at` (modulo its length + 1).
fn insert_char(text: &str, at: usize, c: char) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = at % (chars.len() + 1);
    chars[..at]
        .iter()
        .chain([c].iter())
        .chain(&chars[at..])
        .collect()
}

fn origin() -> Origin<'static> {
    Origin {
        key: "k",
        field: "f",
    }
}

fn decode_one(pg: &PgType, bytes: &[u8]) -> Option<ArrayRef> {
    decode(pg, &[(Some(bytes), origin())]).ok()
}

/// Postgres's `isspace` in the C locale.
fn pg_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn pg_trim(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|b| !pg_space(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !pg_space(b))
        .map_or(start, |e| e + 1);
    &text[start..end]
}

/// `int2in`/`int4in`/`int8in` of Postgres 15: optional whitespace, an optional sign,
/// decimal digits, optional whitespace; a value outside `min..=max` is an error.
fn pg_int(text: &[u8], min: i128, max: i128) -> Option<i128> {
    let text = pg_trim(text);
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut magnitude: i128 = 0;
    for d in digits {
        magnitude = magnitude * 10 + i128::from(d - b'0');
        if magnitude > max + 1 {
            return None;
        }
    }
    let value = if negative { -magnitude } else { magnitude };
    (min..=max).contains(&value).then_some(value)
}

/// `float8in`/`float4in` of Postgres 15 on glibc, for decimal spellings: optional
/// whitespace, `NaN`, `[+-]inf[inity]` or a decimal with an optional exponent; a finite
/// spelling that overflows, or underflows to zero, is out of range (an error).
/// Hexadecimal floats, which glibc also reads, are not modelled (`None`).
fn pg_float(text: &[u8], single: bool) -> Option<f64> {
    let text = std::str::from_utf8(pg_trim(text)).ok()?;
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let lower = body.to_ascii_lowercase();
    if lower == "nan" {
        return Some(f64::NAN);
    }
    if lower == "inf" || lower == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || !exponent_ok {
        return None;
    }
    // both libraries round correctly: the nearest float is the value
    let value = if single {
        f64::from(body.parse::<f32>().ok()?)
    } else {
        body.parse::<f64>().ok()?
    };
    let nonzero = int.bytes().chain(frac.bytes()).any(|b| b != b'0');
    if value.is_infinite() || (value == 0.0 && nonzero) {
        return None;
    }
    Some(sign * value)
}

/// `boolin` of Postgres: optional whitespace, then any prefix of `true`, `false`,
/// `yes`, `no`, or `on`, `of[f]`, `1`, `0`, in any case.
fn pg_bool(text: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(pg_trim(text))
        .ok()?
        .to_ascii_lowercase();
    let prefix_of = |word: &str| !text.is_empty() && word.starts_with(text.as_str());
    match text.as_bytes().first()? {
        b't' if prefix_of("true") => Some(true),
        b'f' if prefix_of("false") => Some(false),
        b'y' if prefix_of("yes") => Some(true),
        b'n' if prefix_of("no") => Some(false),
        b'o' if text == "on" => Some(true),
        b'o' if text.len() >= 2 && prefix_of("off") => Some(false),
        b'1' if text.len() == 1 => Some(true),
        b'0' if text.len() == 1 => Some(false),
        _ => None,
    }
}

/// Numbers spelled as Postgres and careless writers spell them.
fn number_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        string_from(
            &['0', '1', '9', '-', '+', ' ', '\t', '.', 'e', 'E', 'x'],
            0..12
        ),
        (any::<i64>(), 0usize..3, 0usize..3).prop_map(|(i, before, after)| format!(
            "{}{i}{}",
            " ".repeat(before),
            "\n".repeat(after)
        )),
        string_from(&['9'], 18..22),
        (any::<f64>(), -400i32..400).prop_map(|(m, e)| format!("{m}e{e}")),
        prop::sample::select(
            &[
                "NaN",
                "nan",
                "-NaN",
                "Infinity",
                "-Infinity",
                "inf",
                "+inf",
                "INF",
                "infinity",
                "1e-400",
                "1e400",
                "5e-324",
                "2e-324",
                "1e-46",
                "3.4028236e38",
                "0x10",
                "1e",
                ".5",
                "5.",
                "-0",
                "0e-999",
            ][..]
        )
        .prop_map(str::to_string),
    ]
    .prop_map(String::into_bytes)
}

/// Any float bits, and the ones Postgres spells specially.
fn float8() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(f64::MAX),
        Just(1e15),
    ]
}

fn float4() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>(),
        Just(f32::NAN),
        Just(-0.0f32),
        Just(f32::INFINITY),
        Just(1e-45f32),
        Just(f32::MAX)
    ]
}

/// Microseconds since 1970 across and beyond the range a timestamp can be written in.
fn micros() -> impl Strategy<Value = i64> {
    let min = chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp_micros();
    let max = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_micros();
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        (min - 2..min + 2),
        (max - 2..max + 2),
        (-1_000_000i64..1_000_000),
        (-62_135_596_800_000_000i64..253_402_300_800_000_000),
    ]
}

/// Days since 1970 across and beyond the range a date can be written in.
fn days() -> impl Strategy<Value = i32> {
    prop_oneof![
        any::<i32>(),
        -100_000_000i32..100_000_000,
        -800_000i32..3_000_000
    ]
}

/// The significant digits of a decimal spelling (`0.00120e5` → `12`).
fn significant_digits(text: &str) -> String {
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string()
}

/// Encodes every row of `array` and decodes the stored forms as `pg`; `None` when a row
/// cannot be encoded (a value the stored form cannot spell: a clear error).
fn round_trip(pg: &PgType, array: &ArrayRef) -> Option<ArrayRef> {
    let stored: Vec<Option<Vec<u8>>> = (0..array.len())
        .map(|row| encode(array, row))
        .collect::<Result<_, _>>()
        .ok()?;
    let values: Vec<(Option<&[u8]>, Origin)> =
        stored.iter().map(|s| (s.as_deref(), origin())).collect();
    Some(decode(pg, &values).expect("what is encoded decodes"))
}

fn text_table(shape: &Shape) -> RedisTable {
    let server = ServerOptions::from_options(
        &Options::new([("url".to_string(), "redis://127.0.0.1".to_string())]),
        &Options::default(),
    )
    .expect("a plain URL");
    let options =
        TableOptions::from_options(&Options::new([("key_template".to_string(), shape.text())]))
            .expect("a template");
    let mut declared: Vec<(String, PgType, Option<String>)> = (0..shape.columns())
        .map(|i| (format!("c{i}"), PgType::Text, None))
        .collect();
    declared.push(("v".into(), PgType::Text, None));
    RedisTable::new(server, options, &declared).expect("text key columns")
}

/// What a qual on a key column asks: `=`, `IN` or `LIKE` with these operands.
#[derive(Debug, Clone)]
enum KeyQual {
    Eq(String),
    In(Vec<String>),
    Like(String),
}

impl KeyQual {
    fn qual(&self, column: usize) -> Qual {
        let text = |s: &String| Value::Text(s.clone());
        let (op, value) = match self {
            KeyQual::Eq(v) => (Op::Eq, text(v)),
            KeyQual::In(items) => (Op::In, Value::List(items.iter().map(text).collect())),
            KeyQual::Like(p) => (Op::Like, text(p)),
        };
        Qual {
            column: format!("c{column}"),
            op,
            value,
        }
    }

    /// Whether `value` satisfies the qual in Postgres (`None`: Postgres refuses it).
    fn matches(&self, value: &str) -> Option<bool> {
        match self {
            KeyQual::Eq(v) => Some(v == value),
            KeyQual::In(items) => Some(items.iter().any(|i| i == value)),
            KeyQual::Like(p) => like_matches(value, p),
        }
    }
}

fn key_qual() -> impl Strategy<Value = KeyQual> {
    let value = || string_from(VALUE, 0..4);
    prop_oneof![
        value().prop_map(KeyQual::Eq),
        proptest::collection::vec(value(), 0..3).prop_map(KeyQual::In),
        string_from(&[':', '*', '?', '[', '\\', 'a', 'b', '%', '_', 'é'], 0..5)
            .prop_map(KeyQual::Like),
    ]
}

/// A key renders exactly when it reads back as the values it was rendered from: a
/// value may hold any character, even the literal after it, unless that literal
/// would then end the value early (the one ambiguity refused).
#[test]
fn render_refuses_exactly_ambiguous_values() {
    check(
        512,
        (
            shape(),
            proptest::collection::vec(string_from(VALUE, 0..5), 3),
        ),
        |(shape, values)| {
            let template = shape.template();
            let values: Vec<&str> = values
                .iter()
                .take(shape.columns())
                .map(String::as_str)
                .collect();
            let unambiguous = values.iter().enumerate().all(|(i, v)| {
                let next = &shape.literals[i + 1];
                i + 1 == shape.columns()
                    || format!("{v}{next}").find(next.as_str()) == Some(v.len())
            });
            match template.render(&values) {
                Ok(key) => {
                    prop_assert!(unambiguous);
                    let back = template.parse_key(&key).expect("a rendered key parses");
                    prop_assert_eq!(
                        back,
                        values.iter().map(|v| v.to_string()).collect::<Vec<_>>()
                    );
                }
                Err(e) => {
                    prop_assert!(!unambiguous, "refused {:?}: {}", values, e);
                }
            }
            Ok(())
        },
    );
}

/// A key a template reads renders back to the same key: each key names one row.
#[test]
fn parsed_keys_render_back() {
    check(
        512,
        (
            shape(),
            proptest::collection::vec(string_from(VALUE, 0..5), 3),
            (any::<usize>(), prop::sample::select(VALUE)),
        ),
        |(shape, fill, edit)| {
            let template = shape.template();
            let mut key = shape.literals[0].clone();
            for (i, literal) in shape.literals[1..].iter().enumerate() {
                key.push_str(&fill[i]);
                key.push_str(literal);
            }
            for key in [key.clone(), insert_char(&key, edit.0, edit.1)] {
                if let Some(values) = template.parse_key(&key) {
                    let values: Vec<&str> = values.iter().map(String::as_str).collect();
                    prop_assert_eq!(template.render(&values).ok(), Some(key));
                }
            }
            Ok(())
        },
    );
}

/// A `SCAN MATCH` pattern matches exactly the keys made of the template's literals,
/// the known values, and for the other columns the known prefix followed by
/// anything: every glob character of a literal, value or prefix is matched
/// literally by Redis.
#[test]
fn scan_patterns_match_exactly_the_described_keys() {
    check(
        512,
        (
            shape(),
            proptest::collection::vec(proptest::option::of(string_from(VALUE, 0..4)), 3),
            proptest::collection::vec(proptest::option::of(string_from(VALUE, 0..3)), 3),
            proptest::collection::vec(string_from(VALUE, 0..4), 3),
            proptest::option::of((any::<usize>(), prop::sample::select(VALUE))),
        ),
        |(shape, known, prefixes, fill, edit)| {
            let template = shape.template();
            let n = shape.columns();
            let known: Vec<Option<&str>> = known[..n].iter().map(Option::as_deref).collect();
            let pattern = template.pattern(&known, &prefixes[..n]);
            let mut segments = vec![Segment::Text(shape.literals[0].clone())];
            let mut key = shape.literals[0].clone();
            for i in 0..n {
                match (known[i], &prefixes[i]) {
                    (Some(value), _) => {
                        segments.push(Segment::Text(value.to_string()));
                        key.push_str(value);
                    }
                    (None, prefix) => {
                        let prefix = prefix.clone().unwrap_or_default();
                        key.push_str(&prefix);
                        key.push_str(&fill[i]);
                        segments.push(Segment::Text(prefix));
                        segments.push(Segment::Any);
                    }
                }
                segments.push(Segment::Text(shape.literals[i + 1].clone()));
                key.push_str(&shape.literals[i + 1]);
            }
            if let Some((at, c)) = edit {
                key = insert_char(&key, at, c);
            }
            prop_assert_eq!(
                redis_glob(pattern.as_bytes(), key.as_bytes()),
                segments_match(&segments, key.as_bytes()),
                "pattern {:?}, key {:?}",
                pattern,
                key
            );
            Ok(())
        },
    );
}

/// The keys a scan reads include every key whose values satisfy the pushed `=`,
/// `IN` and `LIKE` quals in Postgres: listed among the lookups with its values, or
/// matched by the `SCAN MATCH` pattern.
#[test]
fn key_plans_never_miss_a_matching_key() {
    check(
        512,
        (
            shape(),
            proptest::collection::vec(string_from(VALUE, 0..4), 3),
            proptest::collection::vec((0usize..3, key_qual()), 0..4),
        ),
        |(shape, values, quals)| {
            let table = text_table(&shape);
            let n = shape.columns();
            let quals: Vec<(usize, KeyQual)> = quals.into_iter().filter(|(c, _)| *c < n).collect();
            let verdicts: Option<Vec<bool>> =
                quals.iter().map(|(c, q)| q.matches(&values[*c])).collect();
            prop_assume!(verdicts.is_some(), "Postgres refuses the pattern");
            let values: Vec<&str> = values[..n].iter().map(String::as_str).collect();
            let plan = table.plan(&quals.iter().map(|(c, q)| q.qual(*c)).collect::<Vec<_>>());
            if let KeyPlan::Keys(keys) = &plan {
                for (key, parts) in keys {
                    prop_assert_eq!(shape.template().parse_key(key), Some(parts.clone()));
                }
            }
            let (Ok(key), Some(true)) = (
                shape.template().render(&values),
                verdicts.map(|v| v.iter().all(|&m| m)),
            ) else {
                return Ok(());
            };
            match plan {
                KeyPlan::Keys(keys) => prop_assert!(
                    keys.iter()
                        .any(|(k, parts)| *k == key && parts.iter().eq(values.iter())),
                    "{:?} not among {:?}",
                    key,
                    keys
                ),
                KeyPlan::Pattern(pattern) => prop_assert!(
                    redis_glob(pattern.as_bytes(), key.as_bytes()),
                    "{:?} does not match {:?}",
                    key,
                    pattern
                ),
            }
            Ok(())
        },
    );
}

/// Stored integers decode as Postgres's `int2in`/`int4in`/`int8in` read them, or
/// fail: a canonical spelling (digits with an optional `-`) decodes exactly when
/// Postgres accepts it; others (whitespace, `+`) may be refused, never misread.
#[test]
fn integers_decode_as_postgres_reads_them() {
    check(512, number_text(), |text| {
        let canonical = !text.iter().any(pg_space) && text.first() != Some(&b'+');
        for (pg, min, max) in [
            (PgType::Int2, i128::from(i16::MIN), i128::from(i16::MAX)),
            (PgType::Int4, i128::from(i32::MIN), i128::from(i32::MAX)),
            (PgType::Int8, i128::from(i64::MIN), i128::from(i64::MAX)),
        ] {
            let decoded = decode_one(&pg, &text).map(|a| match pg {
                PgType::Int2 => i128::from(a.as_primitive::<Int16Type>().value(0)),
                PgType::Int4 => i128::from(a.as_primitive::<Int32Type>().value(0)),
                _ => i128::from(a.as_primitive::<Int64Type>().value(0)),
            });
            let expected = pg_int(&text, min, max);
            if canonical {
                prop_assert_eq!(
                    decoded,
                    expected,
                    "{:?} as {}",
                    String::from_utf8_lossy(&text),
                    pg.sql()
                );
            } else if decoded.is_some() {
                prop_assert_eq!(decoded, expected);
            }
        }
        Ok(())
    });
}

/// Stored floats decode as Postgres's `float8in`/`float4in` read them, or fail; a
/// canonical spelling (no whitespace or `+`) Postgres accepts is never refused.
#[test]
fn floats_decode_as_postgres_reads_them() {
    check(512, number_text(), |text| {
        let canonical = !text.iter().any(pg_space) && text.first() != Some(&b'+');
        for (pg, single) in [(PgType::Float8, false), (PgType::Float4, true)] {
            let decoded = decode_one(&pg, &text).map(|a| match pg {
                PgType::Float4 => f64::from(a.as_primitive::<Float32Type>().value(0)),
                _ => a.as_primitive::<Float64Type>().value(0),
            });
            let expected = pg_float(&text, single);
            let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(x), Some(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
                (x, y) => x.is_none() && y.is_none(),
            };
            let shown = String::from_utf8_lossy(&text);
            if decoded.is_some() || (canonical && !shown.to_ascii_lowercase().contains('x')) {
                prop_assert!(
                    same(decoded, expected),
                    "{:?} as {}: decoded {:?}, Postgres {:?}",
                    shown,
                    pg.sql(),
                    decoded,
                    expected
                );
            }
        }
        Ok(())
    });
}

/// Stored booleans decode as Postgres's `boolin` reads them, or fail.
#[test]
fn booleans_decode_as_postgres_reads_them() {
    check(
        512,
        prop_oneof![
            string_from(
                &[
                    't', 'r', 'u', 'e', 'f', 'a', 'l', 's', 'y', 'n', 'o', '1', '0', ' ', 'T', 'O',
                    'F'
                ],
                0..6
            )
            .prop_map(String::into_bytes),
            any::<Vec<u8>>(),
        ],
        |text| {
            if let Some(array) = decode_one(&PgType::Bool, &text) {
                prop_assert_eq!(
                    Some(array.as_boolean().value(0)),
                    pg_bool(&text),
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
            }
            Ok(())
        },
    );
}

/// Arbitrary stored bytes never make a decoder panic, for any column type; text is
/// accepted exactly when it is valid UTF-8 without NUL (what Postgres text holds),
/// and read unchanged.
#[test]
fn arbitrary_bytes_decode_or_fail_cleanly() {
    check(
        512,
        prop_oneof![
            any::<Vec<u8>>(),
            any::<String>().prop_map(String::into_bytes),
            string_from(
                &[
                    '[', ']', '"', ',', 'n', 'u', 'l', '\\', '0', '1', '-', ':', 'T', 'Z', '+',
                    '.', ' '
                ],
                0..24
            )
            .prop_map(String::into_bytes),
        ],
        |bytes| {
            for pg in [
                PgType::Bool,
                PgType::Int2,
                PgType::Int4,
                PgType::Int8,
                PgType::Float4,
                PgType::Float8,
                PgType::Text,
                PgType::Varchar,
                PgType::Jsonb,
                PgType::Date,
                PgType::Timestamp,
                PgType::TimestampTz,
                PgType::Bytea,
                PgType::Array(Box::new(PgType::Text)),
            ] {
                let decoded = decode(&pg, &[(Some(bytes.as_slice()), origin())]);
                // what was read is stored back in a form that reads the same (floats, whose
                // NaNs differ in bits, have their own property)
                if let (Ok(array), false) =
                    (&decoded, matches!(pg, PgType::Float4 | PgType::Float8))
                {
                    prop_assert_eq!(round_trip(&pg, array), Some(array.clone()));
                }
                if matches!(pg, PgType::Text | PgType::Varchar) {
                    let valid = std::str::from_utf8(&bytes).is_ok_and(|s| !s.contains('\0'));
                    prop_assert_eq!(decoded.is_ok(), valid);
                    if let Ok(array) = decoded {
                        prop_assert_eq!(array.as_string::<i32>().value(0).as_bytes(), &bytes[..]);
                    }
                }
            }
            Ok(())
        },
    );
}

/// Every value of every supported type is stored in a form that decodes to the same
/// value; a date or timestamp too far out to be written is a clear error, and only
/// then. Floats are written with their shortest round-trip digits.
#[test]
fn values_round_trip() {
    check(
        512,
        (
            any::<bool>(),
            any::<i16>(),
            any::<i32>(),
            any::<i64>(),
            float8(),
            float4(),
            any::<String>().prop_map(|s| s.replace('\0', "")),
            any::<Vec<u8>>(),
            days(),
            micros(),
            proptest::collection::vec(proptest::option::of(string_from(VALUE, 0..4)), 0..4),
        ),
        |(b, small, int, big, f8, f4, text, bytes, day, micro, list)| {
            let same = |pg: PgType, array: ArrayRef| -> Result<(), TestCaseError> {
                let back = round_trip(&pg, &array).expect("every value of this type is written");
                prop_assert_eq!(&back, &array);
                Ok(())
            };
            same(
                PgType::Bool,
                Arc::new(BooleanArray::from(vec![Some(b), None])),
            )?;
            same(
                PgType::Int2,
                Arc::new(Int16Array::from(vec![Some(small), None])),
            )?;
            same(
                PgType::Int4,
                Arc::new(Int32Array::from(vec![Some(int), None])),
            )?;
            same(
                PgType::Int8,
                Arc::new(Int64Array::from(vec![Some(big), None])),
            )?;
            same(
                PgType::Text,
                Arc::new(StringArray::from(vec![Some(text.as_str()), None])),
            )?;
            same(
                PgType::Bytea,
                Arc::new(BinaryArray::from(vec![Some(bytes.as_slice()), None])),
            )?;
            let mut lists = ListBuilder::new(StringBuilder::new());
            lists.values().extend(list.iter().map(Option::as_deref));
            lists.append(true);
            lists.append(false);
            same(
                PgType::Array(Box::new(PgType::Text)),
                Arc::new(lists.finish()),
            )?;

            // floats: the same value back (any NaN for NaN, -0 kept), stored as Postgres
            // reads it, in the shortest round-trip digits
            let same_float =
                |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
            for (pg, array, value) in [
                (
                    PgType::Float8,
                    Arc::new(Float64Array::from(vec![f8])) as ArrayRef,
                    f8,
                ),
                (
                    PgType::Float4,
                    Arc::new(Float32Array::from(vec![f4])),
                    f64::from(f4),
                ),
            ] {
                let single = pg == PgType::Float4;
                let stored = encode(&array, 0).expect("floats encode").expect("not NULL");
                let stored = String::from_utf8(stored).expect("floats are stored as text");
                let back = round_trip(&pg, &array).expect("floats encode");
                let back = match single {
                    true => f64::from(back.as_primitive::<Float32Type>().value(0)),
                    false => back.as_primitive::<Float64Type>().value(0),
                };
                prop_assert!(same_float(back, value), "{} read back as {}", value, back);
                let read = pg_float(stored.as_bytes(), single);
                prop_assert!(
                    read.is_some_and(|r| same_float(r, value)),
                    "Postgres reads {:?} as {:?}",
                    stored,
                    read
                );
                if value.is_finite() {
                    let shortest = if single {
                        format!("{f4:e}")
                    } else {
                        format!("{f8:e}")
                    };
                    prop_assert_eq!(
                        significant_digits(&stored),
                        significant_digits(&shortest),
                        "{} stored as {}",
                        value,
                        stored
                    );
                }
            }

            let writable_day = chrono::NaiveDate::default()
                .checked_add_signed(chrono::Duration::days(day.into()))
                .is_some();
            let dates: ArrayRef = Arc::new(Date32Array::from(vec![Some(day), None]));
            match round_trip(&PgType::Date, &dates) {
                Some(back) => prop_assert_eq!(&back, &dates),
                None => prop_assert!(!writable_day, "day {} is writable", day),
            }
            let writable_micros = chrono::DateTime::from_timestamp_micros(micro).is_some();
            for (pg, array) in [
                (
                    PgType::Timestamp,
                    Arc::new(TimestampMicrosecondArray::from(vec![Some(micro), None])) as ArrayRef,
                ),
                (
                    PgType::TimestampTz,
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![Some(micro), None])
                            .with_timezone("UTC"),
                    ),
                ),
            ] {
                match round_trip(&pg, &array) {
                    Some(back) => prop_assert_eq!(&back, &array),
                    None => prop_assert!(!writable_micros, "{} µs is writable", micro),
                }
            }
            Ok(())
        },
    );
}
