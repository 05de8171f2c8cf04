//! Generated date columns (`CAST(ts AS DATE)` and its synonyms): which column they are
//! computed from, the time zone the writer computed them in, and the quals on the
//! generated column that a qual on its source implies.

use crate::parquet::schema::LakeType;
use crate::request::Op;
use crate::temporal::MICROS_PER_DAY;
use crate::value::Value;

/// The column a generated date column is computed from, for the expressions
/// `CAST(x AS DATE)`, `to_date(x)` and `date(x)`.
pub fn date_generation_source(expression: &str) -> Option<String> {
    let e = expression.trim();
    let lower = e.to_ascii_lowercase();
    let inner = if lower.starts_with("cast(") && lower.ends_with(" as date)") {
        &e[5..e.len() - 9]
    } else if (lower.starts_with("to_date(") || lower.starts_with("date(")) && lower.ends_with(')')
    {
        &e[e.find('(')? + 1..e.len() - 1]
    } else {
        return None;
    };
    let name = inner.trim().trim_matches('`');
    (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .then(|| name.to_string())
}

/// The time zone a table's writer evaluated `CAST(timestamp AS DATE)` in (Spark uses
/// its session time zone), which decides the day a timestamp's row was filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriterZone {
    /// UTC (delta-rs, and Spark with `spark.sql.session.timeZone=UTC`)
    #[default]
    Utc,
    /// a fixed offset east of UTC, in seconds
    Offset(i32),
    /// not known (or a zone with daylight saving time): bounds get one day of slack
    Unknown,
}

impl WriterZone {
    /// Parses `UTC`, `Z`, `+HH:MM`, `-HH:MM`, `+HH` or `unknown`.
    pub fn parse(text: &str) -> Option<WriterZone> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Some(WriterZone::Utc);
        }
        if t.eq_ignore_ascii_case("unknown") {
            return Some(WriterZone::Unknown);
        }
        let sign = match t.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (hours, minutes) = t[1..].split_once(':').unwrap_or((&t[1..], "0"));
        let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
        (hours <= 18 && (0..60).contains(&minutes) && !t[1..].starts_with(['+', '-']))
            .then(|| WriterZone::Offset(sign * (hours * 3600 + minutes * 60)))
    }
}

/// Quals on a generated date column implied by a qual on its source column, which has
/// type `source`: exact for dates and `timestamp_ntz`, and for `timestamp` in the
/// writer's zone (one day of slack either way when the zone is unknown).
pub(in crate::parquet) fn derive_date_quals(
    source: &LakeType,
    zone: WriterZone,
    op: Op,
    value: &Value,
) -> Vec<(Op, Value)> {
    let offset_micros = |zone: WriterZone| match zone {
        WriterZone::Utc | WriterZone::Unknown => 0,
        WriterZone::Offset(seconds) => seconds as i64 * 1_000_000,
    };
    let zone = match source {
        LakeType::Timestamp => zone,
        LakeType::TimestampNtz | LakeType::Date => WriterZone::Utc,
        _ => return Vec::new(),
    };
    // The local instant of a value, in the writer's zone.
    let local = |v: &Value| match (source, v) {
        (LakeType::Date, Value::Date(d)) => Some(*d as i64 * MICROS_PER_DAY),
        (LakeType::Timestamp | LakeType::TimestampNtz, Value::Timestamp(t)) => {
            t.checked_add(offset_micros(zone))
        }
        _ => None,
    };
    let day = |micros: i64| Value::Date(Value::timestamp_to_date(micros));
    let slack = if zone == WriterZone::Unknown {
        MICROS_PER_DAY
    } else {
        0
    };
    let window = |v: &Value| {
        let t = local(v)?;
        Some((t.checked_sub(slack)?, t.checked_add(slack)?))
    };
    let derived = match op {
        Op::Eq if slack == 0 => local(value).map(|t| vec![(Op::Eq, day(t))]),
        Op::Eq => window(value).map(|(lo, hi)| vec![(Op::Ge, day(lo)), (Op::Le, day(hi))]),
        // x < midnight of day d excludes day d itself
        Op::Lt => window(value).map(|(_, hi)| {
            let op = if hi.rem_euclid(MICROS_PER_DAY) == 0 {
                Op::Lt
            } else {
                Op::Le
            };
            vec![(op, day(hi))]
        }),
        Op::Le => window(value).map(|(_, hi)| vec![(Op::Le, day(hi))]),
        Op::Gt | Op::Ge => window(value).map(|(lo, _)| vec![(Op::Ge, day(lo))]),
        Op::In => match value {
            Value::List(items) => items
                .iter()
                .map(|item| {
                    let (lo, hi) = window(item)?;
                    let (first, last) =
                        (Value::timestamp_to_date(lo), Value::timestamp_to_date(hi));
                    Some((first..=last).map(Value::Date).collect::<Vec<_>>())
                })
                .collect::<Option<Vec<_>>>()
                .map(|days| vec![(Op::In, Value::List(days.concat()))]),
            _ => None,
        },
        _ => None,
    };
    derived.unwrap_or_default()
}
