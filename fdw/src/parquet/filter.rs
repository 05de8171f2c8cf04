//! Row filtering on decoded Arrow batches, before rows become tuples.
//!
//! Only comparisons whose Arrow semantics equal Postgres's are applied here (equality,
//! ranges and IN on strings, integers and dates; `IS [NOT] NULL` on any column; NULLs
//! never match). Floats are left out: Arrow orders them totally (-0.0 < 0.0), Postgres
//! does not. A qual [`exact`] for its column's type is applied to every row, so the
//! FDW core may leave it out of Postgres's re-check; every other qual is a hint.

use crate::parquet::schema::LakeSchema;
use crate::parquet::types::mapping;
use crate::request::{Op, Qual};
use crate::value::Value;
use deltalake::arrow::array::new_null_array;
use deltalake::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Datum, Int32Array, Int64Array, StringArray,
};
use deltalake::arrow::compute::kernels::boolean::{and_kleene, or_kleene};
use deltalake::arrow::compute::kernels::cmp;
use deltalake::arrow::compute::{is_not_null, is_null};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::error::ArrowError;

fn scalar(data_type: &DataType, value: &Value) -> Option<Box<dyn Datum>> {
    Some(match (data_type, value) {
        (DataType::Utf8, Value::Text(s)) => Box::new(StringArray::new_scalar(s.as_str())),
        (DataType::Int64, Value::Int(i)) => Box::new(Int64Array::new_scalar(*i)),
        (DataType::Int32, Value::Int(i)) => {
            Box::new(Int32Array::new_scalar(i32::try_from(*i).ok()?))
        }
        (DataType::Date32, Value::Date(d)) => Box::new(Date32Array::new_scalar(*d)),
        _ => return None,
    })
}

fn compare(array: &ArrayRef, op: Op, value: &Value) -> Option<Result<BooleanArray, ArrowError>> {
    let rhs = scalar(array.data_type(), value)?;
    Some(match op {
        Op::Eq => cmp::eq(array, rhs.as_ref()),
        Op::Ne => cmp::neq(array, rhs.as_ref()),
        Op::Lt => cmp::lt(array, rhs.as_ref()),
        Op::Le => cmp::lt_eq(array, rhs.as_ref()),
        Op::Gt => cmp::gt(array, rhs.as_ref()),
        Op::Ge => cmp::gt_eq(array, rhs.as_ref()),
        _ => return None,
    })
}

/// Whether [`qual_mask`] decides `qual` for every row of a column of `data_type`
/// exactly as Postgres would.
pub fn exact(data_type: &DataType, qual: &Qual) -> bool {
    match (&qual.op, &qual.value) {
        (Op::IsNull | Op::IsNotNull, _) => true,
        (Op::In, Value::List(items)) => {
            !items.is_empty() && items.iter().all(|v| scalar(data_type, v).is_some())
        }
        (Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge, value) => {
            scalar(data_type, value).is_some()
        }
        _ => false,
    }
}

/// Whether a column holding `value` in every row (a partition value) satisfies `qual`,
/// decided as [`qual_mask`] decides it; `None` when the qual is left to Postgres.
pub fn constant_matches(data_type: &DataType, value: &Value, qual: &Qual) -> Option<bool> {
    let array: ArrayRef = match value {
        Value::Null => new_null_array(data_type, 1),
        v => scalar(data_type, v)?.get().0.slice(0, 1),
    };
    let mask = qual_mask(&array, qual)?.ok()?;
    Some(mask.is_valid(0) && mask.value(0))
}

/// The mask of rows of `array` that satisfy `qual`, or `None` when this qual is left
/// to Postgres.
pub fn qual_mask(array: &ArrayRef, qual: &Qual) -> Option<Result<BooleanArray, ArrowError>> {
    match (&qual.op, &qual.value) {
        (Op::IsNull, _) => Some(is_null(array.as_ref())),
        (Op::IsNotNull, _) => Some(is_not_null(array.as_ref())),
        (Op::In, Value::List(items)) => {
            let mut mask: Option<BooleanArray> = None;
            for item in items {
                let m = match compare(array, Op::Eq, item)? {
                    Ok(m) => m,
                    Err(e) => return Some(Err(e)),
                };
                mask = Some(match mask {
                    None => m,
                    Some(prev) => match or_kleene(&prev, &m) {
                        Ok(m) => m,
                        Err(e) => return Some(Err(e)),
                    },
                });
            }
            mask.map(Ok)
        }
        (Op::In, _) => None,
        (op, value) => compare(array, *op, value),
    }
}

/// Combines masks with AND; rows where any mask is NULL or false are dropped.
pub fn combine(masks: Vec<BooleanArray>) -> Result<Option<BooleanArray>, ArrowError> {
    let mut iter = masks.into_iter();
    let Some(mut acc) = iter.next() else {
        return Ok(None);
    };
    for m in iter {
        acc = and_kleene(&acc, &m)?;
    }
    Ok(Some(acc))
}

/// Whether every row a scan with `qual` returns satisfies it under Postgres's semantics
/// (so Postgres need not check it again).
pub fn applies_exactly(schema: &LakeSchema, qual: &Qual) -> bool {
    schema
        .column(&qual.column)
        .and_then(|c| mapping(&c.data_type).arrow)
        .is_some_and(|t| exact(&t, qual))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn q(op: Op, value: Value) -> Qual {
        Qual::new("c", op, value)
    }

    #[test]
    fn string_equality_and_in_lists_with_nulls() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("b")]));
        let m = qual_mask(&a, &q(Op::Eq, Value::Text("a".into())))
            .unwrap()
            .unwrap();
        assert_eq!(m, BooleanArray::from(vec![Some(true), None, Some(false)]));
        let m = qual_mask(
            &a,
            &q(
                Op::In,
                Value::List(vec![Value::Text("b".into()), Value::Text("z".into())]),
            ),
        )
        .unwrap()
        .unwrap();
        assert_eq!(m, BooleanArray::from(vec![Some(false), None, Some(true)]));
    }

    #[test]
    fn mismatched_kinds_and_ops_are_left_to_postgres() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        assert!(qual_mask(&a, &q(Op::Eq, Value::Text("1".into()))).is_none());
        assert!(qual_mask(&a, &q(Op::Like, Value::Text("1%".into()))).is_none());
        assert!(qual_mask(&a, &q(Op::Eq, Value::Int(i64::MAX))).is_none());
        let m = qual_mask(&a, &q(Op::Ge, Value::Int(2))).unwrap().unwrap();
        assert_eq!(m, BooleanArray::from(vec![false, true]));
    }
}
