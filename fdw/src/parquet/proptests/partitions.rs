//! No partition is pruned while it holds a matching row: plain partition values of any
//! type and year, and date partitions generated from a timestamp in the writer's zone.

use super::*;

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
