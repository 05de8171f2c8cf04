//! Property tests of the Parquet layer's qual translation: no file, partition, row
//! group or page is skipped while it holds a row that matches the quals under
//! Postgres's semantics (NULLs match no comparison, `NaN` sorts above every number and
//! equals itself, `-0 = 0`, text compares by bytes, numerics and integers compare
//! exactly), and quals applied exactly to Arrow batches agree with Postgres row for row.
//!
//! This module holds the model (values, quals, files of one column), which decides
//! matches from those rules directly, not through [`Value::compare`]; `skipping`,
//! `partitions` and `filters` state the properties, and `delta::proptests` the same of
//! the statistics a Delta log records.

use crate::arrow::array::{
    Array, ArrayRef, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use crate::numeric::{Decimal, Numeric};
use crate::parquet::filter::{constant_matches, exact, qual_mask};
use crate::parquet::prune::{FileStats, Pruner, WriterZone};
use crate::parquet::schema::{LakeColumn, LakeSchema, LakeType};
use crate::parquet::skipping::{bloom_may_match, page_ranges, row_group_stats};
use crate::proptests::{check, like_matches, string_from};
use crate::request::{Op, Qual};
use crate::temporal::{format_date, MICROS_PER_DAY};
use crate::value::Value;
use deltalake::parquet::arrow::arrow_reader::ArrowReaderOptions;
use deltalake::parquet::arrow::{ArrowWriter, ParquetRecordBatchStreamBuilder};
use deltalake::parquet::file::metadata::PageIndexPolicy;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use proptest::prelude::*;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

mod filters;
mod partitions;
mod skipping;

/// The column types pruning handles, with the Delta type each stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Long,
    Int,
    Double,
    Float,
    Text,
    Date,
    Timestamp,
    /// `decimal(18, 2)`
    Decimal,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Long,
        Kind::Int,
        Kind::Double,
        Kind::Float,
        Kind::Text,
        Kind::Date,
        Kind::Timestamp,
        Kind::Decimal,
    ];

    fn delta(self) -> LakeType {
        match self {
            Kind::Long => LakeType::Long,
            Kind::Int => LakeType::Integer,
            Kind::Double => LakeType::Double,
            Kind::Float => LakeType::Float,
            Kind::Text => LakeType::String,
            Kind::Date => LakeType::Date,
            Kind::Timestamp => LakeType::Timestamp,
            Kind::Decimal => LakeType::Decimal(18, 2),
        }
    }
}

/// A value as Postgres holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pg {
    Int(i64),
    /// `unscaled × 10^-scale`
    Dec(i128, u32),
    /// numeric `Infinity` (true) or `-Infinity`
    NumInfinity(bool),
    NumNaN,
    Float8(f64),
    Float4(f32),
    Text(String),
    Date(i32),
    Timestamp(i64),
}

impl Pg {
    fn value(&self) -> Value {
        match self {
            Pg::Int(i) => Value::Int(*i),
            Pg::Dec(u, s) => Value::Numeric(Numeric::Finite(Decimal::from_unscaled(*u, *s as i8))),
            Pg::NumInfinity(true) => Value::Numeric(Numeric::Infinity),
            Pg::NumInfinity(false) => Value::Numeric(Numeric::NegInfinity),
            Pg::NumNaN => Value::Numeric(Numeric::NaN),
            Pg::Float8(f) => Value::Float(*f),
            Pg::Float4(f) => Value::Float4(*f),
            Pg::Text(t) => Value::Text(t.clone()),
            Pg::Date(d) => Value::Date(*d),
            Pg::Timestamp(t) => Value::Timestamp(*t),
        }
    }

    fn is_nan(&self) -> bool {
        match self {
            Pg::Float8(f) => f.is_nan(),
            Pg::Float4(f) => f.is_nan(),
            _ => false,
        }
    }
}

/// Postgres's order of two values of one type family.
fn pg_cmp(a: &Pg, b: &Pg) -> Ordering {
    use Pg::*;
    // numerics: -Infinity < finite < Infinity < NaN
    let numeric_rank = |v: &Pg| match v {
        NumInfinity(false) => Some(0),
        Int(_) | Dec(..) => Some(1),
        NumInfinity(true) => Some(2),
        NumNaN => Some(3),
        _ => None,
    };
    let exact = |v: &Pg| match v {
        Int(i) => (i128::from(*i), 0),
        Dec(u, s) => (*u, *s),
        _ => unreachable!("a finite numeric"),
    };
    let float = |v: &Pg| match v {
        Float8(f) => Some(*f),
        Float4(f) => Some(f64::from(*f)),
        _ => None,
    };
    if let (Some(ra), Some(rb)) = (numeric_rank(a), numeric_rank(b)) {
        if ra != 1 || rb != 1 {
            return ra.cmp(&rb);
        }
        let ((ua, sa), (ub, sb)) = (exact(a), exact(b));
        return (ua * 10i128.pow(sb)).cmp(&(ub * 10i128.pow(sa)));
    }
    if let (Some(x), Some(y)) = (float(a), float(b)) {
        return match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => x.partial_cmp(&y).expect("no NaN"),
        };
    }
    match (a, b) {
        (Text(x), Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Date(x), Date(y)) => x.cmp(y),
        (Timestamp(x), Timestamp(y)) => x.cmp(y),
        _ => unreachable!("the model compares values of one family: {a:?} {b:?}"),
    }
}

/// The right-hand side of a generated qual.
#[derive(Debug, Clone)]
enum Operand {
    Null,
    One(Pg),
    List(Vec<Option<Pg>>),
    Pattern(String),
}

/// One generated qual on column `c`.
#[derive(Debug, Clone)]
struct ModelQual {
    op: Op,
    operand: Operand,
}

impl ModelQual {
    fn qual(&self, column: &str) -> Qual {
        let value = match &self.operand {
            Operand::Null => Value::Null,
            Operand::One(v) => v.value(),
            Operand::List(items) => Value::List(
                items
                    .iter()
                    .map(|i| i.as_ref().map_or(Value::Null, Pg::value))
                    .collect(),
            ),
            Operand::Pattern(p) => Value::Text(p.clone()),
        };
        Qual {
            column: column.into(),
            op: self.op,
            value,
        }
    }

    /// Whether a row holding `value` satisfies the qual in Postgres; `None` when
    /// Postgres refuses the qual (a malformed `LIKE` pattern).
    fn matches(&self, value: Option<&Pg>) -> Option<bool> {
        let cmp = |c: &Pg| value.map(|v| pg_cmp(v, c));
        Some(match (&self.op, &self.operand) {
            (Op::IsNull, _) => value.is_none(),
            (Op::IsNotNull, _) => value.is_some(),
            (Op::Like, Operand::Pattern(p)) => match value {
                Some(Pg::Text(t)) => like_matches(t, p)?,
                _ => false,
            },
            (Op::In, Operand::List(items)) => items
                .iter()
                .flatten()
                .any(|i| cmp(i) == Some(Ordering::Equal)),
            (op, Operand::One(c)) => cmp(c).is_some_and(|o| match op {
                Op::Eq => o == Ordering::Equal,
                Op::Ne => o != Ordering::Equal,
                Op::Lt => o == Ordering::Less,
                Op::Le => o != Ordering::Greater,
                Op::Gt => o == Ordering::Greater,
                Op::Ge => o != Ordering::Less,
                _ => unreachable!("comparisons only"),
            }),
            _ => false,
        })
    }
}

/// Floats with the values Postgres orders specially.
fn float8() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-5i32..5).prop_map(f64::from),
        Just(f64::NAN),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.1),
        any::<f64>(),
    ]
}

fn float4() -> impl Strategy<Value = f32> {
    prop_oneof![
        (-5i16..5).prop_map(f32::from),
        Just(f32::NAN),
        Just(-0.0f32),
        Just(f32::INFINITY),
        Just(0.1f32),
        any::<f32>(),
    ]
}

/// Characters of text values: near each other in byte order, multi-byte and the
/// largest code point.
const TEXT: &[char] = &[
    'a',
    'b',
    'B',
    ' ',
    '%',
    '_',
    'é',
    'ÿ',
    '\u{10FFFF}',
    '\u{7f}',
];

/// A value a column of `kind` holds.
fn column_value(kind: Kind) -> BoxedStrategy<Pg> {
    match kind {
        Kind::Long => prop_oneof![-5i64..5, any::<i64>()]
            .prop_map(Pg::Int)
            .boxed(),
        Kind::Int => prop_oneof![-5i64..5, (i32::MIN as i64)..=(i32::MAX as i64)]
            .prop_map(Pg::Int)
            .boxed(),
        Kind::Double => float8().prop_map(Pg::Float8).boxed(),
        Kind::Float => float4().prop_map(Pg::Float4).boxed(),
        Kind::Text => prop_oneof![string_from(TEXT, 0..4), string_from(TEXT, 30..36)]
            .prop_map(Pg::Text)
            .boxed(),
        Kind::Date => prop_oneof![-3i32..3, -2_500_000i32..3_000_000]
            .prop_map(Pg::Date)
            .boxed(),
        Kind::Timestamp => prop_oneof![
            -3_000i64..3_000,
            -3 * MICROS_PER_DAY..3 * MICROS_PER_DAY,
            -210_000_000_000_000_000i64..250_000_000_000_000_000,
        ]
        .prop_map(Pg::Timestamp)
        .boxed(),
        Kind::Decimal => prop_oneof![-500i128..500, -1_000_000_000_000i128..1_000_000_000_000]
            .prop_map(|u| Pg::Dec(u, 2))
            .boxed(),
    }
}

/// A constant a qual on a column of `kind` may carry (Postgres's cross-type operators:
/// integers against numerics, float4 against float8).
fn constant(kind: Kind) -> BoxedStrategy<Pg> {
    let numeric = || {
        prop_oneof![
            (-50_000i128..50_000, 0u32..5).prop_map(|(u, s)| Pg::Dec(u, s)),
            any::<bool>().prop_map(Pg::NumInfinity),
            Just(Pg::NumNaN),
        ]
    };
    match kind {
        Kind::Long | Kind::Int => prop_oneof![3 => column_value(kind), 1 => numeric()].boxed(),
        Kind::Decimal => {
            prop_oneof![3 => column_value(kind), 1 => (-5i64..5).prop_map(Pg::Int), 1 => numeric()]
                .boxed()
        }
        Kind::Double | Kind::Float => {
            prop_oneof![float8().prop_map(Pg::Float8), float4().prop_map(Pg::Float4)].boxed()
        }
        kind => column_value(kind),
    }
}

fn model_qual(kind: Kind) -> impl Strategy<Value = ModelQual> {
    let ops = vec![
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::In,
        Op::IsNull,
        Op::IsNotNull,
        Op::Like,
    ];
    (
        prop::sample::select(ops),
        constant(kind),
        proptest::collection::vec(proptest::option::of(constant(kind)), 0..4),
        string_from(&['a', 'b', 'é', '%', '_', '\\'], 0..4),
        0..12u8,
    )
        .prop_map(move |(op, one, list, pattern, null)| {
            let op = if op == Op::Like && kind != Kind::Text {
                Op::Eq
            } else {
                op
            };
            let operand = match op {
                Op::IsNull | Op::IsNotNull => Operand::Null,
                Op::In => Operand::List(list),
                Op::Like => Operand::Pattern(pattern),
                _ if null == 0 => Operand::Null,
                _ => Operand::One(one),
            };
            ModelQual { op, operand }
        })
}

/// A file's rows (`None`: NULL) and the quals of a scan, on one column.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) kind: Kind,
    pub(crate) rows: Vec<Option<Pg>>,
    quals: Vec<ModelQual>,
}

impl Case {
    /// Whether some row satisfies every qual in Postgres; `None` when Postgres refuses a
    /// qual.
    pub(crate) fn some_row_matches(&self, rows: &[Option<Pg>]) -> Option<bool> {
        let mut any = false;
        for row in rows {
            let mut all = true;
            for q in &self.quals {
                all &= q.matches(row.as_ref())?;
            }
            any |= all;
        }
        Some(any)
    }

    pub(crate) fn quals(&self) -> Vec<Qual> {
        self.quals.iter().map(|q| q.qual("c")).collect()
    }

    /// The least and greatest non-NULL value, `NaN` left out as writers leave it out.
    pub(crate) fn bounds(&self, rows: &[Option<Pg>]) -> Option<(Pg, Pg)> {
        let values: Vec<&Pg> = rows.iter().flatten().filter(|v| !v.is_nan()).collect();
        let min = values.iter().copied().min_by(|a, b| pg_cmp(a, b))?;
        let max = values.iter().copied().max_by(|a, b| pg_cmp(a, b))?;
        Some((min.clone(), max.clone()))
    }
}

/// Rows and quals of one kind; most constants are taken from the rows (the edges
/// where a bound decides), the others drawn freely.
pub(crate) fn case() -> impl Strategy<Value = Case> {
    prop::sample::select(Kind::ALL.to_vec()).prop_flat_map(|kind| {
        (
            proptest::collection::vec(proptest::option::of(column_value(kind)), 1..7),
            proptest::collection::vec(
                (
                    model_qual(kind),
                    proptest::option::of(any::<prop::sample::Index>()),
                ),
                1..4,
            ),
        )
            .prop_map(move |(rows, quals)| {
                let quals = quals
                    .into_iter()
                    .map(|(mut qual, from_row)| {
                        let row = from_row.and_then(|i| rows[i.index(rows.len())].clone());
                        if let (Operand::One(_), Some(value)) = (&qual.operand, row) {
                            qual.operand = Operand::One(value);
                        }
                        qual
                    })
                    .collect();
                Case { kind, rows, quals }
            })
    })
}

/// Whether every date and timestamp of the case lies in the years 1 to 9999, which
/// writers spell with four digits and no sign.
fn four_digit_years(case: &Case) -> bool {
    const FIRST_DAY: i32 = -719_162; // 0001-01-01
    const LAST_DAY: i32 = 2_932_896; // 9999-12-31
    let in_range = |v: &Pg| match v {
        Pg::Date(d) => (FIRST_DAY..=LAST_DAY).contains(d),
        Pg::Timestamp(t) => (FIRST_DAY..=LAST_DAY).contains(&Value::timestamp_to_date(*t)),
        _ => true,
    };
    let operands = case.quals.iter().flat_map(|q| match &q.operand {
        Operand::One(v) => vec![v],
        Operand::List(items) => items.iter().flatten().collect(),
        _ => vec![],
    });
    case.rows.iter().flatten().chain(operands).all(in_range)
}

pub(crate) fn schema(kind: Kind, partition: bool) -> LakeSchema {
    LakeSchema {
        columns: vec![LakeColumn {
            name: "c".into(),
            physical_name: "c".into(),
            data_type: kind.delta(),
            nullable: true,
            generation_expression: None,
            type_widened: false,
            is_partition: partition,
        }],
    }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` of microseconds since 1970 (UTC), as Delta writes
/// timestamps in partition values.
pub(crate) fn timestamp_text(micros: i64, format: &str) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc().format(format).to_string())
}

/// How a Delta writer spells a value in a partition directory or a statistic.
pub(crate) fn written(value: &Pg, timestamp_format: &str) -> Option<String> {
    Some(match value {
        Pg::Int(i) => i.to_string(),
        Pg::Dec(u, s) => {
            let digits = format!("{:0>width$}", u.unsigned_abs(), width = *s as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - *s as usize);
            format!("{}{int}.{frac}", if *u < 0 { "-" } else { "" })
        }
        Pg::Float8(f) if f.is_infinite() => {
            (if *f > 0.0 { "Infinity" } else { "-Infinity" }).into()
        }
        Pg::Float4(f) if f.is_infinite() => {
            (if *f > 0.0 { "Infinity" } else { "-Infinity" }).into()
        }
        Pg::Float8(f) => format!("{f:?}"),
        Pg::Float4(f) => format!("{f:?}"),
        Pg::Text(t) => t.clone(),
        Pg::Date(d) => format_date(*d),
        Pg::Timestamp(t) => timestamp_text(*t, timestamp_format)?,
        Pg::NumInfinity(_) | Pg::NumNaN => return None,
    })
}

/// The file's rows as one Arrow column of the kind's type.
fn arrow_column(case: &Case) -> ArrayRef {
    macro_rules! column {
        ($array:ty, $variant:ident, $convert:expr) => {
            Arc::new(
                case.rows
                    .iter()
                    .map(|r| match r {
                        Some(Pg::$variant(v)) => Some($convert(v.clone())),
                        _ => None,
                    })
                    .collect::<$array>(),
            ) as ArrayRef
        };
    }
    match case.kind {
        Kind::Long => column!(Int64Array, Int, |v: i64| v),
        Kind::Int => column!(Int32Array, Int, |v: i64| v as i32),
        Kind::Double => column!(Float64Array, Float8, |v: f64| v),
        Kind::Float => column!(Float32Array, Float4, |v: f32| v),
        Kind::Text => column!(StringArray, Text, |v: String| v),
        Kind::Date => column!(Date32Array, Date, |v: i32| v),
        Kind::Timestamp => Arc::new(
            case.rows
                .iter()
                .map(|r| match r {
                    Some(Pg::Timestamp(t)) => Some(*t),
                    _ => None,
                })
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
        Kind::Decimal => Arc::new(
            case.rows
                .iter()
                .map(|r| match r {
                    Some(Pg::Dec(u, _)) => Some(*u),
                    _ => None,
                })
                .collect::<Decimal128Array>()
                .with_precision_and_scale(18, 2)
                .expect("decimal(18, 2)"),
        ),
    }
}
