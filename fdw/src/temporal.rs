//! Dates and times: the epochs the layers count from, and the text forms ODP's sources
//! write and read (Delta partition values and statistics, Redis values, CSV and JSON
//! files). Every value parser rounds fractional digits past microseconds as Postgres's
//! input computes it (`rint` of the fraction times a million); statistics are floored
//! instead ([`parse_timestamp_floor`]), so they stay bounds.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};

/// Microseconds in one day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Microseconds from 1970-01-01 (Unix, Arrow and Delta count from it) to 2000-01-01
/// (Postgres counts from it).
pub const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub const POSTGRES_EPOCH_DAYS: i32 = 10_957;

/// Days since 1970-01-01 of `YYYY-MM-DD` (a year of more than four digits, or before
/// year 1, signed as chrono writes it).
pub fn parse_date(text: &str) -> Option<i32> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some((date - NaiveDate::default()).num_days() as i32)
}

/// The date part of a date or timestamp text: up to a time part (a signed year has more
/// than ten bytes).
pub fn date_part(text: &str) -> &str {
    let end = text
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == ' ' || *c == 'T')
        .map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// Microseconds since 1970 of a timestamp without zone, `T` or space between date and
/// time.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    rounded_micros(naive_timestamp(text)?.and_utc())
}

/// Microseconds since 1970 of an RFC 3339 timestamp with offset, or of what ODP writes
/// for years RFC 3339 cannot hold (`+10000-01-01T00:00:00Z`).
pub fn parse_timestamptz(text: &str) -> Option<i64> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => rounded_micros(t),
        Err(_) => rounded_micros(naive_timestamp(text.strip_suffix('Z')?)?.and_utc()),
    }
}

/// Microseconds since 1970 of a timestamp with an offset (RFC 3339), or without one
/// (read as UTC).
pub fn parse_timestamp_any(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(rounded_micros)
        .or_else(|| parse_timestamp(text))
}

/// Like [`parse_timestamp_any`], but digits past microseconds are cut (the floor): for
/// statistics, which must stay bounds of values read at microsecond precision.
pub fn parse_timestamp_floor(text: &str) -> Option<i64> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.timestamp_micros()),
        Err(_) => Some(naive_timestamp(text)?.and_utc().timestamp_micros()),
    }
}

/// Whether `text` is an RFC 3339 timestamp with its offset.
pub fn has_offset(text: &str) -> bool {
    DateTime::parse_from_rfc3339(text).is_ok()
}

/// A timestamp without zone as ODP writes it (`T` or space between date and time).
fn naive_timestamp(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
}

/// Microseconds since 1970, more fractional digits rounded as Postgres's input rounds
/// them (to the nearest, ties to even), not cut.
fn rounded_micros<Tz: TimeZone>(t: DateTime<Tz>) -> Option<i64> {
    let fraction = (f64::from(t.timestamp_subsec_nanos()) / 1e9 * 1e6).round_ties_even() as i64;
    t.timestamp().checked_mul(1_000_000)?.checked_add(fraction)
}

/// A `timestamp` (without time zone) as Postgres reads it: the date and wall-clock
/// time, an offset (`Z`, `+05`, `-03:30`) after it ignored, more than 6 fractional
/// digits rounded; microseconds since 1970-01-01. Anything else after the time (AM/PM,
/// BC, a zone name) is refused rather than misread.
pub fn parse_wall_clock(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], text[i + 1..].trim()),
        None => (text, ""),
    };
    let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = match time {
        "" => chrono::NaiveTime::MIN,
        time => {
            let end = time.find(['+', '-', 'Z', 'z']).unwrap_or(time.len());
            if !is_offset(&time[end..]) {
                return None;
            }
            let clock = time[..end].trim();
            chrono::NaiveTime::parse_from_str(clock, "%H:%M:%S%.f")
                .or_else(|_| chrono::NaiveTime::parse_from_str(clock, "%H:%M"))
                .ok()?
        }
    };
    rounded_micros(date.and_time(time).and_utc())
}

/// Whether `text` is empty or a UTC offset: `Z`, or a sign and `HH`, `HHMM` or `HH:MM`.
fn is_offset(text: &str) -> bool {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("z") {
        return true;
    }
    let Some(digits) = text.strip_prefix(['+', '-']) else {
        return false;
    };
    let digits = digits.replacen(':', "", 1);
    matches!(digits.len(), 2 | 4)
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits[..2].parse::<u32>().is_ok_and(|h| h <= 15)
        && digits
            .get(2..)
            .is_none_or(|m| m.is_empty() || m.parse::<u32>().is_ok_and(|m| m < 60))
}

/// `YYYY-MM-DD` for days since 1970-01-01.
pub fn format_date(days: i32) -> String {
    DateTime::from_timestamp(days as i64 * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("{days} days"))
}

/// ISO-8601 UTC rendering of microseconds since 1970-01-01.
pub fn format_timestamp(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.f+00").to_string())
        .unwrap_or_else(|| format!("{micros} us"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_their_wall_clock() {
        let noon = 12 * 3_600_000_000;
        assert_eq!(parse_wall_clock("1970-01-01T12:00:00+05:00"), Some(noon));
        assert_eq!(parse_wall_clock("1970-01-01 12:00:00Z"), Some(noon));
        assert_eq!(
            parse_wall_clock("1970-01-01 12:00:00.5-03"),
            Some(noon + 500_000)
        );
        assert_eq!(parse_wall_clock("1970-01-01"), Some(0));
        assert_eq!(parse_wall_clock("1970-01-01T12:00"), Some(noon));
        assert_eq!(parse_wall_clock("not a time"), None);
        assert_eq!(parse_wall_clock("1970-01-01 01:00:00 PM"), None);
        assert_eq!(parse_wall_clock("0044-03-15 00:00:00 BC"), None);
        assert_eq!(parse_wall_clock("1970-01-01 12:00:00 garbage"), None);
        assert_eq!(parse_wall_clock("1970-01-01 12:00:00+99:99"), None);
        assert_eq!(parse_wall_clock("1970-01-01 00:00:00.0000005"), Some(0));
        assert_eq!(parse_wall_clock("1970-01-01 00:00:00.0000015"), Some(2));
    }

    #[test]
    fn dates_count_days_from_1970() {
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2000-01-01"), Some(POSTGRES_EPOCH_DAYS));
        assert_eq!(parse_date("2024-01-01 10:00:00"), None);
        assert_eq!(parse_date(date_part("2024-01-01 10:00:00")), Some(19_723));
        assert_eq!(date_part("+10000-01-01T00:00:00"), "+10000-01-01");
    }

    #[test]
    fn timestamps_round_past_microseconds() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00.0000015"), Some(2));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01"), Some(1_000_000));
        assert_eq!(parse_timestamptz("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_timestamptz("+10000-01-01T00:00:00Z"),
            Some(253_402_300_800_000_000)
        );
        assert_eq!(parse_timestamp_any("1970-01-01T00:00:00.5Z"), Some(500_000));
        assert_eq!(parse_timestamp_any("1970-01-01 00:00:00.5"), Some(500_000));
        assert_eq!(
            parse_timestamp_floor("1970-01-01T00:00:00.0000019Z"),
            Some(1)
        );
        assert_eq!(
            parse_timestamp_floor("1969-12-31 23:59:59.9999999"),
            Some(-1)
        );
        assert!(has_offset("2024-01-01T00:00:00+02:00"));
        assert!(!has_offset("2024-01-01 00:00:00"));
        assert_eq!(
            POSTGRES_EPOCH_MICROS,
            POSTGRES_EPOCH_DAYS as i64 * MICROS_PER_DAY
        );
    }
}
