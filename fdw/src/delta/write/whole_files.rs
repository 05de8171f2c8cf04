//! DELETEs that remove whole files. Every row of a data file has the same partition
//! values, so a predicate on partition columns alone holds for all rows of a file or
//! for none: such a DELETE removes the matching files from the log without reading them.
//!
//! Unlike pruning, which may keep a file it cannot decide on, this decision must be
//! exact under Postgres's semantics, so it is offered only for comparisons it decides
//! exactly: no floats (their partition text is not canonical), no `LIKE`, and no
//! timestamps written in an unknown zone.

use crate::delta::error::{DeltaError, Result};
use crate::parquet::generated::WriterZone;
use crate::parquet::prune::parse_partition_value;
use crate::parquet::schema::{LakeColumn, LakeSchema, LakeType};
use crate::request::{Op, Qual};
use crate::value::Value;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Whether a DELETE whose whole WHERE clause is `quals` (column and comparison; the
/// values are of the column's own type) can be decided per file from partition values.
pub fn deletes_whole_files(schema: &LakeSchema, zone: WriterZone, quals: &[(String, Op)]) -> bool {
    quals.iter().all(|(name, op)| {
        let exact_op = matches!(
            op,
            Op::Eq
                | Op::Ne
                | Op::Lt
                | Op::Le
                | Op::Gt
                | Op::Ge
                | Op::In
                | Op::IsNull
                | Op::IsNotNull
        );
        exact_op
            && schema
                .column(name)
                .is_some_and(|c| c.is_partition && exact_partition_type(&c.data_type, zone))
    })
}

/// Partition types whose values parse to exactly the value Postgres compares.
fn exact_partition_type(data_type: &LakeType, zone: WriterZone) -> bool {
    match data_type {
        LakeType::String
        | LakeType::Long
        | LakeType::Integer
        | LakeType::Short
        | LakeType::Byte
        | LakeType::Boolean
        | LakeType::Date
        | LakeType::Decimal(..)
        | LakeType::TimestampNtz => true,
        LakeType::Timestamp => zone != WriterZone::Unknown,
        _ => false,
    }
}

/// Whether every row of a file with these partition values (physical name → text)
/// satisfies all `quals`. A value that cannot be read or compared is an error, never
/// a guess.
pub fn file_matches(
    schema: &LakeSchema,
    zone: WriterZone,
    quals: &[Qual],
    values: &HashMap<String, Option<String>>,
) -> Result<bool> {
    for qual in quals {
        let column = schema
            .column(&qual.column)
            .filter(|c| c.is_partition)
            .ok_or_else(|| DeltaError::NoSuchColumn(qual.column.clone()))?;
        if !holds(column, zone, qual, values)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `qual` is true (not false, not NULL) for the file's value of `column`.
fn holds(
    column: &LakeColumn,
    zone: WriterZone,
    qual: &Qual,
    values: &HashMap<String, Option<String>>,
) -> Result<bool> {
    let raw = values
        .get(&column.physical_name)
        .cloned()
        .flatten()
        .filter(|s| !s.is_empty());
    let actual = match raw {
        None => return Ok(qual.op == Op::IsNull),
        Some(text) => parse_partition_value(&text, &column.data_type, zone).ok_or_else(|| {
            DeltaError::InvalidValue {
                column: column.name.clone(),
                reason: format!(
                    "partition value \"{text}\" is not a valid {}",
                    column.data_type.name()
                ),
            }
        })?,
    };
    let compare = |wanted: &Value| -> Result<Option<Ordering>> {
        if matches!(wanted, Value::Null) {
            return Ok(None);
        }
        actual
            .compare(wanted)
            .map(Some)
            .ok_or_else(|| DeltaError::InvalidValue {
                column: column.name.clone(),
                reason: format!("{} cannot be compared with its values", wanted.display()),
            })
    };
    let ordering = |accept: fn(Ordering) -> bool| -> Result<bool> {
        Ok(compare(&qual.value)?.is_some_and(accept))
    };
    match qual.op {
        Op::IsNull => Ok(false),
        Op::IsNotNull => Ok(true),
        Op::Eq => ordering(|o| o == Ordering::Equal),
        Op::Ne => ordering(|o| o != Ordering::Equal),
        Op::Lt => ordering(|o| o == Ordering::Less),
        Op::Le => ordering(|o| o != Ordering::Greater),
        Op::Gt => ordering(|o| o == Ordering::Greater),
        Op::Ge => ordering(|o| o != Ordering::Less),
        Op::In => {
            let Value::List(items) = &qual.value else {
                return ordering(|o| o == Ordering::Equal);
            };
            for item in items {
                if compare(item)? == Some(Ordering::Equal) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Op::Like => Err(DeltaError::UnsupportedFeature(
            "LIKE in a DELETE that removes whole files".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LakeSchema {
        crate::delta::log::schema::parse_schema(
            r#"{"type":"struct","fields":[
                {"name":"id","type":"long","nullable":true,"metadata":{}},
                {"name":"category","type":"string","nullable":true,"metadata":{}},
                {"name":"day","type":"date","nullable":true,"metadata":{}},
                {"name":"at","type":"timestamp","nullable":true,"metadata":{}},
                {"name":"score","type":"double","nullable":true,"metadata":{}}]}"#,
            &["category".into(), "day".into(), "at".into(), "score".into()],
        )
        .unwrap()
    }

    fn q(column: &str, op: Op, value: Value) -> Qual {
        Qual::new(column, op, value)
    }

    fn values(category: Option<&str>, day: &str) -> HashMap<String, Option<String>> {
        HashMap::from([
            ("category".to_string(), category.map(String::from)),
            ("day".to_string(), Some(day.to_string())),
        ])
    }

    #[test]
    fn only_exact_comparisons_on_partition_columns_qualify() {
        let s = schema();
        let utc = WriterZone::Utc;
        assert!(deletes_whole_files(&s, utc, &[]));
        assert!(deletes_whole_files(
            &s,
            utc,
            &[("category".into(), Op::Eq), ("day".into(), Op::Lt)]
        ));
        assert!(deletes_whole_files(&s, utc, &[("at".into(), Op::Ge)]));
        assert!(!deletes_whole_files(
            &s,
            WriterZone::Unknown,
            &[("at".into(), Op::Ge)]
        ));
        assert!(!deletes_whole_files(&s, utc, &[("id".into(), Op::Eq)]));
        assert!(!deletes_whole_files(
            &s,
            utc,
            &[("category".into(), Op::Like)]
        ));
        assert!(!deletes_whole_files(&s, utc, &[("score".into(), Op::Eq)]));
    }

    #[test]
    fn null_partitions_and_null_values_never_match_comparisons() {
        let s = schema();
        let zone = WriterZone::Utc;
        let books = values(Some("books"), "2024-01-01");
        let none = values(None, "2024-01-01");
        let eq = |v: Value| [q("category", Op::Eq, v)];
        assert!(file_matches(&s, zone, &eq(Value::Text("books".into())), &books).unwrap());
        assert!(!file_matches(&s, zone, &eq(Value::Text("toys".into())), &books).unwrap());
        assert!(!file_matches(&s, zone, &eq(Value::Text("books".into())), &none).unwrap());
        assert!(!file_matches(&s, zone, &eq(Value::Null), &books).unwrap());
        let ne = [q("category", Op::Ne, Value::Text("toys".into()))];
        assert!(file_matches(&s, zone, &ne, &books).unwrap());
        assert!(!file_matches(&s, zone, &ne, &none).unwrap());
        let is_null = [q("category", Op::IsNull, Value::Null)];
        assert!(file_matches(&s, zone, &is_null, &none).unwrap());
        assert!(!file_matches(&s, zone, &is_null, &books).unwrap());
        let in_list = [q(
            "category",
            Op::In,
            Value::List(vec![Value::Null, Value::Text("books".into())]),
        )];
        assert!(file_matches(&s, zone, &in_list, &books).unwrap());
        assert!(!file_matches(&s, zone, &in_list, &none).unwrap());
    }

    #[test]
    fn every_qual_must_hold_and_bad_values_are_errors() {
        let s = schema();
        let zone = WriterZone::Utc;
        let file = values(Some("books"), "2024-01-02");
        let day = |text: &str| Value::Date(crate::temporal::parse_date(text).unwrap());
        let both = [
            q("category", Op::Eq, Value::Text("books".into())),
            q("day", Op::Ge, day("2024-01-02")),
        ];
        assert!(file_matches(&s, zone, &both, &file).unwrap());
        let later = [both[0].clone(), q("day", Op::Gt, day("2024-01-02"))];
        assert!(!file_matches(&s, zone, &later, &file).unwrap());
        let corrupt = values(Some("books"), "yesterday");
        assert!(file_matches(&s, zone, &both, &corrupt).is_err());
        let wrong_kind = [q("day", Op::Eq, Value::Int(3))];
        assert!(file_matches(&s, zone, &wrong_kind, &file).is_err());
    }
}
