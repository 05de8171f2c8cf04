//! Property tests of the graph adapter: the Cypher a scan sends keeps every value a
//! parameter and every name quoted (checked by lexing the text back), and Bolt values
//! decode to exactly the Postgres values they hold, or to a clear error.

use super::cypher::CypherQuery;
use super::options::{ServerOptions, TableOptions};
use super::table::GraphTable;
use super::types::{bolt_of, decode, json_to_bolt, to_bolt, to_json};
use crate::arrow::array::{Array, ArrayRef};
use crate::options::Options;
use crate::proptests::{check, string_from};
use crate::request::{Op, Qual, ScanRequest};
use crate::types::PgType;
use crate::value::Value;
use neo4rs::{BoltDuration, BoltFloat, BoltInteger, BoltList, BoltPoint2D, BoltString, BoltType};
use proptest::prelude::*;
use std::collections::HashMap;

/// Characters of labels, types and property names: quotes, backticks, Cypher syntax,
/// comment starts, escapes, NUL, unicode.
const NAME: &[char] = &[
    'a',
    'B',
    '`',
    '\'',
    '"',
    '$',
    '{',
    '}',
    '(',
    ')',
    '/',
    '*',
    ' ',
    '\n',
    'é',
    '\\',
    '\0',
    ':',
    '-',
    '.',
    ',',
    '\u{1F511}',
];

/// A token of Cypher text.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// a backtick-quoted name, unquoted
    Name(String),
    /// `$name`
    Param(String),
    /// a keyword, variable, function or number
    Word(String),
    /// any other character outside a name
    Symbol(char),
}

/// Lexes Cypher as a server would: a backtick opens a name that a single backtick ends
/// (two stand for one). Outside names no string literal, escape or comment may appear:
/// a value spliced into the text would show as one.
fn lex(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let word = |first: Option<char>, chars: &mut std::iter::Peekable<std::str::Chars>| {
        let mut w: String = first.into_iter().collect();
        while let Some(&c) = chars
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
        {
            w.push(c);
            chars.next();
        }
        w
    };
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('`') if chars.peek() == Some(&'`') => {
                            chars.next();
                            name.push('`');
                        }
                        Some('`') => break,
                        Some('\\') => return Err(format!("an escape inside the name {name:?}")),
                        Some(c) => name.push(c),
                        None => return Err(format!("the name {name:?} is not closed")),
                    }
                }
                tokens.push(Token::Name(name));
            }
            '$' => tokens.push(Token::Param(word(None, &mut chars))),
            c if c.is_whitespace() => {}
            c if c.is_ascii_alphanumeric() || c == '_' => {
                tokens.push(Token::Word(word(Some(c), &mut chars)))
            }
            '\'' | '"' | '\\' => return Err(format!("{c:?} outside a name")),
            '/' if matches!(chars.peek(), Some('/' | '*')) => return Err("a comment".into()),
            c => tokens.push(Token::Symbol(c)),
        }
    }
    Ok(tokens)
}

/// The options, columns and request of one scan, with every name in one place so that
/// they can be renamed consistently.
#[derive(Debug, Clone)]
struct Scan {
    node: bool,
    names: [String; 6],
    has_start_label: bool,
    has_end_label: bool,
    /// (column name, type, `property` option)
    columns: Vec<(String, PgType, Option<String>)>,
    /// (column name, op, value)
    quals: Vec<(String, Op, Value)>,
    read: Vec<String>,
    limit: Option<u64>,
    row_ids: bool,
}

impl Scan {
    /// The scan with every name passed through `rename`.
    fn renamed(&self, rename: &dyn Fn(&str) -> String) -> Scan {
        Scan {
            names: self.names.clone().map(|n| rename(&n)),
            columns: self
                .columns
                .iter()
                .map(|(n, t, p)| (rename(n), t.clone(), p.as_deref().map(rename)))
                .collect(),
            quals: self
                .quals
                .iter()
                .map(|(c, op, v)| (rename(c), *op, v.clone()))
                .collect(),
            read: self.read.iter().map(|c| rename(c)).collect(),
            ..self.clone()
        }
    }

    /// Every name the scan uses, in order of first use.
    fn all_names(&self) -> Vec<String> {
        let mut all: Vec<String> = self.names.to_vec();
        for (name, _, property) in &self.columns {
            all.push(name.clone());
            all.extend(property.clone());
        }
        all.extend(self.quals.iter().map(|(c, ..)| c.clone()));
        all.extend(self.read.iter().cloned());
        let mut seen = Vec::new();
        for name in all {
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
        seen
    }

    /// The names `check_name` is documented to refuse: empty, NUL, backslash, long.
    fn has_bad_name(&self) -> bool {
        let [label, rel_type, start_label, start_key, end_label, end_key] = &self.names;
        let bad = |n: &str| n.is_empty() || n.contains(['\0', '\\']) || n.len() > 256;
        let used: Vec<&String> = if self.node {
            vec![label]
        } else {
            let mut used = vec![rel_type, start_key, end_key];
            used.extend(self.has_start_label.then_some(start_label));
            used.extend(self.has_end_label.then_some(end_label));
            used
        };
        used.into_iter().any(|n| bad(n))
            || self
                .columns
                .iter()
                .any(|(name, _, p)| bad(p.as_deref().unwrap_or(name)))
    }

    /// The query the scan sends, or the error that refused the table.
    fn query(&self) -> Result<CypherQuery, String> {
        let [label, rel_type, start_label, start_key, end_label, end_key] = &self.names;
        let mut options = Vec::new();
        if self.node {
            options.push(("label", label));
        } else {
            options.extend([
                ("type", rel_type),
                ("start_key", start_key),
                ("end_key", end_key),
            ]);
            if self.has_start_label {
                options.push(("start_label", start_label));
            }
            if self.has_end_label {
                options.push(("end_label", end_label));
            }
        }
        let server = ServerOptions::from_options(
            &Options::new([("uri".to_string(), "bolt://127.0.0.1:7687".to_string())]),
            &Options::default(),
        )
        .expect("a plain URI");
        let options = TableOptions::from_options(&Options::new(
            options.into_iter().map(|(k, v)| (k.to_string(), v.clone())),
        ))
        .map_err(|e| e.to_string())?;
        let table = GraphTable::new(server, options, &self.columns).map_err(|e| e.to_string())?;
        let request = ScanRequest {
            columns: self.read.clone(),
            quals: self
                .quals
                .iter()
                .map(|(column, op, value)| Qual {
                    column: column.clone(),
                    op: *op,
                    value: value.clone(),
                })
                .collect(),
            limit: self.limit,
            row_ids: self.row_ids,
            ..Default::default()
        };
        Ok(table.query(&request))
    }
}

fn pg_type() -> impl Strategy<Value = PgType> {
    prop::sample::select(vec![
        PgType::Text,
        PgType::Int8,
        PgType::Int4,
        PgType::Float8,
        PgType::Bool,
        PgType::Date,
        PgType::TimestampTz,
        PgType::Interval,
        PgType::Jsonb,
        PgType::Array(Box::new(PgType::Text)),
    ])
}

fn qual_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Int),
        prop_oneof![any::<f64>(), Just(f64::NAN)].prop_map(Value::Float),
        string_from(NAME, 0..6).prop_map(Value::Text),
        any::<i32>().prop_map(Value::Date),
        any::<i64>().prop_map(Value::Timestamp),
        any::<bool>().prop_map(Value::Bool),
    ];
    prop_oneof![
        scalar.clone(),
        proptest::collection::vec(scalar, 0..3).prop_map(Value::List),
        string_from(&['a', '%', '_', '\\', '`', '\''], 0..5).prop_map(Value::Text),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(vec![
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::In,
        Op::IsNull,
        Op::IsNotNull,
        Op::Like,
    ])
}

fn scan() -> impl Strategy<Value = Scan> {
    let name = || {
        prop_oneof![
            string_from(NAME, 0..5),
            Just("_id".to_string()),
            Just("a".to_string())
        ]
    };
    (
        any::<bool>(),
        [name(), name(), name(), name(), name(), name()],
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec((name(), pg_type(), proptest::option::of(name())), 0..4),
        proptest::collection::vec((name(), op(), qual_value()), 0..4),
        proptest::collection::vec(name(), 0..4),
        proptest::option::of(any::<u64>()),
        any::<bool>(),
    )
        .prop_map(
            |(
                node,
                names,
                has_start_label,
                has_end_label,
                columns,
                quals,
                read,
                limit,
                row_ids,
            )| Scan {
                node,
                names,
                has_start_label,
                has_end_label,
                columns,
                quals,
                read,
                limit,
                row_ids,
            },
        )
}

/// Floats with the values Bolt and Postgres spell specially.
fn float8() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(1.0),
        Just(9.3e18),
        (-1000i32..1000).prop_map(f64::from),
    ]
}

/// Integers at the edges of every exactness and range limit.
fn integer() -> impl Strategy<Value = i64> {
    let edges: Vec<i64> = [
        i64::MIN,
        i64::MAX,
        1 << 53,
        1 << 24,
        i16::MAX.into(),
        i32::MAX.into(),
    ]
    .into_iter()
    .flat_map(|e| {
        [
            e,
            e.wrapping_add(1),
            e.wrapping_sub(1),
            e.wrapping_neg(),
            e.wrapping_neg().wrapping_sub(1),
        ]
    })
    .collect();
    prop_oneof![any::<i64>(), prop::sample::select(edges)]
}

/// Bolt values of every kind a server sends, nested in lists and maps.
fn bolt() -> impl Strategy<Value = BoltType> {
    let leaf = prop_oneof![
        Just(BoltType::Null(neo4rs::BoltNull)),
        any::<bool>().prop_map(BoltType::from),
        integer().prop_map(BoltType::from),
        float8().prop_map(BoltType::from),
        any::<String>().prop_map(BoltType::from),
        any::<Vec<u8>>().prop_map(BoltType::from),
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(m, d, s, n)| {
            BoltType::Duration(BoltDuration::new(m.into(), d.into(), s.into(), n.into()))
        }),
        (any::<i64>(), float8(), float8()).prop_map(|(srid, x, y)| BoltType::Point2D(
            BoltPoint2D {
                sr_id: BoltInteger::new(srid),
                x: BoltFloat::new(x),
                y: BoltFloat::new(y),
            }
        )),
        any::<i32>().prop_filter_map("a date", |d| to_bolt(&Value::Date(d), &PgType::Date)),
        any::<i64>().prop_filter_map("a datetime", |t| to_bolt(
            &Value::Timestamp(t),
            &PgType::TimestampTz
        )),
        any::<i64>().prop_filter_map("a local datetime", |t| to_bolt(
            &Value::Timestamp(t),
            &PgType::Timestamp
        )),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| BoltType::List(BoltList::from(v))),
            proptest::collection::vec((any::<String>(), inner), 0..4).prop_map(|entries| {
                BoltType::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (BoltString::from(k.as_str()), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Bolt values JSON holds as they are: no temporal, byte, duration or point values, no
/// special float.
fn plain_bolt() -> impl Strategy<Value = BoltType> {
    let leaf = prop_oneof![
        Just(BoltType::Null(neo4rs::BoltNull)),
        any::<bool>().prop_map(BoltType::from),
        integer().prop_map(BoltType::from),
        float8()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(BoltType::from),
        any::<String>().prop_map(BoltType::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| BoltType::List(BoltList::from(v))),
            proptest::collection::vec((any::<String>(), inner), 0..4).prop_map(|entries| {
                BoltType::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (BoltString::from(k.as_str()), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// A query value of a column type, with the type's edge values.
fn typed_value() -> impl Strategy<Value = (PgType, Value)> {
    prop_oneof![
        any::<bool>().prop_map(|b| (PgType::Bool, Value::Bool(b))),
        any::<i16>().prop_map(|i| (PgType::Int2, Value::Int(i.into()))),
        any::<i32>().prop_map(|i| (PgType::Int4, Value::Int(i.into()))),
        integer().prop_map(|i| (PgType::Int8, Value::Int(i))),
        float8().prop_map(|f| (PgType::Float8, Value::Float(f))),
        any::<f32>().prop_map(|f| (PgType::Float4, Value::Float4(f))),
        any::<String>()
            .prop_filter("no NUL", |s| !s.contains('\0'))
            .prop_map(|s| (PgType::Text, Value::Text(s))),
        prop_oneof![any::<i32>(), -800_000i32..3_000_000]
            .prop_map(|d| (PgType::Date, Value::Date(d))),
        any::<i64>().prop_map(|t| (PgType::Timestamp, Value::Timestamp(t))),
        any::<i64>().prop_map(|t| (PgType::TimestampTz, Value::Timestamp(t))),
        proptest::collection::vec(integer(), 0..3).prop_map(|l| {
            (
                PgType::Array(Box::new(PgType::Int8)),
                Value::List(l.into_iter().map(Value::Int).collect()),
            )
        }),
        proptest::collection::vec("[a-z`']{0,3}", 0..3).prop_map(|l| {
            (
                PgType::Array(Box::new(PgType::Text)),
                Value::List(l.into_iter().map(Value::Text).collect()),
            )
        }),
    ]
}

/// The value an array decoded as `pg` holds in row 0, as a query value.
fn value_of(array: &ArrayRef, pg: &PgType) -> Value {
    use crate::arrow::array::AsArray;
    use crate::arrow::datatypes::{
        Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
        TimestampMicrosecondType,
    };
    match pg {
        PgType::Bool => Value::Bool(array.as_boolean().value(0)),
        PgType::Int2 => Value::Int(array.as_primitive::<Int16Type>().value(0).into()),
        PgType::Int4 => Value::Int(array.as_primitive::<Int32Type>().value(0).into()),
        PgType::Int8 => Value::Int(array.as_primitive::<Int64Type>().value(0)),
        PgType::Float8 => Value::Float(array.as_primitive::<Float64Type>().value(0)),
        PgType::Float4 => Value::Float4(array.as_primitive::<Float32Type>().value(0)),
        PgType::Date => Value::Date(array.as_primitive::<Date32Type>().value(0)),
        PgType::Timestamp | PgType::TimestampTz => {
            Value::Timestamp(array.as_primitive::<TimestampMicrosecondType>().value(0))
        }
        PgType::Array(element) => {
            let items = array.as_list::<i32>().value(0);
            Value::List(
                (0..items.len())
                    .map(|i| value_of(&items.slice(i, 1), element))
                    .collect(),
            )
        }
        _ => Value::Text(array.as_string::<i32>().value(0).to_string()),
    }
}

/// Whether two query values are the same Postgres value (floats by bits, any NaN).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::Float4(x), Value::Float4(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        _ => a == b,
    }
}

/// Whether a tree holds a float that is a whole number beyond 64-bit integers (which
/// jsonb cannot tell from an integer, and Bolt cannot hold as one).
fn has_huge_whole_float(b: &BoltType) -> bool {
    match b {
        BoltType::Float(f) => f.value.fract() == 0.0 && f.value.abs() >= 9.2e18,
        BoltType::List(l) => l.value.iter().any(has_huge_whole_float),
        BoltType::Map(m) => m.value.values().any(has_huge_whole_float),
        _ => false,
    }
}

/// Any label, type, key or property name (quotes, backticks, `$`, comment starts,
/// newlines, unicode) is refused when `check_name` documents it so (empty, NUL,
/// backslash, long), and otherwise reaches the Cypher only as one quoted name:
/// lexing the text gives, token for token, the query of the same scan with every
/// name replaced by a plain one, and the same parameters. No value is in the text.
#[test]
fn cypher_quotes_every_name_and_passes_every_value_as_a_parameter() {
    check(512, scan(), |scan| {
        let names = scan.all_names();
        let plain: HashMap<String, String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.clone(),
                    if n == "_id" {
                        n.clone()
                    } else {
                        format!("n{i}")
                    },
                )
            })
            .collect();
        let benign = scan.renamed(&|n: &str| plain[n].clone());
        let hostile = scan.query();
        let expected = benign.query();
        let (hostile, expected) = match (hostile, expected) {
            (Ok(h), Ok(e)) => {
                prop_assert!(!scan.has_bad_name(), "a bad name was accepted");
                (h, e)
            }
            (Err(e), Ok(_)) => {
                prop_assert!(scan.has_bad_name(), "refused: {}", e);
                return Ok(());
            }
            (_, Err(_)) => return Ok(()),
        };
        let tokens = lex(&hostile.text)
            .map_err(|e| TestCaseError::fail(format!("{e} in {}", hostile.text)))?;
        let plain_tokens = lex(&expected.text)
            .map_err(|e| TestCaseError::fail(format!("{e} in {}", expected.text)))?;
        prop_assert_eq!(
            tokens.len(),
            plain_tokens.len(),
            "{} vs {}",
            hostile.text,
            expected.text
        );
        for (t, p) in tokens.iter().zip(&plain_tokens) {
            match (t, p) {
                (Token::Name(name), Token::Name(plain_name)) => {
                    prop_assert!(
                        plain.get(name) == Some(plain_name),
                        "{:?} quoted as {:?} in {}",
                        name,
                        plain_name,
                        hostile.text
                    );
                }
                _ => prop_assert_eq!(t, p, "in {}", hostile.text),
            }
        }
        prop_assert_eq!(hostile.params.len(), expected.params.len());
        for (i, ((name, value, pg), (plain_name, plain_value, plain_pg))) in
            hostile.params.iter().zip(&expected.params).enumerate()
        {
            prop_assert_eq!(name, &format!("p{i}"));
            prop_assert_eq!((name, pg), (plain_name, plain_pg));
            prop_assert!(
                same_value(value, plain_value),
                "{:?} vs {:?}",
                value,
                plain_value
            );
            prop_assert!(tokens.contains(&Token::Param(name.clone())));
        }
        Ok(())
    });
}

/// Bolt integers decode as the column's type holds them or fail: an integer column
/// takes exactly the values in its range, a float column exactly the integers it
/// holds without rounding (at least ±2^53 for float8, ±2^24 for float4).
#[test]
fn integers_decode_exactly() {
    check(512, integer(), |i| {
        let bolt = [BoltType::from(i)];
        for (pg, min, max) in [
            (PgType::Int2, i64::from(i16::MIN), i64::from(i16::MAX)),
            (PgType::Int4, i64::from(i32::MIN), i64::from(i32::MAX)),
            (PgType::Int8, i64::MIN, i64::MAX),
        ] {
            let decoded = decode(&pg, "c", &bolt).ok().map(|a| value_of(&a, &pg));
            prop_assert_eq!(decoded, (min..=max).contains(&i).then_some(Value::Int(i)));
        }
        for (pg, exact) in [(PgType::Float8, 1i64 << 53), (PgType::Float4, 1 << 24)] {
            match decode(&pg, "c", &bolt) {
                Ok(a) => {
                    let f = match value_of(&a, &pg) {
                        Value::Float(f) => f,
                        Value::Float4(f) => f64::from(f),
                        other => return Err(TestCaseError::fail(format!("{other:?}"))),
                    };
                    prop_assert!(
                        f.fract() == 0.0 && f as i128 == i128::from(i),
                        "{} read as {}",
                        i,
                        f
                    );
                }
                Err(_) => prop_assert!(
                    i.unsigned_abs() > exact.unsigned_abs(),
                    "{} refused as {}",
                    i,
                    pg.sql()
                ),
            }
        }
        Ok(())
    });
}

/// Bolt floats decode as float8 bit for bit, and as float4 exactly when float4
/// holds them (NaN and the infinities included); text without NUL decodes as is.
#[test]
fn floats_and_strings_decode_exactly() {
    check(512, (float8(), any::<String>()), |(f, s)| {
        let a =
            decode(&PgType::Float8, "c", &[BoltType::from(f)]).expect("every float is a double");
        prop_assert!(same_value(&value_of(&a, &PgType::Float8), &Value::Float(f)));
        let narrow = (f as f32) as f64 == f || f.is_nan();
        match decode(&PgType::Float4, "c", &[BoltType::from(f)]) {
            Ok(a) => prop_assert!(
                narrow && same_value(&value_of(&a, &PgType::Float4), &Value::Float4(f as f32))
            ),
            Err(_) => prop_assert!(!narrow),
        }
        let text = decode(&PgType::Text, "c", &[BoltType::from(s.as_str())]);
        prop_assert_eq!(text.is_ok(), !s.contains('\0'));
        if let Ok(a) = text {
            prop_assert_eq!(value_of(&a, &PgType::Text), Value::Text(s));
        }
        Ok(())
    });
}

/// A query value sent as a Bolt parameter, read back as its column's type, is the
/// same value; written back from that array (INSERT, UPDATE) it reads the same again.
/// Only a date or timestamp beyond what Bolt's conversions hold is left unsent.
#[test]
fn values_survive_bolt_both_ways() {
    check(512, typed_value(), |(pg, value)| {
        let Some(bolt) = to_bolt(&value, &pg) else {
            prop_assert!(
                matches!(value, Value::Date(_) | Value::Timestamp(_)),
                "{:?} has no Bolt form",
                value
            );
            return Ok(());
        };
        let array = decode(&pg, "c", &[bolt])
            .map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
        prop_assert!(
            same_value(&value_of(&array, &pg), &value),
            "{:?} read back as {:?}",
            value,
            value_of(&array, &pg)
        );
        let written = bolt_of(&array, 0, &pg).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = decode(&pg, "c", &[written]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(same_value(&value_of(&again, &pg), &value));
        prop_assert_eq!(again.len(), 1);
        prop_assert!(!again.is_null(0));
        Ok(())
    });
}

/// Any Bolt value a server may send is read as jsonb, or refused with a reason; no
/// value makes the conversion panic, and the JSON it gives is valid JSON.
#[test]
fn any_bolt_value_reads_as_json_or_a_clear_error() {
    check(512, bolt(), |value| {
        match to_json(&value) {
            Ok(json) => {
                let text = json.to_string();
                prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
        let _ = decode(&PgType::Jsonb, "c", &[value]);
        Ok(())
    });
}

/// Values JSON holds as they are (null, booleans, integers, finite floats, text,
/// lists, maps) survive jsonb both ways: read from the graph as JSON, and written
/// back as the same Bolt value. Only a whole float beyond 64 bits may be refused.
#[test]
fn plain_values_survive_jsonb() {
    check(512, plain_bolt(), |value| {
        let json = to_json(&value).map_err(TestCaseError::fail)?;
        match json_to_bolt(&json) {
            Ok(back) => prop_assert_eq!(back, value),
            Err(reason) => prop_assert!(
                has_huge_whole_float(&value),
                "{:?} refused: {}",
                value,
                reason
            ),
        }
        Ok(())
    });
}
