//! The one type table of the Redis adapter: how each Postgres column type is stored in
//! a Redis string (a hash field or a string value), and the Arrow type its values travel
//! in between the adapter and the FDW core, in both directions.
//!
//! | Postgres | stored as |
//! |---|---|
//! | boolean | `true` / `false` (read: also `t`, `f`, `1`, `0`, `yes`, `no`, `on`, `off`) |
//! | smallint, integer, bigint | decimal digits |
//! | real, double precision | shortest round-trip decimal; `NaN`, `Infinity`, `-Infinity` (read: also `inf`, `nan`) |
//! | text, varchar | UTF-8 bytes (invalid UTF-8 or NUL is an error) |
//! | date | `YYYY-MM-DD` |
//! | timestamp | `YYYY-MM-DDTHH:MM:SS.ffffff` |
//! | timestamptz | RFC 3339, written in UTC with `Z` |
//! | jsonb | JSON text |
//! | bytea | the bytes |
//! | text[], varchar[] | a JSON array of strings and nulls |

use super::error::{RedisError, Result};
use crate::types::PgType;
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    TimeUnit, TimestampMicrosecondType,
};
use std::sync::Arc;

/// The Arrow type values of `pg` travel in; `None` for types Redis tables cannot hold.
pub fn arrow_type(pg: &PgType) -> Option<DataType> {
    match pg {
        PgType::Array(element) if matches!(**element, PgType::Text | PgType::Varchar) => Some(
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        ),
        // no stored form is defined for intervals: refused when the table is created
        PgType::Interval => None,
        scalar => scalar.text_source_arrow_type(),
    }
}

/// Where a stored value came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// the key
    pub key: &'a str,
    /// the hash field, or a description such as `value`
    pub field: &'a str,
}

/// Decodes one column of stored values (`None`: absent, read as NULL).
pub fn decode(pg: &PgType, values: &[(Option<&[u8]>, Origin<'_>)]) -> Result<ArrayRef> {
    macro_rules! build {
        ($builder:expr, $parse:expr) => {{
            let mut b = $builder;
            for (raw, origin) in values {
                match raw {
                    None => b.append_null(),
                    Some(bytes) => b.append_value($parse(*bytes, *origin)?),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match pg {
        PgType::Bool => build!(BooleanBuilder::new(), parse_bool),
        PgType::Int2 => build!(Int16Builder::new(), |b, o| parse_number::<i16>(
            b, o, "smallint"
        )),
        PgType::Int4 => build!(Int32Builder::new(), |b, o| parse_number::<i32>(
            b, o, "integer"
        )),
        PgType::Int8 => build!(Int64Builder::new(), |b, o| parse_number::<i64>(
            b, o, "bigint"
        )),
        PgType::Float4 => build!(Float32Builder::new(), |b, o| parse_float::<f32>(
            b, o, "real"
        )),
        PgType::Float8 => build!(Float64Builder::new(), |b, o| parse_float::<f64>(
            b,
            o,
            "double precision"
        )),
        PgType::Text | PgType::Varchar => build!(StringBuilder::new(), text),
        PgType::Jsonb => build!(StringBuilder::new(), json),
        PgType::Date => build!(Date32Builder::new(), parse_date),
        PgType::Timestamp => build!(TimestampMicrosecondBuilder::new(), parse_timestamp),
        PgType::TimestampTz => build!(
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            parse_timestamptz
        ),
        PgType::Bytea => build!(BinaryBuilder::new(), |b: &[u8], _| Ok::<_, RedisError>(
            b.to_vec()
        )),
        PgType::Array(element) if matches!(**element, PgType::Text | PgType::Varchar) => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for (raw, origin) in values {
                match raw {
                    None => b.append_null(),
                    Some(bytes) => {
                        for item in parse_text_list(bytes, *origin)? {
                            b.values().append_option(item);
                        }
                        b.append(true);
                    }
                }
            }
            Arc::new(b.finish())
        }
        other => {
            return Err(RedisError::UnsupportedType {
                column: values
                    .first()
                    .map(|(_, o)| o.field.to_string())
                    .unwrap_or_default(),
                pg_type: other.sql(),
            })
        }
    })
}

fn bad(origin: Origin<'_>, reason: String) -> RedisError {
    RedisError::BadValue {
        key: origin.key.to_string(),
        field: origin.field.to_string(),
        reason,
    }
}

/// Valid UTF-8 without NUL (Postgres text cannot hold NUL).
fn text(bytes: &[u8], origin: Origin<'_>) -> Result<String> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.contains('\0') => Ok(s.to_string()),
        _ => Err(RedisError::InvalidText {
            key: origin.key.to_string(),
            field: origin.field.to_string(),
        }),
    }
}

fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

fn parse_bool(bytes: &[u8], origin: Origin<'_>) -> Result<bool> {
    let lower = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    match lower.as_str() {
        "t" | "true" | "1" | "y" | "yes" | "on" => Ok(true),
        "f" | "false" | "0" | "n" | "no" | "off" => Ok(false),
        _ => Err(bad(
            origin,
            format!("\"{}\" is not a boolean", shown(bytes)),
        )),
    }
}

fn parse_number<T: std::str::FromStr>(bytes: &[u8], origin: Origin<'_>, name: &str) -> Result<T> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|s| !s.starts_with('+') && s.trim() == *s)
        .and_then(|s| s.parse::<T>().ok())
        .ok_or_else(|| {
            bad(
                origin,
                format!("\"{}\" is not a valid {name}", shown(bytes)),
            )
        })
}

/// A float, refusing a finite spelling beyond the type's range (`1e400` is out of range
/// for double precision, as in Postgres, not Infinity).
fn parse_float<T: std::str::FromStr + Into<f64> + Copy>(
    bytes: &[u8],
    origin: Origin<'_>,
    name: &str,
) -> Result<T> {
    let value: T = parse_number(bytes, origin, name)?;
    let spelled_infinite = String::from_utf8_lossy(bytes)
        .to_ascii_lowercase()
        .contains("inf");
    // as Postgres's float4in/float8in: a finite spelling that overflows to infinity or
    // underflows to zero is out of range (a subnormal result is kept)
    let spelled_zero = !bytes
        .iter()
        .take_while(|b| !matches!(b, b'e' | b'E'))
        .any(|b| (b'1'..=b'9').contains(b));
    let result: f64 = value.into();
    if (result.is_infinite() && !spelled_infinite) || (result == 0.0 && !spelled_zero) {
        return Err(bad(
            origin,
            format!("\"{}\" is out of range for type {name}", shown(bytes)),
        ));
    }
    Ok(value)
}

fn json(bytes: &[u8], origin: Origin<'_>) -> Result<String> {
    let s = text(bytes, origin)?;
    serde_json::from_str::<serde::de::IgnoredAny>(&s)
        .map_err(|e| bad(origin, format!("not valid JSON: {e}")))?;
    Ok(s)
}

fn parse_date(bytes: &[u8], origin: Origin<'_>) -> Result<i32> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(crate::temporal::parse_date)
        .ok_or_else(|| {
            bad(
                origin,
                format!("\"{}\" is not a date (YYYY-MM-DD)", shown(bytes)),
            )
        })
}

fn parse_timestamp(bytes: &[u8], origin: Origin<'_>) -> Result<i64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(crate::temporal::parse_timestamp)
        .ok_or_else(|| bad(origin, format!("\"{}\" is not a timestamp", shown(bytes))))
}

fn parse_timestamptz(bytes: &[u8], origin: Origin<'_>) -> Result<i64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(crate::temporal::parse_timestamptz)
        .ok_or_else(|| {
            bad(
                origin,
                format!(
                    "\"{}\" is not an RFC 3339 timestamp with offset",
                    shown(bytes)
                ),
            )
        })
}

fn parse_text_list(bytes: &[u8], origin: Origin<'_>) -> Result<Vec<Option<String>>> {
    let s = text(bytes, origin)?;
    let items: Vec<Option<String>> = serde_json::from_str(&s).map_err(|_| {
        bad(
            origin,
            format!("\"{}\" is not a JSON array of strings", shown(bytes)),
        )
    })?;
    if items.iter().flatten().any(|i| i.contains('\0')) {
        return Err(RedisError::InvalidText {
            key: origin.key.to_string(),
            field: origin.field.to_string(),
        });
    }
    Ok(items)
}

/// The stored form of row `row` of `array` (an array of a type [`arrow_type`] gives);
/// `None` for NULL.
pub fn encode(array: &ArrayRef, row: usize) -> Result<Option<Vec<u8>>> {
    if array.is_null(row) {
        return Ok(None);
    }
    let text = match array.data_type() {
        DataType::Boolean => array.as_boolean().value(row).to_string(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Float32 => {
            let v = array.as_primitive::<Float32Type>().value(row);
            float_text(v as f64, shortest(v.to_string(), format!("{v:?}")))
        }
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            float_text(v, shortest(v.to_string(), format!("{v:?}")))
        }
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::Binary => return Ok(Some(array.as_binary::<i32>().value(row).to_vec())),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            chrono::NaiveDate::default()
                .checked_add_signed(chrono::Duration::days(days as i64))
                .ok_or_else(|| {
                    RedisError::Unsupported(format!("date {days} days from 1970 is out of range"))
                })?
                .format("%Y-%m-%d")
                .to_string()
        }
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            let time = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(|| {
                RedisError::Unsupported(format!("timestamp {micros} µs is out of range"))
            })?;
            let naive = time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
            if zone.is_some() {
                naive + "Z"
            } else {
                naive
            }
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            let strings = list.as_string::<i32>();
            let items: Vec<Option<&str>> = (0..strings.len())
                .map(|i| (!strings.is_null(i)).then(|| strings.value(i)))
                .collect();
            serde_json::to_string(&items).map_err(|e| RedisError::Unsupported(e.to_string()))?
        }
        other => {
            return Err(RedisError::Unsupported(format!(
                "writing Arrow type {other} to Redis"
            )))
        }
    };
    Ok(Some(text.into_bytes()))
}

/// The shorter of a float's positional and exponent spellings (`5e-324`, not 328
/// characters of zeros; `1` stays `1`).
fn shortest(positional: String, exponent: String) -> String {
    if exponent.contains('e') && exponent.len() < positional.len() {
        exponent
    } else {
        positional
    }
}

/// Postgres's spelling of float specials, else the shortest round-trip decimal.
fn float_text(value: f64, shortest: String) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "Infinity".into()
    } else if value == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        shortest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o() -> Origin<'static> {
        Origin {
            key: "k",
            field: "f",
        }
    }

    fn round_trip(pg: PgType, stored: &[&str]) -> Vec<Option<String>> {
        let values: Vec<(Option<&[u8]>, Origin)> =
            stored.iter().map(|s| (Some(s.as_bytes()), o())).collect();
        let array = decode(&pg, &values).unwrap();
        assert_eq!(array.data_type(), &arrow_type(&pg).unwrap());
        (0..array.len())
            .map(|i| {
                encode(&array, i)
                    .unwrap()
                    .map(|b| String::from_utf8(b).unwrap())
            })
            .collect()
    }

    #[test]
    fn values_round_trip_in_canonical_form() {
        assert_eq!(
            round_trip(PgType::Bool, &["t", "0"]),
            vec![Some("true".into()), Some("false".into())]
        );
        assert_eq!(
            round_trip(PgType::Int8, &["-9223372036854775808"]),
            vec![Some("-9223372036854775808".into())]
        );
        assert_eq!(
            round_trip(PgType::Float8, &["0.1", "inf", "NaN", "-Infinity"]),
            vec![
                Some("0.1".into()),
                Some("Infinity".into()),
                Some("NaN".into()),
                Some("-Infinity".into())
            ]
        );
        assert_eq!(
            round_trip(PgType::Date, &["1969-12-31"]),
            vec![Some("1969-12-31".into())]
        );
        assert_eq!(
            round_trip(PgType::TimestampTz, &["2026-01-02T03:04:05.5+02:00"]),
            vec![Some("2026-01-02T01:04:05.500000Z".into())]
        );
        assert_eq!(
            round_trip(
                PgType::Array(Box::new(PgType::Text)),
                &["[\"a\",null,\"\\\"q\\\"\"]"]
            ),
            vec![Some("[\"a\",null,\"\\\"q\\\"\"]".into())]
        );
    }

    #[test]
    fn bad_values_are_errors_never_nulls() {
        let fails = |pg: PgType, raw: &[u8]| decode(&pg, &[(Some(raw), o())]).is_err();
        assert!(fails(PgType::Int4, b"12x"));
        assert!(fails(PgType::Int4, b"99999999999"));
        assert!(fails(PgType::Int4, b" 1"));
        assert!(fails(PgType::Text, b"\xff\xfe"));
        assert!(fails(PgType::Text, b"a\0b"));
        assert!(fails(PgType::Jsonb, b"{not json"));
        assert!(fails(PgType::TimestampTz, b"2026-01-02 03:04:05"));
        assert!(fails(PgType::Array(Box::new(PgType::Text)), b"[1,2]"));
        assert!(fails(PgType::Bool, b"maybe"));
        assert!(fails(PgType::Float8, b"1e400"));
        assert!(fails(PgType::Float4, b"1e39"));
        let absent = decode(&PgType::Int4, &[(None, o())]).unwrap();
        assert!(absent.is_null(0));
    }

    #[test]
    fn extreme_values_round_trip_in_short_forms() {
        let floats = round_trip(
            PgType::Float8,
            &["5e-324", "1.7976931348623157e308", "1", "-0.5", "Infinity"],
        );
        assert_eq!(
            floats,
            ["5e-324", "1.7976931348623157e308", "1", "-0.5", "Infinity"]
                .map(|s| Some(s.to_string()))
                .to_vec()
        );
        assert_eq!(
            round_trip(PgType::Float4, &["1e-45"]),
            vec![Some("1e-45".into())]
        );
        // years RFC 3339 cannot hold, as ODP writes them, read back
        for stored in [
            "+10000-01-02T03:04:05.000000Z",
            "-0044-03-15T12:00:00.000000Z",
        ] {
            assert_eq!(
                round_trip(PgType::TimestampTz, &[stored]),
                vec![Some(stored.into())]
            );
        }
        assert_eq!(
            round_trip(PgType::Timestamp, &["+10000-01-02T03:04:05.000000"]),
            vec![Some("+10000-01-02T03:04:05.000000".into())]
        );
        assert_eq!(
            round_trip(PgType::Date, &["+10000-01-02"]),
            vec![Some("+10000-01-02".into())]
        );
    }
}
