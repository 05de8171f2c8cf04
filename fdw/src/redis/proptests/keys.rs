//! Keys: templates read back what they render, `SCAN MATCH` patterns match exactly the
//! keys they describe (against a port of Redis's glob matcher), and key plans never
//! miss a matching key.

use super::VALUE;
use crate::options::Options;
use crate::proptests::{check, like_matches, string_from};
use crate::redis::options::{ServerOptions, TableOptions};
use crate::redis::table::{KeyPlan, RedisTable};
use crate::redis::template::KeyTemplate;
use crate::request::{Op, Qual};
use crate::types::PgType;
use crate::value::Value;
use proptest::prelude::*;

/// Characters of template literals: separators and every glob character.
const LITERAL: &[char] = &[
    ':', '/', '*', '?', '[', ']', '\\', '^', '-', 'a', 'b', '\n', 'é',
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
