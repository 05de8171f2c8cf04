//! Exact decimal numbers: Postgres `numeric` constants and Delta `decimal` values.
//!
//! Values are kept as digit strings, never as binary floats, so a comparison at the
//! 38th digit gives the answer Postgres gives. Special values follow Postgres's order:
//! `-Infinity` < every finite value < `Infinity` < `NaN`, and `NaN = NaN`.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// Largest decimal exponent accepted when parsing (`1e1000` and beyond are refused).
const MAX_EXPONENT: i64 = 1000;

/// An exact decimal number, or one of Postgres's special numeric values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Numeric {
    /// `-Infinity`
    NegInfinity,
    /// a finite value
    Finite(Decimal),
    /// `Infinity`
    Infinity,
    /// `NaN` (greater than every other value and equal to itself, as in Postgres)
    NaN,
}

/// A finite decimal in canonical form: no leading zeros in `integer`, no trailing
/// zeros in `fraction`, and zero is never negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decimal {
    negative: bool,
    integer: String,
    fraction: String,
}

impl Decimal {
    /// Parses `[+-]digits[.digits][e[+-]digits]`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], parse_exponent(&rest[i + 1..])?),
            None => (rest, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !digits_only(int_part)
            || !digits_only(frac_part)
        {
            return None;
        }
        // Move the decimal point by the exponent over the digit string.
        let digits = format!("{int_part}{frac_part}");
        let point = int_part.len() as i64 + exponent;
        let (integer, fraction) = if point <= 0 {
            (
                String::new(),
                format!("{}{digits}", "0".repeat((-point) as usize)),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            let (i, f) = digits.split_at(point as usize);
            (i.to_string(), f.to_string())
        };
        Some(Decimal::canonical(negative, &integer, &fraction))
    }

    /// The decimal of an integer.
    pub fn from_i64(value: i64) -> Decimal {
        let text = value.unsigned_abs().to_string();
        Decimal::canonical(value < 0, &text, "")
    }

    /// The decimal `unscaled × 10^-scale` (an Arrow/Delta `decimal` value).
    pub fn from_unscaled(unscaled: i128, scale: i8) -> Decimal {
        Decimal::parse(&format!("{unscaled}e{}", -(scale as i64))).expect("integer text parses")
    }

    /// The value as an integer count of `10^-scale` units, truncated toward zero;
    /// `None` when it does not fit an `i128` (Delta decimals always do).
    pub fn to_unscaled(&self, scale: i8) -> Option<i128> {
        let scale = usize::try_from(scale).ok()?;
        let mut fraction: String = self.fraction.chars().take(scale).collect();
        fraction.extend(std::iter::repeat_n('0', scale - fraction.len()));
        let digits = format!("{}{fraction}", self.integer);
        let magnitude: i128 = if digits.trim_start_matches('0').is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// The value as a count of `10^-scale` units, rounded half away from zero as
    /// Postgres rounds a numeric into `numeric(p, scale)`; `None` when it does not
    /// fit an `i128`.
    pub fn to_unscaled_rounded(&self, scale: i8) -> Option<i128> {
        let truncated = self.to_unscaled(scale)?;
        let next_digit = self
            .fraction
            .as_bytes()
            .get(usize::try_from(scale).ok()?)
            .copied()
            .unwrap_or(b'0');
        if next_digit < b'5' {
            return Some(truncated);
        }
        if self.negative {
            truncated.checked_sub(1)
        } else {
            truncated.checked_add(1)
        }
    }

    /// Whether the value has no fractional part.
    pub fn is_integer(&self) -> bool {
        self.fraction.is_empty()
    }

    fn canonical(negative: bool, integer: &str, fraction: &str) -> Decimal {
        let integer = integer.trim_start_matches('0').to_string();
        let fraction = fraction.trim_end_matches('0').to_string();
        let zero = integer.is_empty() && fraction.is_empty();
        Decimal {
            negative: negative && !zero,
            integer,
            fraction,
        }
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        self.integer
            .len()
            .cmp(&other.integer.len())
            .then_with(|| self.integer.cmp(&other.integer))
            .then_with(|| self.fraction.cmp(&other.fraction))
    }
}

fn parse_exponent(text: &str) -> Option<i64> {
    let value: i64 = text.parse().ok()?;
    (value.abs() <= MAX_EXPONENT).then_some(value)
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        let integer = if self.integer.is_empty() {
            "0"
        } else {
            &self.integer
        };
        if self.fraction.is_empty() {
            write!(f, "{sign}{integer}")
        } else {
            write!(f, "{sign}{integer}.{}", self.fraction)
        }
    }
}

impl Numeric {
    /// Parses Postgres's numeric text (`NaN`, `Infinity`, `-Infinity` or a decimal).
    pub fn parse(text: &str) -> Option<Numeric> {
        match text.trim().to_ascii_lowercase().as_str() {
            "nan" => Some(Numeric::NaN),
            "infinity" | "+infinity" | "inf" | "+inf" => Some(Numeric::Infinity),
            "-infinity" | "-inf" => Some(Numeric::NegInfinity),
            _ => Decimal::parse(text).map(Numeric::Finite),
        }
    }
}

impl Ord for Numeric {
    fn cmp(&self, other: &Numeric) -> Ordering {
        fn rank(n: &Numeric) -> u8 {
            match n {
                Numeric::NegInfinity => 0,
                Numeric::Finite(_) => 1,
                Numeric::Infinity => 2,
                Numeric::NaN => 3,
            }
        }
        match (self, other) {
            (Numeric::Finite(a), Numeric::Finite(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl PartialOrd for Numeric {
    fn partial_cmp(&self, other: &Numeric) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Numeric::NegInfinity => f.write_str("-Infinity"),
            Numeric::Finite(d) => d.fmt(f),
            Numeric::Infinity => f.write_str("Infinity"),
            Numeric::NaN => f.write_str("NaN"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Numeric {
        Numeric::parse(text).unwrap()
    }

    #[test]
    fn compares_beyond_the_precision_of_f64() {
        assert!(n("12345678901234567.000000000000000001") > n("12345678901234567"));
        assert!(n("0.30000000000000000001") > n("0.3"));
        assert!(n("-1.5") < n("-1.25"));
        assert_eq!(n("1.50"), n("001.5"));
        assert_eq!(n("-0.000"), n("0"));
    }

    #[test]
    fn exponents_move_the_point() {
        assert_eq!(n("1.25E+2"), n("125"));
        assert_eq!(n("125e-4"), n("0.0125"));
        assert_eq!(n("0e10"), n("0"));
        assert!(Numeric::parse("1e99999").is_none());
        assert!(Numeric::parse("1.2.3").is_none());
        assert!(Numeric::parse("").is_none());
    }

    #[test]
    fn specials_sort_as_in_postgres() {
        assert!(n("NaN") > n("Infinity"));
        assert!(n("Infinity") > n("1e1000"));
        assert!(n("-Infinity") < n("-1e1000"));
        assert_eq!(n("NaN"), n("nan"));
    }

    #[test]
    fn unscaled_round_trip_truncates_toward_zero() {
        let d = Decimal::parse("-12.345").unwrap();
        assert_eq!(d.to_unscaled(2), Some(-1234));
        assert_eq!(d.to_unscaled(4), Some(-123450));
        assert_eq!(Decimal::parse("0").unwrap().to_unscaled(18), Some(0));
        assert_eq!(Decimal::parse("1e40").unwrap().to_unscaled(0), None);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let r = |t: &str, s: i8| Decimal::parse(t).unwrap().to_unscaled_rounded(s);
        assert_eq!(r("1.005", 2), Some(101));
        assert_eq!(r("-1.005", 2), Some(-101));
        assert_eq!(r("1.004999", 2), Some(100));
        assert_eq!(r("2.5", 0), Some(3));
    }

    #[test]
    fn unscaled_values_and_display() {
        assert_eq!(Decimal::from_unscaled(-1, 2).to_string(), "-0.01");
        assert_eq!(
            Decimal::from_unscaled(1234567890, 2).to_string(),
            "12345678.9"
        );
        assert_eq!(
            Decimal::from_i64(i64::MIN).to_string(),
            "-9223372036854775808"
        );
        assert_eq!(n("-Infinity").to_string(), "-Infinity");
    }
}
