//! Partition pruning and file skipping: decides from a file's partition values and
//! Delta statistics whether it *may* hold rows matching the pushed-down quals.
//!
//! Every check is conservative: when a value cannot be parsed or compared, the file is
//! kept. Quals on the source column of a generated date partition
//! (`CAST(ts AS DATE)`) are turned into quals on the partition column.

use crate::delta::log::schema::{DeltaColumn, DeltaSchema, DeltaType};
use crate::delta::read::generated::derive_date_quals;
pub use crate::delta::read::generated::{date_generation_source, WriterZone};
use crate::numeric::{Decimal, Numeric};
use crate::request::{like_pattern_prefix, Op, Qual};
use crate::temporal;
use crate::value::Value;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Spark truncates long string statistics; a max this long may not be an upper bound.
const MAX_TRUSTED_STRING_STAT: usize = 32;

/// A qual resolved against the Delta schema.
#[derive(Debug, Clone, PartialEq)]
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

/// The `stats` JSON with values kept as their original text, so decimals stay exact.
#[derive(Deserialize)]
struct RawStats<'a> {
    #[serde(rename = "numRecords")]
    num_records: Option<u64>,
    #[serde(rename = "minValues", borrow, default)]
    min_values: HashMap<String, &'a RawValue>,
    #[serde(rename = "maxValues", borrow, default)]
    max_values: HashMap<String, &'a RawValue>,
    #[serde(rename = "nullCount", default)]
    null_count: HashMap<String, serde_json::Value>,
}

impl FileStats {
    /// Parses the add action's `stats` JSON; unknown or nested entries are ignored.
    pub fn parse(json: &str, schema: &DeltaSchema) -> Option<FileStats> {
        let raw: RawStats = serde_json::from_str(json).ok()?;
        let mut stats = FileStats {
            num_records: raw.num_records,
            ..Default::default()
        };
        for column in &schema.columns {
            let key = column.physical_name.as_str();
            // Files written before a widening carry bounds of the narrower type.
            let trusted = !column.type_widened;
            let bound = |values: &HashMap<String, &RawValue>, is_max| {
                values
                    .get(key)
                    .and_then(|v| stat_value(v.get(), column, is_max))
            };
            if let Some(v) = bound(&raw.min_values, false).filter(|_| trusted) {
                stats.min.insert(key.to_string(), v);
            }
            if let Some(v) = bound(&raw.max_values, true).filter(|_| trusted) {
                stats.max.insert(key.to_string(), v);
            }
            if let Some(n) = raw.null_count.get(key).and_then(serde_json::Value::as_u64) {
                stats.null_count.insert(key.to_string(), n);
            }
        }
        Some(stats)
    }
}

/// One statistic from its JSON text: strings and numbers are parsed as the column's
/// type (a `float` as f32, a `decimal` exactly), so bounds are the written values.
fn stat_value(json: &str, column: &DeltaColumn, is_max: bool) -> Option<Value> {
    let text = if json.starts_with('"') {
        serde_json::from_str::<String>(json).ok()?
    } else {
        json.to_string()
    };
    match &column.data_type {
        DeltaType::String if !json.starts_with('"') => None,
        DeltaType::String if is_max && text.chars().count() >= MAX_TRUSTED_STRING_STAT => None,
        DeltaType::Timestamp | DeltaType::TimestampNtz => {
            // Statistics are written with millisecond precision: round the max up. A
            // bound is floored, never rounded: a nanosecond statistic's rows read as
            // their microsecond floor, which a rounded-up min would exclude.
            let micros = temporal::parse_timestamp_floor(&text)?;
            Some(Value::Timestamp(if is_max { micros + 999 } else { micros }))
        }
        DeltaType::Decimal(_, scale) => decimal_bound(&text, *scale, is_max),
        data_type => float_bound(parse_typed(&text, data_type)?, is_max),
    }
}

/// Relative error a decimal statistic may carry: some writers (delta-rs) pass decimal
/// statistics through f64, which keeps about 15 significant digits.
const DECIMAL_STAT_RELATIVE_SLACK: i128 = 1_000_000_000_000_000;

/// A decimal statistic widened by the rounding of a writer that stored it as a double,
/// so it stays a true bound of the exact values. delta-rs also clamps scale-0 decimal
/// statistics to the i64 range: a bound at either end of it is not trusted.
fn decimal_bound(text: &str, scale: i8, is_max: bool) -> Option<Value> {
    let unscaled = Decimal::parse(text)?.to_unscaled(scale)?;
    let clamped = scale == 0 && (unscaled == i64::MAX as i128 || unscaled == i64::MIN as i128);
    if clamped {
        return None;
    }
    let slack = unscaled.unsigned_abs() / DECIMAL_STAT_RELATIVE_SLACK as u128 + 1;
    let slack = i128::try_from(slack).ok()?;
    let bound = if is_max {
        unscaled.checked_add(slack)?
    } else {
        unscaled.checked_sub(slack)?
    };
    Some(Value::Numeric(Numeric::Finite(Decimal::from_unscaled(
        bound, scale,
    ))))
}

/// Writers leave `NaN` out of float minima and maxima; a `NaN` minimum therefore only
/// comes from a writer that counts it differently, and is not trusted as a bound.
fn float_bound(value: Value, is_max: bool) -> Option<Value> {
    (is_max || !value.is_nan()).then_some(value)
}

/// Parses a partition value or statistic of the given type.
pub fn parse_typed(text: &str, data_type: &DeltaType) -> Option<Value> {
    match data_type {
        DeltaType::String => Some(Value::Text(text.to_string())),
        DeltaType::Long | DeltaType::Integer | DeltaType::Short | DeltaType::Byte => {
            text.parse().ok().map(Value::Int)
        }
        DeltaType::Float => text.parse().ok().map(Value::Float4),
        DeltaType::Double => text.parse().ok().map(Value::Float),
        DeltaType::Decimal(..) => Numeric::parse(text)
            .filter(|n| matches!(n, Numeric::Finite(_)))
            .map(Value::Numeric),
        DeltaType::Boolean => text.parse().ok().map(Value::Bool),
        DeltaType::Date => temporal::parse_date(temporal::date_part(text)).map(Value::Date),
        DeltaType::Timestamp | DeltaType::TimestampNtz => {
            temporal::parse_timestamp_any(text).map(Value::Timestamp)
        }
        _ => None,
    }
}

/// Parses a partition value. Timestamps without an offset are in the writer's zone
/// (Spark writes them in its session time zone); for an unknown zone they are read as
/// UTC, and [`Pruner`] does not prune on them.
pub fn parse_partition_value(text: &str, data_type: &DeltaType, zone: WriterZone) -> Option<Value> {
    match (data_type, zone) {
        (DeltaType::Timestamp, WriterZone::Offset(seconds))
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
    pub fn new(schema: &DeltaSchema, quals: &[Qual], zone: WriterZone) -> Pruner {
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
                if !derives_from_qual {
                    continue;
                }
                for (op, value) in derive_date_quals(&column.data_type, zone, qual.op, &qual.value)
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
    pub fn required_values(&self) -> Vec<(&str, &DeltaType, Vec<&Value>)> {
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
                q.data_type == DeltaType::Timestamp && self.zone == WriterZone::Unknown;
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
fn nan_may_match(data_type: &DeltaType, op: Op, value: &Value) -> bool {
    let nan = match data_type {
        DeltaType::Float => Value::Float4(f32::NAN),
        DeltaType::Double => Value::Float(f64::NAN),
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
mod tests {
    use super::*;

    fn schema() -> DeltaSchema {
        DeltaSchema::parse(
            r#"{"type":"struct","fields":[
              {"name":"id","type":"string","nullable":true,"metadata":{}},
              {"name":"amount","type":"double","nullable":true,"metadata":{}},
              {"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
              {"name":"ratio","type":"float","nullable":true,"metadata":{}},
              {"name":"price","type":"decimal(38,18)","nullable":true,"metadata":{}},
              {"name":"whole","type":"decimal(38,0)","nullable":true,"metadata":{}},
              {"name":"widened","type":"double","nullable":true,"metadata":{"delta.typeChanges":[{"fromType":"float","toType":"double"}]}},
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
    fn stats_skip_files_outside_the_range() {
        let s = schema();
        let stats = FileStats::parse(
            r#"{"numRecords":10,"minValues":{"id":"t0100","amount":5.0,"ts":"2026-03-01T00:00:00.000Z"},
                "maxValues":{"id":"t0199","amount":50.0,"ts":"2026-03-01T10:00:00.000Z"},
                "nullCount":{"id":0,"amount":0,"ts":0}}"#,
            &s,
        )
        .unwrap();
        let keeps =
            |quals: &[Qual]| Pruner::new(&s, quals, WriterZone::Utc).stats_may_match(&stats);
        assert!(keeps(&[q("id", Op::Eq, Value::Text("t0150".into()))]));
        assert!(!keeps(&[q("id", Op::Eq, Value::Text("t0200".into()))]));
        assert!(!keeps(&[q("amount", Op::Lt, Value::Float(5.0))]));
        assert!(keeps(&[q("amount", Op::Le, Value::Float(5.0))]));
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
            WriterZone::Utc,
        );
        assert!(pruner.stats_may_match(&stats));
    }

    fn stats(json: &str) -> FileStats {
        FileStats::parse(json, &schema()).unwrap()
    }

    fn keeps(stats: &FileStats, qual: Qual) -> bool {
        Pruner::new(&schema(), &[qual], WriterZone::Utc).stats_may_match(stats)
    }

    #[test]
    fn float_files_are_kept_when_a_nan_would_match() {
        // min/max leave NaN out: the file may hold NaN rows, which are > every number
        let s = stats(
            r#"{"numRecords":3,"minValues":{"amount":1.0},"maxValues":{"amount":2.0},"nullCount":{"amount":0}}"#,
        );
        assert!(keeps(&s, q("amount", Op::Gt, Value::Float(100.0))));
        assert!(keeps(&s, q("amount", Op::Ge, Value::Float(f64::INFINITY))));
        assert!(keeps(&s, q("amount", Op::Eq, Value::Float(f64::NAN))));
        assert!(keeps(&s, q("amount", Op::Ne, Value::Float(1.0))));
        assert!(!keeps(&s, q("amount", Op::Lt, Value::Float(0.5))));
        assert!(!keeps(&s, q("amount", Op::Eq, Value::Float(7.0))));
        // an all-NULL column has no NaN either
        let nulls = stats(r#"{"numRecords":3,"nullCount":{"amount":3}}"#);
        assert!(!keeps(&nulls, q("amount", Op::Gt, Value::Float(100.0))));
    }

    #[test]
    fn float_statistics_are_read_as_float4() {
        // 0.1 written from a float column is 0.1f32, slightly above 0.1 as float8
        let s = stats(
            r#"{"numRecords":1,"minValues":{"ratio":0.1},"maxValues":{"ratio":0.1},"nullCount":{"ratio":0}}"#,
        );
        assert!(keeps(&s, q("ratio", Op::Eq, Value::Float4(0.1))));
        assert!(keeps(&s, q("ratio", Op::Gt, Value::Float(0.1))));
        assert!(!keeps(&s, q("ratio", Op::Lt, Value::Float(0.1))));
    }

    #[test]
    fn decimal_statistics_are_exact() {
        let s = stats(
            r#"{"numRecords":1,"minValues":{"price":12345678901234567890.123456789012345678},"maxValues":{"price":12345678901234567890.123456789012345678},"nullCount":{"price":0}}"#,
        );
        let n = |t: &str| Value::Numeric(Numeric::parse(t).unwrap());
        assert!(keeps(
            &s,
            q(
                "price",
                Op::Eq,
                n("12345678901234567890.123456789012345678")
            )
        ));
        assert!(keeps(
            &s,
            q(
                "price",
                Op::Lt,
                n("12345678901234567890.123456789012345679")
            )
        ));
        assert!(!keeps(&s, q("price", Op::Gt, n("12345678901234600000"))));
        assert!(!keeps(&s, q("price", Op::Lt, n("12345678901234500000"))));
        // delta-rs clamps scale-0 decimal statistics to i64: such bounds mean nothing
        let clamped = FileStats::parse(
            r#"{"numRecords":1,"maxValues":{"whole":9223372036854775807},"nullCount":{"whole":0}}"#,
            &schema(),
        )
        .unwrap();
        assert!(keeps(&clamped, q("whole", Op::Gt, n("1e19"))));
        // delta-rs writes decimal statistics through f64: the bound must still hold
        let rounded = stats(
            r#"{"numRecords":1,"minValues":{"price":1.2345678901234567e+19},"maxValues":{"price":1.2345678901234567e+19},"nullCount":{"price":0}}"#,
        );
        assert!(keeps(
            &rounded,
            q("price", Op::Gt, n("12345678901234567000"))
        ));
        assert!(keeps(
            &rounded,
            q(
                "price",
                Op::Eq,
                n("12345678901234567890.123456789012345678")
            )
        ));
    }

    #[test]
    fn widened_columns_keep_no_bounds() {
        let s = stats(
            r#"{"numRecords":1,"minValues":{"widened":0.1},"maxValues":{"widened":0.1},"nullCount":{"widened":0}}"#,
        );
        assert!(keeps(&s, q("widened", Op::Gt, Value::Float(0.1))));
        assert!(s.max.is_empty());
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
        let t = DeltaType::Timestamp;
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
