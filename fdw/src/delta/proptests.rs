//! Property tests of Delta qual translation: no file, partition, row group or page is
//! skipped while it holds a row that matches the quals under Postgres's semantics
//! (NULLs match no comparison, `NaN` sorts above every number and equals itself,
//! `-0 = 0`, text compares by bytes, numerics and integers compare exactly), and quals
//! applied exactly to Arrow batches agree with Postgres row for row.
//!
//! The model below decides matches from those rules directly, not through
//! [`Value::compare`].

use crate::arrow::array::{
    Array, ArrayRef, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use crate::delta::log::stats::parse_stats;
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

/// The column types pruning handles, with the Delta type each stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
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
enum Pg {
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
struct Case {
    kind: Kind,
    rows: Vec<Option<Pg>>,
    quals: Vec<ModelQual>,
}

impl Case {
    /// Whether some row satisfies every qual in Postgres; `None` when Postgres refuses a
    /// qual.
    fn some_row_matches(&self, rows: &[Option<Pg>]) -> Option<bool> {
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

    fn quals(&self) -> Vec<Qual> {
        self.quals.iter().map(|q| q.qual("c")).collect()
    }

    /// The least and greatest non-NULL value, `NaN` left out as writers leave it out.
    fn bounds(&self, rows: &[Option<Pg>]) -> Option<(Pg, Pg)> {
        let values: Vec<&Pg> = rows.iter().flatten().filter(|v| !v.is_nan()).collect();
        let min = values.iter().copied().min_by(|a, b| pg_cmp(a, b))?;
        let max = values.iter().copied().max_by(|a, b| pg_cmp(a, b))?;
        Some((min.clone(), max.clone()))
    }
}

/// Rows and quals of one kind; most constants are taken from the rows (the edges
/// where a bound decides), the others drawn freely.
fn case() -> impl Strategy<Value = Case> {
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

fn schema(kind: Kind, partition: bool) -> LakeSchema {
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
fn timestamp_text(micros: i64, format: &str) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc().format(format).to_string())
}

/// How a Delta writer spells a value in a partition directory or a statistic.
fn written(value: &Pg, timestamp_format: &str) -> Option<String> {
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

/// The file's statistics as a Delta writer puts them in the log: bounds in JSON
/// (strings truncated to 32 characters, timestamps to milliseconds, decimals exact or
/// through a double, float4 as itself or widened), and counts; each part may be absent.
fn stats_json(case: &Case, through_double: bool, omit: [bool; 3]) -> String {
    let quoted = |text: String| serde_json::to_string(&text).expect("a string");
    let bound = |v: &Pg, is_max: bool| -> Option<String> {
        Some(match v {
            Pg::Text(t) => {
                let mut t: String = t.chars().take(32).collect();
                if is_max && t.chars().count() == 32 {
                    t.push('\u{10FFFF}');
                }
                quoted(t)
            }
            Pg::Timestamp(micros) => {
                let millis = micros.div_euclid(1000) * 1000;
                quoted(timestamp_text(millis, "%Y-%m-%dT%H:%M:%S%.3fZ")?)
            }
            Pg::Dec(u, s) if through_double => format!("{:?}", *u as f64 / 10f64.powi(*s as i32)),
            Pg::Float4(f) if through_double && f.is_finite() => format!("{:?}", f64::from(*f)),
            Pg::Float8(f) if f.is_finite() => written(v, "")?,
            Pg::Float4(f) if f.is_finite() => written(v, "")?,
            Pg::Int(_) | Pg::Dec(..) => written(v, "")?,
            // dates, and the infinities Jackson writes as strings
            v => quoted(written(v, "")?),
        })
    };
    let mut parts = Vec::new();
    if !omit[0] {
        parts.push(format!("\"numRecords\":{}", case.rows.len()));
    }
    if !omit[1] {
        let nulls = case.rows.iter().filter(|r| r.is_none()).count();
        parts.push(format!("\"nullCount\":{{\"c\":{nulls}}}"));
    }
    if let (Some((min, max)), false) = (case.bounds(&case.rows), omit[2]) {
        if let (Some(min), Some(max)) = (bound(&min, false), bound(&max, true)) {
            parts.push(format!(
                "\"minValues\":{{\"c\":{min}}},\"maxValues\":{{\"c\":{max}}}"
            ));
        }
    }
    format!("{{{}}}", parts.join(","))
}

/// The statistics of a Parquet writer: exact bounds and counts, each maybe absent.
fn stats(case: &Case, omit: [bool; 3]) -> FileStats {
    let mut stats = FileStats::default();
    if !omit[0] {
        stats.num_records = Some(case.rows.len() as u64);
    }
    if !omit[1] {
        let nulls = case.rows.iter().filter(|r| r.is_none()).count() as u64;
        stats.null_count.insert("c".into(), nulls);
    }
    if let (Some((min, max)), false) = (case.bounds(&case.rows), omit[2]) {
        stats.min.insert("c".into(), min.value());
        stats.max.insert("c".into(), max.value());
    }
    stats
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

/// The rows written to a Parquet file of row groups of `group_rows` rows and pages of
/// two, with page statistics and bloom filters.
fn parquet(case: &Case, group_rows: usize) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter([("c", arrow_column(case))]).expect("one column");
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .set_data_page_row_count_limit(2)
        .set_write_batch_size(2)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_bloom_filter_enabled(true)
        .build();
    let mut file = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut file, batch.schema(), Some(properties)).expect("a writer");
    writer.write(&batch).expect("rows are written");
    writer.close().expect("the file is finished");
    file
}

/// Days since 1970 of `micros` (UTC) shifted by `offset_seconds`: the day a writer in
/// that zone files a timestamp under.
fn local_day(micros: i64, offset_seconds: i32) -> i32 {
    Value::timestamp_to_date(micros + i64::from(offset_seconds) * 1_000_000)
}

/// A qual on a timestamp: an operator, an offset from the row's value, and offsets
/// for an `IN` list.
type TimestampQual = (Op, i64, Vec<i64>);

fn timestamp_qual() -> impl Strategy<Value = TimestampQual> {
    (
        prop::sample::select(vec![
            Op::Eq,
            Op::Ne,
            Op::Lt,
            Op::Le,
            Op::Gt,
            Op::Ge,
            Op::In,
            Op::IsNull,
            Op::IsNotNull,
        ]),
        prop_oneof![
            Just(0i64),
            -3 * MICROS_PER_DAY..3 * MICROS_PER_DAY,
            Just(MICROS_PER_DAY),
            Just(-1),
            Just(1)
        ],
        proptest::collection::vec(-2 * MICROS_PER_DAY..2 * MICROS_PER_DAY, 0..3),
    )
}

/// The partition property of [`Case`]: a partition holding the case's first value is
/// kept when that value matches every qual.
fn check_partition(case: &Case) -> Result<(), TestCaseError> {
    let value = case.rows[0]
        .clone()
        .filter(|v| *v != Pg::Text(String::new()));
    let matching = case.some_row_matches(std::slice::from_ref(&value));
    prop_assume!(matching.is_some(), "Postgres refuses the qual");
    let text = match &value {
        Some(v) => written(v, "%Y-%m-%d %H:%M:%S%.6f"),
        None => None,
    };
    prop_assume!(
        value.is_none() || text.is_some(),
        "a value Delta cannot write"
    );
    if matching == Some(true) {
        let pruner = Pruner::new(&schema(case.kind, true), &case.quals(), WriterZone::Utc);
        let values = HashMap::from([("c".to_string(), text.clone())]);
        prop_assert!(pruner.partition_may_match(&values), "partition {:?}", text);
    }
    Ok(())
}

/// The generated-partition property: a row with timestamp `ts` filed by a writer
/// (`zone`: `None` for UTC, else its offset; `unknown`: the table does not know it, and
/// the writer was at `writer_minutes`) is kept when `ts` matches every qual.
fn check_generated(
    ts: i64,
    zone: Option<i32>,
    unknown: bool,
    writer_minutes: i32,
    quals: Vec<TimestampQual>,
) -> Result<(), TestCaseError> {
    let (zone, writer_offset) = match (zone, unknown) {
        (_, true) => (WriterZone::Unknown, writer_minutes * 60),
        (None, false) => (WriterZone::Utc, 0),
        (Some(offset), false) => (WriterZone::Offset(offset), offset),
    };
    let schema = LakeSchema {
        columns: vec![
            LakeColumn {
                name: "ts".into(),
                physical_name: "ts".into(),
                data_type: LakeType::Timestamp,
                nullable: true,
                generation_expression: None,
                type_widened: false,
                is_partition: false,
            },
            LakeColumn {
                name: "day".into(),
                physical_name: "day".into(),
                data_type: LakeType::Date,
                nullable: true,
                generation_expression: Some("CAST(ts AS DATE)".into()),
                type_widened: false,
                is_partition: true,
            },
        ],
    };
    let quals: Vec<ModelQual> = quals
        .into_iter()
        .map(|(op, delta, list)| ModelQual {
            op,
            operand: match op {
                Op::In => Operand::List(
                    list.into_iter()
                        .map(|d| Some(Pg::Timestamp(ts + d)))
                        .collect(),
                ),
                _ => Operand::One(Pg::Timestamp(ts + delta)),
            },
        })
        .collect();
    let row = Some(Pg::Timestamp(ts));
    let matches = quals.iter().all(|q| q.matches(row.as_ref()) == Some(true));
    if matches {
        let pruner = Pruner::new(
            &schema,
            &quals.iter().map(|q| q.qual("ts")).collect::<Vec<_>>(),
            zone,
        );
        let day = format_date(local_day(ts, writer_offset));
        let values = HashMap::from([("day".to_string(), Some(day.clone()))]);
        prop_assert!(
            pruner.partition_may_match(&values),
            "ts {} filed under {} by a writer at {} s ({:?})",
            ts,
            day,
            writer_offset,
            zone
        );
    }
    Ok(())
}

/// A file whose statistics (exact bounds without NaN, null and row counts, any of
/// them missing) cover a row matching every qual is never skipped.
#[test]
fn statistics_never_skip_a_matching_file() {
    check(512, (case(), any::<[bool; 3]>()), |(case, omit)| {
        let matching = case.some_row_matches(&case.rows);
        prop_assume!(matching.is_some(), "Postgres refuses the qual");
        if matching == Some(true) {
            let pruner = Pruner::new(&schema(case.kind, false), &case.quals(), WriterZone::Utc);
            prop_assert!(
                pruner.stats_may_match(&stats(&case, omit)),
                "{:?}",
                stats(&case, omit)
            );
        }
        Ok(())
    });
}

/// The same through the statistics JSON of the log, as writers spell it (strings
/// truncated, timestamps in milliseconds, decimals and float4 through doubles).
#[test]
fn logged_statistics_never_skip_a_matching_file() {
    check(
        512,
        (case(), any::<bool>(), any::<[bool; 3]>()),
        |(case, through_double, omit)| {
            let matching = case.some_row_matches(&case.rows);
            prop_assume!(matching.is_some(), "Postgres refuses the qual");
            let schema = schema(case.kind, false);
            let json = stats_json(&case, through_double, omit);
            let stats = parse_stats(&json, &schema).expect("statistics JSON parses");
            if matching == Some(true) {
                let pruner = Pruner::new(&schema, &case.quals(), WriterZone::Utc);
                prop_assert!(
                    pruner.stats_may_match(&stats),
                    "{} read as {:?}",
                    json,
                    stats
                );
            }
            Ok(())
        },
    );
}

/// A partition whose value matches every qual is never skipped, whatever the type
/// (NULL partitions included), for dates and timestamps of four-digit years.
#[test]
fn partitions_never_skip_a_matching_value() {
    check(
        512,
        case().prop_filter("years 1 to 9999", four_digit_years),
        |case| check_partition(&case),
    );
}

/// A file of a date partition generated as `CAST(ts AS DATE)` is never skipped for
/// a row whose `ts` matches the quals on `ts`: the writer filed it under the day of
/// `ts` in its zone (UTC, a known offset, or any offset up to 18 hours when the zone
/// is unknown). Years 1 to 9999.
#[test]
fn generated_date_partitions_never_skip_a_matching_row() {
    check(
        512,
        (
            -62_000_000_000_000_000i64..253_000_000_000_000_000,
            prop_oneof![
                Just(None),
                (-18 * 60i32..=18 * 60).prop_map(|m| Some(m * 60))
            ],
            any::<bool>(),
            -18 * 60i32..=18 * 60,
            proptest::collection::vec(timestamp_qual(), 1..3),
        ),
        |(ts, zone, unknown, writer_minutes, quals)| {
            check_generated(ts, zone, unknown, writer_minutes, quals)
        },
    );
}

/// A qual the Arrow filter applies exactly gives, row for row, Postgres's answer
/// (a NULL or false mask drops the row); a partition value is decided the same way.
#[test]
fn exact_filters_agree_with_postgres() {
    check(
        512,
        case().prop_filter("a type the filter applies", |c| {
            matches!(c.kind, Kind::Long | Kind::Int | Kind::Text | Kind::Date)
        }),
        |case| {
            let array = arrow_column(&case);
            for (model, qual) in case.quals.iter().zip(case.quals()) {
                if !exact(array.data_type(), &qual) {
                    continue;
                }
                let mask = qual_mask(&array, &qual)
                    .expect("an exact qual is applied")
                    .expect("masks compute");
                for (i, row) in case.rows.iter().enumerate() {
                    let Some(expected) = model.matches(row.as_ref()) else {
                        continue;
                    };
                    prop_assert_eq!(
                        mask.is_valid(i) && mask.value(i),
                        expected,
                        "row {:?}, qual {:?}",
                        row,
                        qual
                    );
                    let value = row.as_ref().map_or(Value::Null, Pg::value);
                    if let Some(decided) = constant_matches(array.data_type(), &value, &qual) {
                        prop_assert_eq!(
                            decided,
                            expected,
                            "partition value {:?}, qual {:?}",
                            value,
                            qual
                        );
                    }
                }
            }
            Ok(())
        },
    );
}

/// In a Parquet file, no row group is skipped by its statistics or bloom filters,
/// and no page by the page index, while it holds a row matching every qual.
#[test]
fn parquet_skipping_never_drops_a_matching_row() {
    check(256, (case(), 1usize..5), |(case, group_rows)| {
        prop_assume!(
            case.some_row_matches(&case.rows).is_some(),
            "Postgres refuses the qual"
        );
        let schema = schema(case.kind, false);
        let pruner = Pruner::new(&schema, &case.quals(), WriterZone::Utc);
        let file = parquet(&case, group_rows);
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let result = crate::runtime::block_on(async {
            let mut builder = ParquetRecordBatchStreamBuilder::new_with_options(
                std::io::Cursor::new(file),
                options,
            )
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let metadata = builder.metadata().clone();
            let mut first = 0;
            for group in 0..metadata.num_row_groups() {
                let rows = metadata.row_group(group).num_rows() as usize;
                let in_group = &case.rows[first..first + rows];
                let matching: Vec<usize> = (0..rows)
                    .filter(|&i| case.some_row_matches(&in_group[i..=i]) == Some(true))
                    .collect();
                first += rows;
                if matching.is_empty() {
                    continue;
                }
                let stats = row_group_stats(metadata.row_group(group), &schema, &pruner);
                prop_assert!(
                    pruner.stats_may_match(&stats),
                    "group {} skipped by {:?}",
                    group,
                    stats
                );
                prop_assert!(
                    bloom_may_match(&mut builder, group, &schema, &pruner).await,
                    "group {} skipped by its bloom filter",
                    group
                );
                if let Some(ranges) = page_ranges(&metadata, group, &schema, &pruner) {
                    for i in matching {
                        prop_assert!(
                            ranges.rows.iter().any(|r| r.contains(&i)),
                            "row {} of group {} is on a skipped page: {:?}",
                            i,
                            group,
                            ranges
                        );
                    }
                }
            }
            Ok(())
        });
        result.map_err(TestCaseError::fail)??;
        Ok(())
    });
}

/// The same for dates before year 1 and after 9999 (`-0044-03-15`, `+10000-01-01`,
/// as Java and chrono write them); more cases, as few values hit the edge.
#[test]
fn partitions_of_any_year_never_skip_a_matching_value() {
    check(
        4096,
        case().prop_filter("a year before 1 or after 9999", |c| !four_digit_years(c)),
        |case| check_partition(&case),
    );
}

/// The same for timestamps before year 1 and after 9999; more cases, as few values
/// hit the edge.
#[test]
fn generated_date_partitions_of_any_year_never_skip_a_matching_row() {
    check(
        4096,
        (
            -200_000_000_000_000_000i64..200_000_000_000_000_000,
            prop_oneof![
                Just(None),
                (-18 * 60i32..=18 * 60).prop_map(|m| Some(m * 60))
            ],
            any::<bool>(),
            -18 * 60i32..=18 * 60,
            proptest::collection::vec(timestamp_qual(), 1..3),
        ),
        |(ts, zone, unknown, writer_minutes, quals)| {
            check_generated(ts, zone, unknown, writer_minutes, quals)
        },
    );
}
