//! Properties of query values: the order [`Value::compare`] gives is Postgres's, exact
//! decimals are exact, values survive the JSON plans are stored in, and a `LIKE`
//! pattern's fixed prefix bounds every text it matches.

use super::{check, like_matches, string_from};
use crate::numeric::{Decimal, Numeric};
use crate::request::like_pattern_prefix;
use crate::value::Value;
use proptest::prelude::*;
use std::cmp::Ordering;

/// Floats with the values Postgres orders specially: `NaN`, `-0`, the infinities.
fn float8() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(0.0),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-4i32..4).prop_map(f64::from),
    ]
}

fn float4() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>(),
        Just(f32::NAN),
        Just(-0.0f32),
        Just(f32::INFINITY),
        (-4i16..4).prop_map(f32::from),
    ]
}

/// Postgres's float order, written from its definition: `NaN` equals `NaN` and sorts
/// above everything, `-0 = 0`, otherwise the numeric order.
fn pg_float_order(a: f64, b: f64) -> Ordering {
    if a.is_nan() || b.is_nan() {
        return a.is_nan().cmp(&b.is_nan());
    }
    if a < b {
        Ordering::Less
    } else if a > b {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// A decimal `mantissa × 10^exponent` with its exact text.
fn decimal_text() -> impl Strategy<Value = (i128, i32, String)> {
    (any::<i64>(), -30i32..30).prop_map(|(mantissa, exponent)| {
        let m = mantissa as i128;
        (m, exponent, format!("{m}e{exponent}"))
    })
}

/// The order of two exact decimals `m × 10^e`, by aligning exponents on big integers
/// of digits (no float is involved).
fn exact_order(a: (i128, i32), b: (i128, i32)) -> Ordering {
    let sign = |m: i128| m.cmp(&0);
    if sign(a.0) != sign(b.0) || a.0 == 0 {
        return sign(a.0).cmp(&sign(b.0));
    }
    // Same sign, both non-zero: compare magnitudes as digit strings padded to a common
    // exponent.
    let digits = |(m, e): (i128, i32), low: i32| {
        let mut s = m.unsigned_abs().to_string();
        s.extend(std::iter::repeat_n('0', (e - low) as usize));
        s.trim_start_matches('0').to_string()
    };
    let low = a.1.min(b.1);
    let (da, db) = (digits(a, low), digits(b, low));
    let magnitude = da.len().cmp(&db.len()).then_with(|| da.cmp(&db));
    if a.0 < 0 {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// Floats (float8 and float4, mixed) compare as Postgres compares them: `NaN`
/// above everything and equal to itself, `-0 = 0`, a float4 widened exactly.
#[test]
fn floats_compare_as_in_postgres() {
    check(1000, (float8(), float8(), float4()), |(a, b, c)| {
        prop_assert_eq!(
            Value::Float(a).compare(&Value::Float(b)),
            Some(pg_float_order(a, b))
        );
        prop_assert_eq!(
            Value::Float4(c).compare(&Value::Float(b)),
            Some(pg_float_order(c as f64, b))
        );
        prop_assert_eq!(
            Value::Float(a).compare(&Value::Float4(c)),
            Some(pg_float_order(a, c as f64))
        );
        Ok(())
    });
}

/// Decimals parse exactly: `m e x` parses, prints as text that parses back to the
/// same value, and orders like the exact numbers (also against integers).
#[test]
fn decimals_are_exact() {
    check(
        1000,
        (decimal_text(), decimal_text(), any::<i64>()),
        |((ma, ea, ta), (mb, eb, tb), i)| {
            let a = Numeric::parse(&ta).expect("a decimal in range parses");
            let b = Numeric::parse(&tb).expect("a decimal in range parses");
            prop_assert_eq!(Numeric::parse(&a.to_string()), Some(a.clone()));
            prop_assert_eq!(a.cmp(&b), exact_order((ma, ea), (mb, eb)));
            prop_assert_eq!(
                Value::Int(i).compare(&Value::Numeric(a.clone())),
                Some(exact_order((i as i128, 0), (ma, ea)))
            );
            if let Some(unscaled) = match &a {
                Numeric::Finite(d) => d.to_unscaled(6),
                _ => None,
            } {
                // truncated toward zero to 6 places (as statistics are read): never further
                // from zero than the value
                let order = Numeric::Finite(Decimal::from_unscaled(unscaled, 6)).cmp(&a);
                let toward_zero = if ma < 0 {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
                prop_assert!(order == Ordering::Equal || order == toward_zero);
            }
            Ok(())
        },
    );
}

/// Parsing arbitrary text as a numeric never panics, and what it accepts prints as
/// text that parses back to the same value.
#[test]
fn numeric_parse_never_panics() {
    check(
        1000,
        string_from(
            &[
                '1', '0', '9', '-', '+', '.', 'e', 'E', ' ', 'N', 'a', 'I', 'n', 'f', 'x',
            ],
            0..24,
        ),
        |text| {
            if let Some(n) = Numeric::parse(&text) {
                prop_assert_eq!(Numeric::parse(&n.to_string()), Some(n));
            }
            Ok(())
        },
    );
}

/// Values survive the JSON round trip of stored plans: bit for bit, except that
/// every `NaN` reads back as a `NaN` (all of them are one value in Postgres).
#[test]
fn values_survive_json() {
    check(
        1000,
        (
            float8(),
            float4(),
            decimal_text(),
            any::<String>(),
            any::<i64>(),
            any::<i32>(),
            any::<i64>(),
        ),
        |(a, b, (_, _, t), s, i, d, ts)| {
            let values = vec![
                Value::Float(a),
                Value::Float4(b),
                Value::Numeric(Numeric::parse(&t).expect("parses")),
                Value::Text(s),
                Value::Int(i),
                Value::Date(d),
                Value::Timestamp(ts),
                Value::List(vec![Value::Null, Value::Bool(true)]),
            ];
            let json = serde_json::to_string(&values).expect("serializes");
            let back: Vec<Value> = serde_json::from_str(&json).expect("reads back");
            prop_assert_eq!(back.len(), values.len());
            for (was, is) in values.iter().zip(&back) {
                match (was, is) {
                    (Value::Float(x), Value::Float(y)) if x.is_nan() => prop_assert!(y.is_nan()),
                    (Value::Float(x), Value::Float(y)) => prop_assert_eq!(x.to_bits(), y.to_bits()),
                    (Value::Float4(x), Value::Float4(y)) if x.is_nan() => prop_assert!(y.is_nan()),
                    (Value::Float4(x), Value::Float4(y)) => {
                        prop_assert_eq!(x.to_bits(), y.to_bits())
                    }
                    _ => prop_assert_eq!(was, is),
                }
            }
            Ok(())
        },
    );
}

/// Every text a `LIKE` pattern matches starts with the pattern's fixed prefix (the
/// prefix every adapter narrows its reads to).
#[test]
fn like_prefix_bounds_every_match() {
    check(
        1000,
        (
            string_from(&['a', 'b', '/', '.', '%', '_', '\\', '#', '\n', 'é'], 0..8),
            string_from(&['a', 'b', '/', '.', '%', '_', '\\', '#', '\n', 'é'], 0..10),
        ),
        |(pattern, text)| {
            if like_matches(&text, &pattern) == Some(true) {
                if let Some(prefix) = like_pattern_prefix(&pattern) {
                    prop_assert!(
                        text.starts_with(prefix),
                        "{text:?} matches {pattern:?} but lacks prefix {prefix:?}"
                    );
                }
            }
            Ok(())
        },
    );
}
