//! The running state of each aggregate, folded with Postgres's transition arithmetic.

use super::*;

/// The running state of one aggregate, one entry per group.
pub(super) enum State {
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

/// `float8pl`/`float4pl`: the sum, and whether finite operands gave an infinity (the
/// overflow Postgres raises).
fn add_float<F: num_like::Float>(a: F, b: F) -> (F, bool) {
    let sum = a + b;
    (sum, sum.is_infinite() & !a.is_infinite() & !b.is_infinite())
}

/// Adds `values` to `sum` in order, as `float8pl`/`float4pl` do.
fn float_sum<F: num_like::Float>(mut sum: F, values: impl Iterator<Item = F>) -> Result<F> {
    let mut overflow = false;
    for v in values {
        let (next, overflowed) = add_float(sum, v);
        overflow |= overflowed;
        sum = next;
    }
    if overflow {
        return Err(AggregateError::FloatOverflow);
    }
    Ok(sum)
}

/// Adds a batch's non-NULL values to the sums of their groups, in order.
fn float_sums<T>(
    sums: &mut [Option<T::Native>],
    array: &PrimitiveArray<T>,
    groups: &GroupIds,
) -> Result<()>
where
    T: ArrowPrimitiveType,
    T::Native: num_like::Float,
{
    let mut overflow = false;
    each(array, groups, |g, v| {
        sums[g] = Some(match sums[g] {
            None => v,
            Some(s) => {
                let (next, overflowed) = add_float(s, v);
                overflow |= overflowed;
                next
            }
        });
    });
    if overflow {
        return Err(AggregateError::FloatOverflow);
    }
    Ok(())
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
    pub(super) fn new(aggregate: &Aggregate) -> State {
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

    pub(super) fn grow(&mut self, groups: usize) {
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
    pub(super) fn update(
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
                float_sums(sums, array.as_primitive::<Float64Type>(), groups)?
            }
            (State::SumFloat4(sums), Some(array)) => {
                float_sums(sums, array.as_primitive::<Float32Type>(), groups)?
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
    pub(super) fn update_summary(
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
    pub(super) fn finish(self, input: Option<&PgType>, groups: usize) -> Result<ArrayRef> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::datatypes::{Date32Type, Int16Type};

    fn agg(function: Function, input: Option<PgType>) -> Aggregate {
        Aggregate {
            function,
            input: input.map(|t| (0, t)),
        }
    }

    fn ints(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    fn floats(values: &[Option<f64>]) -> ArrayRef {
        Arc::new(Float64Array::from(values.to_vec()))
    }

    fn per_row(ids: &[u32]) -> GroupIds {
        GroupIds::PerRow(ids.to_vec())
    }

    /// Folds `batches` (input, group of each row) into a new state of `aggregate` and
    /// finishes it over `groups` groups.
    fn fold(
        aggregate: &Aggregate,
        groups: usize,
        batches: &[(Option<ArrayRef>, GroupIds)],
    ) -> Result<ArrayRef> {
        let mut state = State::new(aggregate);
        for (input, ids) in batches {
            state.grow(groups);
            let rows = match (input, ids) {
                (Some(a), _) => a.len(),
                (None, GroupIds::PerRow(ids)) => ids.len(),
                (None, GroupIds::Single(_)) => 3,
            };
            state.update(aggregate.function, input.as_ref(), rows, ids)?;
        }
        let input = aggregate.input.as_ref().map(|(_, t)| t);
        state.finish(input, groups)
    }

    fn longs(array: &ArrayRef) -> Vec<Option<i64>> {
        array.as_primitive::<Int64Type>().iter().collect()
    }

    fn doubles(array: &ArrayRef) -> Vec<Option<f64>> {
        array.as_primitive::<Float64Type>().iter().collect()
    }

    #[test]
    fn counts_take_rows_or_non_null_values_per_group() {
        // count(*) over a batch in one group counts its rows (3, see `fold`), over a
        // batch with per-row groups one per row
        let rows = fold(
            &agg(Function::CountRows, None),
            3,
            &[
                (None, GroupIds::Single(1)),
                (None, per_row(&[0, 1, 1, 2, 1])),
            ],
        )
        .unwrap();
        assert_eq!(longs(&rows), vec![Some(1), Some(6), Some(1)]);
        // count(x) skips NULLs; a group that saw only NULLs counts 0, never NULL
        let values = fold(
            &agg(Function::Count, Some(PgType::Int8)),
            3,
            &[
                (Some(ints(&[Some(1), None, Some(3)])), per_row(&[0, 1, 0])),
                (Some(ints(&[None, Some(5)])), GroupIds::Single(0)),
            ],
        )
        .unwrap();
        assert_eq!(longs(&values), vec![Some(3), Some(0), Some(0)]);
    }

    #[test]
    fn integer_sums_skip_nulls_and_all_null_groups_stay_null() {
        let out = fold(
            &agg(Function::Sum, Some(PgType::Int4)),
            3,
            &[
                (
                    Some(ints(&[Some(2), None, Some(-7), None])),
                    per_row(&[0, 1, 0, 1]),
                ),
                (Some(ints(&[Some(10), Some(1)])), per_row(&[0, 2])),
            ],
        )
        .unwrap();
        assert_eq!(out.data_type(), &DataType::Int64);
        assert_eq!(longs(&out), vec![Some(5), None, Some(1)]);
    }

    #[test]
    fn exact_sums_fail_instead_of_wrapping_past_128_bits() {
        let big = 9 * 10i128.pow(37);
        let decimals = |v: Vec<Option<i128>>| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(38, 0)
                    .unwrap(),
            )
        };
        let aggregate = agg(Function::NumericSum, Some(PgType::Numeric));
        let overflow = fold(
            &aggregate,
            1,
            &[(
                Some(decimals(vec![Some(big), None, Some(big)])),
                GroupIds::Single(0),
            )],
        );
        assert!(matches!(overflow, Err(AggregateError::NumericOverflow)));
        // the same values in different groups do not overflow
        let out = fold(
            &aggregate,
            2,
            &[(
                Some(decimals(vec![Some(big), Some(-1), Some(big)])),
                per_row(&[0, 0, 1]),
            )],
        )
        .unwrap();
        let sums = out.as_primitive::<Decimal128Type>();
        assert_eq!((sums.value(0), sums.value(1)), (big - 1, big));
    }

    #[test]
    fn float_sums_overflow_in_either_path_and_infinite_inputs_do_not() {
        let aggregate = agg(Function::Sum, Some(PgType::Float8));
        let max = Some(f64::MAX);
        // one group for the whole batch, with and without NULLs
        for input in [vec![max, max], vec![max, None, max]] {
            let out = fold(
                &aggregate,
                1,
                &[(Some(floats(&input)), GroupIds::Single(0))],
            );
            assert!(
                matches!(out, Err(AggregateError::FloatOverflow)),
                "{input:?}"
            );
        }
        // a group per row: only the overflowing group's sum overflows, still an error
        let out = fold(
            &aggregate,
            2,
            &[(Some(floats(&[max, Some(1.0), max])), per_row(&[0, 1, 0]))],
        );
        assert!(matches!(out, Err(AggregateError::FloatOverflow)));
        // across batches: the running sum is the start of the next batch's
        let out = fold(
            &aggregate,
            1,
            &[
                (Some(floats(&[max])), GroupIds::Single(0)),
                (Some(floats(&[max])), GroupIds::Single(0)),
            ],
        );
        assert!(matches!(out, Err(AggregateError::FloatOverflow)));
        // an infinite input gives an infinite sum, not an error (float8pl)
        let out = fold(
            &aggregate,
            2,
            &[(
                Some(floats(&[max, Some(f64::NEG_INFINITY), None])),
                per_row(&[0, 0, 1]),
            )],
        )
        .unwrap();
        assert_eq!(doubles(&out), vec![Some(f64::NEG_INFINITY), None]);
        // float4 sums overflow in float4, as float4pl does
        let real: ArrayRef = Arc::new(Float32Array::from(vec![f32::MAX, f32::MAX]));
        let out = fold(
            &agg(Function::Sum, Some(PgType::Float4)),
            1,
            &[(Some(real), GroupIds::Single(0))],
        );
        assert!(matches!(out, Err(AggregateError::FloatOverflow)));
    }

    #[test]
    fn float_sums_agree_between_the_single_group_and_per_row_paths() {
        let values = [
            Some(0.1),
            None,
            Some(0.2),
            Some(0.3),
            None,
            Some(1e16),
            Some(1.0),
        ];
        let aggregate = agg(Function::Sum, Some(PgType::Float8));
        let single = fold(
            &aggregate,
            1,
            &[(Some(floats(&values)), GroupIds::Single(0))],
        )
        .unwrap();
        let rows = fold(&aggregate, 1, &[(Some(floats(&values)), per_row(&[0; 7]))]).unwrap();
        let in_order = values.iter().flatten().fold(0.0, |s, v| s + v);
        assert_eq!(doubles(&single), vec![Some(in_order)]);
        assert_eq!(doubles(&rows), vec![Some(in_order)]);
        // a batch of NULLs only leaves the sum NULL
        let nulls = fold(
            &aggregate,
            1,
            &[(Some(floats(&[None, None])), GroupIds::Single(0))],
        )
        .unwrap();
        assert_eq!(doubles(&nulls), vec![None]);
    }

    #[test]
    fn float_averages_follow_float8_accum() {
        let aggregate = agg(Function::FloatAvg, Some(PgType::Float8));
        let out = fold(
            &aggregate,
            3,
            &[
                (
                    Some(floats(&[Some(1.0), None, Some(4.0)])),
                    per_row(&[0, 1, 0]),
                ),
                (Some(floats(&[Some(7.0)])), GroupIds::Single(0)),
                (
                    Some(floats(&[Some(f64::INFINITY), Some(1.0)])),
                    GroupIds::Single(2),
                ),
            ],
        )
        .unwrap();
        assert_eq!(doubles(&out), vec![Some(4.0), None, Some(f64::INFINITY)]);
        // Sxx overflowing from finite inputs is Postgres's "value out of range"
        let out = fold(
            &aggregate,
            1,
            &[(
                Some(floats(&[Some(1e308), Some(-1e308)])),
                GroupIds::Single(0),
            )],
        );
        assert!(matches!(out, Err(AggregateError::FloatOverflow)));
        // opposite infinities: NaN, no error
        let out = fold(
            &aggregate,
            1,
            &[(
                Some(floats(&[Some(f64::INFINITY), Some(f64::NEG_INFINITY)])),
                GroupIds::Single(0),
            )],
        )
        .unwrap();
        assert!(doubles(&out)[0].unwrap().is_nan());
    }

    #[test]
    fn integer_extremes_come_back_in_the_input_type() {
        let dates = agg(Function::Min, Some(PgType::Date));
        let out = fold(
            &dates,
            2,
            &[
                (Some(ints(&[Some(30), None, Some(-5)])), per_row(&[0, 1, 0])),
                (Some(ints(&[Some(-6), Some(2)])), per_row(&[1, 1])),
            ],
        )
        .unwrap();
        assert_eq!(out.data_type(), &DataType::Date32);
        let days: Vec<Option<i32>> = out.as_primitive::<Date32Type>().iter().collect();
        assert_eq!(days, vec![Some(-5), Some(-6)]);
        let smallints = agg(Function::Max, Some(PgType::Int2));
        let out = fold(
            &smallints,
            2,
            &[(
                Some(ints(&[Some(-3), Some(-300), None])),
                per_row(&[0, 0, 1]),
            )],
        )
        .unwrap();
        assert_eq!(out.data_type(), &DataType::Int16);
        assert_eq!(out.as_primitive::<Int16Type>().value(0), -3);
        assert!(out.is_null(1), "a group of NULLs has no maximum");
        let zoned = agg(Function::Max, Some(PgType::TimestampTz));
        let out = fold(
            &zoned,
            1,
            &[(Some(ints(&[Some(1), Some(9)])), GroupIds::Single(0))],
        )
        .unwrap();
        assert_eq!(
            out.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }

    #[test]
    fn text_extremes_compare_bytes() {
        let texts = |v: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(v)) };
        let input = texts(vec![
            Some("a"),
            Some("B"),
            None,
            Some("é"),
            Some("z"),
            Some(""),
        ]);
        let ids = per_row(&[0, 0, 0, 1, 1, 1]);
        let max = fold(
            &agg(Function::Max, Some(PgType::Text)),
            2,
            &[(Some(input.clone()), ids)],
        )
        .unwrap();
        let max: Vec<Option<&str>> = max.as_string::<i32>().iter().collect();
        assert_eq!(
            max,
            vec![Some("a"), Some("é")],
            "bytes: 'B' < 'a', 'z' < 'é'"
        );
        let min = fold(
            &agg(Function::Min, Some(PgType::Varchar)),
            2,
            &[(Some(input), per_row(&[0, 0, 0, 1, 1, 1]))],
        )
        .unwrap();
        let min: Vec<Option<&str>> = min.as_string::<i32>().iter().collect();
        assert_eq!(
            min,
            vec![Some("B"), Some("")],
            "the empty string is a value"
        );
    }

    #[test]
    fn float_minimum_skips_nan_unless_nothing_else() {
        let aggregate = agg(Function::Min, Some(PgType::Float8));
        let out = fold(
            &aggregate,
            2,
            &[(
                Some(floats(&[Some(f64::NAN), Some(3.0), Some(f64::NAN), None])),
                per_row(&[0, 0, 1, 1]),
            )],
        )
        .unwrap();
        let out = doubles(&out);
        assert_eq!(out[0], Some(3.0));
        assert!(out[1].unwrap().is_nan());
    }

    #[test]
    fn exact_results_do_not_depend_on_batch_order() {
        let batches = [
            (ints(&[Some(5), None, Some(-2)]), vec![0u32, 1, 2]),
            (ints(&[Some(40), Some(1)]), vec![2, 2]),
            (ints(&[None, Some(i64::MIN), Some(7)]), vec![0, 1, 1]),
        ];
        let functions = [
            (Function::Count, None),
            (Function::Sum, Some(PgType::Int4)),
            (Function::NumericSum, Some(PgType::Int8)),
            (Function::Min, Some(PgType::Int8)),
            (Function::Max, Some(PgType::Int8)),
        ];
        for (function, pg) in functions {
            let aggregate = agg(function, pg.or(Some(PgType::Int8)));
            let run = |order: &[usize]| {
                let inputs: Vec<(Option<ArrayRef>, GroupIds)> = order
                    .iter()
                    .map(|&i| {
                        let (values, ids) = &batches[i];
                        let values = if function == Function::NumericSum {
                            cast(values, &DataType::Decimal128(38, 0)).unwrap()
                        } else {
                            values.clone()
                        };
                        (Some(values), per_row(ids))
                    })
                    .collect();
                fold(&aggregate, 3, &inputs).unwrap().to_data()
            };
            let forward = run(&[0, 1, 2]);
            for order in [[2, 1, 0], [1, 0, 2], [2, 0, 1]] {
                assert_eq!(run(&order), forward, "{function:?} in order {order:?}");
            }
        }
    }

    #[test]
    fn summaries_fold_counts_and_bounds_only() {
        let mut count = State::new(&agg(Function::Count, Some(PgType::Int4)));
        count.grow(2);
        let input = InputSummary {
            non_null: 4,
            min: Some(Value::Int(-1)),
            max: Some(Value::Int(9)),
        };
        count
            .update_summary(Function::Count, 1, 10, &input)
            .unwrap();
        let mut rows = State::new(&agg(Function::CountRows, None));
        rows.grow(2);
        rows.update_summary(Function::CountRows, 1, 10, &input)
            .unwrap();
        assert_eq!(
            longs(&count.finish(None, 2).unwrap()),
            vec![Some(0), Some(4)]
        );
        assert_eq!(
            longs(&rows.finish(None, 2).unwrap()),
            vec![Some(0), Some(10)]
        );

        // a date bound folds with the values of batches; an unknown bound changes nothing
        let aggregate = agg(Function::Max, Some(PgType::Date));
        let mut max = State::new(&aggregate);
        max.grow(1);
        max.update(
            Function::Max,
            Some(&ints(&[Some(3)])),
            1,
            &GroupIds::Single(0),
        )
        .unwrap();
        let date = |d: Option<i32>| InputSummary {
            non_null: 1,
            min: None,
            max: d.map(Value::Date),
        };
        max.update_summary(Function::Max, 0, 1, &date(Some(8)))
            .unwrap();
        max.update_summary(Function::Max, 0, 1, &date(None))
            .unwrap();
        max.update_summary(Function::Max, 0, 1, &date(Some(5)))
            .unwrap();
        let out = max.finish(Some(&PgType::Date), 1).unwrap();
        assert_eq!(out.as_primitive::<Date32Type>().value(0), 8);

        // a text bound of an integer extreme, or a summary of a sum, is refused
        let mut max = State::new(&agg(Function::Max, Some(PgType::Int8)));
        max.grow(1);
        let text = InputSummary {
            non_null: 1,
            min: None,
            max: Some(Value::Text("x".into())),
        };
        assert!(matches!(
            max.update_summary(Function::Max, 0, 1, &text),
            Err(AggregateError::Type(_))
        ));
        let mut sum = State::new(&agg(Function::Sum, Some(PgType::Int4)));
        sum.grow(1);
        assert!(matches!(
            sum.update_summary(Function::Sum, 0, 1, &input),
            Err(AggregateError::Type(_))
        ));
    }

    #[test]
    fn an_input_of_the_wrong_shape_is_an_error_not_a_panic() {
        let mut sum = State::new(&agg(Function::Sum, Some(PgType::Int4)));
        sum.grow(1);
        assert!(matches!(
            sum.update(Function::Sum, None, 1, &GroupIds::Single(0)),
            Err(AggregateError::Type(_))
        ));
    }
}
