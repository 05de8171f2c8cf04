//! Partition pruning and statistics skipping: decides from a file's partition values
//! and statistics (a Delta log's, a footer's, a page index's) whether it *may* hold rows
//! matching the pushed-down quals.
//!
//! Every check is conservative: when a value cannot be parsed or compared, the file is
//! kept. Quals on the source column of a generated date partition
//! (`CAST(ts AS DATE)`) are turned into quals on the partition column.

use crate::numeric::Numeric;
use crate::parquet::generated::derive_date_quals;
pub use crate::parquet::generated::{date_generation_source, WriterZone};
use crate::parquet::schema::{LakeSchema, LakeType};
use crate::request::{like_pattern_prefix, Op, Qual};
use crate::temporal;
use crate::value::Value;
use std::cmp::Ordering;
use std::collections::HashMap;

/// A qual resolved against the table's columns.
#[derive(Debug, Clone, PartialEq)]
struct BoundQual {
    physical_name: String,
    data_type: LakeType,
    op: Op,
    value: Value,
    on_partition: bool,
}

/// Statistics of a file (from a table's metadata) or a row group (from its footer).
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

/// Parses a partition value or statistic of the given type.
pub fn parse_typed(text: &str, data_type: &LakeType) -> Option<Value> {
    match data_type {
        LakeType::String => Some(Value::Text(text.to_string())),
        LakeType::Long | LakeType::Integer | LakeType::Short | LakeType::Byte => {
            text.parse().ok().map(Value::Int)
        }
        LakeType::Float => text.parse().ok().map(Value::Float4),
        LakeType::Double => text.parse().ok().map(Value::Float),
        LakeType::Decimal(..) => Numeric::parse(text)
            .filter(|n| matches!(n, Numeric::Finite(_)))
            .map(Value::Numeric),
        LakeType::Boolean => text.parse().ok().map(Value::Bool),
        LakeType::Date => temporal::parse_date(temporal::date_part(text)).map(Value::Date),
        LakeType::Timestamp | LakeType::TimestampNtz => {
            temporal::parse_timestamp_any(text).map(Value::Timestamp)
        }
        _ => None,
    }
}

/// Parses a partition value. Timestamps without an offset are in the writer's zone
/// (Spark writes them in its session time zone); for an unknown zone they are read as
/// UTC, and [`Pruner`] does not prune on them.
pub fn parse_partition_value(text: &str, data_type: &LakeType, zone: WriterZone) -> Option<Value> {
    match (data_type, zone) {
        (LakeType::Timestamp, WriterZone::Offset(seconds))
            if !crate::temporal::has_offset(text) =>
        {
            let local = temporal::parse_timestamp_any(text)?;
            local
                .checked_sub(seconds as i64 * 1_000_000)
                .map(Value::Timestamp)
        }
        _ => parse_typed(text, data_type),
    }
}

/// Decides which files may match a set of quals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pruner {
    quals: Vec<BoundQual>,
    zone: WriterZone,
}

impl Pruner {
    /// Binds `quals` to the schema, deriving quals on generated date partitions whose
    /// writer evaluated the generation expression in `zone`. Quals on unknown columns
    /// are dropped (kept rows are re-checked by Postgres, so dropping a qual only costs
    /// speed).
    pub fn new(schema: &LakeSchema, quals: &[Qual], zone: WriterZone) -> Pruner {
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
                .filter(|c| c.is_partition && c.data_type == LakeType::Date)
            {
                let derives_from_qual = generated
                    .generation_expression
                    .as_deref()
                    .and_then(date_generation_source)
                    .is_some_and(|source| source == qual.column);
                if !derives_from_qual {
                    continue;
                }
                for (op, value) in derive_date_quals(&column.data_type, zone, qual.op, &qual.value)
                {
                    bound.push(BoundQual {
                        physical_name: generated.physical_name.clone(),
                        data_type: LakeType::Date,
                        op,
                        value,
                        on_partition: true,
                    });
                }
            }
        }
        Pruner { quals: bound, zone }
    }

    /// Whether a qual constrains the data column `physical_name`.
    pub fn constrains(&self, physical_name: &str) -> bool {
        self.quals
            .iter()
            .any(|q| !q.on_partition && q.physical_name == physical_name)
    }

    /// Per `=` or `IN` qual on a data column: the column (physical name), its type and
    /// the values a matching row holds in it (one of them).
    pub fn required_values(&self) -> Vec<(&str, &LakeType, Vec<&Value>)> {
        self.quals
            .iter()
            .filter(|q| !q.on_partition)
            .filter_map(|q| {
                let values = match (q.op, &q.value) {
                    (Op::Eq, value) => vec![value],
                    (Op::In, Value::List(items)) => items.iter().collect(),
                    _ => return None,
                };
                Some((q.physical_name.as_str(), &q.data_type, values))
            })
            .collect()
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
            let zone_unknown =
                q.data_type == LakeType::Timestamp && self.zone == WriterZone::Unknown;
            match raw {
                None => matches!(q.op, Op::IsNull),
                Some(_) if zone_unknown => true,
                Some(text) => match parse_partition_value(&text, &q.data_type, self.zone) {
                    Some(v) => single_value_may_match(q.op, &v, &q.value),
                    None => true,
                },
            }
        })
    }

    /// Whether a file (or row group) with these statistics may match (quals on data
    /// columns only). Float minima and maxima leave `NaN` out while Postgres sorts it
    /// above every number, so a float file is also kept when a `NaN` would match.
    pub fn stats_may_match(&self, stats: &FileStats) -> bool {
        self.quals.iter().filter(|q| !q.on_partition).all(|q| {
            let nulls = stats.null_count.get(&q.physical_name).copied();
            let all_null = matches!((nulls, stats.num_records), (Some(n), Some(r)) if n == r);
            match q.op {
                Op::IsNull => nulls != Some(0),
                Op::IsNotNull => !all_null,
                _ if all_null => false,
                _ => {
                    range_may_match(
                        q.op,
                        stats.min.get(&q.physical_name),
                        stats.max.get(&q.physical_name),
                        &q.value,
                    ) || nan_may_match(&q.data_type, q.op, &q.value)
                }
            }
        })
    }
}

/// Whether a `NaN` in a column of this type would satisfy `op value`.
fn nan_may_match(data_type: &LakeType, op: Op, value: &Value) -> bool {
    let nan = match data_type {
        LakeType::Float => Value::Float4(f32::NAN),
        LakeType::Double => Value::Float(f64::NAN),
        _ => return false,
    };
    single_value_may_match(op, &nan, value)
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
pub(crate) mod tests {
    use super::*;
    use crate::parquet::schema::LakeColumn;

    fn column(name: &str, data_type: LakeType) -> LakeColumn {
        LakeColumn {
            name: name.into(),
            physical_name: name.into(),
            data_type,
            nullable: true,
            generation_expression: None,
            type_widened: false,
            is_partition: false,
        }
    }

    fn schema() -> LakeSchema {
        let day = LakeColumn {
            generation_expression: Some("CAST(ts AS DATE)".into()),
            is_partition: true,
            ..column("day", LakeType::Date)
        };
        LakeSchema {
            columns: vec![
                column("id", LakeType::String),
                column("amount", LakeType::Double),
                column("ts", LakeType::Timestamp),
                day,
            ],
        }
    }

    pub(crate) fn q(column: &str, op: Op, value: Value) -> Qual {
        Qual::new(column, op, value)
    }

    fn day(text: &str) -> HashMap<String, Option<String>> {
        HashMap::from([("day".to_string(), Some(text.to_string()))])
    }

    pub(crate) fn ts(text: &str) -> Value {
        Value::Timestamp(temporal::parse_timestamp_any(text).unwrap())
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
            WriterZone::Utc,
        );
        assert!(pruner.partition_may_match(&day("2026-03-01")));
        assert!(!pruner.partition_may_match(&day("2026-03-02")));
        assert!(!pruner.partition_may_match(&day("2026-02-28")));
    }

    #[test]
    fn mid_day_upper_bound_keeps_that_day() {
        let pruner = Pruner::new(
            &schema(),
            &[q("ts", Op::Lt, ts("2026-03-02T12:00:00Z"))],
            WriterZone::Utc,
        );
        assert!(pruner.partition_may_match(&day("2026-03-02")));
        assert!(!pruner.partition_may_match(&day("2026-03-03")));
    }

    #[test]
    fn null_partition_matches_only_is_null() {
        let nulls = HashMap::from([("day".to_string(), None)]);
        assert!(!Pruner::new(
            &schema(),
            &[q("day", Op::Eq, Value::Date(1))],
            WriterZone::Utc
        )
        .partition_may_match(&nulls));
        assert!(Pruner::new(
            &schema(),
            &[q("day", Op::IsNull, Value::Null)],
            WriterZone::Utc
        )
        .partition_may_match(&nulls));
    }

    #[test]
    fn generated_days_follow_the_writer_zone() {
        // written in UTC+09:00, 2026-03-01T20:00Z was filed under 2026-03-02
        let filed = day("2026-03-02");
        let at = |zone| {
            Pruner::new(
                &schema(),
                &[q("ts", Op::Eq, ts("2026-03-01T20:00:00Z"))],
                zone,
            )
            .partition_may_match(&filed)
        };
        assert!(!at(WriterZone::Utc));
        assert!(at(WriterZone::Offset(9 * 3600)));
        assert!(at(WriterZone::Unknown));
        let range = Pruner::new(
            &schema(),
            &[q("ts", Op::Lt, ts("2026-03-01T00:00:00Z"))],
            WriterZone::Unknown,
        );
        assert!(range.partition_may_match(&day("2026-03-01")));
        assert!(!range.partition_may_match(&day("2026-03-02")));
        let listed = Pruner::new(
            &schema(),
            &[q(
                "ts",
                Op::In,
                Value::List(vec![ts("2026-03-05T12:00:00Z")]),
            )],
            WriterZone::Unknown,
        );
        assert!(listed.partition_may_match(&day("2026-03-04")));
        assert!(listed.partition_may_match(&day("2026-03-06")));
        assert!(!listed.partition_may_match(&day("2026-03-07")));
    }

    #[test]
    fn timestamp_partition_values_are_in_the_writer_zone() {
        let t = LakeType::Timestamp;
        let tokyo = WriterZone::Offset(9 * 3600);
        assert_eq!(
            parse_partition_value("2026-03-02 09:00:00", &t, tokyo),
            Some(ts("2026-03-02T00:00:00Z"))
        );
        assert_eq!(
            parse_partition_value("2026-03-02T09:00:00Z", &t, tokyo),
            Some(ts("2026-03-02T09:00:00Z"))
        );
    }

    #[test]
    fn writer_zones_parse() {
        assert_eq!(WriterZone::parse("UTC"), Some(WriterZone::Utc));
        assert_eq!(WriterZone::parse("+09:00"), Some(WriterZone::Offset(32400)));
        assert_eq!(
            WriterZone::parse("-05:30"),
            Some(WriterZone::Offset(-19800))
        );
        assert_eq!(WriterZone::parse("unknown"), Some(WriterZone::Unknown));
        assert_eq!(WriterZone::parse("Europe/Berlin"), None);
        assert_eq!(WriterZone::parse("+25:00"), None);
    }
}
