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

/// A hash map with a fast hasher (grouping keys are not attacker-chosen hash floods:
/// foldhash is seeded per process).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Distinct grouping keys and the group of each.
pub(super) enum Groups {
    /// no grouping columns: exactly one group, even over no rows
    None,
    /// one text column: keys by their bytes; dictionary-encoded batches look up each
    /// entry of a dictionary once, however many batches share it
    Text {
        index: TextIndex,
        null: Option<u32>,
        keys: Vec<Option<Box<str>>>,
        /// the last dictionary's values and the group of each entry (`u32::MAX`: not
        /// looked up yet)
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
                null: None,
                keys: Vec::new(),
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
            Groups::Text { keys, .. } => keys.len(),
            Groups::Rows { keys, .. } => keys.num_rows(),
        }
    }

    /// The groups of a batch's rows from its key columns (canonical types; one-row
    /// arrays for keys constant over the batch).
    pub(super) fn assign(&mut self, columns: &[ArrayRef], rows: usize) -> Result<GroupIds> {
        let single = columns.iter().all(|k| k.len() == 1);
        match self {
            Groups::None => Ok(GroupIds::Single(0)),
            Groups::Text {
                index, null, keys, ..
            } => {
                let strings = columns[0].as_string::<i32>();
                let mut id = |row: usize| text_group(index, null, keys, strings, row);
                Ok(if single {
                    GroupIds::Single(id(0))
                } else {
                    GroupIds::PerRow((0..rows).map(id).collect())
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
        let Groups::Text {
            index,
            null,
            keys,
            dictionary,
        } = self
        else {
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
            let entries = vec![u32::MAX; encoded.values().len()];
            *dictionary = Some((encoded.values().clone(), entries));
        }
        let (values, known) = dictionary.as_mut().expect("set above");
        let strings = cast(values, &DataType::Utf8)?;
        let strings = strings.as_string::<i32>();
        let entries = cast(encoded.keys(), &DataType::Int64)?;
        let entries = entries.as_primitive::<Int64Type>();
        let mut ids = Vec::with_capacity(entries.len());
        for row in 0..entries.len() {
            if entries.is_null(row) {
                ids.push(*null.get_or_insert_with(|| {
                    keys.push(None);
                    keys.len() as u32 - 1
                }));
                continue;
            }
            let entry = entries.value(row) as usize;
            if known[entry] == u32::MAX {
                known[entry] = text_group(index, null, keys, strings, entry);
            }
            ids.push(known[entry]);
        }
        Ok(GroupIds::PerRow(ids))
    }

    pub(super) fn finish(self) -> Result<Vec<ArrayRef>> {
        Ok(match self {
            Groups::None => Vec::new(),
            Groups::Text { keys, .. } => vec![Arc::new(StringArray::from_iter(
                keys.iter().map(|k| k.as_deref()),
            ))],
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

/// The group of row `row` of a text key column, created when new.
fn text_group(
    index: &mut TextIndex,
    null: &mut Option<u32>,
    keys: &mut Vec<Option<Box<str>>>,
    strings: &StringArray,
    row: usize,
) -> u32 {
    if strings.is_null(row) {
        return *null.get_or_insert_with(|| {
            keys.push(None);
            keys.len() as u32 - 1
        });
    }
    let value = strings.value(row);
    let key = TextKey::of(value);
    if let Some(&id) = match &key {
        TextKey::Short(packed) => index.short.get(packed),
        TextKey::Long(text) => index.long.get(*text),
    } {
        return id;
    }
    let id = keys.len() as u32;
    match key {
        TextKey::Short(packed) => index.short.insert(packed, id),
        TextKey::Long(text) => index.long.insert(text.into(), id),
    };
    keys.push(Some(value.into()));
    id
}

/// Groups of text keys: keys of up to 15 bytes packed into an integer (compared
/// without a call to `memcmp`), longer ones by their text.
#[derive(Default)]
pub(super) struct TextIndex {
    short: FastMap<u128, u32>,
    long: FastMap<Box<str>, u32>,
}

/// A text key as [`TextIndex`] looks it up.
enum TextKey<'a> {
    /// the bytes, then the length in the last byte
    Short(u128),
    Long(&'a str),
}

impl<'a> TextKey<'a> {
    pub(super) fn of(text: &'a str) -> TextKey<'a> {
        let bytes = text.as_bytes();
        if bytes.len() > 15 {
            return TextKey::Long(text);
        }
        let mut packed = [0u8; 16];
        packed[..bytes.len()].copy_from_slice(bytes);
        packed[15] = bytes.len() as u8;
        TextKey::Short(u128::from_le_bytes(packed))
    }
}
