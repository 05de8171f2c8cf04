//! Row identities for UPDATE and DELETE: a row is named by its data file and its
//! position in that file, packed into the 48 bits Postgres keeps in a tuple's `ctid`.
//!
//! Data files are numbered by a per-process table of file URLs, so an identity stays
//! valid whichever snapshot of the table a later statement of the transaction reads.

use super::error::{ReadError, Result};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Bits of a row identity naming the row's position in its file.
const POSITION_BITS: u32 = 26;
/// Bits naming the file.
const FILE_BITS: u32 = 22;

#[derive(Default)]
struct Files {
    ids: HashMap<String, u64>,
    urls: Vec<String>,
}

fn files() -> &'static Mutex<Files> {
    static FILES: OnceLock<Mutex<Files>> = OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// The number of a data file (its full URL), assigned on first use.
pub fn file_number(url: &str) -> Result<u64> {
    let mut files = files()
        .lock()
        .map_err(|_| ReadError::Runtime("row identity table poisoned".into()))?;
    if let Some(&id) = files.ids.get(url) {
        return Ok(id);
    }
    let id = files.urls.len() as u64;
    if id >= 1 << FILE_BITS {
        return Err(ReadError::Unsupported(format!(
            "updating rows of more than {} distinct data files in one session",
            1u64 << FILE_BITS
        )));
    }
    files.urls.push(url.to_string());
    files.ids.insert(url.to_string(), id);
    Ok(id)
}

/// The identity of row `position` of file number `file`.
pub fn row_id(file: u64, position: u64) -> Result<u64> {
    if position >= 1 << POSITION_BITS {
        return Err(ReadError::Unsupported(format!(
            "updating rows past position {} of a data file",
            1u64 << POSITION_BITS
        )));
    }
    Ok(file << POSITION_BITS | position)
}

/// The position in its file a row identity names.
pub fn position(id: u64) -> u64 {
    id & ((1 << POSITION_BITS) - 1)
}

/// The file URL and position a row identity names.
pub fn locate(id: u64) -> Result<(String, u64)> {
    let file = (id >> POSITION_BITS) as usize;
    let position = id & ((1 << POSITION_BITS) - 1);
    let files = files()
        .lock()
        .map_err(|_| ReadError::Runtime("row identity table poisoned".into()))?;
    let url = files
        .urls
        .get(file)
        .cloned()
        .ok_or_else(|| ReadError::Runtime(format!("unknown row identity {id}")))?;
    Ok((url, position))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_and_fit_48_bits() {
        let a = file_number("file:///t/a.parquet").unwrap();
        let b = file_number("file:///t/b.parquet").unwrap();
        assert_ne!(a, b);
        assert_eq!(file_number("file:///t/a.parquet").unwrap(), a);
        let id = row_id(b, 12345).unwrap();
        assert!(id < 1 << 48);
        assert_eq!(
            locate(id).unwrap(),
            ("file:///t/b.parquet".to_string(), 12345)
        );
        assert!(row_id(a, 1 << 26).is_err());
    }
}
