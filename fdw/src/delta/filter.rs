//! Row filtering on decoded Arrow batches, before rows become tuples.
//!
//! Only comparisons whose Arrow semantics equal Postgres's are applied here (equality,
//! ranges and IN on strings, integers and dates; NULLs never match). Floats are left
//! out: Arrow orders them totally (-0.0 < 0.0), Postgres does not. Every other qual is
//! left to Postgres, which re-checks all quals anyway.

use crate::request::{Op, Qual};
use crate::value::Value;
use deltalake::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Datum, Int32Array, Int64Array, StringArray,
};
use deltalake::arrow::compute::kernels::boolean::{and_kleene, or_kleene};
use deltalake::arrow::compute::kernels::cmp;
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

/// The mask of rows of `array` that satisfy `qual`, or `None` when this qual is left
/// to Postgres.
pub fn qual_mask(array: &ArrayRef, qual: &Qual) -> Option<Result<BooleanArray, ArrowError>> {
    match (&qual.op, &qual.value) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn q(op: Op, value: Value) -> Qual {
        Qual {
            column: "c".into(),
            op,
            value,
        }
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
