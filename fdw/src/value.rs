//! Scalar values that cross from the planner into a source adapter.
//!
//! Temporal values use the Unix epoch (days for dates, microseconds for timestamps),
//! matching Arrow and Delta, so adapters compare them without conversion.

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
    /// float4, float8 (and numeric, when it is compared with a float column)
    Float(f64),
    /// text, varchar, bpchar
    Text(String),
    /// date: days since 1970-01-01
    Date(i32),
    /// timestamp or timestamptz: microseconds since 1970-01-01 00:00:00 UTC
    Timestamp(i64),
    /// the right-hand side of `IN (...)` / `= ANY(array)`
    List(Vec<Value>),
}

/// Microseconds in one day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Value {
    /// Orders two values of comparable kinds; `None` when the kinds differ (or NaN),
    /// which callers treat as "cannot decide" and therefore never prune on.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Float(a), Float(b)) => a.partial_cmp(b),
            (Int(a), Float(b)) => (*a as f64).partial_cmp(b),
            (Float(a), Int(b)) => a.partial_cmp(&(*b as f64)),
            (Text(a), Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            (Timestamp(a), Timestamp(b)) => Some(a.cmp(b)),
            (Date(a), Timestamp(b)) => Some((*a as i64 * MICROS_PER_DAY).cmp(b)),
            (Timestamp(a), Date(b)) => Some(a.cmp(&(*b as i64 * MICROS_PER_DAY))),
            _ => None,
        }
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
            Value::Float(f) => f.to_string(),
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

/// `YYYY-MM-DD` for days since the epoch.
pub fn format_date(days: i32) -> String {
    chrono::DateTime::from_timestamp(days as i64 * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("{days} days"))
}

/// ISO-8601 UTC rendering of microseconds since the epoch.
pub fn format_timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.f+00").to_string())
        .unwrap_or_else(|| format!("{micros} us"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_numeric_kinds_compare() {
        assert_eq!(
            Value::Int(2).compare(&Value::Float(2.5)),
            Some(Ordering::Less)
        );
        assert_eq!(Value::Text("a".into()).compare(&Value::Int(1)), None);
    }

    #[test]
    fn negative_timestamps_floor_to_previous_day() {
        assert_eq!(Value::timestamp_to_date(-1), -1);
        assert_eq!(Value::timestamp_to_date(MICROS_PER_DAY), 1);
    }

    #[test]
    fn dates_compare_with_timestamps_at_midnight() {
        assert_eq!(
            Value::Date(1).compare(&Value::Timestamp(MICROS_PER_DAY)),
            Some(Ordering::Equal)
        );
    }
}
