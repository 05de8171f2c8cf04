//! Batched lookups for parameterized scans: the inner side of a nested loop asks the
//! source once for a batch of outer keys (`column IN (k1, k2, ...)`) instead of once
//! per outer row, and then serves each outer row's rows from that answer.
//!
//! Only keys with exact, collation-free equality take part (integers and text under
//! a deterministic collation, which the caller checks): the answer is bucketed by
//! the key column's value, so a bucket holds exactly the rows a single-key scan would
//! return for that key, and Postgres still re-checks every qual on them.

use crate::arrow::array::{
    Array, ArrayRef, AsArray, Int16Array, Int32Array, Int64Array, LargeStringArray, StringArray,
    StringViewArray,
};
use crate::arrow::compute::interleave;
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

/// The key of each row of a column (`None` for NULL or an unsupported type).
pub fn column_keys(column: &ColumnData, rows: usize) -> Vec<Option<LookupKey>> {
    match column {
        ColumnData::Constant(value) => vec![LookupKey::of_value(value); rows],
        ColumnData::Array(array) => array_keys(array),
    }
}

fn array_keys(array: &ArrayRef) -> Vec<Option<LookupKey>> {
    fn collect<T>(
        len: usize,
        valid: impl Fn(usize) -> bool,
        get: impl Fn(usize) -> T,
        key: impl Fn(T) -> LookupKey,
    ) -> Vec<Option<LookupKey>> {
        (0..len).map(|i| valid(i).then(|| key(get(i)))).collect()
    }
    let len = array.len();
    let valid = |i| array.is_valid(i);
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        collect(len, valid, |i| a.value(i), LookupKey::Int)
    } else if let Some(a) = any.downcast_ref::<Int32Array>() {
        collect(len, valid, |i| a.value(i) as i64, LookupKey::Int)
    } else if let Some(a) = any.downcast_ref::<Int16Array>() {
        collect(len, valid, |i| a.value(i) as i64, LookupKey::Int)
    } else if let Some(a) = any.downcast_ref::<StringArray>() {
        collect(len, valid, |i| a.value(i).to_string(), LookupKey::Text)
    } else if let Some(a) = any.downcast_ref::<LargeStringArray>() {
        collect(len, valid, |i| a.value(i).to_string(), LookupKey::Text)
    } else if let Some(a) = any.downcast_ref::<StringViewArray>() {
        collect(len, valid, |i| a.value(i).to_string(), LookupKey::Text)
    } else if let Some(dictionary) = array.as_any_dictionary_opt() {
        let values = array_keys(dictionary.values());
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
        vec![None; len]
    }
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

/// The rows a source returned for a batch of keys, bucketed by key.
#[derive(Debug, Default)]
pub struct LookupAnswer {
    batches: Vec<ScanBatch>,
    rows_of: HashMap<LookupKey, Vec<(usize, usize)>>,
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
    /// column in the batch. Rows whose key was not asked for are dropped.
    pub fn add(&mut self, batch: ScanBatch, key_column: usize) {
        let index = self.batches.len();
        let keys = column_keys(&batch.columns[key_column], batch.num_rows);
        for (row, key) in keys.into_iter().enumerate() {
            if let Some(key) = key.filter(|k| self.asked.contains(k)) {
                self.rows_of.entry(key).or_default().push((index, row));
            }
        }
        self.batches.push(batch);
    }

    /// The rows for `key` as one batch (empty when the key has none), or `None` when
    /// the key was not asked for.
    pub fn rows(&self, key: &LookupKey) -> Option<Result<ScanBatch, String>> {
        if !self.asked.contains(key) {
            return None;
        }
        let rows = self.rows_of.get(key).map(Vec::as_slice).unwrap_or(&[]);
        Some(self.gather(rows))
    }

    fn gather(&self, rows: &[(usize, usize)]) -> Result<ScanBatch, String> {
        let width = self.batches.first().map_or(0, |b| b.columns.len());
        let columns = (0..width)
            .map(|c| self.gather_column(c, rows))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ScanBatch {
            num_rows: rows.len(),
            columns,
            row_ids: None,
        })
    }

    fn gather_column(&self, column: usize, rows: &[(usize, usize)]) -> Result<ColumnData, String> {
        let constants: Vec<&Value> = rows
            .iter()
            .filter_map(|(b, _)| match &self.batches[*b].columns[column] {
                ColumnData::Constant(v) => Some(v),
                ColumnData::Array(_) => None,
            })
            .collect();
        if constants.len() == rows.len() {
            if let Some(first) = constants.first() {
                if constants.iter().all(|v| v == first) {
                    return Ok(ColumnData::Constant((*first).clone()));
                }
            }
        }
        let arrays = self
            .batches
            .iter()
            .map(|b| match &b.columns[column] {
                ColumnData::Array(a) => Ok(a.clone()),
                ColumnData::Constant(v) => Err(format!(
                    "a batched lookup mixing constant {} with arrays",
                    v.display()
                )),
            })
            .collect::<Result<Vec<_>, _>>();
        let arrays = match arrays {
            Ok(arrays) => arrays,
            Err(_) if rows.is_empty() => return Ok(ColumnData::Constant(Value::Null)),
            Err(e) => return Err(e),
        };
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        interleave(&refs, rows)
            .map(ColumnData::Array)
            .map_err(|e| e.to_string())
    }
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
    fn answer_buckets_rows_by_key_and_knows_keys_without_rows() {
        let keys: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("b"),
            Some("a"),
            None,
        ]));
        let qty: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3, 4]));
        let mut answer = LookupAnswer::new(&[text("a"), text("c")]);
        answer.add(
            ScanBatch {
                num_rows: 4,
                columns: vec![ColumnData::Array(keys), ColumnData::Array(qty)],
                row_ids: None,
            },
            0,
        );
        let a = answer.rows(&text("a")).unwrap().unwrap();
        assert_eq!(a.num_rows, 2);
        let ColumnData::Array(q) = &a.columns[1] else {
            panic!("array expected")
        };
        assert_eq!(
            q.as_primitive::<crate::arrow::datatypes::Int32Type>()
                .values(),
            &[1, 3]
        );
        assert_eq!(answer.rows(&text("c")).unwrap().unwrap().num_rows, 0);
        assert!(answer.rows(&text("b")).is_none(), "b was not asked for");
    }

    #[test]
    fn integer_widths_give_the_same_key() {
        let a: ArrayRef = Arc::new(Int16Array::from(vec![7]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![7]));
        assert_eq!(array_keys(&a), array_keys(&b));
        assert_eq!(LookupKey::of_value(&Value::Int(7)), array_keys(&a)[0]);
        assert_eq!(LookupKey::of_value(&Value::Float(7.0)), None);
    }
}
