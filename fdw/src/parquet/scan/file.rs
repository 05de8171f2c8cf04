//! A file being read: where its batches come from (a Parquet stream, or the decoded
//! file from the cache), the positions and identities of its rows, and the rows the
//! scanning transaction deleted.

use crate::parquet::batches::ColumnSource;
use crate::parquet::error::Result;
use crate::parquet::reader::ObjectFileReader;
use deltalake::arrow::array::RecordBatch;
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStream;
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;

/// Where a file's batches come from.
pub(super) enum FileBatches {
    Parquet(Box<ParquetRecordBatchStream<ObjectFileReader>>),
    /// the file decoded whole (shared with the cache), and the next batch
    Decoded(Arc<Vec<RecordBatch>>, usize),
}

impl FileBatches {
    pub(super) async fn next(&mut self) -> Option<std::result::Result<RecordBatch, String>> {
        match self {
            FileBatches::Parquet(stream) => {
                stream.next().await.map(|b| b.map_err(|e| e.to_string()))
            }
            FileBatches::Decoded(batches, next) => {
                let batch = batches.get(*next)?.clone();
                *next += 1;
                Some(Ok(batch))
            }
        }
    }
}

/// A file being read.
pub(super) struct FileReader {
    pub(super) batches: FileBatches,
    /// for each requested column: index in the projected batch, or a constant
    pub(super) sources: Vec<ColumnSource>,
    /// where the rows of each selected row group start in the file, and how many
    pub(super) row_groups: Vec<(u64, u64)>,
    /// the selected row group being read, and rows of it read so far
    pub(super) position: (usize, u64),
    /// the file's number for row identities
    pub(super) file_number: Option<u64>,
    /// positions of rows of this file the scanning transaction deleted
    pub(super) hidden: Option<Arc<HashSet<u64>>>,
}

impl FileReader {
    /// The identities of the next `rows` rows (batches never span row groups).
    pub(super) fn next_row_ids(&mut self, rows: usize) -> Result<Vec<u64>> {
        let Some(file) = self.file_number else {
            return Ok(Vec::new());
        };
        let (group, offset) = &mut self.position;
        while self
            .row_groups
            .get(*group)
            .is_some_and(|(_, n)| *offset >= *n)
        {
            *group += 1;
            *offset = 0;
        }
        let start = self.row_groups.get(*group).map(|(s, _)| *s).unwrap_or(0) + *offset;
        *offset += rows as u64;
        (start..start + rows as u64)
            .map(|position| crate::parquet::rowid::row_id(file, position))
            .collect()
    }
}

/// The rows of `batch` (with identities `ids`) whose positions are not in `hidden`.
pub(super) fn without_hidden(
    batch: RecordBatch,
    ids: Vec<u64>,
    hidden: &HashSet<u64>,
) -> std::result::Result<(RecordBatch, Vec<u64>), String> {
    let keep: Vec<bool> = ids
        .iter()
        .map(|id| !hidden.contains(&crate::parquet::rowid::position(*id)))
        .collect();
    if keep.iter().all(|k| *k) {
        return Ok((batch, ids));
    }
    let mask = deltalake::arrow::array::BooleanArray::from(keep.clone());
    let batch =
        deltalake::arrow::compute::filter_record_batch(&batch, &mask).map_err(|e| e.to_string())?;
    let ids = ids
        .into_iter()
        .zip(keep)
        .filter_map(|(id, k)| k.then_some(id))
        .collect();
    Ok((batch, ids))
}
