//! The Cypher a scan sends keeps every value a parameter and every name quoted, checked
//! by lexing the text back.

use super::same_value;
use crate::graph::cypher::CypherQuery;
use crate::graph::options::{ServerOptions, TableOptions};
use crate::graph::table::GraphTable;
use crate::options::Options;
use crate::proptests::{check, string_from};
use crate::request::{Op, Qual, ScanRequest};
use crate::types::PgType;
use crate::value::Value;
use proptest::prelude::*;
use std::collections::HashMap;

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
