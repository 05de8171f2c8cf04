//! Writing a checkpoint of the log.

use super::super::error::{DeltaError, Result};
use super::super::log::table::open_for_write;
use super::super::options::TableLocation;
use crate::runtime::block_on;

/// Writes a checkpoint of the newest version, so readers replay fewer commits.
pub fn checkpoint(location: &TableLocation) -> Result<u64> {
    let table = open_for_write(location)?;
    let here = location.url.as_str();
    block_on(deltalake::checkpoints::create_checkpoint(&table, None))
        .map_err(DeltaError::Runtime)?
        .map_err(|e| DeltaError::from_delta(here, e))?;
    Ok(table.version().unwrap_or_default())
}
