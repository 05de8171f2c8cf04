//! Values: stored text decodes to what Postgres's input functions give, or to a clear
//! error, and encoded values round-trip.

use super::VALUE;
use crate::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use crate::arrow::datatypes::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type};
use crate::proptests::{check, string_from};
use crate::redis::codec::{decode, encode, Origin};
use crate::types::PgType;
use proptest::prelude::*;
use std::sync::Arc;

fn origin() -> Origin<'static> {
    Origin {
        key: "k",
        field: "f",
    }
}

fn decode_one(pg: &PgType, bytes: &[u8]) -> Option<ArrayRef> {
    decode(pg, &[(Some(bytes), origin())]).ok()
}

/// Postgres's `isspace` in the C locale.
fn pg_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn pg_trim(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|b| !pg_space(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !pg_space(b))
        .map_or(start, |e| e + 1);
    &text[start..end]
}

/// `int2in`/`int4in`/`int8in` of Postgres 15: optional whitespace, an optional sign,
/// decimal digits, optional whitespace; a value outside `min..=max` is an error.
fn pg_int(text: &[u8], min: i128, max: i128) -> Option<i128> {
    let text = pg_trim(text);
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut magnitude: i128 = 0;
    for d in digits {
        magnitude = magnitude * 10 + i128::from(d - b'0');
        if magnitude > max + 1 {
            return None;
        }
    }
    let value = if negative { -magnitude } else { magnitude };
    (min..=max).contains(&value).then_some(value)
}

/// `float8in`/`float4in` of Postgres 15 on glibc, for decimal spellings: optional
/// whitespace, `NaN`, `[+-]inf[inity]` or a decimal with an optional exponent; a finite
/// spelling that overflows, or underflows to zero, is out of range (an error).
/// Hexadecimal floats, which glibc also reads, are not modelled (`None`).
fn pg_float(text: &[u8], single: bool) -> Option<f64> {
    let text = std::str::from_utf8(pg_trim(text)).ok()?;
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let lower = body.to_ascii_lowercase();
    if lower == "nan" {
        return Some(f64::NAN);
    }
    if lower == "inf" || lower == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || !exponent_ok {
        return None;
    }
    // both libraries round correctly: the nearest float is the value
    let value = if single {
        f64::from(body.parse::<f32>().ok()?)
    } else {
        body.parse::<f64>().ok()?
    };
    let nonzero = int.bytes().chain(frac.bytes()).any(|b| b != b'0');
    if value.is_infinite() || (value == 0.0 && nonzero) {
        return None;
    }
    Some(sign * value)
}

/// `boolin` of Postgres: optional whitespace, then any prefix of `true`, `false`,
/// `yes`, `no`, or `on`, `of[f]`, `1`, `0`, in any case.
fn pg_bool(text: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(pg_trim(text))
        .ok()?
        .to_ascii_lowercase();
    let prefix_of = |word: &str| !text.is_empty() && word.starts_with(text.as_str());
    match text.as_bytes().first()? {
        b't' if prefix_of("true") => Some(true),
        b'f' if prefix_of("false") => Some(false),
        b'y' if prefix_of("yes") => Some(true),
        b'n' if prefix_of("no") => Some(false),
        b'o' if text == "on" => Some(true),
        b'o' if text.len() >= 2 && prefix_of("off") => Some(false),
        b'1' if text.len() == 1 => Some(true),
        b'0' if text.len() == 1 => Some(false),
        _ => None,
    }
}

/// Numbers spelled as Postgres and careless writers spell them.
fn number_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        string_from(
            &['0', '1', '9', '-', '+', ' ', '\t', '.', 'e', 'E', 'x'],
            0..12
        ),
        (any::<i64>(), 0usize..3, 0usize..3).prop_map(|(i, before, after)| format!(
            "{}{i}{}",
            " ".repeat(before),
            "\n".repeat(after)
        )),
        string_from(&['9'], 18..22),
        (any::<f64>(), -400i32..400).prop_map(|(m, e)| format!("{m}e{e}")),
        prop::sample::select(
            &[
                "NaN",
                "nan",
                "-NaN",
                "Infinity",
                "-Infinity",
                "inf",
                "+inf",
                "INF",
                "infinity",
                "1e-400",
                "1e400",
                "5e-324",
                "2e-324",
                "1e-46",
                "3.4028236e38",
                "0x10",
                "1e",
                ".5",
                "5.",
                "-0",
                "0e-999",
            ][..]
        )
        .prop_map(str::to_string),
    ]
    .prop_map(String::into_bytes)
}

/// Any float bits, and the ones Postgres spells specially.
fn float8() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(f64::MAX),
        Just(1e15),
    ]
}

fn float4() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>(),
        Just(f32::NAN),
        Just(-0.0f32),
        Just(f32::INFINITY),
        Just(1e-45f32),
        Just(f32::MAX)
    ]
}

/// Microseconds since 1970 across and beyond the range a timestamp can be written in.
fn micros() -> impl Strategy<Value = i64> {
    let min = chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp_micros();
    let max = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_micros();
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        (min - 2..min + 2),
        (max - 2..max + 2),
        (-1_000_000i64..1_000_000),
        (-62_135_596_800_000_000i64..253_402_300_800_000_000),
    ]
}

/// Days since 1970 across and beyond the range a date can be written in.
fn days() -> impl Strategy<Value = i32> {
    prop_oneof![
        any::<i32>(),
        -100_000_000i32..100_000_000,
        -800_000i32..3_000_000
    ]
}

/// The significant digits of a decimal spelling (`0.00120e5` → `12`).
fn significant_digits(text: &str) -> String {
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string()
}

/// Encodes every row of `array` and decodes the stored forms as `pg`; `None` when a row
/// cannot be encoded (a value the stored form cannot spell: a clear error).
fn round_trip(pg: &PgType, array: &ArrayRef) -> Option<ArrayRef> {
    let stored: Vec<Option<Vec<u8>>> = (0..array.len())
        .map(|row| encode(array, row))
        .collect::<Result<_, _>>()
        .ok()?;
    let values: Vec<(Option<&[u8]>, Origin)> =
        stored.iter().map(|s| (s.as_deref(), origin())).collect();
    Some(decode(pg, &values).expect("what is encoded decodes"))
}

/// Stored integers decode as Postgres's `int2in`/`int4in`/`int8in` read them, or
/// fail: a canonical spelling (digits with an optional `-`) decodes exactly when
/// Postgres accepts it; others (whitespace, `+`) may be refused, never misread.
#[test]
fn integers_decode_as_postgres_reads_them() {
    check(512, number_text(), |text| {
        let canonical = !text.iter().any(pg_space) && text.first() != Some(&b'+');
        for (pg, min, max) in [
            (PgType::Int2, i128::from(i16::MIN), i128::from(i16::MAX)),
            (PgType::Int4, i128::from(i32::MIN), i128::from(i32::MAX)),
            (PgType::Int8, i128::from(i64::MIN), i128::from(i64::MAX)),
        ] {
            let decoded = decode_one(&pg, &text).map(|a| match pg {
                PgType::Int2 => i128::from(a.as_primitive::<Int16Type>().value(0)),
                PgType::Int4 => i128::from(a.as_primitive::<Int32Type>().value(0)),
                _ => i128::from(a.as_primitive::<Int64Type>().value(0)),
            });
            let expected = pg_int(&text, min, max);
            if canonical {
                prop_assert_eq!(
                    decoded,
                    expected,
                    "{:?} as {}",
                    String::from_utf8_lossy(&text),
                    pg.sql()
                );
            } else if decoded.is_some() {
                prop_assert_eq!(decoded, expected);
            }
        }
        Ok(())
    });
}

/// Stored floats decode as Postgres's `float8in`/`float4in` read them, or fail; a
/// canonical spelling (no whitespace or `+`) Postgres accepts is never refused.
#[test]
fn floats_decode_as_postgres_reads_them() {
    check(512, number_text(), |text| {
        let canonical = !text.iter().any(pg_space) && text.first() != Some(&b'+');
        for (pg, single) in [(PgType::Float8, false), (PgType::Float4, true)] {
            let decoded = decode_one(&pg, &text).map(|a| match pg {
                PgType::Float4 => f64::from(a.as_primitive::<Float32Type>().value(0)),
                _ => a.as_primitive::<Float64Type>().value(0),
            });
            let expected = pg_float(&text, single);
            let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(x), Some(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
                (x, y) => x.is_none() && y.is_none(),
            };
            let shown = String::from_utf8_lossy(&text);
            if decoded.is_some() || (canonical && !shown.to_ascii_lowercase().contains('x')) {
                prop_assert!(
                    same(decoded, expected),
                    "{:?} as {}: decoded {:?}, Postgres {:?}",
                    shown,
                    pg.sql(),
                    decoded,
                    expected
                );
            }
        }
        Ok(())
    });
}

/// Stored booleans decode as Postgres's `boolin` reads them, or fail.
#[test]
fn booleans_decode_as_postgres_reads_them() {
    check(
        512,
        prop_oneof![
            string_from(
                &[
                    't', 'r', 'u', 'e', 'f', 'a', 'l', 's', 'y', 'n', 'o', '1', '0', ' ', 'T', 'O',
                    'F'
                ],
                0..6
            )
            .prop_map(String::into_bytes),
            any::<Vec<u8>>(),
        ],
        |text| {
            if let Some(array) = decode_one(&PgType::Bool, &text) {
                prop_assert_eq!(
                    Some(array.as_boolean().value(0)),
                    pg_bool(&text),
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
            }
            Ok(())
        },
    );
}

/// Arbitrary stored bytes never make a decoder panic, for any column type; text is
/// accepted exactly when it is valid UTF-8 without NUL (what Postgres text holds),
/// and read unchanged.
#[test]
fn arbitrary_bytes_decode_or_fail_cleanly() {
    check(
        512,
        prop_oneof![
            any::<Vec<u8>>(),
            any::<String>().prop_map(String::into_bytes),
            string_from(
                &[
                    '[', ']', '"', ',', 'n', 'u', 'l', '\\', '0', '1', '-', ':', 'T', 'Z', '+',
                    '.', ' '
                ],
                0..24
            )
            .prop_map(String::into_bytes),
        ],
        |bytes| {
            for pg in [
                PgType::Bool,
                PgType::Int2,
                PgType::Int4,
                PgType::Int8,
                PgType::Float4,
                PgType::Float8,
                PgType::Text,
                PgType::Varchar,
                PgType::Jsonb,
                PgType::Date,
                PgType::Timestamp,
                PgType::TimestampTz,
                PgType::Bytea,
                PgType::Array(Box::new(PgType::Text)),
            ] {
                let decoded = decode(&pg, &[(Some(bytes.as_slice()), origin())]);
                // what was read is stored back in a form that reads the same (floats, whose
                // NaNs differ in bits, have their own property)
                if let (Ok(array), false) =
                    (&decoded, matches!(pg, PgType::Float4 | PgType::Float8))
                {
                    prop_assert_eq!(round_trip(&pg, array), Some(array.clone()));
                }
                if matches!(pg, PgType::Text | PgType::Varchar) {
                    let valid = std::str::from_utf8(&bytes).is_ok_and(|s| !s.contains('\0'));
                    prop_assert_eq!(decoded.is_ok(), valid);
                    if let Ok(array) = decoded {
                        prop_assert_eq!(array.as_string::<i32>().value(0).as_bytes(), &bytes[..]);
                    }
                }
            }
            Ok(())
        },
    );
}

/// Every value of every supported type is stored in a form that decodes to the same
/// value; a date or timestamp too far out to be written is a clear error, and only
/// then. Floats are written with their shortest round-trip digits.
#[test]
fn values_round_trip() {
    check(
        512,
        (
            any::<bool>(),
            any::<i16>(),
            any::<i32>(),
            any::<i64>(),
            float8(),
            float4(),
            any::<String>().prop_map(|s| s.replace('\0', "")),
            any::<Vec<u8>>(),
            days(),
            micros(),
            proptest::collection::vec(proptest::option::of(string_from(VALUE, 0..4)), 0..4),
        ),
        |(b, small, int, big, f8, f4, text, bytes, day, micro, list)| {
            let same = |pg: PgType, array: ArrayRef| -> Result<(), TestCaseError> {
                let back = round_trip(&pg, &array).expect("every value of this type is written");
                prop_assert_eq!(&back, &array);
                Ok(())
            };
            same(
                PgType::Bool,
                Arc::new(BooleanArray::from(vec![Some(b), None])),
            )?;
            same(
                PgType::Int2,
                Arc::new(Int16Array::from(vec![Some(small), None])),
            )?;
            same(
                PgType::Int4,
                Arc::new(Int32Array::from(vec![Some(int), None])),
            )?;
            same(
                PgType::Int8,
                Arc::new(Int64Array::from(vec![Some(big), None])),
            )?;
            same(
                PgType::Text,
                Arc::new(StringArray::from(vec![Some(text.as_str()), None])),
            )?;
            same(
                PgType::Bytea,
                Arc::new(BinaryArray::from(vec![Some(bytes.as_slice()), None])),
            )?;
            let mut lists = ListBuilder::new(StringBuilder::new());
            lists.values().extend(list.iter().map(Option::as_deref));
            lists.append(true);
            lists.append(false);
            same(
                PgType::Array(Box::new(PgType::Text)),
                Arc::new(lists.finish()),
            )?;

            // floats: the same value back (any NaN for NaN, -0 kept), stored as Postgres
            // reads it, in the shortest round-trip digits
            let same_float =
                |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
            for (pg, array, value) in [
                (
                    PgType::Float8,
                    Arc::new(Float64Array::from(vec![f8])) as ArrayRef,
                    f8,
                ),
                (
                    PgType::Float4,
                    Arc::new(Float32Array::from(vec![f4])),
                    f64::from(f4),
                ),
            ] {
                let single = pg == PgType::Float4;
                let stored = encode(&array, 0).expect("floats encode").expect("not NULL");
                let stored = String::from_utf8(stored).expect("floats are stored as text");
                let back = round_trip(&pg, &array).expect("floats encode");
                let back = match single {
                    true => f64::from(back.as_primitive::<Float32Type>().value(0)),
                    false => back.as_primitive::<Float64Type>().value(0),
                };
                prop_assert!(same_float(back, value), "{} read back as {}", value, back);
                let read = pg_float(stored.as_bytes(), single);
                prop_assert!(
                    read.is_some_and(|r| same_float(r, value)),
                    "Postgres reads {:?} as {:?}",
                    stored,
                    read
                );
                if value.is_finite() {
                    let shortest = if single {
                        format!("{f4:e}")
                    } else {
                        format!("{f8:e}")
                    };
                    prop_assert_eq!(
                        significant_digits(&stored),
                        significant_digits(&shortest),
                        "{} stored as {}",
                        value,
                        stored
                    );
                }
            }

            let writable_day = chrono::NaiveDate::default()
                .checked_add_signed(chrono::Duration::days(day.into()))
                .is_some();
            let dates: ArrayRef = Arc::new(Date32Array::from(vec![Some(day), None]));
            match round_trip(&PgType::Date, &dates) {
                Some(back) => prop_assert_eq!(&back, &dates),
                None => prop_assert!(!writable_day, "day {} is writable", day),
            }
            let writable_micros = chrono::DateTime::from_timestamp_micros(micro).is_some();
            for (pg, array) in [
                (
                    PgType::Timestamp,
                    Arc::new(TimestampMicrosecondArray::from(vec![Some(micro), None])) as ArrayRef,
                ),
                (
                    PgType::TimestampTz,
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![Some(micro), None])
                            .with_timezone("UTC"),
                    ),
                ),
            ] {
                match round_trip(&pg, &array) {
                    Some(back) => prop_assert_eq!(&back, &array),
                    None => prop_assert!(!writable_micros, "{} µs is writable", micro),
                }
            }
            Ok(())
        },
    );
}
