//! Grouped aggregation over scan batches, with PostgreSQL's result types, NULL rules
//! and overflow behaviour: what a pushed-down `GROUP BY` computes before any row
//! becomes a tuple.
//!
//! Values are folded in the order the batches arrive, one row after the other, with
//! the arithmetic of Postgres's own transition functions (`float8pl`, `float8_accum`,
//! `float8larger`, ...), so a float sum equals the one Postgres computes over the same
//! rows in the same order, and an overflow raises the error Postgres raises. Integer
//! and decimal sums are exact (128-bit).

mod groups;
mod state;
mod text_index;

use crate::batch::{cast_exact, ColumnData, ScanBatch};
use crate::types::PgType;
use crate::value::Value;
use deltalake::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int64Array, PrimitiveArray, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::compute::{cast, take};
use deltalake::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type,
    TimeUnit,
};
use deltalake::arrow::row::{RowConverter, Rows, SortField};
use groups::{GroupIds, Groups};
use serde::{Deserialize, Serialize};
use state::State;
use std::collections::HashMap;
use std::sync::Arc;
use text_index::TextIndex;

/// A hash map with a fast hasher (grouping keys are not attacker-chosen hash floods:
/// foldhash is seeded per process).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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
    /// The kernel functions that compute the built-in SQL aggregate `name` over values
    /// of `input` (`None`: `count(*)`) exactly as Postgres does: one function, or for
    /// `avg` of integers and numerics its exact sum and count (divided by Postgres's
    /// own `numeric_div`); `None` when the kernel does not compute it. Text extremes
    /// also need a byte-wise collation, which the caller checks.
    pub fn for_sql_aggregate(name: &str, input: Option<&PgType>) -> Option<Vec<Function>> {
        use PgType as P;
        let functions = match (name, input) {
            ("count", None) => vec![Function::CountRows],
            ("count", Some(_)) => vec![Function::Count],
            ("sum", Some(P::Int2 | P::Int4 | P::Float4 | P::Float8)) => vec![Function::Sum],
            ("sum", Some(P::Int8 | P::Numeric)) => vec![Function::NumericSum],
            ("avg", Some(P::Float4 | P::Float8)) => vec![Function::FloatAvg],
            ("avg", Some(P::Int2 | P::Int4 | P::Int8 | P::Numeric)) => {
                vec![Function::NumericSum, Function::Count]
            }
            ("min", Some(_)) => vec![Function::Min],
            ("max", Some(_)) => vec![Function::Max],
            _ => return None,
        };
        functions
            .iter()
            .all(|f| f.supports(input))
            .then_some(functions)
    }

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
    Ok(cast_exact(&natural, &target)?)
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

    #[test]
    fn sql_aggregates_map_to_kernel_functions_with_postgres_result_types() {
        use PgType as P;
        let map = |name, input: Option<PgType>| Function::for_sql_aggregate(name, input.as_ref());
        assert_eq!(map("count", None), Some(vec![Function::CountRows]));
        assert_eq!(map("count", Some(P::Text)), Some(vec![Function::Count]));
        assert_eq!(map("sum", Some(P::Int4)), Some(vec![Function::Sum]));
        assert_eq!(map("sum", Some(P::Int8)), Some(vec![Function::NumericSum]));
        assert_eq!(
            map("avg", Some(P::Int4)),
            Some(vec![Function::NumericSum, Function::Count])
        );
        assert_eq!(map("avg", Some(P::Float8)), Some(vec![Function::FloatAvg]));
        assert_eq!(map("sum", Some(P::Text)), None);
        assert_eq!(map("avg", Some(P::Interval)), None);
        assert_eq!(map("stddev", Some(P::Float8)), None);
        assert_eq!(map("sum", None), None);
    }
}
