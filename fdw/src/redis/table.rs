//! A foreign table over Redis keys: which columns come from the key and which from the
//! value, and how quals on key columns become the keys to read.

use super::codec::{arrow_type, decode, Origin};
use super::error::{RedisError, Result};
use super::options::{ServerOptions, TableKind, TableOptions};
use super::template::KeyTemplate;
use crate::request::{like_pattern_prefix, Op, Qual, ScanRequest};
use crate::types::PgType;
use crate::value::Value;
use deltalake::arrow::array::ArrayRef;

/// Keys one lookup may name (the product of `IN` lists); beyond it the table is scanned.
pub const MAX_LOOKUP_KEYS: usize = 100_000;
/// Keys the planner assumes an `IN` list known only at run time holds.
const RUNTIME_IN_LIST_KEYS: f64 = 10.0;

/// Where a column's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// the `i`-th column of the key template
    Key(usize),
    /// a hash field
    Field(String),
    /// the value of a string key, or of a list element
    Value,
    /// a member of a set or sorted set
    Member,
    /// the score of a sorted-set member
    Score,
    /// the position of a list element (0 first)
    Position,
}

/// One column of the foreign table.
#[derive(Debug, Clone)]
pub struct RedisColumn {
    /// column name
    pub name: String,
    /// Postgres type
    pub pg_type: PgType,
    /// where its values come from
    pub source: ColumnSource,
}

/// How a scan finds its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPlan {
    /// these keys (with their key-column values), read directly
    Keys(Vec<(String, Vec<String>)>),
    /// keys matching this `SCAN MATCH` pattern
    Pattern(String),
}

/// A foreign table of `redis_fdw`.
#[derive(Debug, Clone)]
pub struct RedisTable {
    /// how to reach the server
    pub server: ServerOptions,
    /// table options
    pub options: TableOptions,
    /// the parsed key template
    pub template: KeyTemplate,
    /// declared columns, in order
    pub columns: Vec<RedisColumn>,
}

impl RedisTable {
    /// Checks the declared columns (name, type, `field` option) against the template
    /// and the table kind.
    pub fn new(
        server: ServerOptions,
        options: TableOptions,
        declared: &[(String, PgType, Option<String>)],
    ) -> Result<RedisTable> {
        let template = KeyTemplate::parse(&options.key_template)?;
        let key_columns = template.columns();
        for name in &key_columns {
            if !declared.iter().any(|(n, ..)| n == name) {
                return Err(RedisError::Template {
                    template: options.key_template.clone(),
                    reason: format!("column \"{name}\" is not a column of the foreign table"),
                });
            }
        }
        let mut columns = Vec::with_capacity(declared.len());
        for (name, pg_type, field) in declared {
            let unsupported = || RedisError::UnsupportedType {
                column: name.clone(),
                pg_type: pg_type.sql(),
            };
            arrow_type(pg_type).ok_or_else(unsupported)?;
            let source = match key_columns.iter().position(|k| k == name) {
                Some(i) => {
                    if !key_type(pg_type) {
                        return Err(unsupported());
                    }
                    ColumnSource::Key(i)
                }
                None => {
                    let role = field.as_deref().unwrap_or(name);
                    match options.kind {
                        TableKind::Hash | TableKind::Stream => {
                            ColumnSource::Field(role.to_string())
                        }
                        TableKind::String => ColumnSource::Value,
                        TableKind::Set => ColumnSource::Member,
                        TableKind::SortedSet if role == "score" => ColumnSource::Score,
                        TableKind::SortedSet => ColumnSource::Member,
                        TableKind::List if role == "position" => ColumnSource::Position,
                        TableKind::List => ColumnSource::Value,
                    }
                }
            };
            columns.push(RedisColumn {
                name: name.clone(),
                pg_type: pg_type.clone(),
                source,
            });
        }
        let count = |source: ColumnSource| columns.iter().filter(|c| c.source == source).count();
        let shape = match options.kind {
            TableKind::String => (count(ColumnSource::Value) == 1)
                .then_some(())
                .ok_or("exactly one column besides the key columns (the value)"),
            TableKind::Set => (count(ColumnSource::Member) == 1)
                .then_some(())
                .ok_or("exactly one column besides the key columns (the member)"),
            TableKind::SortedSet => (count(ColumnSource::Member) == 1
                && count(ColumnSource::Score) == 1)
                .then_some(())
                .ok_or("a member column and a column named (or with field) score"),
            TableKind::List => (count(ColumnSource::Value) == 1
                && count(ColumnSource::Position) <= 1)
                .then_some(())
                .ok_or("a value column and optionally a column named (or with field) position"),
            TableKind::Hash | TableKind::Stream => Ok(()),
        };
        if let Err(expected) = shape {
            return Err(RedisError::Unsupported(format!(
                "a redis_fdw table of this kind needs {expected}"
            )));
        }
        if let Some(position) = columns.iter().find(|c| c.source == ColumnSource::Position) {
            if !matches!(position.pg_type, PgType::Int2 | PgType::Int4 | PgType::Int8) {
                return Err(RedisError::UnsupportedType {
                    column: position.name.clone(),
                    pg_type: position.pg_type.sql(),
                });
            }
        }
        Ok(RedisTable {
            server,
            options,
            template,
            columns,
        })
    }

    /// The declared column `name`.
    pub fn column(&self, name: &str) -> Option<&RedisColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The declared column holding key-template column `index`.
    fn key_column(&self, index: usize) -> &RedisColumn {
        self.columns
            .iter()
            .find(|c| c.source == ColumnSource::Key(index))
            .expect("every template column is declared (checked in new)")
    }

    /// The keys `quals` name: every key column constrained by `=` or `IN` gives direct
    /// reads; otherwise a `SCAN MATCH` pattern with what is known (`=` values, `LIKE`
    /// prefixes) and `*` for the rest.
    pub fn plan(&self, quals: &[Qual]) -> KeyPlan {
        let n = self.template.columns().len();
        let mut exact: Vec<Option<Vec<String>>> = vec![None; n];
        let mut prefix: Vec<Option<String>> = vec![None; n];
        for qual in quals {
            let Some(RedisColumn {
                source: ColumnSource::Key(i),
                pg_type,
                ..
            }) = self.column(&qual.column)
            else {
                continue;
            };
            let values = match (qual.op, &qual.value) {
                (Op::Eq, v) => vec![v.clone()],
                (Op::In, Value::List(items)) => items.clone(),
                (Op::In, Value::Null) => Vec::new(),
                (Op::Like, Value::Text(pattern)) => {
                    if let Some(p) = like_pattern_prefix(pattern) {
                        prefix[*i] = Some(p.to_string());
                    }
                    continue;
                }
                _ => continue,
            };
            let mut texts: Vec<String> =
                values.iter().filter_map(|v| key_text(v, pg_type)).collect();
            texts.sort();
            texts.dedup();
            exact[*i] = Some(match exact[*i].take() {
                None => texts,
                Some(before) => before.into_iter().filter(|t| texts.contains(t)).collect(),
            });
        }
        let known: Option<Vec<Vec<String>>> = exact.iter().cloned().collect();
        if let Some(lists) = known {
            let count = lists
                .iter()
                .map(Vec::len)
                .try_fold(1usize, |a, b| a.checked_mul(b));
            if count.is_some_and(|c| c <= MAX_LOOKUP_KEYS) {
                let mut keys = Vec::new();
                for values in product(&lists) {
                    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                    if let Ok(key) = self.template.render(&refs) {
                        keys.push((key, values));
                    }
                }
                return KeyPlan::Keys(keys);
            }
        }
        let known: Vec<Option<String>> = (0..n)
            .map(|i| match &exact[i] {
                Some(values) if values.len() == 1 => Some(values[0].clone()),
                _ => None,
            })
            .collect();
        let refs: Vec<Option<&str>> = known.iter().map(|k| k.as_deref()).collect();
        KeyPlan::Pattern(self.template.pattern(&refs, &prefix))
    }

    /// Decodes the key-column values of `keys` (as [`KeyTemplate::parse_key`] split
    /// them) into the column `name`'s array; each must be in its canonical form, so a
    /// lookup by value finds exactly the keys a scan would.
    pub fn decode_key_column(&self, index: usize, rows: &[(&str, &[String])]) -> Result<ArrayRef> {
        let column = self.key_column(index);
        let values: Vec<(Option<&[u8]>, Origin)> = rows
            .iter()
            .map(|(key, parts)| {
                (
                    Some(parts[index].as_bytes()),
                    Origin {
                        key,
                        field: &column.name,
                    },
                )
            })
            .collect();
        let array = decode(&column.pg_type, &values)?;
        for (row, (key, parts)) in rows.iter().enumerate() {
            let canonical = super::codec::encode(&array, row)?
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            if canonical.as_deref() != Some(parts[index].as_str()) {
                return Err(RedisError::BadValue {
                    key: key.to_string(),
                    field: format!("key column {}", column.name),
                    reason: format!("\"{}\" is not written in its canonical form", parts[index]),
                });
            }
        }
        Ok(array)
    }

    /// Rows a scan for `request` is expected to return: the keys its quals name, also
    /// counting `=` on key columns whose values come at run time (a prepared
    /// statement's parameters) as one key each, so generic plans are costed as lookups.
    pub fn estimate(&self, request: &ScanRequest) -> f64 {
        if let KeyPlan::Keys(keys) = self.plan(&request.quals) {
            return keys.len() as f64;
        }
        let keys_per_column: Option<Vec<f64>> = self
            .template
            .columns()
            .iter()
            .map(|column| {
                let constant =
                    request
                        .quals
                        .iter()
                        .find_map(|q| match (&q.column, q.op, &q.value) {
                            (c, Op::Eq, _) if c == column => Some(1.0),
                            (c, Op::In, Value::List(items)) if c == column => {
                                Some(items.len() as f64)
                            }
                            _ => None,
                        });
                let runtime = request.runtime_quals.iter().find_map(|(c, op)| match op {
                    Op::Eq if c == column => Some(1.0),
                    Op::In if c == column => Some(RUNTIME_IN_LIST_KEYS),
                    _ => None,
                });
                constant.or(runtime)
            })
            .collect();
        match keys_per_column {
            Some(counts) => counts.iter().product(),
            None => self.options.estimated_keys as f64,
        }
    }
}

/// Types a key column may have: those whose text form is canonical and exact.
fn key_type(pg: &PgType) -> bool {
    matches!(
        pg,
        PgType::Bool
            | PgType::Int2
            | PgType::Int4
            | PgType::Int8
            | PgType::Text
            | PgType::Varchar
            | PgType::Date
    )
}

/// The text a key column of type `pg` holds for `value`; `None` for NULL (which names
/// no key).
pub fn key_text(value: &Value, pg: &PgType) -> Option<String> {
    match (value, pg) {
        (Value::Null, _) => None,
        (Value::Bool(b), _) => Some(b.to_string()),
        (Value::Int(i), _) => Some(i.to_string()),
        (Value::Text(t), _) => Some(t.clone()),
        (Value::Date(d), _) => chrono::NaiveDate::default()
            .checked_add_signed(chrono::Duration::days(*d as i64))
            .map(|date| date.format("%Y-%m-%d").to_string()),
        _ => None,
    }
}

/// Every combination of one value from each list.
fn product(lists: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for list in lists {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                list.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;

    fn table(template: &str, declared: &[(&str, PgType)]) -> Result<RedisTable> {
        let server = ServerOptions::from_options(
            &Options::new([("url".to_string(), "redis://127.0.0.1".to_string())]),
            &Options::default(),
        )
        .unwrap();
        let options = TableOptions::from_options(&Options::new([(
            "key_template".to_string(),
            template.to_string(),
        )]))
        .unwrap();
        let declared: Vec<_> = declared
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone(), None))
            .collect();
        RedisTable::new(server, options, &declared)
    }

    fn q(column: &str, op: Op, value: Value) -> Qual {
        Qual::new(column, op, value)
    }

    #[test]
    fn key_quals_become_direct_reads() {
        let t = table(
            "users:{user_id}:features",
            &[("user_id", PgType::Int8), ("purchase_count", PgType::Int4)],
        )
        .unwrap();
        assert_eq!(
            t.plan(&[q("user_id", Op::Eq, Value::Int(7))]),
            KeyPlan::Keys(vec![("users:7:features".into(), vec!["7".into()])])
        );
        let many = t.plan(&[q(
            "user_id",
            Op::In,
            Value::List(vec![
                Value::Int(2),
                Value::Null,
                Value::Int(1),
                Value::Int(2),
            ]),
        )]);
        assert_eq!(
            many,
            KeyPlan::Keys(vec![
                ("users:1:features".into(), vec!["1".into()]),
                ("users:2:features".into(), vec!["2".into()])
            ])
        );
        assert_eq!(t.plan(&[]), KeyPlan::Pattern("users:*:features".into()));
        assert_eq!(
            t.plan(&[q("purchase_count", Op::Eq, Value::Int(1))]),
            KeyPlan::Pattern("users:*:features".into())
        );
        // contradicting equalities name no key
        assert_eq!(
            t.plan(&[
                q("user_id", Op::Eq, Value::Int(1)),
                q("user_id", Op::Eq, Value::Int(2))
            ]),
            KeyPlan::Keys(vec![])
        );
    }

    #[test]
    fn partial_keys_and_prefixes_narrow_the_pattern() {
        let t = table(
            "o:{org}:{user}",
            &[
                ("org", PgType::Text),
                ("user", PgType::Text),
                ("v", PgType::Text),
            ],
        )
        .unwrap();
        assert_eq!(
            t.plan(&[q("org", Op::Eq, Value::Text("a*c".into()))]),
            KeyPlan::Pattern("o:a\\*c:*".into())
        );
        assert_eq!(
            t.plan(&[q("user", Op::Like, Value::Text("bo%".into()))]),
            KeyPlan::Pattern("o:*:bo*".into())
        );
    }

    #[test]
    fn columns_are_checked() {
        assert!(table("u:{id}", &[("other", PgType::Int8)]).is_err());
        assert!(table("u:{id}", &[("id", PgType::Float8)]).is_err());
        assert!(table("u:{id}", &[("id", PgType::Int8), ("n", PgType::Numeric)]).is_err());
        let rows = [("u:05", &["05".to_string()][..])];
        let t = table("u:{id}", &[("id", PgType::Int8)]).unwrap();
        assert!(t.decode_key_column(0, &rows).is_err());
        let rows = [("u:5", &["5".to_string()][..])];
        assert!(t.decode_key_column(0, &rows).is_ok());
    }
}
