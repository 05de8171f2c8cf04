//! The statistics of a Delta data file: its add action's `stats` JSON (row count,
//! minimum, maximum and null count per column) parsed into the bounds pruning trusts.

use crate::numeric::{Decimal, Numeric};
use crate::parquet::prune::{parse_typed, FileStats};
use crate::parquet::schema::{LakeColumn, LakeSchema, LakeType};
use crate::temporal;
use crate::value::Value;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Spark truncates long string statistics; a max this long may not be an upper bound.
const MAX_TRUSTED_STRING_STAT: usize = 32;

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

/// Parses an add action's `stats` JSON; unknown or nested entries are ignored.
pub fn parse_stats(json: &str, schema: &LakeSchema) -> Option<FileStats> {
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

/// One statistic from its JSON text: strings and numbers are parsed as the column's
/// type (a `float` as f32, a `decimal` exactly), so bounds are the written values.
fn stat_value(json: &str, column: &LakeColumn, is_max: bool) -> Option<Value> {
    let text = if json.starts_with('"') {
        serde_json::from_str::<String>(json).ok()?
    } else {
        json.to_string()
    };
    match &column.data_type {
        LakeType::String if !json.starts_with('"') => None,
        LakeType::String if is_max && text.chars().count() >= MAX_TRUSTED_STRING_STAT => None,
        LakeType::Timestamp | LakeType::TimestampNtz => {
            // Statistics are written with millisecond precision: round the max up. A
            // bound is floored, never rounded: a nanosecond statistic's rows read as
            // their microsecond floor, which a rounded-up min would exclude.
            let micros = temporal::parse_timestamp_floor(&text)?;
            Some(Value::Timestamp(if is_max { micros + 999 } else { micros }))
        }
        LakeType::Decimal(_, scale) => decimal_bound(&text, *scale, is_max),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::log::schema::parse_schema;
    use crate::parquet::prune::tests::{q, ts};
    use crate::parquet::prune::{Pruner, WriterZone};
    use crate::request::{Op, Qual};

    fn schema() -> LakeSchema {
        parse_schema(
            r#"{"type":"struct","fields":[
              {"name":"id","type":"string","nullable":true,"metadata":{}},
              {"name":"amount","type":"double","nullable":true,"metadata":{}},
              {"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
              {"name":"ratio","type":"float","nullable":true,"metadata":{}},
              {"name":"price","type":"decimal(38,18)","nullable":true,"metadata":{}},
              {"name":"whole","type":"decimal(38,0)","nullable":true,"metadata":{}},
              {"name":"widened","type":"double","nullable":true,"metadata":{"delta.typeChanges":[{"fromType":"float","toType":"double"}]}}]}"#,
            &[],
        )
        .unwrap()
    }

    #[test]
    fn stats_skip_files_outside_the_range() {
        let s = schema();
        let stats = parse_stats(
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
        let stats = parse_stats(
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
        parse_stats(json, &schema()).unwrap()
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
        let clamped = parse_stats(
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
}
