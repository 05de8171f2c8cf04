//! Partition pruning and file skipping: decides from a file's partition values and
//! Delta statistics whether it *may* hold rows matching the pushed-down quals.
//!
//! Every check is conservative: when a value cannot be parsed or compared, the file is
//! kept. Quals on the source column of a generated date partition
//! (`CAST(ts AS DATE)`) are turned into quals on the partition column.

use super::schema::{DeltaColumn, DeltaSchema, DeltaType};
use crate::request::{like_pattern_prefix, Op, Qual};
use crate::value::{Value, MICROS_PER_DAY};
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Spark truncates long string statistics; a max this long may not be an upper bound.
const MAX_TRUSTED_STRING_STAT: usize = 32;

/// A qual resolved against the Delta schema.
#[derive(Debug, Clone)]
struct BoundQual {
    physical_name: String,
    data_type: DeltaType,
    op: Op,
    value: Value,
    on_partition: bool,
}

/// Per-file statistics from the `stats` JSON of an add action.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileStats {
    /// rows in the file (before deletion vectors)
    pub num_records: Option<u64>,
    /// minimum per physical column name
    pub min: HashMap<String, Value>,
    /// maximum per physical column name
    pub max: HashMap<String, Value>,
    /// null count per physical column name
    pub null_count: HashMap<String, u64>,
}

impl FileStats {
    /// Parses the add action's `stats` JSON; unknown or nested entries are ignored.
    pub fn parse(json: &str, schema: &DeltaSchema) -> Option<FileStats> {
        let root: Json = serde_json::from_str(json).ok()?;
        let mut stats = FileStats {
            num_records: root.get("numRecords").and_then(Json::as_u64),
            ..Default::default()
        };
        for column in &schema.columns {
            let key = column.physical_name.as_str();
            if let Some(v) = root
                .get("minValues")
                .and_then(|m| m.get(key))
                .and_then(|j| stat_value(j, column, false))
            {
                stats.min.insert(key.to_string(), v);
            }
            if let Some(v) = root
                .get("maxValues")
                .and_then(|m| m.get(key))
                .and_then(|j| stat_value(j, column, true))
            {
                stats.max.insert(key.to_string(), v);
            }
            if let Some(n) = root
                .get("nullCount")
                .and_then(|m| m.get(key))
                .and_then(Json::as_u64)
            {
                stats.null_count.insert(key.to_string(), n);
            }
        }
        Some(stats)
    }
}

fn stat_value(json: &Json, column: &DeltaColumn, is_max: bool) -> Option<Value> {
    match (&column.data_type, json) {
        (DeltaType::String, Json::String(s))
            if is_max && s.chars().count() >= MAX_TRUSTED_STRING_STAT =>
        {
            None
        }
        (DeltaType::Timestamp | DeltaType::TimestampNtz, Json::String(s)) => {
            // Statistics are written with millisecond precision: round the max up.
            let micros = parse_timestamp(s)?;
            Some(Value::Timestamp(if is_max { micros + 999 } else { micros }))
        }
        (_, Json::String(s)) => parse_typed(s, &column.data_type),
        (DeltaType::Double | DeltaType::Float | DeltaType::Decimal(..), Json::Number(n)) => {
            n.as_f64().map(Value::Float)
        }
        (_, Json::Number(n)) => n.as_i64().map(Value::Int),
        (DeltaType::Boolean, Json::Bool(b)) => Some(Value::Bool(*b)),
        _ => None,
    }
}

/// Parses a partition value or string statistic of the given type.
pub fn parse_typed(text: &str, data_type: &DeltaType) -> Option<Value> {
    match data_type {
        DeltaType::String => Some(Value::Text(text.to_string())),
        DeltaType::Long | DeltaType::Integer | DeltaType::Short | DeltaType::Byte => {
            text.parse().ok().map(Value::Int)
        }
        DeltaType::Double | DeltaType::Float | DeltaType::Decimal(..) => {
            text.parse().ok().map(Value::Float)
        }
        DeltaType::Boolean => text.parse().ok().map(Value::Bool),
        DeltaType::Date => parse_date(text).map(Value::Date),
        DeltaType::Timestamp | DeltaType::TimestampNtz => {
            parse_timestamp(text).map(Value::Timestamp)
        }
        _ => None,
    }
}

/// `YYYY-MM-DD` → days since the epoch.
pub fn parse_date(text: &str) -> Option<i32> {
    let date = chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
    Some(
        date.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
            .num_days() as i32,
    )
}

/// ISO-8601 or `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC when no offset) → microseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()?;
    Some(naive.and_utc().timestamp_micros())
}

/// The column a generated date column is computed from, for the expressions
/// `CAST(x AS DATE)`, `to_date(x)` and `date(x)`.
pub fn date_generation_source(expression: &str) -> Option<String> {
    let e = expression.trim();
    let lower = e.to_ascii_lowercase();
    let inner = if lower.starts_with("cast(") && lower.ends_with(" as date)") {
        &e[5..e.len() - 9]
    } else if (lower.starts_with("to_date(") || lower.starts_with("date(")) && lower.ends_with(')')
    {
        &e[e.find('(')? + 1..e.len() - 1]
    } else {
        return None;
    };
    let name = inner.trim().trim_matches('`');
    (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .then(|| name.to_string())
}

/// Decides which files may match a set of quals.
#[derive(Debug, Clone, Default)]
pub struct Pruner {
    quals: Vec<BoundQual>,
}

impl Pruner {
    /// Binds `quals` to the schema, deriving quals on generated date partitions.
    /// Quals on unknown columns or with values of another kind are dropped (kept rows
    /// are re-checked by Postgres, so dropping a qual only costs speed).
    pub fn new(schema: &DeltaSchema, quals: &[Qual]) -> Pruner {
        let mut bound = Vec::new();
        for qual in quals {
            let Some(column) = schema.column(&qual.column) else {
                continue;
            };
            bound.push(BoundQual {
                physical_name: column.physical_name.clone(),
                data_type: column.data_type.clone(),
                op: qual.op,
                value: qual.value.clone(),
                on_partition: column.is_partition,
            });
            for generated in schema
                .columns
                .iter()
                .filter(|c| c.is_partition && c.data_type == DeltaType::Date)
            {
                let derives_from_qual = generated
                    .generation_expression
                    .as_deref()
                    .and_then(date_generation_source)
                    .is_some_and(|source| source == qual.column);
                if let (true, Some((op, value))) =
                    (derives_from_qual, derive_date_qual(qual.op, &qual.value))
                {
                    bound.push(BoundQual {
                        physical_name: generated.physical_name.clone(),
                        data_type: DeltaType::Date,
                        op,
                        value,
                        on_partition: true,
                    });
                }
            }
        }
        Pruner { quals: bound }
    }

    /// Whether any qual constrains a partition column.
    pub fn has_partition_quals(&self) -> bool {
        self.quals.iter().any(|q| q.on_partition)
    }

    /// Whether a file with these partition values (physical name → value) may match.
    pub fn partition_may_match(&self, values: &HashMap<String, Option<String>>) -> bool {
        self.quals.iter().filter(|q| q.on_partition).all(|q| {
            let raw = values
                .get(&q.physical_name)
                .cloned()
                .flatten()
                .filter(|s| !s.is_empty());
            match raw {
                None => matches!(q.op, Op::IsNull),
                Some(text) => match parse_typed(&text, &q.data_type) {
                    Some(v) => single_value_may_match(q.op, &v, &q.value),
                    None => true,
                },
            }
        })
    }

    /// Whether a file with these statistics may match (quals on data columns only).
    pub fn stats_may_match(&self, stats: &FileStats) -> bool {
        self.quals.iter().filter(|q| !q.on_partition).all(|q| {
            let nulls = stats.null_count.get(&q.physical_name).copied();
            let all_null = matches!((nulls, stats.num_records), (Some(n), Some(r)) if n == r);
            match q.op {
                Op::IsNull => nulls != Some(0),
                Op::IsNotNull => !all_null,
                _ if all_null => false,
                _ => range_may_match(
                    q.op,
                    stats.min.get(&q.physical_name),
                    stats.max.get(&q.physical_name),
                    &q.value,
                ),
            }
        })
    }
}

fn derive_date_qual(op: Op, value: &Value) -> Option<(Op, Value)> {
    let to_date = |v: &Value| match v {
        Value::Timestamp(t) => Some(Value::Date(Value::timestamp_to_date(*t))),
        Value::Date(d) => Some(Value::Date(*d)),
        _ => None,
    };
    match op {
        Op::Eq => Some((Op::Eq, to_date(value)?)),
        Op::Lt => match value {
            // ts < midnight of day d excludes day d itself
            Value::Timestamp(t) if t.rem_euclid(MICROS_PER_DAY) == 0 => {
                Some((Op::Lt, to_date(value)?))
            }
            _ => Some((Op::Le, to_date(value)?)),
        },
        Op::Le => Some((Op::Le, to_date(value)?)),
        Op::Gt | Op::Ge => Some((Op::Ge, to_date(value)?)),
        Op::In => match value {
            Value::List(items) => Some((
                Op::In,
                Value::List(items.iter().map(to_date).collect::<Option<_>>()?),
            )),
            _ => None,
        },
        _ => None,
    }
}

fn single_value_may_match(op: Op, actual: &Value, wanted: &Value) -> bool {
    let cmp = actual.compare(wanted);
    match op {
        Op::Eq => cmp.is_none_or(|c| c == Ordering::Equal),
        Op::Ne => cmp.is_none_or(|c| c != Ordering::Equal),
        Op::Lt => cmp.is_none_or(|c| c == Ordering::Less),
        Op::Le => cmp.is_none_or(|c| c != Ordering::Greater),
        Op::Gt => cmp.is_none_or(|c| c == Ordering::Greater),
        Op::Ge => cmp.is_none_or(|c| c != Ordering::Less),
        Op::In => match wanted {
            Value::List(items) => items
                .iter()
                .any(|item| single_value_may_match(Op::Eq, actual, item)),
            _ => true,
        },
        Op::IsNull => false,
        Op::IsNotNull => true,
        Op::Like => match (actual, wanted) {
            (Value::Text(_), Value::Text(_)) => {
                like_prefix_of(wanted).is_none_or(|p| text_of(actual).starts_with(p))
            }
            _ => true,
        },
    }
}

fn range_may_match(op: Op, min: Option<&Value>, max: Option<&Value>, wanted: &Value) -> bool {
    // `ord(a, b)` is None when either side is unknown or incomparable: keep the file.
    let ord = |a: Option<&Value>, b: &Value| a.and_then(|a| a.compare(b));
    match op {
        Op::Eq => {
            ord(min, wanted) != Some(Ordering::Greater) && ord(max, wanted) != Some(Ordering::Less)
        }
        Op::Ne => {
            !(ord(min, wanted) == Some(Ordering::Equal)
                && ord(max, wanted) == Some(Ordering::Equal))
        }
        Op::Lt => ord(min, wanted).is_none_or(|c| c == Ordering::Less),
        Op::Le => ord(min, wanted) != Some(Ordering::Greater),
        Op::Gt => ord(max, wanted).is_none_or(|c| c == Ordering::Greater),
        Op::Ge => ord(max, wanted) != Some(Ordering::Less),
        Op::In => match wanted {
            Value::List(items) => items
                .iter()
                .any(|item| range_may_match(Op::Eq, min, max, item)),
            _ => true,
        },
        Op::Like => match like_prefix_of(wanted) {
            None => true,
            Some(prefix) => {
                let p = Value::Text(prefix.to_string());
                let below = ord(max, &p) == Some(Ordering::Less);
                let above = min.is_some_and(|m| {
                    m.compare(&p) == Some(Ordering::Greater) && !text_of(m).starts_with(prefix)
                });
                !below && !above
            }
        },
        Op::IsNull | Op::IsNotNull => true,
    }
}

fn like_prefix_of(pattern: &Value) -> Option<&str> {
    match pattern {
        Value::Text(p) => like_pattern_prefix(p),
        _ => None,
    }
}

fn text_of(v: &Value) -> &str {
    match v {
        Value::Text(s) => s,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> DeltaSchema {
        DeltaSchema::parse(
            r#"{"type":"struct","fields":[
              {"name":"id","type":"string","nullable":true,"metadata":{}},
              {"name":"amount","type":"double","nullable":true,"metadata":{}},
              {"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
              {"name":"day","type":"date","nullable":true,"metadata":{"delta.generationExpression":"CAST(ts AS DATE)"}}]}"#,
            &["day".to_string()],
        )
        .unwrap()
    }

    fn q(column: &str, op: Op, value: Value) -> Qual {
        Qual {
            column: column.into(),
            op,
            value,
        }
    }

    fn day(text: &str) -> HashMap<String, Option<String>> {
        HashMap::from([("day".to_string(), Some(text.to_string()))])
    }

    fn ts(text: &str) -> Value {
        Value::Timestamp(parse_timestamp(text).unwrap())
    }

    #[test]
    fn recognises_generation_expressions() {
        assert_eq!(
            date_generation_source("CAST(transaction_time AS DATE)").as_deref(),
            Some("transaction_time")
        );
        assert_eq!(
            date_generation_source("to_date(`ts`)").as_deref(),
            Some("ts")
        );
        assert_eq!(date_generation_source("date(ts)").as_deref(), Some("ts"));
        assert_eq!(date_generation_source("ts + 1"), None);
    }

    #[test]
    fn range_on_source_column_prunes_generated_partition() {
        let s = schema();
        let pruner = Pruner::new(
            &s,
            &[
                q("ts", Op::Ge, ts("2026-03-01T00:00:00Z")),
                q("ts", Op::Lt, ts("2026-03-02T00:00:00Z")),
            ],
        );
        assert!(pruner.partition_may_match(&day("2026-03-01")));
        assert!(!pruner.partition_may_match(&day("2026-03-02")));
        assert!(!pruner.partition_may_match(&day("2026-02-28")));
    }

    #[test]
    fn mid_day_upper_bound_keeps_that_day() {
        let pruner = Pruner::new(&schema(), &[q("ts", Op::Lt, ts("2026-03-02T12:00:00Z"))]);
        assert!(pruner.partition_may_match(&day("2026-03-02")));
        assert!(!pruner.partition_may_match(&day("2026-03-03")));
    }

    #[test]
    fn null_partition_matches_only_is_null() {
        let nulls = HashMap::from([("day".to_string(), None)]);
        assert!(!Pruner::new(&schema(), &[q("day", Op::Eq, Value::Date(1))])
            .partition_may_match(&nulls));
        assert!(Pruner::new(&schema(), &[q("day", Op::IsNull, Value::Null)])
            .partition_may_match(&nulls));
    }

    #[test]
    fn stats_skip_files_outside_the_range() {
        let s = schema();
        let stats = FileStats::parse(
            r#"{"numRecords":10,"minValues":{"id":"t0100","amount":5.0,"ts":"2026-03-01T00:00:00.000Z"},
                "maxValues":{"id":"t0199","amount":50.0,"ts":"2026-03-01T10:00:00.000Z"},
                "nullCount":{"id":0,"amount":0,"ts":0}}"#,
            &s,
        )
        .unwrap();
        let keeps = |quals: &[Qual]| Pruner::new(&s, quals).stats_may_match(&stats);
        assert!(keeps(&[q("id", Op::Eq, Value::Text("t0150".into()))]));
        assert!(!keeps(&[q("id", Op::Eq, Value::Text("t0200".into()))]));
        assert!(!keeps(&[q("amount", Op::Gt, Value::Float(50.0))]));
        assert!(keeps(&[q("amount", Op::Ge, Value::Int(50))]));
        assert!(!keeps(&[q(
            "id",
            Op::In,
            Value::List(vec![Value::Text("a".into()), Value::Text("z".into())])
        )]));
        assert!(!keeps(&[q("id", Op::IsNull, Value::Null)]));
        assert!(keeps(&[q("id", Op::Like, Value::Text("t01%".into()))]));
        assert!(!keeps(&[q("id", Op::Like, Value::Text("t02%".into()))]));
        assert!(!keeps(&[q("id", Op::Like, Value::Text("s%".into()))]));
        // max timestamp stat is rounded up to the next millisecond
        assert!(keeps(&[q("ts", Op::Gt, ts("2026-03-01T10:00:00.000500Z"))]));
    }

    #[test]
    fn missing_or_truncated_stats_keep_the_file() {
        let s = schema();
        let long = "x".repeat(40);
        let stats = FileStats::parse(
            &format!(
                r#"{{"numRecords":3,"minValues":{{"id":"a"}},"maxValues":{{"id":"{long}"}}}}"#
            ),
            &s,
        )
        .unwrap();
        let pruner = Pruner::new(
            &s,
            &[
                q("id", Op::Gt, Value::Text("y".into())),
                q("amount", Op::Lt, Value::Float(0.0)),
            ],
        );
        assert!(pruner.stats_may_match(&stats));
    }
}
