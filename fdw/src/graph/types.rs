//! The one type table of the graph adapter: which Bolt values each Postgres column type
//! accepts, the Arrow type they travel in, and how query values become parameters.
//!
//! | Postgres | Bolt values read |
//! |---|---|
//! | boolean | Boolean |
//! | smallint, integer, bigint | Integer (range-checked) |
//! | real, double precision | Float, Integer (only when exact) |
//! | text, varchar | String |
//! | date | Date |
//! | timestamp | LocalDateTime |
//! | timestamptz | DateTime (offset or zone id); LocalDateTime as UTC (ArcadeDB) |
//! | bytea | Bytes |
//! | interval | Duration (read as its months, days, seconds and nanoseconds) |
//! | text[], bigint[], integer[], double precision[], boolean[] | List of those |
//! | jsonb | any value: maps, lists, nodes, relationships and paths as JSON |
//!
//! Times of day and points have no column type yet (a clear error). As JSON, durations
//! are ISO 8601 text and points `{srid, x, y[, z]}`; times of day are refused rather
//! than approximated.

use super::error::{GraphError, Result};
use crate::types::PgType;
use crate::value::Value;
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, IntervalMonthDayNanoBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, TimeUnit,
    TimestampMicrosecondType,
};
use neo4rs::{BoltList, BoltMap, BoltType};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// Largest integer every float8 holds exactly.
const EXACT_F64_INT: i64 = 1 << 53;
/// Largest integer every float4 holds exactly.
const EXACT_F32_INT: i64 = 1 << 24;

/// The Arrow type values of `pg` travel in; `None` for types without a mapping.
pub fn arrow_type(pg: &PgType) -> Option<DataType> {
    match pg {
        PgType::Array(element) => match **element {
            PgType::Text
            | PgType::Varchar
            | PgType::Int8
            | PgType::Int4
            | PgType::Float8
            | PgType::Bool => Some(DataType::List(Arc::new(Field::new(
                "item",
                element.text_source_arrow_type()?,
                true,
            )))),
            _ => None,
        },
        scalar => scalar.text_source_arrow_type(),
    }
}

fn kind(value: &BoltType) -> &'static str {
    match value {
        BoltType::String(_) => "string",
        BoltType::Boolean(_) => "boolean",
        BoltType::Map(_) => "map",
        BoltType::Null(_) => "null",
        BoltType::Integer(_) => "integer",
        BoltType::Float(_) => "float",
        BoltType::List(_) => "list",
        BoltType::Node(_) => "node",
        BoltType::Relation(_) | BoltType::UnboundedRelation(_) => "relationship",
        BoltType::Point2D(_) | BoltType::Point3D(_) => "point",
        BoltType::Bytes(_) => "bytes",
        BoltType::Path(_) => "path",
        BoltType::Duration(_) => "duration",
        BoltType::Date(_) => "date",
        BoltType::Time(_) | BoltType::LocalTime(_) => "time",
        BoltType::DateTime(_) | BoltType::DateTimeZoneId(_) => "datetime",
        BoltType::LocalDateTime(_) => "localdatetime",
    }
}

/// Decodes one column of values read for column `column` of type `pg`.
pub fn decode(pg: &PgType, column: &str, values: &[BoltType]) -> Result<ArrayRef> {
    let wrong = |v: &BoltType| GraphError::BadValue {
        column: column.to_string(),
        reason: format!("a {} value cannot be read as {}", kind(v), pg.sql()),
    };
    let out_of_range = |v: &dyn std::fmt::Display| GraphError::BadValue {
        column: column.to_string(),
        reason: format!("{v} is out of range for {}", pg.sql()),
    };
    macro_rules! build {
        ($builder:expr, $convert:expr) => {{
            let mut b = $builder;
            for v in values {
                match v {
                    BoltType::Null(_) => b.append_null(),
                    v => b.append_value($convert(v)?),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let integer = |v: &BoltType| match v {
        BoltType::Integer(i) => Ok(i.value),
        v => Err(wrong(v)),
    };
    Ok(match pg {
        PgType::Bool => build!(BooleanBuilder::new(), |v: &BoltType| match v {
            BoltType::Boolean(b) => Ok(b.value),
            v => Err(wrong(v)),
        }),
        PgType::Int2 => build!(Int16Builder::new(), |v: &BoltType| {
            let i = integer(v)?;
            i16::try_from(i).map_err(|_| out_of_range(&i))
        }),
        PgType::Int4 => build!(Int32Builder::new(), |v: &BoltType| {
            let i = integer(v)?;
            i32::try_from(i).map_err(|_| out_of_range(&i))
        }),
        PgType::Int8 => build!(Int64Builder::new(), integer),
        PgType::Float8 => build!(Float64Builder::new(), |v: &BoltType| match v {
            BoltType::Float(f) => Ok(f.value),
            BoltType::Integer(i) if i.value.unsigned_abs() <= EXACT_F64_INT as u64 =>
                Ok(i.value as f64),
            v => Err(wrong(v)),
        }),
        PgType::Float4 => build!(Float32Builder::new(), |v: &BoltType| match v {
            BoltType::Float(f) if (f.value as f32) as f64 == f.value || f.value.is_nan() => {
                Ok(f.value as f32)
            }
            BoltType::Float(f) => Err(out_of_range(&f.value)),
            BoltType::Integer(i) if i.value.unsigned_abs() <= EXACT_F32_INT as u64 =>
                Ok(i.value as f32),
            v => Err(wrong(v)),
        }),
        PgType::Text | PgType::Varchar => build!(StringBuilder::new(), |v: &BoltType| match v {
            BoltType::String(s) if !s.value.contains('\0') => Ok(s.value.clone()),
            v => Err(wrong(v)),
        }),
        PgType::Jsonb => build!(StringBuilder::new(), |v: &BoltType| to_json(v)
            .map(|j| j.to_string())
            .map_err(|reason| GraphError::BadValue {
                column: column.to_string(),
                reason,
            })),
        PgType::Date => build!(Date32Builder::new(), |v: &BoltType| match v {
            BoltType::Date(d) => chrono::NaiveDate::try_from(d)
                .map(|d| (d - chrono::NaiveDate::default()).num_days() as i32)
                .map_err(|e| out_of_range(&e)),
            v => Err(wrong(v)),
        }),
        PgType::Timestamp => build!(TimestampMicrosecondBuilder::new(), |v: &BoltType| match v {
            BoltType::LocalDateTime(t) => chrono::NaiveDateTime::try_from(t)
                .map(|t| t.and_utc().timestamp_micros())
                .map_err(|e| out_of_range(&e)),
            v => Err(wrong(v)),
        }),
        PgType::TimestampTz => build!(
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            |v: &BoltType| zoned_micros(v).ok_or_else(|| wrong(v))
        ),
        PgType::Bytea => build!(BinaryBuilder::new(), |v: &BoltType| match v {
            BoltType::Bytes(b) => Ok(b.value.to_vec()),
            v => Err(wrong(v)),
        }),
        PgType::Array(element) => {
            let mut lists: Vec<Option<Vec<BoltType>>> = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    BoltType::Null(_) => lists.push(None),
                    BoltType::List(l) => lists.push(Some(l.value.clone())),
                    v => return Err(wrong(v)),
                }
            }
            let flat: Vec<BoltType> = lists.iter().flatten().flatten().cloned().collect();
            let child = decode(element, column, &flat)?;
            let mut offsets = vec![0i32];
            let mut valid = Vec::with_capacity(lists.len());
            for list in &lists {
                let len = list.as_ref().map_or(0, Vec::len) as i32;
                offsets.push(offsets.last().copied().unwrap_or(0) + len);
                valid.push(list.is_some());
            }
            let field = Arc::new(Field::new("item", child.data_type().clone(), true));
            Arc::new(deltalake::arrow::array::ListArray::new(
                field,
                deltalake::arrow::buffer::OffsetBuffer::new(offsets.into()),
                child,
                Some(valid.into()),
            ))
        }
        PgType::Interval => build!(IntervalMonthDayNanoBuilder::new(), |v: &BoltType| match v {
            BoltType::List(l) =>
                duration_of_components(&l.value).ok_or_else(|| out_of_range(&"duration")),
            v => Err(wrong(v)),
        }),
        PgType::Numeric => {
            return Err(GraphError::UnsupportedType {
                column: column.to_string(),
                pg_type: pg.sql(),
            })
        }
    })
}

/// Microseconds since the epoch of a datetime with an offset or zone. A local datetime
/// counts as UTC: ArcadeDB stores datetime parameters without their offset, converted
/// to UTC (the services run it with `user.timezone=UTC`); Neo4j keeps the offset.
fn zoned_micros(v: &BoltType) -> Option<i64> {
    let time = match v {
        BoltType::DateTime(t) => chrono::DateTime::<chrono::FixedOffset>::try_from(t).ok()?,
        BoltType::DateTimeZoneId(t) => chrono::DateTime::<chrono::FixedOffset>::try_from(t).ok()?,
        BoltType::LocalDateTime(t) => {
            return Some(
                chrono::NaiveDateTime::try_from(t)
                    .ok()?
                    .and_utc()
                    .timestamp_micros(),
            )
        }
        _ => return None,
    };
    Some(time.timestamp_micros())
}

/// A Bolt value as JSON: maps and lists as such, temporals as ISO 8601 text, nodes as
/// `{"_id", "_labels", ...properties}`, relationships as `{"_id", "_type", "_start",
/// "_end", ...properties}`, paths as `{"nodes": [...], "relationships": [...]}`.
pub fn to_json(v: &BoltType) -> std::result::Result<Json, String> {
    Ok(match v {
        BoltType::Null(_) => Json::Null,
        BoltType::Boolean(b) => Json::Bool(b.value),
        BoltType::Integer(i) => Json::from(i.value),
        BoltType::Float(f) => serde_json::Number::from_f64(f.value)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(f.value.to_string())),
        BoltType::String(s) => Json::String(s.value.clone()),
        BoltType::List(l) => Json::Array(list_json(l)?),
        BoltType::Map(m) => Json::Object(map_json(m)?),
        BoltType::Bytes(b) => Json::Array(b.value.iter().map(|x| Json::from(*x)).collect()),
        BoltType::Date(d) => Json::String(
            chrono::NaiveDate::try_from(d)
                .map_err(|e| e.to_string())?
                .to_string(),
        ),
        BoltType::LocalDateTime(t) => Json::String(
            chrono::NaiveDateTime::try_from(t)
                .map_err(|e| e.to_string())?
                .format("%Y-%m-%dT%H:%M:%S%.f")
                .to_string(),
        ),
        BoltType::DateTime(_) | BoltType::DateTimeZoneId(_) => {
            let micros = zoned_micros(v).ok_or("a datetime out of range")?;
            let t =
                chrono::DateTime::from_timestamp_micros(micros).ok_or("a datetime out of range")?;
            Json::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
        BoltType::Node(n) => {
            let mut object = map_json(&n.properties)?;
            object.insert("_id".into(), Json::from(n.id.value));
            object.insert("_labels".into(), Json::Array(list_json(&n.labels)?));
            Json::Object(object)
        }
        BoltType::Relation(r) => {
            let mut object = map_json(&r.properties)?;
            object.insert("_id".into(), Json::from(r.id.value));
            object.insert("_type".into(), Json::String(r.typ.value.clone()));
            object.insert("_start".into(), Json::from(r.start_node_id.value));
            object.insert("_end".into(), Json::from(r.end_node_id.value));
            Json::Object(object)
        }
        BoltType::UnboundedRelation(r) => {
            let mut object = map_json(&r.properties)?;
            object.insert("_id".into(), Json::from(r.id.value));
            object.insert("_type".into(), Json::String(r.typ.value.clone()));
            Json::Object(object)
        }
        BoltType::Path(p) => {
            let mut object = Map::new();
            object.insert("nodes".into(), Json::Array(list_json(&p.nodes)?));
            object.insert("relationships".into(), Json::Array(list_json(&p.rels)?));
            Json::Object(object)
        }
        BoltType::Duration(_) => Json::String(iso_duration(v)?),
        BoltType::Point2D(p) => point_json(p.sr_id.value, &[p.x.value, p.y.value]),
        BoltType::Point3D(p) => point_json(p.sr_id.value, &[p.x.value, p.y.value, p.z.value]),
        other => return Err(format!("{} values have no JSON form yet", kind(other))),
    })
}

/// A duration as ISO 8601 text, `P<months>M<days>DT<seconds>S`, the seconds exact to
/// the nanosecond (neo4rs keeps the components private but lends them to serde).
fn iso_duration(v: &BoltType) -> std::result::Result<String, String> {
    use serde::de::{Deserialize, IntoDeserializer};
    let (months, days, seconds, nanos) = <(i64, i64, i64, i64)>::deserialize(v.into_deserializer())
        .map_err(|e| format!("a duration: {e}"))?;
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let (whole, fraction) = (total.abs() / 1_000_000_000, total.abs() % 1_000_000_000);
    let sign = if total < 0 { "-" } else { "" };
    let fraction = if fraction == 0 {
        String::new()
    } else {
        format!(".{fraction:09}").trim_end_matches('0').to_string()
    };
    Ok(format!("P{months}M{days}DT{sign}{whole}{fraction}S"))
}

/// A point as `{"srid": ..., "x": ..., "y": ...[, "z": ...]}`.
fn point_json(srid: i64, coordinates: &[f64]) -> Json {
    let mut object = Map::new();
    object.insert("srid".into(), Json::from(srid));
    for (name, value) in ["x", "y", "z"].iter().zip(coordinates) {
        let number = serde_json::Number::from_f64(*value)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(value.to_string()));
        object.insert((*name).into(), number);
    }
    Json::Object(object)
}

fn list_json(l: &BoltList) -> std::result::Result<Vec<Json>, String> {
    l.value.iter().map(to_json).collect()
}

fn map_json(m: &BoltMap) -> std::result::Result<Map<String, Json>, String> {
    let mut object = Map::new();
    for (k, v) in &m.value {
        object.insert(k.value.clone(), to_json(v)?);
    }
    Ok(object)
}

/// The Cypher expression returning the duration `expr` as
/// `[months, days, seconds, nanosecondsOfSecond]` (NULL stays NULL).
pub fn duration_components(expr: &str) -> String {
    format!(
        "CASE WHEN {expr} IS NULL THEN NULL ELSE [{expr}.months, {expr}.days, {expr}.seconds, {expr}.nanosecondsOfSecond] END"
    )
}

/// A duration from its four components, as Arrow's month-day-nanosecond interval.
fn duration_of_components(parts: &[BoltType]) -> Option<IntervalMonthDayNano> {
    let [BoltType::Integer(months), BoltType::Integer(days), BoltType::Integer(seconds), BoltType::Integer(nanos)] =
        parts
    else {
        return None;
    };
    Some(IntervalMonthDayNano {
        months: i32::try_from(months.value).ok()?,
        days: i32::try_from(days.value).ok()?,
        nanoseconds: seconds
            .value
            .checked_mul(1_000_000_000)?
            .checked_add(nanos.value)?,
    })
}

/// A query value as a Bolt parameter for a column of type `pg`; `None` when it has no
/// exact Bolt form (the qual is then not pushed).
pub fn to_bolt(value: &Value, pg: &PgType) -> Option<BoltType> {
    Some(match value {
        Value::Null => BoltType::Null(neo4rs::BoltNull),
        Value::Bool(b) => BoltType::from(*b),
        Value::Int(i) => BoltType::from(*i),
        Value::Float4(f) => BoltType::from(*f as f64),
        Value::Float(f) => BoltType::from(*f),
        Value::Text(s) => BoltType::from(s.as_str()),
        Value::Date(days) => BoltType::from(
            chrono::NaiveDate::default()
                .checked_add_signed(chrono::Duration::days(*days as i64))?,
        ),
        Value::Timestamp(micros) => {
            let t = chrono::DateTime::from_timestamp_micros(*micros)?;
            match pg {
                PgType::Timestamp => BoltType::from(t.naive_utc()),
                _ => BoltType::from(t.fixed_offset()),
            }
        }
        Value::List(items) => {
            let element = match pg {
                PgType::Array(e) => e.as_ref().clone(),
                other => other.clone(),
            };
            BoltType::List(BoltList::from(
                items
                    .iter()
                    .map(|i| to_bolt(i, &element))
                    .collect::<Option<Vec<_>>>()?,
            ))
        }
        Value::Numeric(_) => return None,
    })
}

/// Row `row` of a written column (an array of the type [`arrow_type`] gives for `pg`)
/// as a Bolt value; `Null` for NULL. jsonb values become lists and maps.
pub fn bolt_of(array: &ArrayRef, row: usize, pg: &PgType) -> Result<BoltType> {
    if array.is_null(row) {
        return Ok(BoltType::Null(neo4rs::BoltNull));
    }
    Ok(match array.data_type() {
        DataType::Boolean => BoltType::from(array.as_boolean().value(row)),
        DataType::Int16 => BoltType::from(array.as_primitive::<Int16Type>().value(row) as i64),
        DataType::Int32 => BoltType::from(array.as_primitive::<Int32Type>().value(row) as i64),
        DataType::Int64 => BoltType::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => BoltType::from(array.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float64 => BoltType::from(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 if *pg == PgType::Jsonb => {
            let text = array.as_string::<i32>().value(row);
            let json: Json = serde_json::from_str(text)
                .map_err(|e| GraphError::Unsupported(format!("jsonb value: {e}")))?;
            json_to_bolt(&json)
                .map_err(|reason| GraphError::Unsupported(format!("jsonb value: {reason}")))?
        }
        DataType::Utf8 => BoltType::from(array.as_string::<i32>().value(row)),
        DataType::Binary => BoltType::Bytes(neo4rs::BoltBytes::new(
            array.as_binary::<i32>().value(row).to_vec().into(),
        )),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            to_bolt(&Value::Date(days), pg).ok_or_else(|| out_of_range("date"))?
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            to_bolt(&Value::Timestamp(micros), pg).ok_or_else(|| out_of_range("timestamp"))?
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            let seconds = v.nanoseconds.div_euclid(1_000_000_000);
            let nanos = v.nanoseconds.rem_euclid(1_000_000_000);
            BoltType::Duration(neo4rs::BoltDuration::new(
                (v.months as i64).into(),
                (v.days as i64).into(),
                seconds.into(),
                nanos.into(),
            ))
        }
        DataType::List(_) => {
            let element = match pg {
                PgType::Array(e) => e.as_ref().clone(),
                other => other.clone(),
            };
            let items = array.as_list::<i32>().value(row);
            BoltType::List(BoltList::from(
                (0..items.len())
                    .map(|i| bolt_of(&items, i, &element))
                    .collect::<Result<Vec<_>>>()?,
            ))
        }
        other => {
            return Err(GraphError::Unsupported(format!(
                "writing Arrow type {other} to the graph"
            )))
        }
    })
}

fn out_of_range(what: &str) -> GraphError {
    GraphError::Unsupported(format!("a {what} out of the graph's range"))
}

/// A JSON value as a Bolt value. Integers stay integers, other numbers are floats. An
/// integer between 2^63 and 2^64 is an error rather than a float that loses digits;
/// past 2^64 jsonb's text no longer tells an integer from a float (`1e20` prints as
/// 100000000000000000000), so such numbers are floats.
pub fn json_to_bolt(value: &Json) -> std::result::Result<BoltType, String> {
    Ok(match value {
        Json::Null => BoltType::Null(neo4rs::BoltNull),
        Json::Bool(b) => BoltType::from(*b),
        Json::Number(n) => match (n.as_i64(), n.is_u64(), n.as_f64()) {
            (Some(i), _, _) => BoltType::from(i),
            // (serde reads an integer below 2^63 in magnitude as one, so a whole float
            // there was written with a fraction, `1.0`; one from 2^63 to 2^64 is an
            // integer jsonb printed)
            (None, false, Some(f))
                if f.fract() != 0.0
                    || f.abs() < 9.223_372_036_854_776e18
                    || f.abs() >= 1.844_674_407_370_955_2e19 =>
            {
                BoltType::from(f)
            }
            _ => return Err(format!("{n} is an integer beyond the graph's 64-bit range")),
        },
        Json::String(s) => BoltType::from(s.as_str()),
        Json::Array(items) => BoltType::List(BoltList::from(
            items
                .iter()
                .map(json_to_bolt)
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )),
        Json::Object(map) => BoltType::Map(
            map.iter()
                .map(|(k, v)| Ok((neo4rs::BoltString::from(k.as_str()), json_to_bolt(v)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_keep_their_kind_and_digits() {
        let bolt = |text: &str| json_to_bolt(&serde_json::from_str(text).unwrap());
        assert_eq!(
            bolt("9223372036854775807").unwrap(),
            BoltType::from(i64::MAX)
        );
        assert_eq!(bolt("1.0").unwrap(), BoltType::from(1.0f64));
        assert!(bolt("-9223372036854775809").is_err());
        assert_eq!(bolt("-0.0").unwrap(), BoltType::from(-0.0f64));
        assert_eq!(bolt("1.5").unwrap(), BoltType::from(1.5f64));
        assert!(bolt("9223372036854775808").is_err());
        assert!(bolt("18446744073709551615").is_err());
        assert!(bolt("[1, {\"a\": 18446744073709551615}]").is_err());
        assert_eq!(bolt("-1e308").unwrap(), BoltType::from(-1e308f64));
    }

    #[test]
    fn values_decode_exactly_or_fail() {
        let ints = [BoltType::from(5i64), BoltType::Null(neo4rs::BoltNull)];
        let a = decode(&PgType::Int4, "c", &ints).unwrap();
        assert_eq!(a.len(), 2);
        assert!(decode(&PgType::Int2, "c", &[BoltType::from(70_000i64)]).is_err());
        assert!(decode(&PgType::Int8, "c", &[BoltType::from("5")]).is_err());
        assert!(decode(&PgType::Float4, "c", &[BoltType::from(0.1f64)]).is_err());
        assert!(decode(&PgType::Float4, "c", &[BoltType::from(0.5f64)]).is_ok());
        let list = BoltType::List(BoltList::from(vec![
            BoltType::from("a"),
            BoltType::from("b"),
        ]));
        let arr = decode(&PgType::Array(Box::new(PgType::Text)), "c", &[list]).unwrap();
        assert_eq!(arr.len(), 1);
    }

    #[test]
    fn parameters_follow_the_column_type() {
        let ts = Value::Timestamp(1_700_000_000_000_000);
        assert!(matches!(
            to_bolt(&ts, &PgType::TimestampTz),
            Some(BoltType::DateTime(_))
        ));
        assert!(matches!(
            to_bolt(&ts, &PgType::Timestamp),
            Some(BoltType::LocalDateTime(_))
        ));
        assert!(matches!(
            to_bolt(&Value::Date(0), &PgType::Date),
            Some(BoltType::Date(_))
        ));
    }
}
