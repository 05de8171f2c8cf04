//! Reading a table's Parquet files: each file opened with its cached footer, row groups
//! and pages skipped by its own metadata, then Parquet reads with projection and row
//! filters, files claimed one at a time in parallel scans.

use crate::batch::ScanBatch;
use crate::parquet::batches::{
    apply_filters, prefilter, row_predicate, to_scan_batch, truncate, with_dictionaries,
    ColumnSource, Filter, BATCH_ROWS,
};
use crate::parquet::counters::ScanCounters;
use crate::parquet::error::{ReadError, Result};
use crate::parquet::filter::exact;
use crate::parquet::hot_files::{self, Admission, HotFile};
use crate::parquet::prune::{parse_partition_value, Pruner, WriterZone};
use crate::parquet::reader::ObjectFileReader;
use crate::parquet::schema::{LakeColumn, LakeSchema};
use crate::parquet::skipping::{bloom_may_match, page_ranges, row_group_stats};
use crate::parquet::types::mapping;
use crate::request::ScanRequest;
use crate::runtime::check_interrupts;
use crate::value::Value;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::parquet::arrow::arrow_reader::{
    ArrowPredicate, RowFilter, RowSelection, RowSelector,
};
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStream;
use deltalake::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use deltalake::parquet::file::metadata::ParquetMetaData;
use deltalake::{ObjectStore, Path};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

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

/// Where a file's batches come from.
enum FileBatches {
    Parquet(Box<ParquetRecordBatchStream<ObjectFileReader>>),
    /// the file decoded whole (shared with the cache), and the next batch
    Decoded(Arc<Vec<RecordBatch>>, usize),
}

impl FileBatches {
    async fn next(&mut self) -> Option<std::result::Result<RecordBatch, String>> {
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

struct FileReader {
    batches: FileBatches,
    /// for each requested column: index in the projected batch, or a constant
    sources: Vec<ColumnSource>,
    /// where the rows of each selected row group start in the file, and how many
    row_groups: Vec<(u64, u64)>,
    /// the selected row group being read, and rows of it read so far
    position: (usize, u64),
    /// the file's number for row identities
    file_number: Option<u64>,
    /// positions of rows of this file the scanning transaction deleted
    hidden: Option<Arc<HashSet<u64>>>,
}

impl FileReader {
    /// The identities of the next `rows` rows (batches never span row groups).
    fn next_row_ids(&mut self, rows: usize) -> Result<Vec<u64>> {
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

    /// The rows of `row_groups` the page index leaves to read, as a selection over those
    /// groups' rows in order (`None`: every row). Groups left without rows are removed.
    fn page_selection(
        &mut self,
        metadata: &ParquetMetaData,
        row_groups: &mut Vec<usize>,
    ) -> Option<RowSelection> {
        let mut selectors = Vec::new();
        let mut skips_pages = false;
        let mut kept = Vec::with_capacity(row_groups.len());
        for &group in row_groups.iter() {
            let rows = metadata.row_group(group).num_rows().max(0) as usize;
            let Some(ranges) = page_ranges(metadata, group, &self.schema, &self.pruner) else {
                selectors.push(RowSelector::select(rows));
                kept.push(group);
                continue;
            };
            skips_pages |= ranges.pages_skipped > 0;
            self.counters.pages_skipped += ranges.pages_skipped;
            if ranges.rows.is_empty() {
                self.counters.row_groups_skipped += 1;
                continue;
            }
            let mut position = 0;
            for range in ranges.rows {
                if range.start > position {
                    selectors.push(RowSelector::skip(range.start - position));
                }
                selectors.push(RowSelector::select(range.len()));
                position = range.end;
            }
            if position < rows {
                selectors.push(RowSelector::skip(rows - position));
            }
            kept.push(group);
        }
        *row_groups = kept;
        skips_pages.then(|| RowSelection::from(selectors))
    }

    async fn open_file(&mut self, index: usize) -> Result<Option<Box<FileReader>>> {
        let counters_at_open = self.counters.clone();
        let file = self.files[index].clone();
        if let Some(reason) = file.refused {
            return Err(ReadError::Unsupported(reason));
        }
        let url = format!("{}{}", self.store.url, file.path);
        let cache_name = format!("{:016x} {url}", self.store.scope);
        let hidden = if self.hidden.is_empty() {
            None
        } else {
            self.hidden.get(&url).cloned()
        };
        // rows are counted by position for their identities, or to hide some
        let positions = self.row_ids || hidden.is_some();
        let data_error = |reason: String| ReadError::DataFile {
            path: file.path.to_string(),
            reason,
        };
        let mut reader = ObjectFileReader::open(
            self.store.store.clone(),
            self.store.local_root.as_deref(),
            file.path.clone(),
            file.size,
        )
        .map_err(|e| data_error(e.to_string()))?;
        let metadata =
            crate::parquet::footer::metadata(&mut reader, &cache_name, file.size, file.modified)
                .await
                .map_err(|e| data_error(e.to_string()))?;
        let metadata =
            with_dictionaries(metadata, &self.dictionary).map_err(|e| data_error(e.to_string()))?;
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata);
        self.counters.files_read += 1;

        let arrow_schema = builder.schema().clone();
        let mut roots = Vec::new();
        let mut sources = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            if column.is_partition {
                let raw = file
                    .partition_values
                    .get(&column.physical_name)
                    .cloned()
                    .flatten();
                let value = match raw.filter(|s| !s.is_empty()) {
                    None => Value::Null,
                    Some(text) => parse_partition_value(&text, &column.data_type, self.zone)
                        .ok_or_else(|| {
                            data_error(format!(
                                "partition value \"{text}\" of column \"{}\" is not a valid {}",
                                column.name,
                                column.data_type.name()
                            ))
                        })?,
                };
                sources.push(ColumnSource::Constant(value));
            } else if let Some((root, _)) = arrow_schema.column_with_name(&column.physical_name) {
                let position = match roots.iter().position(|&r| r == root) {
                    Some(p) => p,
                    None => {
                        roots.push(root);
                        roots.len() - 1
                    }
                };
                sources.push(ColumnSource::Projected(position, column.data_type.clone()));
            } else {
                sources.push(ColumnSource::Constant(Value::Null));
            }
        }
        // The projected batch lists roots in file order; remap positions accordingly.
        let mut sorted = roots.clone();
        sorted.sort_unstable();
        for source in &mut sources {
            if let ColumnSource::Projected(position, _) = source {
                *position = sorted
                    .iter()
                    .position(|&r| r == roots[*position])
                    .expect("root is in the list");
            }
        }

        let metadata = builder.metadata().clone();
        let schema = &self.schema;
        let mut row_groups = Vec::new();
        for group in 0..metadata.num_row_groups() {
            let keep = self.pruner.stats_may_match(&row_group_stats(
                metadata.row_group(group),
                schema,
                &self.pruner,
            )) && bloom_may_match(&mut builder, group, schema, &self.pruner).await;
            if keep {
                row_groups.push(group);
            } else {
                self.counters.row_groups_skipped += 1;
            }
        }
        // Page skipping selects rows, which row identities count, so not for them.
        let selection = if positions {
            None
        } else {
            self.page_selection(&metadata, &mut row_groups)
        };
        let starts: Vec<u64> = metadata
            .row_groups()
            .iter()
            .scan(0u64, |start, group| {
                let here = *start;
                *start += group.num_rows() as u64;
                Some(here)
            })
            .collect();
        let group_positions = row_groups
            .iter()
            .map(|&i| (starts[i], metadata.row_group(i).num_rows() as u64))
            .collect();
        let file_number = if positions {
            Some(crate::parquet::rowid::file_number(&url)?)
        } else {
            None
        };
        if row_groups.is_empty() {
            return Ok(None);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), sorted.iter().copied());
        let reader = |batches| {
            Box::new(FileReader {
                batches,
                sources,
                row_groups: group_positions,
                position: (0, 0),
                file_number,
                hidden: hidden.clone(),
            })
        };
        let hot = if hidden.is_none() {
            self.hot_file(&file, cache_name, &metadata, &arrow_schema, &sorted)
        } else {
            None
        };
        if let Some(hot) = hot {
            if let Some(batches) = hot_files::get(&hot) {
                self.counters.files_from_cache += 1;
                return Ok(Some(reader(FileBatches::Decoded(batches, 0))));
            }
            if hot_files::admission(&hot) == Admission::Decode {
                // every row of the read columns: the row groups and pages skipped for
                // this lookup may hold the next one's rows
                let mut stream = builder
                    .with_projection(mask)
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(|e| data_error(e.to_string()))?;
                let largest = hot_files::largest_entry();
                let (mut batches, mut bytes) = (Vec::new(), 0);
                while let Some(batch) = stream.next().await {
                    let batch = batch.map_err(|e| data_error(e.to_string()))?;
                    bytes += batch.get_array_memory_size() as u64;
                    batches.push(batch);
                    if bytes > largest {
                        // too large to keep: read the file as a lookup that skips what
                        // it can, counted once
                        hot_files::too_large(hot);
                        self.counters = counters_at_open;
                        return Box::pin(self.open_file(index)).await;
                    }
                }
                let batches = Arc::new(batches);
                hot_files::put(hot, batches.clone());
                return Ok(Some(reader(FileBatches::Decoded(batches, 0))));
            }
        }
        // Late materialization: qual columns are decoded first, the other columns only
        // for the rows that pass (row identities count every row, so not for them).
        let predicates: Vec<Box<dyn ArrowPredicate>> = if positions {
            Vec::new()
        } else {
            self.filters
                .iter()
                .filter(|f| f.row_filter)
                .filter_map(|f| {
                    let name = &self.columns[f.index].physical_name;
                    let (root, _) = arrow_schema.column_with_name(name)?;
                    let columns = ProjectionMask::roots(builder.parquet_schema(), [root]);
                    Some(row_predicate(columns, f.qual.clone(), f.data_type.clone()))
                })
                .collect()
        };
        let mut builder = builder
            .with_projection(mask)
            .with_row_groups(row_groups)
            .with_batch_size(BATCH_ROWS);
        if !predicates.is_empty() {
            builder = builder.with_row_filter(RowFilter::new(predicates));
        }
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        if let Some(limit) = self.remaining {
            builder = builder.with_limit(limit as usize);
        }
        let stream = builder.build().map_err(|e| data_error(e.to_string()))?;
        Ok(Some(reader(FileBatches::Parquet(Box::new(stream)))))
    }

    /// The cache entry for `file` (named `cache_name`, Arrow schema `file_schema`) when this
    /// scan is a lookup worth caching: an exact qual filters rows, the scan selected few
    /// files and reads whole rows (no identities, no grouping dictionaries, not a
    /// parallel share), the read columns decode into an entry the cache can hold, and
    /// the quals' columns convert to the quals' types without a possible error (a
    /// decoded file converts them in rows the lookup's skipping would not read).
    fn hot_file(
        &self,
        file: &ParquetFile,
        cache_name: String,
        metadata: &ParquetMetaData,
        file_schema: &Schema,
        roots: &[usize],
    ) -> Option<HotFile> {
        let lookup = self.files.len() <= LOOKUP_FILES
            && !self.row_ids
            && self.dictionary.is_empty()
            && self.claim.is_none()
            && self.filters.iter().any(|f| f.row_filter);
        let convertible = self.filters.iter().all(|f| {
            file_schema
                .field_with_name(&self.columns[f.index].physical_name)
                .map_or(true, |field| lossless(field.data_type(), &f.data_type))
        });
        if !lookup || !convertible {
            return None;
        }
        // Parquet's uncompressed bytes of the read columns, twice over for the Arrow
        // arrays (offsets, dictionary entries expanded)
        let schema = metadata.file_metadata().schema_descr();
        let decoded: i64 = metadata
            .row_groups()
            .iter()
            .flat_map(|group| group.columns().iter().enumerate())
            .filter(|(leaf, _)| roots.contains(&schema.get_column_root_idx(*leaf)))
            .map(|(_, chunk)| chunk.uncompressed_size())
            .sum();
        let largest = hot_files::largest_entry();
        if largest == 0 || decoded.saturating_mul(2) as u64 > largest {
            return None;
        }
        Some(HotFile {
            name: cache_name,
            size: file.size,
            modified: file.modified,
            roots: roots.to_vec(),
        })
    }
}

/// The rows of `batch` (with identities `ids`) whose positions are not in `hidden`.
fn without_hidden(
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

/// Whether every value of type `from` converts to `to` (the same type, or a wider
/// integer).
fn lossless(from: &DataType, to: &DataType) -> bool {
    use DataType::{Int16, Int32, Int64, Int8};
    from == to
        || matches!(
            (from, to),
            (Int8, Int16 | Int32 | Int64) | (Int16, Int32 | Int64) | (Int32, Int64)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, AsArray, Int64Array};
    use deltalake::arrow::datatypes::{Field, Int64Type};

    /// A refused file fails the scan when the scan reaches it, not before: a scan that
    /// ends first (a limit met) reads the files before it.
    #[test]
    fn a_refused_file_fails_the_scan_only_when_reached() {
        let store = FileStore {
            store: Arc::new(object_store::memory::InMemory::new()),
            url: "memory:///".into(),
            scope: 0,
            local_root: None,
        };
        let file = ParquetFile {
            path: Path::from("part-0.parquet"),
            size: 1,
            modified: 0,
            partition_values: HashMap::new(),
            refused: Some("deletion vectors (file \"part-0.parquet\")".into()),
        };
        let schema = LakeSchema {
            columns: Vec::new(),
        };
        let scan = |limit| {
            let request = ScanRequest {
                limit,
                ..Default::default()
            };
            ParquetScan::new(
                store.clone(),
                &schema,
                vec![file.clone()],
                &request,
                Pruner::default(),
                ScanCounters::default(),
                WriterZone::Utc,
            )
            .expect("planning a scan opens no file")
        };
        assert!(matches!(scan(Some(0)).next_batch(), Ok(None)));
        match scan(None).next_batch() {
            Err(ReadError::Unsupported(reason)) => assert!(reason.contains("deletion vectors")),
            other => panic!("expected the refusal, got {:?}", other.map(|b| b.is_some())),
        }
    }

    /// One Parquet file of a column `v` holding `values`.
    fn parquet_bytes(values: Vec<i64>) -> bytes::Bytes {
        use deltalake::parquet::arrow::ArrowWriter;
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))]).unwrap();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        out.into()
    }

    /// Two stores (two servers, or one server under two roles' credentials) holding a
    /// different file under the same URL, size and time: a read in one scope is never
    /// answered from the footer another scope's read cached (its statistics would skip
    /// the row).
    #[test]
    fn files_of_two_storage_scopes_are_cached_apart() {
        use object_store::ObjectStoreExt;
        let (a, b) = (parquet_bytes(vec![1, 2, 3]), parquet_bytes(vec![7, 8, 9]));
        assert_eq!(a.len(), b.len());
        let read = |bytes: &bytes::Bytes, scope: u64, wanted: i64| {
            let store = Arc::new(object_store::memory::InMemory::new());
            let path = Path::from("part-0.parquet");
            crate::runtime::block_on(store.put(&path, bytes.clone().into()))
                .unwrap()
                .unwrap();
            let file = ParquetFile {
                path,
                size: bytes.len() as u64,
                modified: 0,
                partition_values: HashMap::new(),
                refused: None,
            };
            let schema = LakeSchema {
                columns: vec![LakeColumn {
                    name: "v".into(),
                    physical_name: "v".into(),
                    data_type: crate::parquet::schema::LakeType::Long,
                    nullable: false,
                    generation_expression: None,
                    type_widened: false,
                    is_partition: false,
                }],
            };
            let request = ScanRequest {
                columns: vec!["v".into()],
                quals: vec![crate::request::Qual::new(
                    "v",
                    crate::request::Op::Eq,
                    Value::Int(wanted),
                )],
                ..Default::default()
            };
            let store = FileStore {
                store,
                url: "memory:///scoped/".into(),
                scope,
                local_root: None,
            };
            let pruner = Pruner::new(&schema, &request.quals, WriterZone::Utc);
            let mut scan = ParquetScan::new(
                store,
                &schema,
                vec![file],
                &request,
                pruner,
                ScanCounters::default(),
                WriterZone::Utc,
            )
            .unwrap();
            let mut rows = 0;
            while let Some(batch) = scan.next_batch().unwrap() {
                rows += batch.num_rows;
            }
            rows
        };
        assert_eq!(read(&a, 0x5c0e_0001, 2), 1);
        assert_eq!(
            read(&b, 0x5c0e_0002, 8),
            1,
            "read with the other scope's footer"
        );
    }

    #[test]
    fn hidden_positions_are_dropped_with_their_identities() {
        let file = crate::parquet::rowid::file_number("file:///t/hidden.parquet").unwrap();
        let ids: Vec<u64> = (10..15)
            .map(|p| crate::parquet::rowid::row_id(file, p).unwrap())
            .collect();
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![10, 11, 12, 13, 14]))],
        )
        .unwrap();
        let hidden: HashSet<u64> = [11, 14].into_iter().collect();
        let (kept, kept_ids) = without_hidden(batch, ids.clone(), &hidden).unwrap();
        let values: Vec<i64> = kept.column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(values, vec![10, 12, 13]);
        assert_eq!(kept_ids, vec![ids[0], ids[2], ids[3]]);
        assert_eq!(kept.column(0).len(), 3);
    }
}
