//! Row identities of sources whose rows are named by text: a Redis key (and the member of
//! a set), a graph element id. An UPDATE or DELETE scan numbers each row it returns (a
//! `ctid` carries 48 bits, a name may be longer); the writer turns the numbers back. The
//! numbering is forgotten when the transaction ends.
use std::cell::RefCell;

/// Identities a `ctid` can carry.
const MAX_ROWS: u64 = 1 << 48;

thread_local! {
    /// Rows (key, member) by identity, for the current transaction.
    static KEYS: RefCell<Vec<(String, Option<Vec<u8>>)>> = const { RefCell::new(Vec::new()) };
}

/// Why a row identity could not be given or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowIdError {
    /// more rows than 48 bits can number
    #[error("more rows changed in one transaction than row identities can number")]
    Exhausted,
    /// an identity this transaction's scans did not hand out
    #[error("unknown row identity {0}")]
    Unknown(u64),
}

/// A new identity for the row named `key` (and `member`, for a set's member).
pub fn identify(key: &str, member: Option<&[u8]>) -> Result<u64, RowIdError> {
    KEYS.with_borrow_mut(|keys| {
        let id = keys.len() as u64;
        if id >= MAX_ROWS {
            return Err(RowIdError::Exhausted);
        }
        keys.push((key.to_string(), member.map(<[u8]>::to_vec)));
        Ok(id)
    })
}

/// The key (and member) of the row with identity `id`.
pub fn row_of(id: u64) -> Result<(String, Option<Vec<u8>>), RowIdError> {
    KEYS.with_borrow(|keys| keys.get(id as usize).cloned())
        .ok_or(RowIdError::Unknown(id))
}

/// Forgets every identity (the transaction ended).
pub fn forget_all() {
    KEYS.with_borrow_mut(|keys| {
        keys.clear();
        keys.shrink_to(1024);
    });
}
