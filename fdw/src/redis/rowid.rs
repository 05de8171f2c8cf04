//! Row identities of Redis rows. An UPDATE or DELETE scan numbers each row it returns
//! (its key, and its member for sets and sorted sets; a `ctid` carries 48 bits, a key
//! may be longer); the writer turns the numbers back. The numbering is forgotten when
//! the transaction ends.

use super::error::{RedisError, Result};
use std::cell::RefCell;

/// Identities a `ctid` can carry.
const MAX_ROWS: u64 = 1 << 48;

thread_local! {
    /// Rows (key, member) by identity, for the current transaction.
    static KEYS: RefCell<Vec<(String, Option<Vec<u8>>)>> = const { RefCell::new(Vec::new()) };
}

/// A new identity for the row stored under `key` (as `member` of a set).
pub fn identify(key: &str, member: Option<&[u8]>) -> Result<u64> {
    KEYS.with_borrow_mut(|keys| {
        let id = keys.len() as u64;
        if id >= MAX_ROWS {
            return Err(RedisError::Unsupported(
                "more rows changed in one transaction than row identities can number".into(),
            ));
        }
        keys.push((key.to_string(), member.map(<[u8]>::to_vec)));
        Ok(id)
    })
}

/// The key (and member) of the row with identity `id`.
pub fn row_of(id: u64) -> Result<(String, Option<Vec<u8>>)> {
    KEYS.with_borrow(|keys| keys.get(id as usize).cloned())
        .ok_or(RedisError::UnknownRow(id))
}

/// Forgets every identity (the transaction ended).
pub fn forget_all() {
    KEYS.with_borrow_mut(|keys| {
        keys.clear();
        keys.shrink_to(1024);
    });
}
