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
mod tests;
