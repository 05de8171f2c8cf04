//! Grouping keys: the group of each row of a batch, and the distinct keys.

use super::*;

/// The group of each row of one batch.
pub(super) enum GroupIds {
    /// every row is in one group
    Single(u32),
    /// the group of each row
    PerRow(Vec<u32>),
}

impl GroupIds {
    pub(super) fn of(&self, row: usize) -> usize {
        match self {
            GroupIds::Single(g) => *g as usize,
            GroupIds::PerRow(ids) => ids[row] as usize,
        }
    }
}

/// A dictionary entry no row has needed yet.
const NOT_LOOKED_UP: u32 = u32::MAX;
/// A dictionary entry whose group the current batch is looking up.
const LOOKING_UP: u32 = u32::MAX - 1;

/// Distinct grouping keys and the group of each.
pub(super) enum Groups {
    /// no grouping columns: exactly one group, even over no rows
    None,
    /// one text column: keys by their bytes; dictionary-encoded batches look up each
    /// entry of a dictionary once, however many batches share it
    Text {
        index: TextIndex,
        /// the last dictionary's values and the group of each entry (or
        /// [`NOT_LOOKED_UP`])
        dictionary: Option<(ArrayRef, Vec<u32>)>,
    },
    /// any other columns: keys in Arrow's row format (byte-comparable encodings)
    Rows {
        converter: RowConverter,
        index: FastMap<Box<[u8]>, u32>,
        keys: Rows,
    },
}

impl Groups {
    pub(super) fn new(types: &[DataType]) -> Result<Groups> {
        Ok(match types {
            [] => Groups::None,
            [DataType::Utf8] => Groups::Text {
                index: TextIndex::default(),
                dictionary: None,
            },
            _ => {
                let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
                let converter = RowConverter::new(fields)?;
                let keys = converter.empty_rows(0, 0);
                Groups::Rows {
                    converter,
                    index: FastMap::default(),
                    keys,
                }
            }
        })
    }

    pub(super) fn count(&self) -> usize {
        match self {
            Groups::None => 1,
            Groups::Text { index, .. } => index.len(),
            Groups::Rows { keys, .. } => keys.num_rows(),
        }
    }

    /// The groups of a batch's rows from its key columns (canonical types; one-row
    /// arrays for keys constant over the batch).
    pub(super) fn assign(&mut self, columns: &[ArrayRef], rows: usize) -> Result<GroupIds> {
        let single = columns.iter().all(|k| k.len() == 1);
        match self {
            Groups::None => Ok(GroupIds::Single(0)),
            Groups::Text { index, .. } => {
                let strings = columns[0].as_string::<i32>();
                Ok(if single {
                    GroupIds::Single(index.groups_of(strings, &[0])[0])
                } else {
                    GroupIds::PerRow(index.groups_of(strings, &Vec::from_iter(0..rows)))
                })
            }
            Groups::Rows {
                converter,
                index,
                keys,
            } => {
                let encoded = converter.convert_columns(columns)?;
                let mut id = |row: usize| {
                    let key = encoded.row(row);
                    if let Some(&id) = index.get(key.data()) {
                        return id;
                    }
                    let id = keys.num_rows() as u32;
                    index.insert(key.data().into(), id);
                    keys.push(key);
                    id
                };
                Ok(if single {
                    GroupIds::Single(id(0))
                } else {
                    GroupIds::PerRow((0..rows).map(id).collect())
                })
            }
        }
    }

    /// The groups of a batch grouped by one dictionary-encoded text column.
    pub(super) fn assign_dictionary(&mut self, column: &ArrayRef) -> Result<GroupIds> {
        let Groups::Text { index, dictionary } = self else {
            let plain = cast(column, &DataType::Utf8)?;
            return self.assign(&[plain], column.len());
        };
        let encoded = column.as_any_dictionary();
        // the Parquet reader hands each batch of a column chunk the same dictionary
        // buffers (in a new array): compare the buffers
        let same = dictionary
            .as_ref()
            .is_some_and(|(values, _)| same_values(values, encoded.values()));
        if !same {
            let entries = vec![NOT_LOOKED_UP; encoded.values().len()];
            *dictionary = Some((encoded.values().clone(), entries));
        }
        let (values, known) = dictionary.as_mut().expect("set above");
        let strings = cast(values, &DataType::Utf8)?;
        let strings = strings.as_string::<i32>();
        // the Parquet reader's keys are Int32 (then this cast is free); an entry past
        // Int32 is an error, not a NULL
        let entries = cast_exact(encoded.keys(), &DataType::Int32)?;
        let entries = entries.as_primitive::<Int32Type>();
        let nulls = entries.nulls().filter(|n| n.null_count() > 0);
        let valid = |row: usize| nulls.is_none_or(|n| n.is_valid(row));
        // the entries this batch uses that have no group yet, looked up together;
        // collected without a branch on whether an entry is new (that branch is a coin
        // toss in the first batch of a column chunk)
        let mut new_entries = vec![0; entries.len()];
        let mut new_count = 0;
        for (row, &entry) in entries.values().iter().enumerate() {
            if !valid(row) {
                continue;
            }
            let Some(&state) = known.get(entry as usize) else {
                return Err(AggregateError::Type(format!(
                    "dictionary key {entry} of {} entries",
                    known.len()
                )));
            };
            let entry = entry as usize;
            new_entries[new_count] = entry;
            new_count += usize::from(state == NOT_LOOKED_UP);
            known[entry] = state.min(LOOKING_UP);
        }
        new_entries.truncate(new_count);
        for (entry, group) in new_entries
            .iter()
            .zip(index.groups_of(strings, &new_entries))
        {
            known[*entry] = group;
        }
        let ids = match nulls {
            None => entries
                .values()
                .iter()
                .map(|&e| known[e as usize])
                .collect(),
            Some(_) => {
                let null_group = index.null_group();
                let entries = entries.values().iter().enumerate();
                entries
                    .map(|(row, &e)| {
                        if valid(row) {
                            known[e as usize]
                        } else {
                            null_group
                        }
                    })
                    .collect()
            }
        };
        Ok(GroupIds::PerRow(ids))
    }

    pub(super) fn finish(self) -> Result<Vec<ArrayRef>> {
        Ok(match self {
            Groups::None => Vec::new(),
            Groups::Text { index, .. } => vec![Arc::new(index.finish())],
            Groups::Rows {
                converter, keys, ..
            } => converter.convert_rows(&keys)?,
        })
    }
}

/// Whether two arrays are views of the same buffers.
fn same_values(a: &ArrayRef, b: &ArrayRef) -> bool {
    let (a, b) = (a.to_data(), b.to_data());
    a.data_type() == b.data_type()
        && a.len() == b.len()
        && a.offset() == b.offset()
        && a.buffers().len() == b.buffers().len()
        && a.buffers()
            .iter()
            .zip(b.buffers())
            .all(|(x, y)| x.as_ptr() == y.as_ptr())
        && a.nulls().map(|n| n.buffer().as_ptr()) == b.nulls().map(|n| n.buffer().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{DictionaryArray, Int32Array, Int8Array};
    use deltalake::arrow::datatypes::Int8Type;

    fn ids(groups: GroupIds) -> Vec<u32> {
        match groups {
            GroupIds::PerRow(ids) => ids,
            GroupIds::Single(g) => vec![g],
        }
    }

    fn text(values: Vec<Option<&str>>) -> ArrayRef {
        Arc::new(StringArray::from(values))
    }

    fn dictionary(keys: Vec<Option<i32>>, values: &ArrayRef) -> ArrayRef {
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values.clone()).unwrap(),
        )
    }

    #[test]
    fn several_columns_key_groups_in_order_of_first_appearance() {
        let mut groups = Groups::new(&[DataType::Int64, DataType::Utf8, DataType::Date32]).unwrap();
        assert!(matches!(groups, Groups::Rows { .. }));
        let first: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(1),
                Some(1),
                None,
                Some(1),
            ])),
            text(vec![Some("a"), Some("b"), Some("a"), Some("a"), Some("a")]),
            Arc::new(Date32Array::from(vec![
                Some(7),
                Some(7),
                Some(7),
                Some(7),
                None,
            ])),
        ];
        // (1,a,7) (1,b,7) (1,a,7) (NULL,a,7) (1,a,NULL): a key differing in any column,
        // or NULL in it, is a group of its own
        assert_eq!(ids(groups.assign(&first, 5).unwrap()), vec![0, 1, 0, 2, 3]);
        let second: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![None, Some(2)])),
            text(vec![Some("a"), Some("a")]),
            Arc::new(Date32Array::from(vec![Some(7), Some(7)])),
        ];
        assert_eq!(ids(groups.assign(&second, 2).unwrap()), vec![2, 4]);
        // one-row columns: the whole batch is in one (existing) group
        let constant: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![1])),
            text(vec![Some("b")]),
            Arc::new(Date32Array::from(vec![7])),
        ];
        assert!(matches!(
            groups.assign(&constant, 100).unwrap(),
            GroupIds::Single(1)
        ));
        assert_eq!(groups.count(), 5);
        let keys = groups.finish().unwrap();
        assert_eq!(keys.len(), 3);
        let ints: Vec<Option<i64>> = keys[0].as_primitive::<Int64Type>().iter().collect();
        assert_eq!(ints, vec![Some(1), Some(1), None, Some(1), Some(2)]);
        let texts: Vec<Option<&str>> = keys[1].as_string::<i32>().iter().collect();
        assert_eq!(
            texts,
            vec![Some("a"), Some("b"), Some("a"), Some("a"), Some("a")]
        );
        assert_eq!(keys[2].null_count(), 1);
        assert!(keys[2].is_null(3));
    }

    #[test]
    fn no_grouping_columns_is_one_group_even_without_rows() {
        let mut groups = Groups::new(&[]).unwrap();
        assert_eq!(groups.count(), 1);
        assert!(matches!(
            groups.assign(&[], 10).unwrap(),
            GroupIds::Single(0)
        ));
        assert!(groups.finish().unwrap().is_empty());
        let rows = Groups::new(&[DataType::Boolean]).unwrap();
        assert_eq!(rows.count(), 0, "grouped: no rows, no groups");
    }

    #[test]
    fn text_keys_tell_the_empty_string_from_null_and_short_from_long() {
        let mut groups = Groups::new(&[DataType::Utf8]).unwrap();
        assert!(matches!(groups, Groups::Text { .. }));
        let long = "a key longer than fifteen bytes";
        let batch = text(vec![
            Some(""),
            None,
            Some(long),
            Some(""),
            None,
            Some(long),
            Some("x"),
        ]);
        assert_eq!(
            ids(groups.assign(&[batch], 7).unwrap()),
            vec![0, 1, 2, 0, 1, 2, 3]
        );
        assert!(matches!(
            groups.assign(&[text(vec![Some(long)])], 4).unwrap(),
            GroupIds::Single(2)
        ));
        let keys = groups.finish().unwrap();
        let keys: Vec<Option<&str>> = keys[0].as_string::<i32>().iter().collect();
        assert_eq!(keys, vec![Some(""), None, Some(long), Some("x")]);
    }

    #[test]
    fn dictionary_batches_group_like_their_plain_text() {
        let mut groups = Groups::new(&[DataType::Utf8]).unwrap();
        let values = text(vec![Some("x"), Some("y"), None, Some("z")]);
        // entry 1 twice in one batch, a NULL key and a key of the NULL entry: both NULL
        let first = dictionary(vec![Some(1), Some(1), None, Some(2), Some(0)], &values);
        assert_eq!(
            ids(groups.assign_dictionary(&first).unwrap()),
            vec![0, 0, 1, 1, 2]
        );
        // the same dictionary buffers in a new array: entries known, and new ones added
        let same = dictionary(vec![Some(3), Some(0), Some(1)], &values);
        assert_eq!(ids(groups.assign_dictionary(&same).unwrap()), vec![3, 2, 0]);
        // another dictionary with the same strings in another order: the same groups
        let reordered = text(vec![Some("z"), Some("x"), Some("w")]);
        let other = dictionary(vec![Some(0), Some(1), Some(2), None], &reordered);
        assert_eq!(
            ids(groups.assign_dictionary(&other).unwrap()),
            vec![3, 2, 4, 1]
        );
        // plain text afterwards agrees too
        let plain = text(vec![Some("w"), Some("y"), None]);
        assert_eq!(ids(groups.assign(&[plain], 3).unwrap()), vec![4, 0, 1]);
        let keys = groups.finish().unwrap();
        let keys: Vec<Option<&str>> = keys[0].as_string::<i32>().iter().collect();
        assert_eq!(keys, vec![Some("y"), None, Some("x"), Some("z"), Some("w")]);
    }

    #[test]
    fn dictionary_keys_of_other_widths_are_widened() {
        let mut groups = Groups::new(&[DataType::Utf8]).unwrap();
        let values = text(vec![Some("p"), Some("q")]);
        let narrow: ArrayRef = Arc::new(
            DictionaryArray::<Int8Type>::try_new(Int8Array::from(vec![1, 0, 1]), values).unwrap(),
        );
        assert_eq!(
            ids(groups.assign_dictionary(&narrow).unwrap()),
            vec![0, 1, 0]
        );
    }

    #[test]
    fn same_values_compares_buffers_not_contents() {
        let a = text(vec![Some("x"), Some("y")]);
        let b = text(vec![Some("x"), Some("y")]);
        assert!(same_values(&a, &a.slice(0, 2)));
        assert!(!same_values(&a, &b), "equal strings in other buffers");
        assert!(!same_values(&a, &a.slice(1, 1)));
    }

    #[test]
    fn group_of_a_row() {
        assert_eq!(GroupIds::Single(4).of(1_000), 4);
        assert_eq!(GroupIds::PerRow(vec![2, 0, 1]).of(2), 1);
    }
}
