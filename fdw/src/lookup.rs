//! Batched lookups for parameterized scans: the inner side of a nested loop asks the
//! source once for a batch of outer keys (`column IN (k1, k2, ...)`) instead of once
//! per outer row, and then serves each outer row's rows from that answer.
//!
//! Only keys with exact, collation-free equality take part (integers and text under
//! a deterministic collation, which the caller checks): the answer is bucketed by
//! the key column's value, so a bucket holds exactly the rows a single-key scan would
//! return for that key, and Postgres still re-checks every qual on them.

use crate::arrow::array::{
    Array, ArrayRef, AsArray, Int16Array, Int32Array, Int64Array, Int8Array, LargeStringArray,
    StringArray, StringViewArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use crate::arrow::compute::take;
use crate::batch::{ColumnData, ScanBatch};
use crate::value::Value;
use std::collections::{HashMap, HashSet};

/// A key value with exact equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LookupKey {
    /// any integer type
    Int(i64),
    /// text
    Text(String),
}

impl LookupKey {
    /// The key a qual value stands for; `None` for values without exact equality
    /// (floats, numerics, timestamps) and for NULL, which matches nothing.
    pub fn of_value(value: &Value) -> Option<LookupKey> {
        match value {
            Value::Int(i) => Some(LookupKey::Int(*i)),
            Value::Text(t) => Some(LookupKey::Text(t.clone())),
            _ => None,
        }
    }

    /// The key as a qual value.
    pub fn to_value(&self) -> Value {
        match self {
            LookupKey::Int(i) => Value::Int(*i),
            LookupKey::Text(t) => Value::Text(t.clone()),
        }
    }
}

/// The key of each row of a column (`None` for NULL), or `None` for a column type
/// without exact keys.
pub fn column_keys(column: &ColumnData, rows: usize) -> Option<Vec<Option<LookupKey>>> {
    match column {
        ColumnData::Constant(Value::Null) => Some(vec![None; rows]),
        ColumnData::Constant(value) => Some(vec![Some(LookupKey::of_value(value)?); rows]),
        ColumnData::Array(array) => array_keys(array),
    }
}

fn array_keys(array: &ArrayRef) -> Option<Vec<Option<LookupKey>>> {
    fn collect<T>(
        len: usize,
        valid: impl Fn(usize) -> bool,
        get: impl Fn(usize) -> T,
        key: impl Fn(T) -> Option<LookupKey>,
    ) -> Vec<Option<LookupKey>> {
        (0..len)
            .map(|i| if valid(i) { key(get(i)) } else { None })
            .collect()
    }
    let len = array.len();
    let valid = |i| array.is_valid(i);
    let int = |v: i64| Some(LookupKey::Int(v));
    let text = |v: &str| Some(LookupKey::Text(v.to_string()));
    let any = array.as_any();
    Some(if let Some(a) = any.downcast_ref::<Int64Array>() {
        collect(len, valid, |i| a.value(i), int)
    } else if let Some(a) = any.downcast_ref::<Int32Array>() {
        collect(len, valid, |i| a.value(i) as i64, int)
    } else if let Some(a) = any.downcast_ref::<Int16Array>() {
        collect(len, valid, |i| a.value(i) as i64, int)
    } else if let Some(a) = any.downcast_ref::<Int8Array>() {
        collect(len, valid, |i| a.value(i) as i64, int)
    } else if let Some(a) = any.downcast_ref::<UInt8Array>() {
        collect(len, valid, |i| a.value(i) as i64, int)
    } else if let Some(a) = any.downcast_ref::<UInt16Array>() {
        collect(len, valid, |i| a.value(i) as i64, int)
    } else if let Some(a) = any.downcast_ref::<UInt32Array>() {
        collect(len, valid, |i| a.value(i) as i64, int)
    } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
        // values past i64::MAX equal no Postgres integer: such rows match no key
        collect(
            len,
            valid,
            |i| a.value(i),
            |v| i64::try_from(v).ok().map(LookupKey::Int),
        )
    } else if let Some(a) = any.downcast_ref::<StringArray>() {
        collect(len, valid, |i| a.value(i), text)
    } else if let Some(a) = any.downcast_ref::<LargeStringArray>() {
        collect(len, valid, |i| a.value(i), text)
    } else if let Some(a) = any.downcast_ref::<StringViewArray>() {
        collect(len, valid, |i| a.value(i), text)
    } else if let Some(dictionary) = array.as_any_dictionary_opt() {
        let values = array_keys(dictionary.values())?;
        dictionary
            .normalized_keys()
            .into_iter()
            .enumerate()
            .map(|(i, k)| {
                if array.is_valid(i) {
                    values[k].clone()
                } else {
                    None
                }
            })
            .collect()
    } else {
        return None;
    })
}

/// The keys to ask for next: `wanted` first, then the distinct keys that follow it in
/// the outer batch, at most `limit` in all; with the position of `wanted` (searched
/// from `from` on, where the outer scan is, then from the start). `None` when the
/// batch does not hold `wanted`.
pub fn next_keys(
    outer: &[Option<LookupKey>],
    wanted: &LookupKey,
    from: usize,
    limit: usize,
) -> Option<(usize, Vec<LookupKey>)> {
    let is_wanted = |k: &Option<LookupKey>| k.as_ref() == Some(wanted);
    let start = outer
        .get(from..)
        .and_then(|rest| rest.iter().position(is_wanted))
        .map(|i| from + i)
        .or_else(|| outer.iter().position(is_wanted))?;
    let mut keys = vec![wanted.clone()];
    let mut chosen: HashSet<&LookupKey> = HashSet::from([wanted]);
    for key in outer[start..].iter().flatten() {
        if keys.len() >= limit.max(1) {
            break;
        }
        if chosen.insert(key) {
            keys.push(key.clone());
        }
    }
    Some((start, keys))
}

/// The rows a source returned for a batch of keys, bucketed by key. Only rows of the
/// keys asked for are kept.
#[derive(Debug, Default)]
pub struct LookupAnswer {
    batches: Vec<ScanBatch>,
    rows_of: HashMap<LookupKey, Vec<(usize, u32)>>,
    asked: HashSet<LookupKey>,
}

impl LookupAnswer {
    /// An empty answer for the keys `asked`; [`LookupAnswer::add`] fills it.
    pub fn new(asked: &[LookupKey]) -> LookupAnswer {
        LookupAnswer {
            asked: asked.iter().cloned().collect(),
            ..LookupAnswer::default()
        }
    }

    /// Adds a batch of the source's answer; `key_column` is the position of the key
    /// column in the batch. Fails when that column's type has no exact keys (the
    /// caller then scans key by key).
    pub fn add(&mut self, batch: ScanBatch, key_column: usize) -> Result<(), String> {
        let keys = column_keys(&batch.columns[key_column], batch.num_rows)
            .ok_or_else(|| "the key column's type has no exact keys".to_string())?;
        let kept: Vec<(u32, LookupKey)> = keys
            .into_iter()
            .enumerate()
            .filter_map(|(row, key)| Some((row as u32, key.filter(|k| self.asked.contains(k))?)))
            .collect();
        if kept.is_empty() {
            return Ok(());
        }
        let rows: Vec<u32> = kept.iter().map(|(row, _)| *row).collect();
        let index = self.batches.len();
        self.batches.push(take_rows(&batch, &rows)?);
        for (position, (_, key)) in kept.into_iter().enumerate() {
            self.rows_of
                .entry(key)
                .or_default()
                .push((index, position as u32));
        }
        Ok(())
    }

    /// The keys this answer covers.
    pub fn covers(&self, key: &LookupKey) -> bool {
        self.asked.contains(key)
    }

    /// The rows for `key`, one batch per source batch that holds some (none when the
    /// key has no rows), or `None` when the key was not asked for.
    pub fn rows(&self, key: &LookupKey) -> Option<Result<Vec<ScanBatch>, String>> {
        if !self.asked.contains(key) {
            return None;
        }
        let mut by_batch: Vec<(usize, Vec<u32>)> = Vec::new();
        for (batch, row) in self.rows_of.get(key).map(Vec::as_slice).unwrap_or(&[]) {
            match by_batch.last_mut() {
                Some((b, rows)) if b == batch => rows.push(*row),
                _ => by_batch.push((*batch, vec![*row])),
            }
        }
        Some(
            by_batch
                .into_iter()
                .map(|(batch, rows)| take_rows(&self.batches[batch], &rows))
                .collect(),
        )
    }
}

/// The rows `rows` of a batch (constant columns stay constant).
fn take_rows(batch: &ScanBatch, rows: &[u32]) -> Result<ScanBatch, String> {
    let indices = UInt32Array::from(rows.to_vec());
    let columns = batch
        .columns
        .iter()
        .map(|column| match column {
            ColumnData::Constant(v) => Ok(ColumnData::Constant(v.clone())),
            ColumnData::Array(a) => take(a.as_ref(), &indices, None)
                .map(ColumnData::Array)
                .map_err(|e| e.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScanBatch {
        num_rows: rows.len(),
        columns,
        row_ids: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn text(k: &str) -> LookupKey {
        LookupKey::Text(k.into())
    }

    #[test]
    fn next_keys_starts_at_the_wanted_key_where_the_outer_scan_is() {
        let outer: Vec<Option<LookupKey>> = ["b", "a", "b", "c", "b", "d", "e"]
            .iter()
            .map(|k| Some(text(k)))
            .chain([None])
            .collect();
        assert_eq!(
            next_keys(&outer, &text("b"), 3, 3),
            Some((4, vec![text("b"), text("d"), text("e")]))
        );
        assert_eq!(
            next_keys(&outer, &text("a"), 5, 10),
            Some((
                1,
                vec![text("a"), text("b"), text("c"), text("d"), text("e")]
            ))
        );
        assert_eq!(next_keys(&outer, &text("zz"), 0, 3), None);
    }

    #[test]
    fn answer_buckets_rows_by_key_per_source_batch() {
        let batch = |keys: Vec<Option<&str>>, qty: Vec<i32>, day: &str| ScanBatch {
            num_rows: keys.len(),
            columns: vec![
                ColumnData::Array(Arc::new(StringArray::from(keys))),
                ColumnData::Array(Arc::new(Int32Array::from(qty))),
                ColumnData::Constant(Value::Text(day.into())),
            ],
            row_ids: None,
        };
        let mut answer = LookupAnswer::new(&[text("a"), text("c")]);
        answer
            .add(
                batch(
                    vec![Some("a"), Some("b"), Some("a"), None],
                    vec![1, 2, 3, 4],
                    "d1",
                ),
                0,
            )
            .unwrap();
        answer
            .add(batch(vec![Some("a")], vec![5], "d2"), 0)
            .unwrap();
        let a = answer.rows(&text("a")).unwrap().unwrap();
        assert_eq!(a.len(), 2, "one batch per source batch");
        let ColumnData::Array(q) = &a[0].columns[1] else {
            panic!("array expected")
        };
        assert_eq!(
            q.as_primitive::<crate::arrow::datatypes::Int32Type>()
                .values(),
            &[1, 3]
        );
        assert!(matches!(&a[1].columns[2], ColumnData::Constant(Value::Text(d)) if d == "d2"));
        assert!(answer.rows(&text("c")).unwrap().unwrap().is_empty());
        assert!(answer.rows(&text("b")).is_none(), "b was not asked for");
    }

    #[test]
    fn key_types_without_exact_keys_are_refused() {
        let floats: ArrayRef = Arc::new(crate::arrow::array::Float64Array::from(vec![1.0]));
        let mut answer = LookupAnswer::new(&[LookupKey::Int(1)]);
        let batch = ScanBatch {
            num_rows: 1,
            columns: vec![ColumnData::Array(floats)],
            row_ids: None,
        };
        assert!(answer.add(batch, 0).is_err());
    }

    #[test]
    fn integer_widths_give_the_same_key() {
        let a: ArrayRef = Arc::new(Int8Array::from(vec![7]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![7]));
        assert_eq!(array_keys(&a), array_keys(&b));
        assert_eq!(
            LookupKey::of_value(&Value::Int(7)),
            array_keys(&a).unwrap()[0]
        );
        assert_eq!(LookupKey::of_value(&Value::Float(7.0)), None);
    }
}
