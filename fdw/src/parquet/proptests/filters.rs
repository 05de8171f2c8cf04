//! Quals applied exactly to Arrow batches agree with Postgres row for row.

use super::*;

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
