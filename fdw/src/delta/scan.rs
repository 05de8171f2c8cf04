//! Scanning a Delta snapshot: file selection (partition pruning, stats skipping),
//! then Parquet reads with projection and row-group skipping.

use super::error::{DeltaError, Result};
use super::filter::{combine, constant_matches, exact, qual_mask};
use super::prune::{parse_partition_value, Pruner, WriterZone};
use super::reader::ObjectFileReader;
use super::schema::{DeltaColumn, DeltaType};
use super::skipping::{bloom_may_match, page_ranges, row_group_stats};
use super::table::{DataFile, Selection, TableSnapshot};
use super::types::mapping;
use crate::batch::{ColumnData, ScanBatch};
use crate::request::Qual;
use crate::request::ScanRequest;
use crate::runtime::check_interrupts;
use crate::value::Value;
use deltalake::arrow::array::BooleanArray;
use deltalake::arrow::array::{Array, RecordBatch};
use deltalake::arrow::compute::prep_null_mask_filter;
use deltalake::arrow::compute::{cast_with_options, filter, CastOptions};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::datatypes::Schema;
use deltalake::parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter,
    RowSelection, RowSelector,
};
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStream;
use deltalake::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use deltalake::parquet::file::metadata::ParquetMetaData;
use futures::StreamExt;
use std::sync::Arc;

/// Rows per Arrow batch read from Parquet.
const BATCH_ROWS: usize = 8192;

/// Files examined between two interrupt checks while selecting files.
const FILES_PER_INTERRUPT_CHECK: usize = 4096;

/// What file selection and reading did, for EXPLAIN and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanCounters {
    /// files in the snapshot
    pub files_total: u64,
    /// files excluded by partition values
    pub files_pruned_by_partition: u64,
    /// files excluded by Delta statistics
    pub files_skipped_by_stats: u64,
    /// files opened
    pub files_read: u64,
    /// Parquet row groups skipped by footer statistics, page indexes or bloom filters
    pub row_groups_skipped: u64,
    /// Parquet pages skipped by the page index
    pub pages_skipped: u64,
    /// rows returned
    pub rows_returned: u64,
    /// estimated rows in the selected files
    pub rows_estimated: u64,
}

/// The files of a snapshot that may hold matching rows. The snapshot remembers its last
/// answer: planning and execution of a statement ask the same question.
pub fn select_files(snapshot: &TableSnapshot, pruner: &Pruner) -> Selection {
    let key = format!("{pruner:?}");
    if let Ok(last) = snapshot.last_selection.lock() {
        if let Some((_, selection)) = last.as_ref().filter(|(k, _)| *k == key) {
            return selection.as_ref().clone();
        }
    }
    let selection = scan_statistics(snapshot, pruner);
    if let Ok(mut last) = snapshot.last_selection.lock() {
        *last = Some((key, Arc::new(selection.clone())));
    }
    selection
}

/// [`select_files`] without the memo: every file's partition values and statistics
/// against the pruner.
fn scan_statistics(snapshot: &TableSnapshot, pruner: &Pruner) -> Selection {
    let mut counters = ScanCounters {
        files_total: snapshot.files.len() as u64,
        ..Default::default()
    };
    let mut selected = Vec::new();
    for (i, file) in snapshot.files.iter().enumerate() {
        if i % FILES_PER_INTERRUPT_CHECK == 0 {
            check_interrupts();
        }
        if !pruner.partition_may_match(&file.partition_values) {
            counters.files_pruned_by_partition += 1;
        } else if file
            .stats
            .as_ref()
            .is_some_and(|s| !pruner.stats_may_match(s))
        {
            counters.files_skipped_by_stats += 1;
        } else {
            counters.rows_estimated += file
                .stats
                .as_ref()
                .and_then(|s| s.num_records)
                .unwrap_or(BATCH_ROWS as u64);
            selected.push(i);
        }
    }
    (selected, counters)
}

/// Whether every row a scan with `qual` returns satisfies it under Postgres's semantics
/// (so Postgres need not check it again).
pub fn applies_exactly(schema: &super::schema::DeltaSchema, qual: &Qual) -> bool {
    schema
        .column(&qual.column)
        .and_then(|c| mapping(&c.data_type).arrow)
        .is_some_and(|t| exact(&t, qual))
}

/// A running scan over selected files of one snapshot.
pub struct DeltaScan {
    snapshot: Arc<TableSnapshot>,
    /// the columns read: the requested ones, then those only exact quals need
    columns: Vec<DeltaColumn>,
    /// how many of `columns` the scan returns
    output: usize,
    /// physical names of text columns read dictionary-encoded (grouping columns)
    dictionary: Vec<String>,
    pruner: Pruner,
    /// quals applied to decoded batches
    filters: Vec<Filter>,
    files: Vec<usize>,
    next_file: usize,
    current: Option<FileReader>,
    remaining: Option<u64>,
    counters: ScanCounters,
    zone: WriterZone,
    /// whether rows carry their identity (see [`super::rowid`])
    row_ids: bool,
    /// in a parallel scan: hands out the position (in `files`) of the next file to read,
    /// shared by all participants
    claim: Option<Box<dyn FnMut() -> usize>>,
}

struct FileReader {
    stream: ParquetRecordBatchStream<ObjectFileReader>,
    /// for each requested column: index in the projected batch, or a constant
    sources: Vec<ColumnSource>,
    /// where the rows of each selected row group start in the file, and how many
    row_groups: Vec<(u64, u64)>,
    /// the selected row group being read, and rows of it read so far
    position: (usize, u64),
    /// the file's number for row identities
    file_number: Option<u64>,
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
            .map(|position| super::rowid::row_id(file, position))
            .collect()
    }
}

/// A qual applied to decoded rows.
struct Filter {
    /// index among the columns read
    index: usize,
    qual: Qual,
    /// the column's Arrow type (what partition values are compared as)
    data_type: DataType,
}

enum ColumnSource {
    Projected(usize, DeltaType),
    Constant(Value),
}

impl DeltaScan {
    /// Plans a scan: binds the request to the schema (generated date columns evaluated
    /// in `zone`) and selects files.
    pub fn new(
        snapshot: Arc<TableSnapshot>,
        request: &ScanRequest,
        zone: WriterZone,
    ) -> Result<DeltaScan> {
        let mut columns = request
            .columns
            .iter()
            .map(|name| {
                snapshot
                    .schema
                    .column(name)
                    .cloned()
                    .ok_or_else(|| DeltaError::NoSuchColumn(name.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        let output = columns.len();
        let pruner = Pruner::new(&snapshot.schema, &request.quals, zone);
        let (files, counters) = select_files(&snapshot, &pruner);
        // Every qual is tried on the decoded rows; a column only an exact qual reads is
        // read for it and dropped after filtering.
        let mut filters = Vec::new();
        for qual in &request.quals {
            let Some(column) = snapshot.schema.column(&qual.column) else {
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
                qual: qual.clone(),
                data_type,
            });
        }
        let dictionary = request
            .group_columns
            .iter()
            .filter_map(|name| snapshot.schema.column(name))
            .map(|c| c.physical_name.clone())
            .collect();
        Ok(DeltaScan {
            snapshot,
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
            claim: None,
        })
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
        DeltaScan {
            output: snapshot.schema.columns.len(),
            columns: snapshot.schema.columns.clone(),
            dictionary: Vec::new(),
            snapshot,
            pruner: Pruner::default(),
            filters: Vec::new(),
            files,
            next_file: 0,
            current: None,
            remaining: None,
            counters,
            zone,
            row_ids: true,
            claim: None,
        }
    }

    /// This scan as one participant of a parallel scan: it reads the files `claim`
    /// hands out (positions among the selected files, shared by all participants).
    pub fn shared(mut self, claim: Box<dyn FnMut() -> usize>) -> DeltaScan {
        // every participant numbers the same files the same way, whatever order its
        // copy of the log lists them in; the largest go first, so the last files
        // claimed are small and participants finish close together
        let files = &self.snapshot.files;
        self.files.sort_by(|a, b| {
            (files[*b].size, &files[*a].path).cmp(&(files[*a].size, &files[*b].path))
        });
        self.claim = Some(claim);
        self
    }

    /// Counters so far.
    pub fn counters(&self) -> &ScanCounters {
        &self.counters
    }

    /// The snapshot version being read.
    pub fn version(&self) -> u64 {
        self.snapshot.version
    }

    /// The next batch of rows, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        crate::runtime::block_on(self.next_batch_async()).map_err(DeltaError::Runtime)?
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
                let Some(&index) = self.files.get(position) else {
                    return Ok(None);
                };
                self.next_file = position + 1;
                self.current = self.open_file(index).await?;
                continue;
            }
            let reader = self.current.as_mut().expect("checked above");
            match reader.stream.next().await {
                None => self.current = None,
                Some(Err(e)) => return Err(self.data_error(e.to_string())),
                Some(Ok(batch)) if batch.num_rows() == 0 => {}
                Some(Ok(batch)) => {
                    let row_ids = reader.next_row_ids(batch.num_rows())?;
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

    fn data_error(&self, reason: String) -> DeltaError {
        let path = self
            .files
            .get(self.next_file.saturating_sub(1))
            .map(|&i| self.snapshot.files[i].path.to_string())
            .unwrap_or_default();
        DeltaError::DataFile { path, reason }
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
            let Some(ranges) = page_ranges(metadata, group, &self.snapshot.schema, &self.pruner)
            else {
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

    async fn open_file(&mut self, index: usize) -> Result<Option<FileReader>> {
        let snapshot = self.snapshot.clone();
        let file: &DataFile = &snapshot.files[index];
        if file.has_deletion_vector {
            return Err(DeltaError::UnsupportedFeature(format!(
                "deletion vectors (file \"{}\")",
                file.path
            )));
        }
        let data_error = |reason: String| DeltaError::DataFile {
            path: file.path.to_string(),
            reason,
        };
        let mut reader = ObjectFileReader::open(
            self.snapshot.store.clone(),
            self.snapshot.local_root.as_deref(),
            file.path.clone(),
            file.size,
        )
        .map_err(|e| data_error(e.to_string()))?;
        let metadata = super::footer::metadata(
            &mut reader,
            &self.snapshot.file_url(index),
            file.size,
            file.modification_time,
        )
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
        let schema = &snapshot.schema;
        let mut row_groups = Vec::new();
        for group in 0..metadata.num_row_groups() {
            let keep = self
                .pruner
                .stats_may_match(&row_group_stats(metadata.row_group(group), schema))
                && bloom_may_match(&mut builder, group, schema, &self.pruner).await;
            if keep {
                row_groups.push(group);
            } else {
                self.counters.row_groups_skipped += 1;
            }
        }
        // Page skipping selects rows, which row identities count, so not for them.
        let selection = if self.row_ids {
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
        let file_number = if self.row_ids {
            Some(super::rowid::file_number(&self.snapshot.file_url(index))?)
        } else {
            None
        };
        if row_groups.is_empty() {
            return Ok(None);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), sorted.iter().copied());
        // Late materialization: qual columns are decoded first, the other columns only
        // for the rows that pass (row identities count every row, so not for them).
        let predicates: Vec<Box<dyn ArrowPredicate>> = if self.row_ids {
            Vec::new()
        } else {
            self.filters
                .iter()
                .filter(|f| !self.columns[f.index].is_partition && exact(&f.data_type, &f.qual))
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
        Ok(Some(FileReader {
            stream,
            sources,
            row_groups: group_positions,
            position: (0, 0),
            file_number,
        }))
    }
}

/// A Parquet row filter deciding `qual` on one decoded column (as [`qual_mask`] does;
/// rows of a qual it leaves to Postgres all pass).
fn row_predicate(
    columns: ProjectionMask,
    qual: Qual,
    data_type: DataType,
) -> Box<dyn ArrowPredicate> {
    Box::new(ArrowPredicateFn::new(columns, move |batch: RecordBatch| {
        let column = batch.column(0);
        let column = if column.data_type() == &data_type {
            column.clone()
        } else {
            cast_with_options(
                column,
                &data_type,
                &CastOptions {
                    safe: false,
                    ..Default::default()
                },
            )?
        };
        match qual_mask(&column, &qual) {
            Some(mask) => {
                let mask = mask?;
                // NULL (unknown) drops the row, as in WHERE
                Ok(match mask.nulls() {
                    Some(_) => prep_null_mask_filter(&mask),
                    None => mask,
                })
            }
            None => Ok(BooleanArray::from(vec![true; batch.num_rows()])),
        }
    }))
}

/// Reader metadata that decodes the text columns named in `dictionary` (physical names)
/// as dictionaries, as Parquet stores them, instead of expanding every value.
fn with_dictionaries(
    metadata: Arc<ParquetMetaData>,
    dictionary: &[String],
) -> deltalake::parquet::errors::Result<ArrowReaderMetadata> {
    let plain = ArrowReaderMetadata::try_new(metadata.clone(), ArrowReaderOptions::new())?;
    if dictionary.is_empty() {
        return Ok(plain);
    }
    let fields: Vec<_> = plain
        .schema()
        .fields()
        .iter()
        .map(|f| {
            if f.data_type() == &DataType::Utf8 && dictionary.contains(f.name()) {
                let encoded =
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                Arc::new(f.as_ref().clone().with_data_type(encoded))
            } else {
                f.clone()
            }
        })
        .collect();
    let schema = Schema::new_with_metadata(fields, plain.schema().metadata().clone());
    ArrowReaderMetadata::try_new(
        metadata,
        ArrowReaderOptions::new().with_schema(Arc::new(schema)),
    )
}

fn to_scan_batch(
    batch: &RecordBatch,
    sources: &[ColumnSource],
) -> std::result::Result<ScanBatch, String> {
    let columns = sources
        .iter()
        .map(|source| match source {
            ColumnSource::Constant(v) => Ok(ColumnData::Constant(v.clone())),
            ColumnSource::Projected(i, data_type) => {
                let array = batch.column(*i);
                // An unsafe cast errors on a value that does not fit instead of nulling it.
                let exact = CastOptions {
                    safe: false,
                    ..Default::default()
                };
                match mapping(data_type).arrow {
                    Some(target) if !same_shape(array.data_type(), &target) => {
                        cast_with_options(array, &target, &exact)
                            .map(ColumnData::Array)
                            .map_err(|e| e.to_string())
                    }
                    _ => Ok(ColumnData::Array(array.clone())),
                }
            }
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    Ok(ScanBatch {
        num_rows: batch.num_rows(),
        columns,
        row_ids: None,
    })
}

/// Equal types, ignoring the field names inside lists (a dictionary of the target
/// type, read for a grouping column, is kept as it is).
fn same_shape(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::Dictionary(_, values), target) => values.as_ref() == target,
        (DataType::List(x), DataType::List(y)) => same_shape(x.data_type(), y.data_type()),
        (DataType::Timestamp(u1, z1), DataType::Timestamp(u2, z2)) => {
            u1 == u2 && z1.is_some() == z2.is_some()
        }
        _ => a == b,
    }
}

/// Drops rows that fail the Arrow-evaluable quals, so they never become tuples.
fn apply_filters(batch: ScanBatch, filters: &[Filter]) -> std::result::Result<ScanBatch, String> {
    let mut masks = Vec::new();
    for filter in filters {
        match &batch.columns[filter.index] {
            ColumnData::Array(array) => {
                // (a grouping column read dictionary-encoded is compared as its values)
                let array = match array.data_type() {
                    DataType::Dictionary(..) => {
                        cast_with_options(array, &filter.data_type, &CastOptions::default())
                            .map_err(|e| e.to_string())?
                    }
                    _ => array.clone(),
                };
                if let Some(mask) = qual_mask(&array, &filter.qual) {
                    masks.push(mask.map_err(|e| e.to_string())?);
                }
            }
            ColumnData::Constant(value) => {
                if constant_matches(&filter.data_type, value, &filter.qual) == Some(false) {
                    return Ok(truncate(batch, 0));
                }
            }
        }
    }
    let Some(mask) = combine(masks).map_err(|e| e.to_string())? else {
        return Ok(batch);
    };
    let kept = mask.true_count();
    if kept == batch.num_rows {
        return Ok(batch);
    }
    let row_ids = batch.row_ids.map(|ids| {
        ids.into_iter()
            .zip(mask.iter())
            .filter_map(|(id, keep)| (keep == Some(true)).then_some(id))
            .collect()
    });
    let columns = batch
        .columns
        .into_iter()
        .map(|c| match c {
            ColumnData::Array(a) => filter(&a, &mask)
                .map(ColumnData::Array)
                .map_err(|e| e.to_string()),
            constant => Ok(constant),
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    Ok(ScanBatch {
        num_rows: kept,
        columns,
        row_ids,
    })
}

fn truncate(batch: ScanBatch, rows: usize) -> ScanBatch {
    let columns = batch
        .columns
        .into_iter()
        .map(|c| match c {
            ColumnData::Array(a) => ColumnData::Array(a.slice(0, rows)),
            constant => constant,
        })
        .collect();
    ScanBatch {
        num_rows: rows,
        columns,
        row_ids: batch.row_ids.map(|mut ids| {
            ids.truncate(rows);
            ids
        }),
    }
}

/// Files probed to estimate a lookup's cost.
const LOOKUP_PROBES: usize = 8;

/// Average rows read for `column = v` over values `v` taken from the table itself
/// (partition values or per-file minima of evenly spaced files); `None` when the
/// column has no values to probe with.
pub fn lookup_rows(snapshot: &TableSnapshot, column: &str, zone: WriterZone) -> Option<f64> {
    let delta_column = snapshot.schema.column(column)?;
    let step = (snapshot.files.len() / LOOKUP_PROBES).max(1);
    let probes: Vec<Value> = snapshot
        .files
        .iter()
        .step_by(step)
        .filter_map(|f| {
            if delta_column.is_partition {
                let raw = f
                    .partition_values
                    .get(&delta_column.physical_name)?
                    .as_deref()?;
                parse_partition_value(raw, &delta_column.data_type, zone)
            } else {
                f.stats
                    .as_ref()?
                    .min
                    .get(&delta_column.physical_name)
                    .cloned()
            }
        })
        .take(LOOKUP_PROBES)
        .collect();
    if probes.is_empty() {
        return None;
    }
    let total: u64 = probes
        .iter()
        .map(|v| {
            let qual = crate::request::Qual {
                column: column.to_string(),
                op: crate::request::Op::Eq,
                value: v.clone(),
            };
            select_files(snapshot, &Pruner::new(&snapshot.schema, &[qual], zone))
                .1
                .rows_estimated
        })
        .sum();
    Some(total as f64 / probes.len() as f64)
}
