//! Scalar values that cross from the planner into a source adapter.
//!
//! Every kind compares exactly as Postgres compares values of its type: integers and
//! decimals exactly, floats with `NaN` above every number and `-0 = 0`, text by bytes
//! (quals on text reach an adapter only under collations where that is the answer).
//! Temporal values use the Unix epoch (days for dates, microseconds for timestamps),
//! matching Arrow and Delta. Values survive a JSON round trip bit for bit (plans are
//! stored as JSON), including `NaN` and the infinities.

use crate::numeric::{Decimal, Numeric};
use crate::temporal::{format_date, format_timestamp, MICROS_PER_DAY};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A constant or parameter value a qual compares a column with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// SQL NULL (comparisons with it never match).
    Null,
    /// boolean
    Bool(bool),
    /// any integer type (int2, int4, int8)
    Int(i64),
    /// float4 (Delta `float`)
    Float4(#[serde(with = "float4_text")] f32),
    /// float8 (Delta `double`)
    Float(#[serde(with = "float8_text")] f64),
    /// numeric (Delta `decimal`), exact
    Numeric(Numeric),
    /// text, varchar
    Text(String),
    /// date: days since 1970-01-01
    Date(i32),
    /// timestamp or timestamptz: microseconds since 1970-01-01 00:00:00 UTC
    Timestamp(i64),
    /// the right-hand side of `IN (...)` / `= ANY(array)`
    List(Vec<Value>),
}

/// Postgres's float order: `NaN` equals itself and sorts above everything, `-0 = 0`.
pub fn compare_floats(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).expect("neither is NaN"),
    }
}

impl Value {
    /// Orders two values of the same family as Postgres does; `None` when the kinds
    /// cannot be compared, which callers treat as "cannot decide" and never prune on.
    /// A `float4` widens to `float8` exactly, as Postgres's cross-type operators do.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        Some(match (self, other) {
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Float4(_) | Float(_), Float4(_) | Float(_)) => {
                compare_floats(self.as_f64()?, other.as_f64()?)
            }
            (Numeric(a), Numeric(b)) => a.cmp(b),
            (Int(a), Numeric(b)) => crate::numeric::Numeric::Finite(Decimal::from_i64(*a)).cmp(b),
            (Numeric(a), Int(b)) => a.cmp(&crate::numeric::Numeric::Finite(Decimal::from_i64(*b))),
            (Text(a), Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Date(a), Date(b)) => a.cmp(b),
            (Timestamp(a), Timestamp(b)) => a.cmp(b),
            _ => return None,
        })
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float4(f) => Some(*f as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Whether this is a float `NaN`.
    pub fn is_nan(&self) -> bool {
        self.as_f64().is_some_and(f64::is_nan)
    }

    /// The UTC date a timestamp falls on (floor division, so times before 1970 work).
    pub fn timestamp_to_date(micros: i64) -> i32 {
        micros.div_euclid(MICROS_PER_DAY) as i32
    }

    /// A short human rendering for EXPLAIN.
    pub fn display(&self) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float4(f) => float_display(*f as f64, f.to_string()),
            Value::Float(f) => float_display(*f, f.to_string()),
            Value::Numeric(n) => match n {
                Numeric::Finite(d) => d.to_string(),
                special => format!("'{special}'"),
            },
            Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Value::Date(d) => format!("'{}'", format_date(*d)),
            Value::Timestamp(t) => format!("'{}'", format_timestamp(*t)),
            Value::List(items) => {
                let inner: Vec<String> = items.iter().map(Value::display).collect();
                format!("({})", inner.join(", "))
            }
        }
    }
}

/// Floats as Postgres prints them: special values quoted (`'NaN'`, `'-Infinity'`).
fn float_display(value: f64, finite: String) -> String {
    if value.is_nan() {
        "'NaN'".into()
    } else if value.is_infinite() {
        if value > 0.0 {
            "'Infinity'"
        } else {
            "'-Infinity'"
        }
        .into()
    } else {
        finite
    }
}

macro_rules! float_serde {
    ($module:ident, $ty:ty) => {
        /// Serializes a float as text (`NaN`, `inf`, `-inf` or the shortest decimal that
        /// reads back to the same bits), since JSON numbers cannot hold special values.
        mod $module {
            use serde::{de::Error, Deserialize, Deserializer, Serializer};

            pub fn serialize<S: Serializer>(value: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&value.to_string())
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(D::Error::custom)
            }
        }
    };
}
float_serde!(float4_text, f32);
float_serde!(float8_text, f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_floats_survive_a_json_round_trip() {
        let values = vec![
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            Value::Float(-0.0),
            Value::Float(0.1 + 0.2),
            Value::Float4(f32::NAN),
            Value::Float4(0.1),
            Value::Numeric(Numeric::parse("NaN").unwrap()),
            Value::Numeric(Numeric::parse("-12345678901234567890.123456789012345678").unwrap()),
        ];
        let json = serde_json::to_string(&values).unwrap();
        let back: Vec<Value> = serde_json::from_str(&json).unwrap();
        for (a, b) in values.iter().zip(&back) {
            match (a, b) {
                (Value::Float(x), Value::Float(y)) => assert_eq!(x.to_bits(), y.to_bits()),
                (Value::Float4(x), Value::Float4(y)) => assert_eq!(x.to_bits(), y.to_bits()),
                _ => assert_eq!(a, b),
            }
        }
    }

    #[test]
    fn floats_order_as_in_postgres() {
        let nan = Value::Float(f64::NAN);
        assert_eq!(nan.compare(&nan), Some(Ordering::Equal));
        assert_eq!(
            nan.compare(&Value::Float(f64::INFINITY)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Value::Float(-0.0).compare(&Value::Float(0.0)),
            Some(Ordering::Equal)
        );
        // a float4 widens exactly: 0.1f32 is a little above 0.1 as float8
        assert_eq!(
            Value::Float4(0.1).compare(&Value::Float(0.1)),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn integers_compare_exactly_with_numerics() {
        let big = Value::Numeric(Numeric::parse("9223372036854775807.5").unwrap());
        assert_eq!(Value::Int(i64::MAX).compare(&big), Some(Ordering::Less));
        assert_eq!(Value::Int(1).compare(&Value::Float(1.0)), None);
        assert_eq!(Value::Text("a".into()).compare(&Value::Int(1)), None);
    }

    #[test]
    fn negative_timestamps_floor_to_previous_day() {
        assert_eq!(Value::timestamp_to_date(-1), -1);
        assert_eq!(Value::timestamp_to_date(MICROS_PER_DAY), 1);
    }

    #[test]
    fn explain_renders_special_values_quoted() {
        assert_eq!(Value::Float(f64::NEG_INFINITY).display(), "'-Infinity'");
        assert_eq!(Value::Float4(0.1).display(), "0.1");
        assert_eq!(
            Value::Numeric(Numeric::parse("NaN").unwrap()).display(),
            "'NaN'"
        );
    }
}
