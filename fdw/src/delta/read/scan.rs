//! A scan of a Delta snapshot: the files the log selects (partition pruning, statistics
//! skipping), read by the Parquet layer with their partition values.

use crate::batch::ScanBatch;
use crate::delta::error::Result;
use crate::delta::log::table::TableSnapshot;
use crate::delta::read::select::select_files;
use crate::parquet::counters::ScanCounters;
use crate::parquet::prune::{Pruner, WriterZone};
use crate::parquet::scan::{FileStore, ParquetFile, ParquetScan};
use crate::request::ScanRequest;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A running scan over selected files of one snapshot.
pub struct DeltaScan {
    files: ParquetScan,
}

impl DeltaScan {
    /// Plans a scan: binds the request to the schema (generated date columns evaluated
    /// in `zone`) and selects files.
    pub fn new(
        snapshot: Arc<TableSnapshot>,
        request: &ScanRequest,
        zone: WriterZone,
    ) -> Result<DeltaScan> {
        let pruner = Pruner::new(&snapshot.schema, &request.quals, zone);
        let (selected, counters) = select_files(&snapshot, &pruner);
        let files = ParquetScan::new(
            file_store(&snapshot),
            &snapshot.schema,
            parquet_files(&snapshot, &selected),
            request,
            pruner,
            counters,
            zone,
        )?;
        Ok(DeltaScan { files })
    }

    /// A scan of whole files (every column, every row, with row identities): the rows
    /// an UPDATE or DELETE rewrites.
    pub fn of_files(
        snapshot: Arc<TableSnapshot>,
        files: Vec<usize>,
        zone: WriterZone,
    ) -> DeltaScan {
        let counters = ScanCounters {
            files_total: snapshot.files.len() as u64,
            ..Default::default()
        };
        let files = ParquetScan::whole_files(
            file_store(&snapshot),
            &snapshot.schema,
            parquet_files(&snapshot, &files),
            counters,
            zone,
        );
        DeltaScan { files }
    }

    /// This scan without the rows at `hidden` positions of their files (the scanning
    /// transaction deleted them).
    pub fn hiding(self, hidden: HashMap<String, Arc<HashSet<u64>>>) -> DeltaScan {
        DeltaScan {
            files: self.files.hiding(hidden),
        }
    }

    /// This scan as one participant of a parallel scan: it reads the files `claim`
    /// hands out (positions among the selected files, shared by all participants).
    pub fn shared(self, claim: Box<dyn FnMut() -> usize>) -> DeltaScan {
        DeltaScan {
            files: self.files.shared(claim),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> &ScanCounters {
        self.files.counters()
    }

    /// The next batch of rows, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(self.files.next_batch()?)
    }
}

/// Where the snapshot's files are.
fn file_store(snapshot: &TableSnapshot) -> FileStore {
    FileStore {
        store: snapshot.store.clone(),
        url: snapshot.url.clone(),
        scope: snapshot.storage_scope,
        local_root: snapshot.local_root.clone(),
    }
}

/// The snapshot's files at `positions`, as the Parquet layer reads them. A file whose
/// rows a deletion vector deletes is refused when the scan reaches it: the layer would
/// return those rows.
fn parquet_files(snapshot: &TableSnapshot, positions: &[usize]) -> Vec<ParquetFile> {
    positions
        .iter()
        .map(|&index| {
            let file = &snapshot.files[index];
            ParquetFile {
                path: file.path.clone(),
                size: file.size,
                modified: file.modification_time,
                partition_values: file.partition_values.clone(),
                refused: file
                    .has_deletion_vector
                    .then(|| format!("deletion vectors (file \"{}\")", file.path)),
            }
        })
        .collect()
}
