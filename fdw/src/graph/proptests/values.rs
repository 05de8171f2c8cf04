//! Bolt values decode to exactly the Postgres values they hold, or to a clear error, and
//! survive the trip both ways.

use super::same_value;
use crate::arrow::array::{Array, ArrayRef};
use crate::graph::types::{bolt_of, decode, json_to_bolt, to_bolt, to_json};
use crate::proptests::check;
use crate::types::PgType;
use crate::value::Value;
use neo4rs::{BoltDuration, BoltFloat, BoltInteger, BoltList, BoltPoint2D, BoltString, BoltType};
use proptest::prelude::*;

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
