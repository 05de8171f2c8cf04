//! Grouped aggregation over scan batches, with PostgreSQL's result types, NULL rules
//! and overflow behaviour: what a pushed-down `GROUP BY` computes before any row
//! becomes a tuple.
//!
//! Values are folded in the order the batches arrive, one row after the other, with
//! the arithmetic of Postgres's own transition functions (`float8pl`, `float8_accum`,
//! `float8larger`, ...), so a float sum equals the one Postgres computes over the same
//! rows in the same order, and an overflow raises the error Postgres raises. Integer
//! and decimal sums are exact (128-bit).

use crate::batch::{ColumnData, ScanBatch};
use crate::types::PgType;
use crate::value::Value;
use deltalake::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int64Array, PrimitiveArray, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::compute::{cast, cast_with_options, take, CastOptions};
use deltalake::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Decimal128Type, Float32Type, Float64Type, Int64Type, TimeUnit,
};
use deltalake::arrow::row::{RowConverter, Rows, SortField};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// An aggregate function the kernel computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Function {
    /// `count(*)`: rows
    CountRows,
    /// `count(column)`: non-NULL values
    Count,
    /// `sum` with Postgres's result type for smallint and integer (bigint), real and
    /// double precision
    Sum,
    /// an exact sum as numeric: `sum(bigint)`, `sum(numeric)`, and the numerator of
    /// `avg` over integers and numerics
    NumericSum,
    /// `avg(real)`, `avg(double precision)`: double precision
    FloatAvg,
    /// `min`
    Min,
    /// `max`
    Max,
}

impl Function {
    /// Whether the kernel computes the function over values of `input` exactly as
    /// Postgres does (`min`/`max` of text only under a byte-wise collation, which the
    /// caller checks).
    pub fn supports(self, input: Option<&PgType>) -> bool {
        use PgType as P;
        match (self, input) {
            (Function::CountRows, None) => true,
            (Function::Count, Some(_)) => true,
            (Function::Sum, Some(t)) => matches!(t, P::Int2 | P::Int4 | P::Float4 | P::Float8),
            (Function::NumericSum, Some(t)) => {
                matches!(t, P::Int2 | P::Int4 | P::Int8 | P::Numeric)
            }
            (Function::FloatAvg, Some(t)) => matches!(t, P::Float4 | P::Float8),
            (Function::Min | Function::Max, Some(t)) => matches!(
                t,
                P::Int2
                    | P::Int4
                    | P::Int8
                    | P::Float4
                    | P::Float8
                    | P::Numeric
                    | P::Date
                    | P::Timestamp
                    | P::TimestampTz
                    | P::Text
                    | P::Varchar
            ),
            _ => false,
        }
    }

    /// SQL spelling, for EXPLAIN.
    pub fn sql(self) -> &'static str {
        match self {
            Function::CountRows | Function::Count => "count",
            Function::Sum | Function::NumericSum => "sum",
            Function::FloatAvg => "avg",
            Function::Min => "min",
            Function::Max => "max",
        }
    }
}

/// Whether rows can be grouped by a column of this type: types whose equality is
/// byte equality of their values (text under a deterministic collation, which the
/// caller checks).
pub fn groupable(pg: &PgType) -> bool {
    use PgType as P;
    matches!(
        pg,
        P::Bool
            | P::Int2
            | P::Int4
            | P::Int8
            | P::Text
            | P::Varchar
            | P::Date
            | P::Timestamp
            | P::TimestampTz
    )
}

/// One aggregate of a pushed `GROUP BY`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// the function
    pub function: Function,
    /// the input: index among the scan's columns and its Postgres type (`None` for
    /// `count(*)`)
    pub input: Option<(usize, PgType)>,
}

/// What to compute over a scan: rows grouped by some of its columns, and aggregates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateSpec {
    /// the grouping columns: index among the scan's columns and Postgres type
    pub group_by: Vec<(usize, PgType)>,
    /// the aggregates, in output order after the grouping columns
    pub aggregates: Vec<Aggregate>,
}

/// An aggregation the kernel could not finish.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// a float sum or average overflowed from finite inputs (Postgres raises the same)
    #[error("value out of range: overflow")]
    FloatOverflow,
    /// an exact sum left the 38 digits the kernel keeps
    #[error("numeric sum exceeds 38 digits; disable aggregate pushdown with SET odp.aggregate_pushdown = off")]
    NumericOverflow,
    /// a column arrived in an Arrow type the kernel does not aggregate
    #[error("cannot aggregate {0}")]
    Type(String),
    /// an Arrow kernel failed
    #[error("{0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
}

type Result<T> = std::result::Result<T, AggregateError>;

/// What a source knows about some rows without reading them (Delta file statistics):
/// rows, and per aggregate input its non-NULL count and bounds.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// rows summarized
    pub rows: u64,
    /// per aggregate (in spec order): non-NULL values of its input, and the least and
    /// greatest of them (`None` when unknown or all NULL)
    pub inputs: Vec<InputSummary>,
}

/// Statistics of one aggregate's input over summarized rows.
#[derive(Debug, Clone, Default)]
pub struct InputSummary {
    /// non-NULL values
    pub non_null: u64,
    /// least value
    pub min: Option<Value>,
    /// greatest value
    pub max: Option<Value>,
}

/// The group of each row of one batch.
enum GroupIds {
    /// every row is in one group
    Single(u32),
    /// the group of each row
    PerRow(Vec<u32>),
}

impl GroupIds {
    fn of(&self, row: usize) -> usize {
        match self {
            GroupIds::Single(g) => *g as usize,
            GroupIds::PerRow(ids) => ids[row] as usize,
        }
    }
}

/// A hash map with a fast hasher (grouping keys are not attacker-chosen hash floods:
/// foldhash is seeded per process).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Distinct grouping keys and the group of each.
enum Groups {
    /// no grouping columns: exactly one group, even over no rows
    None,
    /// one text column: keys by their bytes; dictionary-encoded batches look up each
    /// entry of a dictionary once, however many batches share it
    Text {
        index: TextIndex,
        null: Option<u32>,
        keys: Vec<Option<Box<str>>>,
        /// the last dictionary's values and the group of each entry (`u32::MAX`: not
        /// looked up yet)
        dictionary: Option<(ArrayRef, Vec<u32>)>,
    },
    /// any other columns: keys in Arrow's row format (byte-comparable encodings)
    Rows {
        converter: RowConverter,
        index: FastMap<Box<[u8]>, u32>,
        keys: Rows,
    },
}

impl Groups {
    fn new(types: &[DataType]) -> Result<Groups> {
        Ok(match types {
            [] => Groups::None,
            [DataType::Utf8] => Groups::Text {
                index: TextIndex::default(),
                null: None,
                keys: Vec::new(),
                dictionary: None,
            },
            _ => {
                let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
                let converter = RowConverter::new(fields)?;
                let keys = converter.empty_rows(0, 0);
                Groups::Rows {
                    converter,
                    index: FastMap::default(),
                    keys,
                }
            }
        })
    }

    fn count(&self) -> usize {
        match self {
            Groups::None => 1,
            Groups::Text { keys, .. } => keys.len(),
            Groups::Rows { keys, .. } => keys.num_rows(),
        }
    }

    /// The groups of a batch's rows from its key columns (canonical types; one-row
    /// arrays for keys constant over the batch).
    fn assign(&mut self, columns: &[ArrayRef], rows: usize) -> Result<GroupIds> {
        let single = columns.iter().all(|k| k.len() == 1);
        match self {
            Groups::None => Ok(GroupIds::Single(0)),
            Groups::Text {
                index, null, keys, ..
            } => {
                let strings = columns[0].as_string::<i32>();
                let mut id = |row: usize| text_group(index, null, keys, strings, row);
                Ok(if single {
                    GroupIds::Single(id(0))
                } else {
                    GroupIds::PerRow((0..rows).map(id).collect())
                })
            }
            Groups::Rows {
                converter,
                index,
                keys,
            } => {
                let encoded = converter.convert_columns(columns)?;
                let mut id = |row: usize| {
                    let key = encoded.row(row);
                    if let Some(&id) = index.get(key.data()) {
                        return id;
                    }
                    let id = keys.num_rows() as u32;
                    index.insert(key.data().into(), id);
                    keys.push(key);
                    id
                };
                Ok(if single {
                    GroupIds::Single(id(0))
                } else {
                    GroupIds::PerRow((0..rows).map(id).collect())
                })
            }
        }
    }

    /// The groups of a batch grouped by one dictionary-encoded text column.
    fn assign_dictionary(&mut self, column: &ArrayRef) -> Result<GroupIds> {
        let Groups::Text {
            index,
            null,
            keys,
            dictionary,
        } = self
        else {
            let plain = cast(column, &DataType::Utf8)?;
            return self.assign(&[plain], column.len());
        };
        let encoded = column.as_any_dictionary();
        // the Parquet reader hands each batch of a column chunk the same dictionary
        // buffers (in a new array): compare the buffers
        let same = dictionary
            .as_ref()
            .is_some_and(|(values, _)| same_values(values, encoded.values()));
        if !same {
            let entries = vec![u32::MAX; encoded.values().len()];
            *dictionary = Some((encoded.values().clone(), entries));
        }
        let (values, known) = dictionary.as_mut().expect("set above");
        let strings = cast(values, &DataType::Utf8)?;
        let strings = strings.as_string::<i32>();
        let entries = cast(encoded.keys(), &DataType::Int64)?;
        let entries = entries.as_primitive::<Int64Type>();
        let mut ids = Vec::with_capacity(entries.len());
        for row in 0..entries.len() {
            if entries.is_null(row) {
                ids.push(*null.get_or_insert_with(|| {
                    keys.push(None);
                    keys.len() as u32 - 1
                }));
                continue;
            }
            let entry = entries.value(row) as usize;
            if known[entry] == u32::MAX {
                known[entry] = text_group(index, null, keys, strings, entry);
            }
            ids.push(known[entry]);
        }
        Ok(GroupIds::PerRow(ids))
    }

    fn finish(self) -> Result<Vec<ArrayRef>> {
        Ok(match self {
            Groups::None => Vec::new(),
            Groups::Text { keys, .. } => vec![Arc::new(StringArray::from_iter(
                keys.iter().map(|k| k.as_deref()),
            ))],
            Groups::Rows {
                converter, keys, ..
            } => converter.convert_rows(&keys)?,
        })
    }
}

/// Whether two arrays are views of the same buffers.
fn same_values(a: &ArrayRef, b: &ArrayRef) -> bool {
    let (a, b) = (a.to_data(), b.to_data());
    a.data_type() == b.data_type()
        && a.len() == b.len()
        && a.offset() == b.offset()
        && a.buffers().len() == b.buffers().len()
        && a.buffers()
            .iter()
            .zip(b.buffers())
            .all(|(x, y)| x.as_ptr() == y.as_ptr())
        && a.nulls().map(|n| n.buffer().as_ptr()) == b.nulls().map(|n| n.buffer().as_ptr())
}

/// The group of row `row` of a text key column, created when new.
fn text_group(
    index: &mut TextIndex,
    null: &mut Option<u32>,
    keys: &mut Vec<Option<Box<str>>>,
    strings: &StringArray,
    row: usize,
) -> u32 {
    if strings.is_null(row) {
        return *null.get_or_insert_with(|| {
            keys.push(None);
            keys.len() as u32 - 1
        });
    }
    let value = strings.value(row);
    let key = TextKey::of(value);
    if let Some(&id) = match &key {
        TextKey::Short(packed) => index.short.get(packed),
        TextKey::Long(text) => index.long.get(*text),
    } {
        return id;
    }
    let id = keys.len() as u32;
    match key {
        TextKey::Short(packed) => index.short.insert(packed, id),
        TextKey::Long(text) => index.long.insert(text.into(), id),
    };
    keys.push(Some(value.into()));
    id
}

/// Groups of text keys: keys of up to 15 bytes packed into an integer (compared
/// without a call to `memcmp`), longer ones by their text.
#[derive(Default)]
struct TextIndex {
    short: FastMap<u128, u32>,
    long: FastMap<Box<str>, u32>,
}

/// A text key as [`TextIndex`] looks it up.
enum TextKey<'a> {
    /// the bytes, then the length in the last byte
    Short(u128),
    Long(&'a str),
}

impl<'a> TextKey<'a> {
    fn of(text: &'a str) -> TextKey<'a> {
        let bytes = text.as_bytes();
        if bytes.len() > 15 {
            return TextKey::Long(text);
        }
        let mut packed = [0u8; 16];
        packed[..bytes.len()].copy_from_slice(bytes);
        packed[15] = bytes.len() as u8;
        TextKey::Short(u128::from_le_bytes(packed))
    }
}

/// The running state of one aggregate, one entry per group.
enum State {
    Count(Vec<i64>),
    SumInt(Vec<Option<i64>>),
    SumFloat4(Vec<Option<f32>>),
    SumFloat8(Vec<Option<f64>>),
    /// exact sums of unscaled values at the input's scale
    NumericSum(Vec<Option<i128>>, i8),
    /// `float8_accum`'s (N, Sx, Sxx)
    FloatAvg(Vec<[f64; 3]>),
    /// integers, dates and timestamps as i64
    ExtremeInt(Vec<Option<i64>>),
    ExtremeDecimal(Vec<Option<i128>>, i8),
    ExtremeFloat4(Vec<Option<f32>>),
    ExtremeFloat8(Vec<Option<f64>>),
    ExtremeText(Vec<Option<String>>),
}

/// Postgres's `float8_gt`/`float4_gt`: NaN is greater than every other value (so
/// `float8_lt(a, b)` is `float_greater(b, a)`).
fn float_greater<F: num_like::Float>(a: F, b: F) -> bool {
    a > b || (a.is_nan() && !b.is_nan())
}

/// The running `max` (or `min`) after `value`: as Postgres's `float8larger` and
/// friends, the state stays only when strictly greater (less), so of equal values the
/// later wins (`-0` and `0` are equal floats).
fn extreme<T: Copy>(state: Option<T>, value: T, is_max: bool, greater: fn(T, T) -> bool) -> T {
    match state {
        Some(old) if (is_max && greater(old, value)) || (!is_max && greater(value, old)) => old,
        _ => value,
    }
}

mod num_like {
    /// The float operations sums and extremes need, for both widths.
    pub trait Float: Copy + PartialOrd + std::ops::Add<Output = Self> {
        fn is_nan(self) -> bool;
        fn is_infinite(self) -> bool;
    }
    impl Float for f32 {
        fn is_nan(self) -> bool {
            f32::is_nan(self)
        }
        fn is_infinite(self) -> bool {
            f32::is_infinite(self)
        }
    }
    impl Float for f64 {
        fn is_nan(self) -> bool {
            f64::is_nan(self)
        }
        fn is_infinite(self) -> bool {
            f64::is_infinite(self)
        }
    }
}

/// `float8pl`/`float4pl` folded over the non-NULL values of a batch in one group: the
/// sum starting from `start`, or the overflow error Postgres raises when finite
/// operands give an infinity.
fn fold_float_sum<T>(
    start: Option<T::Native>,
    array: &PrimitiveArray<T>,
) -> Result<Option<T::Native>>
where
    T: ArrowPrimitiveType,
    T::Native: num_like::Float,
{
    if array.null_count() > 0 {
        let mut values = array.iter().flatten();
        let Some(first) = start.or_else(|| values.next()) else {
            return Ok(None);
        };
        return float_sum(first, values).map(Some);
    }
    let values = array.values();
    match (start, values.split_first()) {
        (Some(sum), _) => float_sum(sum, values.iter().copied()).map(Some),
        (None, Some((first, rest))) => float_sum(*first, rest.iter().copied()).map(Some),
        (None, None) => Ok(None),
    }
}

/// Adds `values` to `sum` in order, as `float8pl`/`float4pl` do.
fn float_sum<F: num_like::Float>(mut sum: F, values: impl Iterator<Item = F>) -> Result<F> {
    let mut overflow = false;
    for v in values {
        let next = sum + v;
        overflow |= next.is_infinite() & !sum.is_infinite() & !v.is_infinite();
        sum = next;
    }
    if overflow {
        return Err(AggregateError::FloatOverflow);
    }
    Ok(sum)
}

/// Calls `f(group, value)` for each non-NULL value.
fn each<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    groups: &GroupIds,
    mut f: impl FnMut(usize, T::Native),
) {
    let values = array.values();
    let nulls = array.nulls().filter(|n| n.null_count() > 0);
    match (groups, nulls) {
        (GroupIds::Single(g), None) => values.iter().for_each(|v| f(*g as usize, *v)),
        (GroupIds::PerRow(ids), None) => {
            for (v, g) in values.iter().zip(ids) {
                f(*g as usize, *v);
            }
        }
        (_, Some(nulls)) => {
            for (row, v) in values.iter().enumerate() {
                if nulls.is_valid(row) {
                    f(groups.of(row), *v);
                }
            }
        }
    }
}

/// `float8pl`: the sum, or an overflow error when finite operands give an infinity.
fn add_float8(a: f64, b: f64) -> Result<f64> {
    let sum = a + b;
    if sum.is_infinite() && !a.is_infinite() && !b.is_infinite() {
        return Err(AggregateError::FloatOverflow);
    }
    Ok(sum)
}

/// `float4pl`.
fn add_float4(a: f32, b: f32) -> Result<f32> {
    let sum = a + b;
    if sum.is_infinite() && !a.is_infinite() && !b.is_infinite() {
        return Err(AggregateError::FloatOverflow);
    }
    Ok(sum)
}

/// `float8_accum`: one value into (N, Sx, Sxx), Youngs-Cramer as Postgres does it.
fn float8_accum(state: &mut [f64; 3], value: f64) -> Result<()> {
    let [n0, sx0, mut sxx] = *state;
    let n = n0 + 1.0;
    let sx = sx0 + value;
    if n0 > 0.0 {
        let tmp = value * n - sx;
        sxx += tmp * tmp / (n * n0);
        if sx.is_infinite() || sxx.is_infinite() {
            if !sx0.is_infinite() && !value.is_infinite() {
                return Err(AggregateError::FloatOverflow);
            }
            sxx = f64::NAN;
        }
    } else if value.is_nan() || value.is_infinite() {
        sxx = f64::NAN;
    }
    *state = [n, sx, sxx];
    Ok(())
}

fn grow<T: Clone>(values: &mut Vec<T>, groups: usize, empty: T) {
    if values.len() < groups {
        values.resize(groups, empty);
    }
}

/// Scale of a decimal array.
fn decimal_scale(array: &ArrayRef) -> Option<i8> {
    match array.data_type() {
        DataType::Decimal128(_, s) => Some(*s),
        _ => None,
    }
}

impl State {
    fn new(aggregate: &Aggregate) -> State {
        use PgType as P;
        let input = aggregate.input.as_ref().map(|(_, t)| t);
        match (aggregate.function, input) {
            (Function::CountRows | Function::Count, _) => State::Count(Vec::new()),
            (Function::Sum, Some(P::Float4)) => State::SumFloat4(Vec::new()),
            (Function::Sum, Some(P::Float8)) => State::SumFloat8(Vec::new()),
            (Function::Sum, _) => State::SumInt(Vec::new()),
            (Function::NumericSum, _) => State::NumericSum(Vec::new(), 0),
            (Function::FloatAvg, _) => State::FloatAvg(Vec::new()),
            (_, Some(P::Float4)) => State::ExtremeFloat4(Vec::new()),
            (_, Some(P::Float8)) => State::ExtremeFloat8(Vec::new()),
            (_, Some(P::Numeric)) => State::ExtremeDecimal(Vec::new(), 0),
            (_, Some(P::Text | P::Varchar)) => State::ExtremeText(Vec::new()),
            _ => State::ExtremeInt(Vec::new()),
        }
    }

    fn grow(&mut self, groups: usize) {
        match self {
            State::Count(v) => grow(v, groups, 0),
            State::SumInt(v) | State::ExtremeInt(v) => grow(v, groups, None),
            State::SumFloat4(v) | State::ExtremeFloat4(v) => grow(v, groups, None),
            State::SumFloat8(v) | State::ExtremeFloat8(v) => grow(v, groups, None),
            State::NumericSum(v, _) | State::ExtremeDecimal(v, _) => grow(v, groups, None),
            State::FloatAvg(v) => grow(v, groups, [0.0; 3]),
            State::ExtremeText(v) => grow(v, groups, None),
        }
    }

    /// Folds one batch's input values (canonical Arrow type; `None` for `count(*)`).
    fn update(
        &mut self,
        function: Function,
        input: Option<&ArrayRef>,
        rows: usize,
        groups: &GroupIds,
    ) -> Result<()> {
        let is_max = function == Function::Max;
        match (self, input) {
            (State::Count(counts), None) => match groups {
                GroupIds::Single(g) => counts[*g as usize] += rows as i64,
                GroupIds::PerRow(ids) => ids.iter().for_each(|&g| counts[g as usize] += 1),
            },
            (State::Count(counts), Some(array)) => {
                for row in 0..array.len() {
                    if array.is_valid(row) {
                        counts[groups.of(row)] += 1;
                    }
                }
            }
            (State::SumInt(sums), Some(array)) => {
                each(array.as_primitive::<Int64Type>(), groups, |g, v| {
                    // int2_sum and int4_sum add into an int8 without an overflow check
                    sums[g] = Some(sums[g].unwrap_or(0).wrapping_add(v));
                })
            }
            (State::SumFloat8(sums), Some(array)) if matches!(groups, GroupIds::Single(_)) => {
                let g = groups.of(0);
                sums[g] = fold_float_sum(sums[g], array.as_primitive::<Float64Type>())?;
            }
            (State::SumFloat4(sums), Some(array)) if matches!(groups, GroupIds::Single(_)) => {
                let g = groups.of(0);
                sums[g] = fold_float_sum(sums[g], array.as_primitive::<Float32Type>())?;
            }
            (State::SumFloat8(sums), Some(array)) => {
                let mut failed = false;
                each(array.as_primitive::<Float64Type>(), groups, |g, v| {
                    sums[g] = Some(match sums[g] {
                        None => v,
                        Some(s) => add_float8(s, v).unwrap_or_else(|_| {
                            failed = true;
                            s
                        }),
                    });
                });
                if failed {
                    return Err(AggregateError::FloatOverflow);
                }
            }
            (State::SumFloat4(sums), Some(array)) => {
                let mut failed = false;
                each(array.as_primitive::<Float32Type>(), groups, |g, v| {
                    sums[g] = Some(match sums[g] {
                        None => v,
                        Some(s) => add_float4(s, v).unwrap_or_else(|_| {
                            failed = true;
                            s
                        }),
                    });
                });
                if failed {
                    return Err(AggregateError::FloatOverflow);
                }
            }
            (State::NumericSum(sums, scale), Some(array)) => {
                if array.null_count() < array.len() {
                    // (an all-NULL column missing from older files carries no scale)
                    *scale = decimal_scale(array).unwrap_or(*scale);
                }
                let mut overflow = false;
                each(
                    array.as_primitive::<Decimal128Type>(),
                    groups,
                    |g, v| match sums[g].unwrap_or(0).checked_add(v) {
                        Some(s) => sums[g] = Some(s),
                        None => overflow = true,
                    },
                );
                if overflow {
                    return Err(AggregateError::NumericOverflow);
                }
            }
            (State::FloatAvg(states), Some(array)) => {
                let mut failed = false;
                each(array.as_primitive::<Float64Type>(), groups, |g, v| {
                    failed |= float8_accum(&mut states[g], v).is_err();
                });
                if failed {
                    return Err(AggregateError::FloatOverflow);
                }
            }
            (State::ExtremeInt(values), Some(array)) => {
                each(array.as_primitive::<Int64Type>(), groups, |g, v| {
                    values[g] = Some(extreme(values[g], v, is_max, |a, b| a > b))
                })
            }
            (State::ExtremeDecimal(values, scale), Some(array)) => {
                if array.null_count() < array.len() {
                    // (an all-NULL column missing from older files carries no scale)
                    *scale = decimal_scale(array).unwrap_or(*scale);
                }
                each(array.as_primitive::<Decimal128Type>(), groups, |g, v| {
                    values[g] = Some(extreme(values[g], v, is_max, |a, b| a > b))
                })
            }
            // float8larger(state, value) keeps the state only when it is greater
            (State::ExtremeFloat8(values), Some(array)) => {
                each(array.as_primitive::<Float64Type>(), groups, |g, v| {
                    values[g] = Some(extreme(values[g], v, is_max, float_greater))
                })
            }
            (State::ExtremeFloat4(values), Some(array)) => {
                each(array.as_primitive::<Float32Type>(), groups, |g, v| {
                    values[g] = Some(extreme(values[g], v, is_max, float_greater))
                })
            }
            (State::ExtremeText(values), Some(array)) => {
                let strings = array.as_string::<i32>();
                for row in 0..strings.len() {
                    if strings.is_null(row) {
                        continue;
                    }
                    let v = strings.value(row);
                    let g = groups.of(row);
                    let replace = match &values[g] {
                        None => true,
                        Some(old) => (is_max && v > old.as_str()) || (!is_max && v < old.as_str()),
                    };
                    if replace {
                        values[g] = Some(v.to_string());
                    }
                }
            }
            _ => return Err(AggregateError::Type("an input of this aggregate".into())),
        }
        Ok(())
    }

    /// Folds a summary of some rows of group `g` (only counts, minima and maxima).
    fn update_summary(
        &mut self,
        function: Function,
        g: usize,
        rows: u64,
        input: &InputSummary,
    ) -> Result<()> {
        let is_max = function == Function::Max;
        let bound = if is_max { &input.max } else { &input.min };
        match (self, function) {
            (State::Count(counts), Function::CountRows) => counts[g] += rows as i64,
            (State::Count(counts), Function::Count) => counts[g] += input.non_null as i64,
            (State::ExtremeInt(values), Function::Min | Function::Max) => {
                let v = match bound {
                    None => return Ok(()),
                    Some(Value::Int(i) | Value::Timestamp(i)) => *i,
                    Some(Value::Date(d)) => *d as i64,
                    Some(_) => return Err(AggregateError::Type("a summarized bound".into())),
                };
                values[g] = Some(extreme(values[g], v, is_max, |a, b| a > b));
            }
            _ => return Err(AggregateError::Type("a summary of this aggregate".into())),
        }
        Ok(())
    }

    /// The per-group results as one Arrow column of the output type.
    fn finish(self, input: Option<&PgType>, groups: usize) -> Result<ArrayRef> {
        use PgType as P;
        let mut state = self;
        state.grow(groups);
        Ok(match state {
            State::Count(v) => Arc::new(Int64Array::from(v)),
            State::SumInt(v) => Arc::new(Int64Array::from(v)),
            State::SumFloat4(v) | State::ExtremeFloat4(v) => Arc::new(Float32Array::from(v)),
            State::SumFloat8(v) | State::ExtremeFloat8(v) => Arc::new(Float64Array::from(v)),
            State::NumericSum(v, scale) | State::ExtremeDecimal(v, scale) => {
                Arc::new(Decimal128Array::from(v).with_precision_and_scale(38, scale)?)
            }
            State::FloatAvg(v) => Arc::new(Float64Array::from(
                v.into_iter()
                    .map(|[n, sx, _]| (n > 0.0).then(|| sx / n))
                    .collect::<Vec<_>>(),
            )),
            State::ExtremeText(v) => Arc::new(StringArray::from(v)),
            State::ExtremeInt(v) => {
                let longs = Int64Array::from(v);
                let target = canonical_type(input.unwrap_or(&P::Int8));
                cast_int64(&longs, &target)?
            }
        })
    }
}

/// Converts i64 values back to a narrower integer, date or timestamp column.
fn cast_int64(longs: &Int64Array, target: &DataType) -> Result<ArrayRef> {
    Ok(match target {
        DataType::Date32 => Arc::new(Date32Array::from(
            longs
                .iter()
                .map(|v| v.map(|d| d as i32))
                .collect::<Vec<_>>(),
        )),
        DataType::Timestamp(TimeUnit::Microsecond, zone) => Arc::new(
            TimestampMicrosecondArray::from(longs.iter().collect::<Vec<_>>())
                .with_timezone_opt(zone.clone()),
        ),
        other => cast(longs, other)?,
    })
}

/// The Arrow type the kernel works in for values of a Postgres type.
fn canonical_type(pg: &PgType) -> DataType {
    use PgType as P;
    match pg {
        P::Bool => DataType::Boolean,
        P::Int2 => DataType::Int16,
        P::Int4 => DataType::Int32,
        P::Int8 => DataType::Int64,
        P::Float4 => DataType::Float32,
        P::Float8 => DataType::Float64,
        P::Date => DataType::Date32,
        P::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        P::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => DataType::Utf8,
    }
}

/// The Arrow type an aggregate reads its input in.
fn input_type(function: Function, pg: &PgType, array: &DataType) -> DataType {
    use PgType as P;
    match (function, pg) {
        (Function::Count, _) => array.clone(),
        (Function::Sum, P::Int2 | P::Int4) => DataType::Int64,
        (Function::NumericSum, P::Numeric) | (_, P::Numeric) => match array {
            DataType::Decimal128(..) => array.clone(),
            _ => DataType::Decimal128(38, 0),
        },
        (Function::NumericSum, _) => DataType::Decimal128(38, 0),
        (Function::FloatAvg, _) => DataType::Float64,
        (
            Function::Min | Function::Max,
            P::Int2 | P::Int4 | P::Int8 | P::Date | P::Timestamp | P::TimestampTz,
        ) => DataType::Int64,
        (_, other) => canonical_type(other),
    }
}

/// A column of a batch as an array of `rows` values (constants repeated).
fn column_array(column: &ColumnData, pg: &PgType, rows: usize) -> Result<ArrayRef> {
    match column {
        ColumnData::Array(a) => Ok(a.clone()),
        ColumnData::Constant(value) => {
            let one = constant_array(value, pg)?;
            let zeros = deltalake::arrow::array::UInt32Array::from(vec![0u32; rows]);
            Ok(take(&one, &zeros, None)?)
        }
    }
}

/// One value as a one-row array of the Postgres type's canonical Arrow type (numeric
/// values stay in their own type, which [`input_type`] widens exactly).
fn constant_array(value: &Value, pg: &PgType) -> Result<ArrayRef> {
    let natural: ArrayRef = match value {
        Value::Null if *pg == PgType::Numeric => new_null_array(&DataType::Decimal128(38, 0), 1),
        Value::Null => new_null_array(&canonical_type(pg), 1),
        Value::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Value::Int(i) => Arc::new(Int64Array::from(vec![*i])),
        Value::Float4(f) => Arc::new(Float32Array::from(vec![*f])),
        Value::Float(f) => Arc::new(Float64Array::from(vec![*f])),
        Value::Text(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Value::Date(d) => Arc::new(Date32Array::from(vec![*d])),
        Value::Timestamp(t) => Arc::new(TimestampMicrosecondArray::from(vec![*t])),
        _ => return Err(AggregateError::Type(format!("a constant {}", pg.sql()))),
    };
    let target = canonical_type(pg);
    if *pg == PgType::Numeric || natural.data_type() == &target {
        return Ok(natural);
    }
    let exact = CastOptions {
        safe: false,
        ..Default::default()
    };
    Ok(cast_with_options(&natural, &target, &exact)?)
}

/// A running aggregation.
pub struct Aggregator {
    spec: AggregateSpec,
    groups: Groups,
    states: Vec<State>,
}

impl Aggregator {
    /// Starts an aggregation.
    pub fn new(spec: AggregateSpec) -> Result<Aggregator> {
        let key_types: Vec<DataType> = spec
            .group_by
            .iter()
            .map(|(_, t)| canonical_type(t))
            .collect();
        let states = spec.aggregates.iter().map(State::new).collect();
        Ok(Aggregator {
            groups: Groups::new(&key_types)?,
            spec,
            states,
        })
    }

    /// Folds the rows of one batch.
    pub fn update(&mut self, batch: &ScanBatch) -> Result<()> {
        let rows = batch.num_rows;
        if rows == 0 {
            return Ok(());
        }
        let ids = self.group_ids(batch)?;
        for (state, aggregate) in self.states.iter_mut().zip(&self.spec.aggregates) {
            state.grow(self.groups.count());
            let input = match &aggregate.input {
                None => None,
                Some((index, pg)) => {
                    let array = column_array(&batch.columns[*index], pg, rows)?;
                    let wanted = input_type(aggregate.function, pg, array.data_type());
                    Some(if array.data_type() == &wanted {
                        array
                    } else {
                        cast(&array, &wanted)?
                    })
                }
            };
            state.update(aggregate.function, input.as_ref(), rows, &ids)?;
        }
        Ok(())
    }

    /// Folds a summary of rows whose grouping columns all hold `keys` (in spec order).
    pub fn update_summary(&mut self, keys: &[Value], summary: &Summary) -> Result<()> {
        if summary.rows == 0 {
            return Ok(());
        }
        let arrays = keys
            .iter()
            .zip(&self.spec.group_by)
            .map(|(value, (_, pg))| constant_array(value, pg))
            .collect::<Result<Vec<_>>>()?;
        let GroupIds::Single(g) = self.groups.assign(&arrays, 1)? else {
            unreachable!("one row of keys is one group")
        };
        for ((state, aggregate), input) in self.states.iter_mut().zip(&self.spec.aggregates).zip(
            summary
                .inputs
                .iter()
                .chain(std::iter::repeat(&InputSummary::default())),
        ) {
            state.grow(self.groups.count());
            state.update_summary(aggregate.function, g as usize, summary.rows, input)?;
        }
        Ok(())
    }

    fn group_ids(&mut self, batch: &ScanBatch) -> Result<GroupIds> {
        let rows = batch.num_rows;
        if let [(index, _)] = self.spec.group_by.as_slice() {
            if let ColumnData::Array(a) = &batch.columns[*index] {
                if matches!(a.data_type(), DataType::Dictionary(..)) {
                    return self.groups.assign_dictionary(a);
                }
            }
        }
        let mut keys = Vec::with_capacity(self.spec.group_by.len());
        let all_constant = self
            .spec
            .group_by
            .iter()
            .all(|(i, _)| matches!(batch.columns[*i], ColumnData::Constant(_)));
        for (index, pg) in &self.spec.group_by {
            let key = match &batch.columns[*index] {
                ColumnData::Constant(v) if all_constant => constant_array(v, pg)?,
                column => column_array(column, pg, rows)?,
            };
            let wanted = canonical_type(pg);
            keys.push(if key.data_type() == &wanted {
                key
            } else {
                cast(&key, &wanted)?
            });
        }
        self.groups.assign(&keys, rows)
    }

    /// The result: one row per group, the grouping columns then the aggregates. Without
    /// grouping columns there is exactly one row, even over no input (`count` 0, other
    /// aggregates NULL); with them, no input gives no rows.
    pub fn finish(self) -> Result<ScanBatch> {
        let groups = self.groups.count();
        let mut columns: Vec<ColumnData> = self
            .groups
            .finish()?
            .into_iter()
            .map(ColumnData::Array)
            .collect();
        for (state, aggregate) in self.states.into_iter().zip(&self.spec.aggregates) {
            let input = aggregate.input.as_ref().map(|(_, t)| t);
            columns.push(ColumnData::Array(state.finish(input, groups)?));
        }
        Ok(ScanBatch {
            num_rows: groups,
            columns,
            row_ids: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{DictionaryArray, Int32Array};
    use deltalake::arrow::datatypes::Int32Type;

    fn batch(columns: Vec<ColumnData>) -> ScanBatch {
        let num_rows = columns
            .iter()
            .find_map(|c| match c {
                ColumnData::Array(a) => Some(a.len()),
                ColumnData::Constant(_) => None,
            })
            .unwrap_or(1);
        ScanBatch {
            num_rows,
            columns,
            row_ids: None,
        }
    }

    fn array(a: impl Array + 'static) -> ColumnData {
        ColumnData::Array(Arc::new(a))
    }

    fn run(spec: AggregateSpec, batches: &[ScanBatch]) -> Result<ScanBatch> {
        let mut aggregator = Aggregator::new(spec)?;
        for b in batches {
            aggregator.update(b)?;
        }
        aggregator.finish()
    }

    fn column(out: &ScanBatch, i: usize) -> &ArrayRef {
        match &out.columns[i] {
            ColumnData::Array(a) => a,
            ColumnData::Constant(_) => panic!("aggregates are arrays"),
        }
    }

    fn agg(function: Function, input: Option<(usize, PgType)>) -> Aggregate {
        Aggregate { function, input }
    }

    #[test]
    fn grouped_counts_and_sums_with_null_keys_and_values() {
        let spec = AggregateSpec {
            group_by: vec![(0, PgType::Text)],
            aggregates: vec![
                agg(Function::CountRows, None),
                agg(Function::Count, Some((1, PgType::Int4))),
                agg(Function::Sum, Some((1, PgType::Int4))),
                agg(Function::NumericSum, Some((1, PgType::Int4))),
            ],
        };
        let b = batch(vec![
            array(StringArray::from(vec![
                Some("a"),
                None,
                Some("a"),
                Some("b"),
            ])),
            array(Int32Array::from(vec![Some(1), Some(5), None, None])),
        ]);
        let out = run(spec, &[b]).unwrap();
        assert_eq!(out.num_rows, 3);
        let keys = column(&out, 0).as_string::<i32>();
        let counts = column(&out, 1).as_primitive::<Int64Type>();
        let non_null = column(&out, 2).as_primitive::<Int64Type>();
        let sums = column(&out, 3).as_primitive::<Int64Type>();
        let exact = column(&out, 4).as_primitive::<Decimal128Type>();
        let row = |k: Option<&str>| {
            (0..3)
                .find(|&i| keys.is_valid(i).then(|| keys.value(i)) == k)
                .unwrap()
        };
        let a = row(Some("a"));
        assert_eq!(
            (counts.value(a), non_null.value(a), sums.value(a)),
            (2, 1, 1)
        );
        assert_eq!(exact.value(a), 1);
        let null_group = row(None);
        assert_eq!((counts.value(null_group), sums.value(null_group)), (1, 5));
        let b = row(Some("b"));
        assert_eq!(counts.value(b), 1);
        assert!(sums.is_null(b), "a group of NULLs sums to NULL");
    }

    #[test]
    fn empty_input_gives_one_row_ungrouped_and_none_grouped() {
        let aggregates = vec![
            agg(Function::CountRows, None),
            agg(Function::Sum, Some((0, PgType::Float8))),
        ];
        let out = run(
            AggregateSpec {
                group_by: vec![],
                aggregates: aggregates.clone(),
            },
            &[],
        )
        .unwrap();
        assert_eq!(out.num_rows, 1);
        assert_eq!(column(&out, 0).as_primitive::<Int64Type>().value(0), 0);
        assert!(column(&out, 1).is_null(0));
        let grouped = AggregateSpec {
            group_by: vec![(0, PgType::Float8)],
            aggregates,
        };
        assert_eq!(run(grouped, &[]).unwrap().num_rows, 0);
    }

    #[test]
    fn float_sums_overflow_like_postgres_and_keep_infinities() {
        let spec = AggregateSpec {
            group_by: vec![],
            aggregates: vec![agg(Function::Sum, Some((0, PgType::Float8)))],
        };
        let overflow = batch(vec![array(Float64Array::from(vec![f64::MAX, f64::MAX]))]);
        assert!(matches!(
            run(spec.clone(), &[overflow]),
            Err(AggregateError::FloatOverflow)
        ));
        let infinite = batch(vec![array(Float64Array::from(vec![
            f64::MAX,
            f64::INFINITY,
            1.0,
        ]))]);
        let out = run(spec, &[infinite]).unwrap();
        assert_eq!(
            column(&out, 0).as_primitive::<Float64Type>().value(0),
            f64::INFINITY
        );
    }

    #[test]
    fn float_average_follows_float8_accum() {
        let spec = AggregateSpec {
            group_by: vec![],
            aggregates: vec![agg(Function::FloatAvg, Some((0, PgType::Float4)))],
        };
        let b = batch(vec![array(Float32Array::from(vec![
            Some(1.5),
            None,
            Some(2.5),
        ]))]);
        let out = run(spec.clone(), &[b]).unwrap();
        assert_eq!(column(&out, 0).as_primitive::<Float64Type>().value(0), 2.0);
        // Sxx overflows from finite inputs: Postgres raises an error, so does the kernel
        let b = batch(vec![array(Float32Array::from(vec![-3e38f32, 3e38, -3e38]))]);
        assert!(
            run(spec, &[b]).is_ok(),
            "float4 inputs widen to float8 without overflow"
        );
    }

    #[test]
    fn float_extremes_order_nan_last_and_keep_later_ties() {
        let spec = AggregateSpec {
            group_by: vec![],
            aggregates: vec![
                agg(Function::Max, Some((0, PgType::Float8))),
                agg(Function::Min, Some((0, PgType::Float8))),
            ],
        };
        let b = batch(vec![array(Float64Array::from(vec![
            0.0,
            f64::NAN,
            -0.0,
            1.0,
        ]))]);
        let out = run(spec.clone(), &[b]).unwrap();
        assert!(column(&out, 0)
            .as_primitive::<Float64Type>()
            .value(0)
            .is_nan());
        let min = column(&out, 1).as_primitive::<Float64Type>().value(0);
        assert!(
            min == 0.0 && min.is_sign_negative(),
            "float8smaller keeps the later of equal values"
        );
    }

    #[test]
    fn exact_sums_do_not_overflow_bigint() {
        let spec = AggregateSpec {
            group_by: vec![],
            aggregates: vec![agg(Function::NumericSum, Some((0, PgType::Int8)))],
        };
        let b = batch(vec![array(Int64Array::from(vec![i64::MAX, i64::MAX, 2]))]);
        let out = run(spec, &[b]).unwrap();
        let sum = column(&out, 0).as_primitive::<Decimal128Type>().value(0);
        assert_eq!(sum, 2 * i64::MAX as i128 + 2);
    }

    #[test]
    fn decimal_scale_survives_files_without_the_column() {
        let spec = AggregateSpec {
            group_by: vec![],
            aggregates: vec![agg(Function::NumericSum, Some((0, PgType::Numeric)))],
        };
        let cents = Decimal128Array::from(vec![1250i128, 5])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let missing = ScanBatch {
            num_rows: 2,
            columns: vec![ColumnData::Constant(Value::Null)],
            row_ids: None,
        };
        let out = run(spec, &[batch(vec![array(cents)]), missing]).unwrap();
        let sum = column(&out, 0);
        assert_eq!(sum.data_type(), &DataType::Decimal128(38, 2));
        assert_eq!(sum.as_primitive::<Decimal128Type>().value(0), 1255);
    }

    #[test]
    fn dictionary_and_constant_keys_group_like_plain_ones() {
        let spec = AggregateSpec {
            group_by: vec![(0, PgType::Text)],
            aggregates: vec![agg(Function::CountRows, None)],
        };
        let keys = Int32Array::from(vec![Some(1), Some(1), None, Some(0)]);
        let values = StringArray::from(vec!["x", "y", "unused"]);
        let dictionary = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
        let constant = ScanBatch {
            num_rows: 3,
            columns: vec![ColumnData::Constant(Value::Text("y".into()))],
            row_ids: None,
        };
        let out = run(spec, &[batch(vec![array(dictionary)]), constant]).unwrap();
        assert_eq!(
            out.num_rows, 3,
            "x, y and NULL; the unused entry makes no group"
        );
        let keys = column(&out, 0).as_string::<i32>();
        let counts = column(&out, 1).as_primitive::<Int64Type>();
        let y = (0..3)
            .find(|&i| keys.is_valid(i) && keys.value(i) == "y")
            .unwrap();
        assert_eq!(counts.value(y), 5);
    }

    #[test]
    fn summaries_add_counts_and_bounds() {
        let spec = AggregateSpec {
            group_by: vec![(1, PgType::Date)],
            aggregates: vec![
                agg(Function::CountRows, None),
                agg(Function::Max, Some((0, PgType::Int4))),
            ],
        };
        let mut aggregator = Aggregator::new(spec).unwrap();
        for (rows, max) in [(10, 7), (5, 9)] {
            let summary = Summary {
                rows,
                inputs: vec![
                    InputSummary::default(),
                    InputSummary {
                        non_null: rows,
                        min: None,
                        max: Some(Value::Int(max)),
                    },
                ],
            };
            aggregator
                .update_summary(&[Value::Date(3)], &summary)
                .unwrap();
        }
        let out = aggregator.finish().unwrap();
        assert_eq!(out.num_rows, 1);
        assert_eq!(column(&out, 1).as_primitive::<Int64Type>().value(0), 15);
        assert_eq!(column(&out, 2).as_primitive::<Int32Type>().value(0), 9);
    }
}
