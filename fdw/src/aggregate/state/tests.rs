//! Unit tests of the aggregate states: Postgres's result types, NULL rules and overflow errors.

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
