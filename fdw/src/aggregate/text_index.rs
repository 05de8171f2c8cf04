//! The groups of one text grouping column.
//!
//! Keys of up to 15 bytes are packed into two words and kept in an open-addressing
//! table, so a probe compares two integers instead of calling `memcmp`. A lookup of many
//! keys hashes them all first and prefetches each key's slot a few keys ahead: with
//! thousands of groups the table outgrows the core's cache, and the misses of
//! consecutive keys then overlap instead of queueing. Longer keys go to a hash map by
//! their text.

use super::FastMap;
use deltalake::arrow::array::{Array, StringArray};
use std::hash::BuildHasher;

/// A free slot's group.
const FREE: u32 = u32::MAX;
/// How many keys ahead a batch lookup prefetches its slot.
const PREFETCH_DISTANCE: usize = 8;
/// Slots of an empty table.
const INITIAL_SLOTS: usize = 64;

/// A short key: its bytes then its length in the last byte, as two little-endian words.
type Packed = [u64; 2];

#[derive(Clone, Copy)]
struct Slot {
    key: Packed,
    group: u32,
}

const FREE_SLOT: Slot = Slot {
    key: [0, 0],
    group: FREE,
};

/// How one row is looked up.
enum Probe {
    Null,
    Short { key: Packed, hash: u64 },
    Long,
}

/// Distinct text keys (and NULL) and the group of each, numbered from 0 in the order
/// they are first looked up.
pub(super) struct TextIndex {
    hasher: foldhash::fast::RandomState,
    /// a power of two of slots, at most half of them used
    slots: Vec<Slot>,
    short_keys: usize,
    long: FastMap<Box<str>, u32>,
    null: Option<u32>,
    /// each group's key (`None`: the NULL group)
    keys: Vec<Option<Box<str>>>,
}

impl Default for TextIndex {
    fn default() -> TextIndex {
        TextIndex {
            hasher: Default::default(),
            slots: vec![FREE_SLOT; INITIAL_SLOTS],
            short_keys: 0,
            long: FastMap::default(),
            null: None,
            keys: Vec::new(),
        }
    }
}

impl TextIndex {
    /// The number of groups.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The group of each of `rows` of `strings`, created when new.
    pub(super) fn groups_of(&mut self, strings: &StringArray, rows: &[usize]) -> Vec<u32> {
        let probes: Vec<Probe> = rows.iter().map(|&row| self.probe(strings, row)).collect();
        let mut groups = Vec::with_capacity(rows.len());
        for (i, (probe, &row)) in probes.iter().zip(rows).enumerate() {
            if let Some(Probe::Short { hash, .. }) = probes.get(i + PREFETCH_DISTANCE) {
                prefetch(&self.slots[self.home(*hash)]);
            }
            groups.push(match probe {
                Probe::Null => self.null_group(),
                Probe::Short { key, hash } => self.short_group(*key, *hash),
                Probe::Long => self.long_group(strings.value(row)),
            });
        }
        groups
    }

    /// The keys in group order.
    pub(super) fn finish(self) -> StringArray {
        StringArray::from_iter(self.keys.iter().map(|k| k.as_deref()))
    }

    fn probe(&self, strings: &StringArray, row: usize) -> Probe {
        if strings.is_null(row) {
            return Probe::Null;
        }
        let offsets = strings.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        match pack(strings.value_data(), start, end) {
            Some(key) => Probe::Short {
                key,
                hash: self.hasher.hash_one((key[0], key[1])),
            },
            None => Probe::Long,
        }
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.slots.len() - 1)
    }

    fn new_group(&mut self, key: Option<Box<str>>) -> u32 {
        self.keys.push(key);
        self.keys.len() as u32 - 1
    }

    /// The group of NULL, created when new.
    pub(super) fn null_group(&mut self) -> u32 {
        match self.null {
            Some(group) => group,
            None => {
                let group = self.new_group(None);
                self.null = Some(group);
                group
            }
        }
    }

    fn long_group(&mut self, text: &str) -> u32 {
        if let Some(&group) = self.long.get(text) {
            return group;
        }
        let group = self.new_group(Some(text.into()));
        self.long.insert(text.into(), group);
        group
    }

    fn short_group(&mut self, key: Packed, hash: u64) -> u32 {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.group == FREE {
                break;
            }
            if slot.key == key {
                return slot.group;
            }
            at = (at + 1) & mask;
        }
        let group = self.new_group(Some(unpack(key).into()));
        self.slots[at] = Slot { key, group };
        self.short_keys += 1;
        if self.short_keys * 2 > self.slots.len() {
            self.grow();
        }
        group
    }

    /// Doubles the table.
    fn grow(&mut self) {
        let doubled = vec![FREE_SLOT; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s.group != FREE) {
            let mut at = self.hasher.hash_one((slot.key[0], slot.key[1])) as usize & mask;
            while self.slots[at].group != FREE {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

/// The packed form of `data[start..end]` when it is at most 15 bytes long. Reads 16
/// bytes at once when the buffer has them, so most keys are packed without a call to
/// `memcpy`.
fn pack(data: &[u8], start: usize, end: usize) -> Option<Packed> {
    let len = end - start;
    if len > 15 {
        return None;
    }
    let bytes = match data.get(start..start + 16) {
        Some(window) => {
            let word = u128::from_le_bytes(window.try_into().expect("16 bytes"));
            let mask = (1u128 << (8 * len)) - 1;
            word & mask
        }
        None => {
            let mut copy = [0u8; 16];
            copy[..len].copy_from_slice(&data[start..end]);
            u128::from_le_bytes(copy)
        }
    };
    let packed = bytes | (len as u128) << 120;
    Some([packed as u64, (packed >> 64) as u64])
}

fn unpack(key: Packed) -> String {
    let packed = (key[0] as u128) | (key[1] as u128) << 64;
    let bytes = packed.to_le_bytes();
    let len = bytes[15] as usize;
    String::from_utf8(bytes[..len].to_vec()).expect("packed from a string")
}

/// Loads `slot` without waiting for it: a miss overlaps the probes before it. (A read
/// whose value nothing uses, kept by `black_box`: this crate has no `unsafe` for a
/// prefetch instruction.)
fn prefetch(slot: &Slot) {
    std::hint::black_box(slot.group);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_number_keys_in_order_of_first_appearance_across_growth() {
        let mut index = TextIndex::default();
        let values: Vec<Option<String>> = (0..1000)
            .map(|i| match i % 7 {
                0 => None,
                1 => Some(format!("a long key of more than fifteen bytes {}", i % 50)),
                _ => Some(format!("k{}", i % 300)),
            })
            .collect();
        let strings = StringArray::from_iter(values.iter().map(|v| v.as_deref()));
        let rows: Vec<usize> = (0..values.len()).collect();
        let groups = index.groups_of(&strings, &rows);
        let again = index.groups_of(&strings, &rows);
        assert_eq!(groups, again, "a key keeps its group");
        let keys = index.finish();
        for (row, group) in groups.iter().enumerate() {
            let key = keys
                .is_valid(*group as usize)
                .then(|| keys.value(*group as usize));
            assert_eq!(key, values[row].as_deref());
        }
        let distinct: std::collections::HashSet<_> = values.iter().collect();
        assert_eq!(keys.len(), distinct.len());
        assert_eq!(groups[0], 0, "the first row opens group 0");
    }

    #[test]
    fn packing_reads_past_the_key_only_inside_the_buffer() {
        let data = b"abcdefghijklmnopqrstuvwxyz";
        assert_eq!(pack(data, 0, 3), pack(b"abc", 0, 3));
        assert_eq!(pack(data, 23, 26), pack(b"xyz", 0, 3));
        assert_eq!(unpack(pack(data, 23, 26).unwrap()), "xyz");
        assert_eq!(unpack(pack(data, 4, 4).unwrap()), "");
        assert_ne!(
            pack(b"ab\0", 0, 3),
            pack(b"ab", 0, 2),
            "the length tells them apart"
        );
        assert_eq!(pack(data, 0, 16), None);
    }
}
