//! Reading a table's Parquet files: each file opened with its cached footer, row groups
//! and pages skipped by its own metadata, then Parquet reads with projection and row
//! filters, files claimed one at a time in parallel scans.
//!
//! This module holds the scan and its loop over files and batches; `open` opens one
//! file (footer, columns, skipping, cached or streamed), `file` reads it (batches, row
//! identities, rows the transaction deleted).

use crate::batch::ScanBatch;
use crate::parquet::batches::{apply_filters, prefilter, to_scan_batch, truncate, Filter};
use crate::parquet::counters::ScanCounters;
use crate::parquet::error::{ReadError, Result};
use crate::parquet::filter::exact;
use crate::parquet::prune::{Pruner, WriterZone};
use crate::parquet::schema::{LakeColumn, LakeSchema};
use crate::parquet::types::mapping;
use crate::request::ScanRequest;
use crate::runtime::check_interrupts;
use deltalake::{ObjectStore, Path};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

mod file;
mod open;

use file::{without_hidden, FileBatches, FileReader};

/// The most files a scan reads for its files to count as looked up (see
/// [`crate::parquet::hot_files`]).
const LOOKUP_FILES: usize = 8;

/// One data file of a table.
#[derive(Debug, Clone)]
pub struct ParquetFile {
    /// the file's path in its store
    pub path: Path,
    /// size in bytes
    pub size: u64,
    /// last modification (Unix milliseconds): a file rewritten in place is another file
    /// to the caches
    pub modified: i64,
    /// the values of partition columns (physical name → text), which the file does not
    /// store
    pub partition_values: HashMap<String, Option<String>>,
    /// why the file may not be read (a table feature the layer cannot apply, such as
    /// Delta's deletion vectors): the scan fails when it reaches the file
    pub refused: Option<String>,
}

/// Where a table's files are stored.
#[derive(Clone)]
pub struct FileStore {
    /// the store the files' paths are in
    pub store: Arc<dyn ObjectStore>,
    /// the table's root URL: with a file's path, the file's full URL, which names it in
    /// the caches and in row identities
    pub url: String,
    /// who reads the files from where ([`crate::storage::scope`]): the caches of files'
    /// footers and decoded rows are kept apart per scope
    pub scope: u64,
    /// the table's directory, for a table on local disk (its files are read directly)
    pub local_root: Option<PathBuf>,
}

/// A running scan over a list of a table's files.
pub struct ParquetScan {
    store: FileStore,
    schema: LakeSchema,
    /// the columns read: the requested ones, then those only exact quals need
    columns: Vec<LakeColumn>,
    /// how many of `columns` the scan returns
    output: usize,
    /// physical names of text columns read dictionary-encoded (grouping columns)
    dictionary: Vec<String>,
    pruner: Pruner,
    /// quals applied to decoded batches
    filters: Vec<Filter>,
    files: Vec<ParquetFile>,
    next_file: usize,
    current: Option<Box<FileReader>>,
    remaining: Option<u64>,
    counters: ScanCounters,
    zone: WriterZone,
    /// whether rows carry their identity (see [`crate::parquet::rowid`])
    row_ids: bool,
    /// positions of rows the scanning transaction deleted, by file URL: not returned
    hidden: HashMap<String, Arc<HashSet<u64>>>,
    /// in a parallel scan: hands out the position (in `files`) of the next file to read,
    /// shared by all participants
    claim: Option<Box<dyn FnMut() -> usize>>,
}

impl ParquetScan {
    /// Plans a scan of `files`: binds the request to the table's columns, with the quals
    /// `pruner` bound (generated date columns evaluated in `zone`). `counters` carry what
    /// choosing the files skipped.
    pub fn new(
        store: FileStore,
        schema: &LakeSchema,
        files: Vec<ParquetFile>,
        request: &ScanRequest,
        pruner: Pruner,
        counters: ScanCounters,
        zone: WriterZone,
    ) -> Result<ParquetScan> {
        let mut columns = request
            .columns
            .iter()
            .map(|name| {
                schema
                    .column(name)
                    .cloned()
                    .ok_or_else(|| ReadError::NoSuchColumn(name.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        let output = columns.len();
        // Every qual is tried on the decoded rows; a column only an exact qual reads is
        // read for it and dropped after filtering.
        let mut filters = Vec::new();
        for qual in &request.quals {
            let Some(column) = schema.column(&qual.column) else {
                continue;
            };
            let Some(data_type) = mapping(&column.data_type).arrow else {
                continue;
            };
            let index = match columns.iter().position(|c| c.name == qual.column) {
                Some(i) => i,
                None if exact(&data_type, qual) => {
                    columns.push(column.clone());
                    columns.len() - 1
                }
                None => continue,
            };
            filters.push(Filter {
                index,
                row_filter: !column.is_partition && exact(&data_type, qual),
                qual: qual.clone(),
                data_type,
            });
        }
        let dictionary = request
            .group_columns
            .iter()
            .filter_map(|name| schema.column(name))
            .map(|c| c.physical_name.clone())
            .collect();
        Ok(ParquetScan {
            store,
            schema: schema.clone(),
            columns,
            output,
            dictionary,
            pruner,
            filters,
            files,
            next_file: 0,
            current: None,
            remaining: request.limit,
            counters,
            zone,
            row_ids: request.row_ids,
            hidden: HashMap::new(),
            claim: None,
        })
    }

    /// This scan without the rows at `hidden` positions of their files (the scanning
    /// transaction deleted them).
    pub fn hiding(mut self, hidden: HashMap<String, Arc<HashSet<u64>>>) -> ParquetScan {
        self.hidden = hidden;
        self
    }

    /// A scan of whole files (every column, every row, with row identities): the rows
    /// an UPDATE or DELETE rewrites. `counters` carry what choosing the files skipped.
    pub fn whole_files(
        store: FileStore,
        schema: &LakeSchema,
        files: Vec<ParquetFile>,
        counters: ScanCounters,
        zone: WriterZone,
    ) -> ParquetScan {
        ParquetScan {
            store,
            output: schema.columns.len(),
            columns: schema.columns.clone(),
            schema: schema.clone(),
            dictionary: Vec::new(),
            pruner: Pruner::default(),
            filters: Vec::new(),
            files,
            next_file: 0,
            current: None,
            remaining: None,
            counters,
            zone,
            row_ids: true,
            hidden: HashMap::new(),
            claim: None,
        }
    }

    /// This scan as one participant of a parallel scan: it reads the files `claim`
    /// hands out (positions among the selected files, shared by all participants).
    pub fn shared(mut self, claim: Box<dyn FnMut() -> usize>) -> ParquetScan {
        // every participant numbers the same files the same way, whatever order its
        // copy of the table's metadata lists them in; the largest go first, so the last
        // files claimed are small and participants finish close together
        self.files
            .sort_by(|a, b| (b.size, &a.path).cmp(&(a.size, &b.path)));
        self.claim = Some(claim);
        self
    }

    /// Counters so far.
    pub fn counters(&self) -> &ScanCounters {
        &self.counters
    }

    /// The next batch of rows, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        crate::runtime::block_on(self.next_batch_async()).map_err(ReadError::Runtime)?
    }

    async fn next_batch_async(&mut self) -> Result<Option<ScanBatch>> {
        loop {
            check_interrupts();
            if self.remaining == Some(0) {
                return Ok(None);
            }
            if self.current.is_none() {
                let position = match self.claim.as_mut() {
                    Some(claim) => claim(),
                    None => self.next_file,
                };
                if position >= self.files.len() {
                    return Ok(None);
                }
                self.next_file = position + 1;
                self.current = self.open_file(position).await?;
                continue;
            }
            let reader = self.current.as_mut().expect("checked above");
            match reader.batches.next().await {
                None => self.current = None,
                Some(Err(e)) => return Err(self.data_error(e)),
                Some(Ok(batch)) if batch.num_rows() == 0 => {}
                Some(Ok(batch)) => {
                    // a decoded file holds every row, not only those Parquet's row
                    // filters and selection let through
                    let batch = if matches!(reader.batches, FileBatches::Decoded(..)) {
                        match prefilter(batch, &reader.sources, &self.filters) {
                            Ok(batch) => batch,
                            Err(e) => return Err(self.data_error(e)),
                        }
                    } else {
                        batch
                    };
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let mut row_ids = reader.next_row_ids(batch.num_rows())?;
                    let hidden = reader.hidden.clone();
                    let batch = match hidden {
                        Some(hidden) => match without_hidden(batch, row_ids, &hidden) {
                            Ok((batch, ids)) => {
                                row_ids = ids;
                                batch
                            }
                            Err(e) => return Err(self.data_error(e)),
                        },
                        None => batch,
                    };
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let mut out =
                        to_scan_batch(&batch, &reader.sources).map_err(|e| self.data_error(e))?;
                    out.row_ids = self.row_ids.then_some(row_ids);
                    let mut out =
                        apply_filters(out, &self.filters).map_err(|e| self.data_error(e))?;
                    out.columns.truncate(self.output);
                    if out.num_rows == 0 {
                        continue;
                    }
                    if let Some(left) = self.remaining.as_mut() {
                        if (out.num_rows as u64) > *left {
                            out = truncate(out, *left as usize);
                        }
                        *left -= out.num_rows as u64;
                    }
                    self.counters.rows_returned += out.num_rows as u64;
                    return Ok(Some(out));
                }
            }
        }
    }

    fn data_error(&self, reason: String) -> ReadError {
        let path = self
            .files
            .get(self.next_file.saturating_sub(1))
            .map(|file| file.path.to_string())
            .unwrap_or_default();
        ReadError::DataFile { path, reason }
    }
}

#[cfg(test)]
mod tests;
