//! Writing a Delta table for one host transaction: rows stream into Parquet files as they
//! arrive (bounded memory), and [`TableWriter::commit`] adds every file in one Delta
//! commit. Nothing is visible to readers before that commit; files of a transaction that
//! never commits are referenced by no version and are removed by vacuum.

pub mod commit;
pub mod partition_spill;
pub mod pending;
pub mod whole_files;
pub mod write_options;

use crate::delta::error::{DeltaError, Result};
use crate::delta::write::commit::{
    check_may_remove_rows, prepare_commit, write_error, PendingCommit,
};
mod rewrite;

use crate::batch::{cast_exact, ColumnData, ScanBatch};
use crate::delta::log::table::{file_rows, open_for_write, snapshot, table_schema};
use crate::delta::options::TableLocation;
use crate::delta::read::scan::DeltaScan;
use crate::delta::write::partition_spill::{Drained, PartitionSpill};
use crate::delta::write::pending::PendingView;
use crate::delta::write::whole_files::file_matches;
use crate::delta::write::write_options::WriteOptions;
use crate::numeric::Numeric;
use crate::parquet::prune::{date_generation_source, WriterZone};
use crate::parquet::rowid::locate;
use crate::parquet::schema::{LakeColumn, LakeSchema, LakeType};
use crate::parquet::types::mapping;
use crate::request::Qual;
use crate::temporal::MICROS_PER_DAY;
use crate::value::Value;
use deltalake::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::compute::{
    concat_batches, filter, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Field, Schema, TimeUnit, TimestampMicrosecondType,
};
use deltalake::kernel::{Action, Add, Remove};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A generated date column ODP computes (and checks) on write.
#[derive(Debug, Clone)]
struct GeneratedDate {
    /// index of the generated column in the table schema
    column: usize,
    /// index of its source column in the table schema
    source: usize,
}

/// Rows written inside savepoints kept in memory before they spill (see
/// [`TableWriter::savepoint`]).
const SAVEPOINT_TAIL_BYTES: usize = 64 << 20;

/// Data written to open files since they were last sealed (Parquet-encoded bytes, as
/// delta-rs counts them) past which they are all sealed: it bounds the row groups in
/// progress held in memory.
const OPEN_FILES_BYTES: usize = 64 << 20;

/// What a savepoint returns to.
#[derive(Debug, Clone, Copy)]
struct Mark {
    staged: usize,
    deleted: usize,
    dropped: usize,
    rows: u64,
    /// length of `tail`
    tail: usize,
}

/// The writes of one host transaction to one Delta table.
pub struct TableWriter {
    location: TableLocation,
    table: DeltaTable,
    schema: LakeSchema,
    arrow_schema: deltalake::arrow::datatypes::SchemaRef,
    writer: RecordBatchWriter,
    /// files sealed so far, in order
    staged: Vec<Add>,
    /// the version the writer was opened at: schema or protocol changes since then
    /// conflict with the rows it wrote
    opened_version: u64,
    /// identities of the rows deleted (or updated) so far, in order
    deleted: Vec<u64>,
    /// URLs of files deleted whole (see [`crate::delta::write::whole_files`]), in order
    dropped: Vec<String>,
    /// live savepoints: lengths of `staged`, `deleted`, `dropped` and `tail`, and
    /// `rows`, when each was taken
    marks: Vec<Mark>,
    /// rows written while a savepoint is live, not yet in the open files (whose rows
    /// all come before every live savepoint)
    tail: Vec<RecordBatch>,
    /// memory of `tail`
    tail_bytes: usize,
    zone: WriterZone,
    generated: Vec<GeneratedDate>,
    rows: u64,
    /// indexes of the `sort_by` columns in the table schema
    sort_columns: Vec<usize>,
    /// rows waiting to be sorted and written (only with `sort_by`)
    unsorted: Vec<RecordBatch>,
    /// rows in `unsorted`
    unsorted_rows: usize,
    /// rows sorted together
    sort_run_rows: usize,
    /// rows of a partitioned table waiting, per partition, for their files (see
    /// [`crate::delta::write::partition_spill`])
    spill: Option<PartitionSpill>,
    /// writes into files begun and not finished: above zero after one failed or was
    /// cancelled part-way, and then the transaction cannot write or commit the table
    unfinished: u32,
}

impl TableWriter {
    /// Opens the table (its current version is the transaction's read version) for
    /// writing rows whose generated date columns are evaluated in `zone`.
    pub fn open(
        location: &TableLocation,
        zone: WriterZone,
        options: &WriteOptions,
    ) -> Result<TableWriter> {
        let here = location.url.as_str();
        let table = open_for_write(location)?;
        let schema = table_schema(&table, here)?;
        let writer = RecordBatchWriter::for_table(&table)
            .map_err(|e| DeltaError::from_delta(here, e))?
            .with_writer_properties(options.writer_properties(&schema)?)
            .with_target_file_size(options.target_file_bytes);
        let arrow_schema = writer.arrow_schema();
        let generated = generated_dates(&schema)?;
        let sort_columns = options
            .sort_by
            .iter()
            .map(|name| {
                schema
                    .columns
                    .iter()
                    .position(|c| &c.name == name)
                    .ok_or_else(|| DeltaError::NoSuchColumn(name.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        let opened_version = table.version().unwrap_or_default();
        let partition_columns: Vec<usize> = schema
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_partition)
            .map(|(i, _)| i)
            .collect();
        let spill = (!partition_columns.is_empty()).then(|| {
            PartitionSpill::new(
                arrow_schema.clone(),
                partition_columns,
                crate::runtime::spill_dir(),
            )
        });
        Ok(TableWriter {
            location: location.clone(),
            table,
            schema,
            arrow_schema,
            writer,
            opened_version,
            staged: Vec::new(),
            deleted: Vec::new(),
            dropped: Vec::new(),
            marks: Vec::new(),
            tail: Vec::new(),
            tail_bytes: 0,
            zone,
            generated,
            rows: 0,
            sort_columns,
            unsorted: Vec::new(),
            unsorted_rows: 0,
            sort_run_rows: options.row_group_rows,
            spill,
            unfinished: 0,
        })
    }

    /// The Delta column a foreign column writes to.
    pub fn column(&self, name: &str) -> Result<&LakeColumn> {
        self.schema
            .column(name)
            .ok_or_else(|| DeltaError::NoSuchColumn(name.to_string()))
    }

    /// Rows written so far in this transaction.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether the transaction has neither written nor deleted anything.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
            && self.deleted.is_empty()
            && self.dropped.is_empty()
            && self.staged.is_empty()
    }

    /// Streams `batch` (columns named as in the table, any subset) into data files.
    /// Missing columns are NULL; generated date columns are computed when NULL and
    /// checked when given, or recomputed for the `updated` versions of rows.
    pub fn write(&mut self, batch: &RecordBatch, updated: bool) -> Result<()> {
        self.ensure_whole()?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let full = self.complete(batch, updated)?;
        let rows = full.num_rows();
        if self.sort_columns.is_empty() {
            self.write_out(full)?;
        } else {
            self.unsorted.push(full);
            self.unsorted_rows += rows;
            if self.unsorted_rows >= self.sort_run_rows {
                self.write_sorted()?;
            }
        }
        self.rows += rows as u64;
        Ok(())
    }

    /// Streams complete rows into the open data files, or into the tail while a
    /// savepoint is live.
    fn write_out(&mut self, rows: RecordBatch) -> Result<()> {
        if !self.marks.is_empty() {
            self.tail_bytes += rows.get_array_memory_size();
            self.tail.push(rows);
            if self.tail_bytes > SAVEPOINT_TAIL_BYTES {
                self.spill_tail()?;
            }
            return Ok(());
        }
        self.drain_tail()?;
        self.write_to_files(rows)
    }

    /// Streams rows into the open files. Each open file (one per partition written
    /// since the last seal) keeps its row group in progress in memory: once the data
    /// written since the last seal passes [`OPEN_FILES_BYTES`], every open file is
    /// sealed, so memory stays bounded however many partitions a statement writes
    /// (more partitions give smaller files).
    fn write_to_files(&mut self, rows: RecordBatch) -> Result<()> {
        self.in_flight(|this| {
            if let Some(spill) = this.spill.as_mut() {
                return spill.append(&rows);
            }
            write_open(&mut this.writer, &this.table, rows)?;
            if this.writer.buffer_len() >= OPEN_FILES_BYTES {
                this.seal_files()?;
            }
            Ok(())
        })
    }

    /// Runs a write into files, counted as unfinished unless it returns `Ok` (an error
    /// or a cancel part-way leaves rows half written: see [`Self::ensure_whole`]).
    fn in_flight<T>(&mut self, op: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.unfinished += 1;
        let out = op(self)?;
        self.unfinished -= 1;
        Ok(out)
    }

    /// Fails when an earlier write into files stopped part-way (the statement's error
    /// was caught by a savepoint, say): the rows waiting may be incomplete, so the
    /// transaction must not go on writing or commit this table.
    fn ensure_whole(&self) -> Result<()> {
        if self.unfinished > 0 {
            return Err(DeltaError::Unfinished(self.location.url.to_string()));
        }
        Ok(())
    }

    /// Moves the tail into the open files once no savepoint is live.
    fn drain_tail(&mut self) -> Result<()> {
        if !self.marks.is_empty() {
            return Ok(());
        }
        self.tail_bytes = 0;
        for rows in std::mem::take(&mut self.tail) {
            self.write_to_files(rows)?;
        }
        Ok(())
    }

    /// Bounds the memory of a large tail: rows from before the first live savepoint join
    /// the open files, which are sealed; then the rows between each pair of savepoints
    /// go to files of their own, so a rollback to any of them can still drop whole
    /// files.
    fn spill_tail(&mut self) -> Result<()> {
        self.in_flight(Self::spill_tail_now)
    }

    fn spill_tail_now(&mut self) -> Result<()> {
        let tail = std::mem::take(&mut self.tail);
        self.tail_bytes = 0;
        // marks no sealed file follows yet: their files start with their own rows
        let fresh: Vec<bool> = self
            .marks
            .iter()
            .map(|m| m.staged == self.staged.len())
            .collect();
        let starts: Vec<usize> = self.marks.iter().map(|m| m.tail).collect();
        for rows in &tail[..starts[0]] {
            self.write_to_files(rows.clone())?;
        }
        self.seal_files()?;
        for (index, start) in starts.iter().enumerate() {
            let end = starts.get(index + 1).copied().unwrap_or(tail.len());
            if fresh[index] {
                self.marks[index].staged = self.staged.len();
            }
            self.marks[index].tail = 0;
            for rows in &tail[*start..end] {
                self.write_to_files(rows.clone())?;
            }
            self.seal_files()?;
        }
        Ok(())
    }

    /// Sorts the rows waiting for `sort_by` and writes them.
    fn write_sorted(&mut self) -> Result<()> {
        if self.unsorted.is_empty() {
            return Ok(());
        }
        let sort_error = |e: deltalake::arrow::error::ArrowError| DeltaError::InvalidValue {
            column: self.options_sort_names(),
            reason: e.to_string(),
        };
        let all = concat_batches(&self.arrow_schema, &self.unsorted).map_err(sort_error)?;
        let keys: Vec<SortColumn> = self
            .sort_columns
            .iter()
            .map(|&i| SortColumn {
                values: all.column(i).clone(),
                options: Some(SortOptions {
                    descending: false,
                    nulls_first: false,
                }),
            })
            .collect();
        let order = lexsort_to_indices(&keys, None).map_err(sort_error)?;
        let sorted = take_record_batch(&all, &order).map_err(sort_error)?;
        self.unsorted.clear();
        self.unsorted_rows = 0;
        self.write_out(sorted)
    }

    /// The `sort_by` columns, for error messages.
    fn options_sort_names(&self) -> String {
        let names: Vec<&str> = self
            .sort_columns
            .iter()
            .map(|&i| self.schema.columns[i].name.as_str())
            .collect();
        names.join(", ")
    }

    /// Deletes rows by identity (see [`crate::parquet::rowid`]); the files holding them are
    /// rewritten without them at commit.
    pub fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        self.check_may_remove_rows()?;
        self.deleted.extend_from_slice(row_ids);
        Ok(())
    }

    /// Refuses UPDATE and DELETE on tables whose rules forbid removing rows (checked
    /// again at commit): append-only tables, and tables with a change data feed, whose
    /// change files ODP does not write.
    fn check_may_remove_rows(&self) -> Result<()> {
        let here = self.location.url.as_str();
        let state = self
            .table
            .snapshot()
            .map_err(|e| DeltaError::from_delta(here, e))?;
        check_may_remove_rows(state, here)
    }

    /// Deletes every row of the files whose partition values satisfy all `quals`,
    /// without reading them, and returns how many rows that is. The caller has checked
    /// [`crate::delta::write::whole_files::deletes_whole_files`]; the files are removed at commit.
    pub fn delete_whole_files(&mut self, quals: &[Qual]) -> Result<u64> {
        self.check_may_remove_rows()?;
        let latest = snapshot(&self.location, None)?;
        let mut rows = 0;
        for index in 0..latest.files.len() {
            crate::runtime::check_interrupts();
            let file = &latest.files[index];
            if !file_matches(&latest.schema, self.zone, quals, &file.partition_values)? {
                continue;
            }
            rows += match file.stats.as_ref().and_then(|s| s.num_records) {
                Some(n) => n,
                None => file_rows(&latest, index)?,
            };
            self.dropped.push(latest.file_url(index));
        }
        Ok(rows)
    }

    /// Marks the writes so far (a savepoint of the host transaction) and returns the
    /// mark [`Self::rollback_to`] returns to. Nothing is sealed: rows written while a
    /// mark is live wait in memory (up to 64 MB, then they spill to files of their own)
    /// and join the open files when the last mark is released, so a loop of
    /// subtransactions writes one file, not one per iteration.
    pub fn savepoint(&mut self) -> Result<usize> {
        self.ensure_whole()?;
        self.write_sorted()?;
        self.marks.push(Mark {
            staged: self.staged.len(),
            deleted: self.deleted.len(),
            dropped: self.dropped.len(),
            rows: self.rows,
            tail: self.tail.len(),
        });
        Ok(self.marks.len() - 1)
    }

    /// Keeps only the first `live` marks (the others' subtransactions committed into
    /// their parent); their writes stay.
    pub fn release(&mut self, live: usize) {
        self.marks.truncate(live);
    }

    /// Forgets everything written after `mark`: rows in memory are dropped, files
    /// sealed since are left unreferenced for vacuum, deletions after it are dropped.
    pub fn rollback_to(&mut self, mark: usize) {
        self.unsorted.clear();
        self.unsorted_rows = 0;
        if let Some(&to) = self.marks.get(mark) {
            self.staged.truncate(to.staged);
            self.deleted.truncate(to.deleted);
            self.dropped.truncate(to.dropped);
            self.tail.truncate(to.tail);
            self.tail_bytes = self.tail.iter().map(|b| b.get_array_memory_size()).sum();
            self.rows = to.rows;
            self.marks.truncate(mark);
        }
    }

    /// Prepares the transaction's one Delta commit: files holding deleted rows are
    /// rewritten without them (or removed when every row goes), open files are sealed,
    /// and the commit's rules and conflicts are checked ([`crate::delta::write::commit`]); `None` when
    /// nothing changed. [`PendingCommit::land`] then makes it visible.
    pub fn prepare_commit(&mut self) -> Result<Option<PendingCommit>> {
        self.ensure_whole()?;
        let removes = self.rewrite_deleted()?;
        self.seal()?;
        if self.staged.is_empty() && removes.is_empty() {
            return Ok(None);
        }
        let operation = if removes.is_empty() {
            let partition_by = self
                .schema
                .columns
                .iter()
                .filter(|c| c.is_partition)
                .map(|c| c.name.clone())
                .collect::<Vec<_>>();
            DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: (!partition_by.is_empty()).then_some(partition_by),
                predicate: None,
            }
        } else if self.rows > 0 {
            DeltaOperation::Update { predicate: None }
        } else {
            DeltaOperation::Delete { predicate: None }
        };
        let actions: Vec<Action> = self
            .staged
            .drain(..)
            .map(Action::Add)
            .chain(removes.into_iter().map(Action::Remove))
            .collect();
        prepare_commit(self.table.clone(), actions, operation, self.opened_version).map(Some)
    }

    /// The transaction's changes so far as its scans must see them. Rows still in open
    /// files or in memory are written out first (while savepoints are live, into files
    /// of their own savepoint level, so rolling back to any of them still drops whole
    /// files).
    pub fn pending_view(&mut self) -> Result<PendingView> {
        self.ensure_whole()?;
        if self.marks.is_empty() {
            // (rows of savepoints since released wait in the tail: sealed too)
            self.seal()?;
        } else {
            self.write_sorted()?;
            self.spill_tail()?;
        }
        let mut deleted: HashMap<String, HashSet<u64>> = HashMap::new();
        for id in &self.deleted {
            let (url, position) = locate(*id)?;
            deleted.entry(url).or_default().insert(position);
        }
        Ok(PendingView {
            added: self.staged.clone(),
            dropped: self.dropped.iter().cloned().collect(),
            deleted: deleted
                .into_iter()
                .map(|(url, positions)| (url, Arc::new(positions)))
                .collect(),
        })
    }

    /// Writes the rows of a whole-file scan batch again (compaction).
    pub(in crate::delta) fn write_scanned(&mut self, batch: ScanBatch) -> Result<()> {
        let rows = self.table_rows(batch)?;
        self.write_rows(&rows)
    }

    /// A whole-file scan batch as a batch of the table's columns.
    pub(in crate::delta) fn table_rows(&self, batch: ScanBatch) -> Result<RecordBatch> {
        self.without_positions(batch, &HashSet::new())
    }

    /// Writes rows of the table again, as they are (compaction, Z-order).
    pub(in crate::delta) fn write_rows(&mut self, rows: &RecordBatch) -> Result<()> {
        self.write(rows, false)
    }

    /// Files sealed so far, for a maintenance operation that commits them itself.
    pub(in crate::delta) fn take_sealed(&mut self) -> Result<Vec<Add>> {
        self.seal()?;
        Ok(std::mem::take(&mut self.staged))
    }

    fn seal(&mut self) -> Result<()> {
        self.write_sorted()?;
        self.drain_tail()?;
        self.seal_files()
    }

    /// Writes the rows waiting in the partition spill, one partition at a time, and
    /// closes and stages every open file.
    fn seal_files(&mut self) -> Result<()> {
        self.in_flight(|this| {
            let TableWriter {
                spill,
                writer,
                table,
                staged,
                ..
            } = this;
            if let Some(spill) = spill.as_mut() {
                spill.drain(|drained| match drained {
                    Drained::Rows(rows) => write_open(writer, table, rows),
                    Drained::PartitionDone => flush_open(writer, table, staged),
                })?;
            }
            flush_open(writer, table, staged)
        })
    }

    /// `batch` as a batch of the whole table schema.
    fn complete(&self, batch: &RecordBatch, updated: bool) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.arrow_schema.fields().len());
        for (field, column) in self.arrow_schema.fields().iter().zip(&self.schema.columns) {
            let given = batch.column_by_name(&column.name);
            let array = match given {
                Some(array) if array.data_type() == field.data_type() => array.clone(),
                Some(array) => {
                    cast_exact(array, field.data_type()).map_err(|e| DeltaError::InvalidValue {
                        column: column.name.clone(),
                        reason: e.to_string(),
                    })?
                }
                // The new version of an updated row must carry every column: one the
                // foreign table does not declare would be lost.
                None if updated => {
                    return Err(DeltaError::UnsupportedFeature(format!(
                        "UPDATE through a foreign table that does not declare column \"{}\"",
                        column.name
                    )))
                }
                None => new_null_array(field.data_type(), rows),
            };
            columns.push(array);
        }
        for generated in &self.generated {
            if updated {
                let field = &self.arrow_schema.fields()[generated.column];
                columns[generated.column] = new_null_array(field.data_type(), rows);
            }
            columns[generated.column] = self.generate_date(generated, &columns)?;
        }
        for (array, column) in columns.iter().zip(&self.schema.columns) {
            if !column.nullable && array.null_count() > 0 {
                return Err(DeltaError::NullValue(column.name.clone()));
            }
            // Delta (and Spark) store an empty partition value as NULL: refuse it rather
            // than turn '' into NULL
            if column.is_partition {
                if let Some(strings) = array.as_string_opt::<i32>() {
                    if strings.iter().any(|v| v == Some("")) {
                        return Err(DeltaError::InvalidValue {
                            column: column.name.clone(),
                            reason: "an empty string cannot be a partition value (Delta stores it as NULL)".into(),
                        });
                    }
                }
            }
        }
        RecordBatch::try_new(self.arrow_schema.clone(), columns).map_err(|e| {
            DeltaError::InvalidValue {
                column: String::new(),
                reason: e.to_string(),
            }
        })
    }

    /// The generated date column computed from its source in the writer's zone: NULLs
    /// are filled in, given values must match.
    fn generate_date(&self, generated: &GeneratedDate, columns: &[ArrayRef]) -> Result<ArrayRef> {
        let name = &self.schema.columns[generated.column].name;
        let source = &columns[generated.source];
        let given = columns[generated.column].as_primitive::<Date32Type>();
        let offset = match (self.zone, &source.data_type()) {
            (_, DataType::Date32) | (_, DataType::Timestamp(_, None)) => Some(0),
            (WriterZone::Utc, _) => Some(0),
            (WriterZone::Offset(seconds), _) => Some(seconds as i64 * 1_000_000),
            (WriterZone::Unknown, _) => None,
        };
        let computed: Vec<Option<i32>> = match source.data_type() {
            DataType::Date32 => source.as_primitive::<Date32Type>().iter().collect(),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let offset = offset.unwrap_or(0);
                source
                    .as_primitive::<TimestampMicrosecondType>()
                    .iter()
                    .map(|t| t.map(|t| (t + offset).div_euclid(MICROS_PER_DAY) as i32))
                    .collect()
            }
            other => {
                return Err(DeltaError::UnsupportedFeature(format!(
                    "generated column \"{name}\" from a column of type {other}"
                )))
            }
        };
        let mut out = Vec::with_capacity(computed.len());
        for (row, computed) in computed.into_iter().enumerate() {
            let value = if given.is_null(row) {
                None
            } else {
                Some(given.value(row))
            };
            out.push(match (value, computed, offset) {
                (None, Some(_), None) => {
                    return Err(DeltaError::UnsupportedFeature(format!(
                        "computing generated column \"{name}\" with writer_time_zone unknown"
                    )))
                }
                (None, computed, _) => computed,
                (Some(v), Some(c), Some(_)) if v != c => {
                    return Err(DeltaError::GeneratedMismatch(name.clone()))
                }
                // the expression of a NULL source is NULL: any value would be wrong and
                // lost to pruning on the generated column
                (Some(_), None, _) => return Err(DeltaError::GeneratedMismatch(name.clone())),
                (Some(_), Some(_), None) => {
                    return Err(DeltaError::UnsupportedFeature(format!(
                        "checking generated column \"{name}\" with writer_time_zone unknown (leave it NULL or set writer_time_zone)"
                    )))
                }
                (Some(v), Some(_), Some(_)) => Some(v),
            });
        }
        Ok(Arc::new(Date32Array::from(out)))
    }
}

/// `rows` copies of a partition value, as an array of type `target`.
fn constant_array(
    value: &Value,
    target: &DataType,
    rows: usize,
) -> std::result::Result<ArrayRef, String> {
    let array: ArrayRef = match value {
        Value::Null => return Ok(new_null_array(target, rows)),
        Value::Bool(b) => Arc::new(BooleanArray::from(vec![*b; rows])),
        Value::Int(i) => Arc::new(Int64Array::from(vec![*i; rows])),
        Value::Float4(f) => Arc::new(Float32Array::from(vec![*f; rows])),
        Value::Float(f) => Arc::new(Float64Array::from(vec![*f; rows])),
        Value::Text(t) => Arc::new(StringArray::from(vec![t.as_str(); rows])),
        Value::Date(d) => Arc::new(Date32Array::from(vec![*d; rows])),
        Value::Timestamp(t) => Arc::new(TimestampMicrosecondArray::from(vec![*t; rows])),
        Value::Numeric(Numeric::Finite(d)) => match target {
            DataType::Decimal128(p, s) => {
                let unscaled = d.to_unscaled(*s).ok_or("decimal out of range")?;
                Arc::new(
                    Decimal128Array::from(vec![unscaled; rows])
                        .with_precision_and_scale(*p, *s)
                        .map_err(|e| e.to_string())?,
                )
            }
            other => return Err(format!("a decimal cannot be stored as {other}")),
        },
        other => return Err(format!("{} cannot be stored as {target}", other.display())),
    };
    cast_exact(&array, target).map_err(|e| e.to_string())
}

/// The generated date columns ODP can compute; a table with other generated columns
/// cannot be written.
fn generated_dates(schema: &LakeSchema) -> Result<Vec<GeneratedDate>> {
    let mut out = Vec::new();
    for (i, column) in schema.columns.iter().enumerate() {
        let Some(expression) = &column.generation_expression else {
            continue;
        };
        let source = date_generation_source(expression)
            .and_then(|source| schema.columns.iter().position(|c| c.name == source))
            .filter(|&s| {
                column.data_type == LakeType::Date
                    && matches!(
                        schema.columns[s].data_type,
                        LakeType::Date | LakeType::Timestamp | LakeType::TimestampNtz
                    )
            })
            .ok_or_else(|| {
                DeltaError::UnsupportedFeature(format!(
                    "writing generated column \"{}\" ({expression})",
                    column.name
                ))
            })?;
        out.push(GeneratedDate { column: i, source });
    }
    Ok(out)
}

/// Writes rows into the open files of `writer`.
fn write_open(writer: &mut RecordBatchWriter, table: &DeltaTable, rows: RecordBatch) -> Result<()> {
    let here = table.table_url().to_string();
    crate::runtime::block_on(writer.write(rows))
        .map_err(DeltaError::Runtime)?
        .map_err(|e| write_error(&here, e))
}

/// Closes the open files of `writer` and stages them.
fn flush_open(
    writer: &mut RecordBatchWriter,
    table: &DeltaTable,
    staged: &mut Vec<Add>,
) -> Result<()> {
    let here = table.table_url().to_string();
    let adds = crate::runtime::block_on(writer.flush())
        .map_err(DeltaError::Runtime)?
        .map_err(|e| write_error(&here, e))?;
    staged.extend(adds);
    Ok(())
}

#[cfg(test)]
pub(super) mod tests;
