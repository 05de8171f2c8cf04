//! Writing a Delta table for one host transaction: rows stream into Parquet files as they
//! arrive (bounded memory), and [`TableWriter::commit`] adds every file in one Delta
//! commit. Nothing is visible to readers before that commit; files of a transaction that
//! never commits are referenced by no version and are removed by vacuum.

use super::error::{DeltaError, Result};
use super::options::TableLocation;
use super::prune::{date_generation_source, WriterZone};
use super::schema::{DeltaColumn, DeltaSchema, DeltaType};
use super::table::{open_for_write, table_schema};
use crate::options::{OptionError, Options};
use crate::value::MICROS_PER_DAY;
use deltalake::arrow::array::{new_null_array, Array, ArrayRef, AsArray, Date32Array, RecordBatch};
use deltalake::arrow::compute::{cast_with_options, CastOptions};
use deltalake::arrow::datatypes::{DataType, Date32Type, TimeUnit, TimestampMicrosecondType};
use deltalake::kernel::transaction::{
    CommitBuilder, CommitProperties, TableReference, TransactionError,
};
use deltalake::kernel::{Action, Add};
use deltalake::parquet::basic::{Compression, GzipLevel, ZstdLevel};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use std::sync::Arc;

/// Retries of a commit that lost a race with another writer (appends never conflict).
const COMMIT_RETRIES: usize = 100;
/// Default size at which a data file is closed and the next one started.
const DEFAULT_TARGET_FILE_MB: u64 = 128;
/// Default rows per Parquet row group.
const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;

/// How data files are written (table options `compression`, `target_file_mb`,
/// `row_group_rows`).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// Parquet compression codec
    pub compression: Compression,
    /// a file is closed once it reaches this many bytes
    pub target_file_bytes: u64,
    /// rows per row group
    pub row_group_rows: usize,
}

impl WriteOptions {
    /// Reads the write options of a foreign table.
    pub fn from_options(table: &Options) -> Result<WriteOptions> {
        let bad = |name: &str, expected: &str| {
            DeltaError::InvalidOption(OptionError::BadValue {
                name: name.into(),
                expected: expected.into(),
            })
        };
        let compression = match table.get("compression") {
            None => Compression::ZSTD(ZstdLevel::default()),
            Some(text) => parse_compression(text).ok_or_else(|| {
                bad(
                    "compression",
                    "zstd, zstd:LEVEL (1-22), snappy, lz4, gzip, gzip:LEVEL (0-9) or none",
                )
            })?,
        };
        let positive = |name: &str| match table.uint(name) {
            Some(0) => Err(bad(name, "a positive integer")),
            other => Ok(other),
        };
        Ok(WriteOptions {
            compression,
            target_file_bytes: positive("target_file_mb")?.unwrap_or(DEFAULT_TARGET_FILE_MB)
                * 1024
                * 1024,
            row_group_rows: positive("row_group_rows")?
                .map(|n| n as usize)
                .unwrap_or(DEFAULT_ROW_GROUP_ROWS),
        })
    }

    fn writer_properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .build()
    }
}

fn parse_compression(text: &str) -> Option<Compression> {
    let lower = text.trim().to_ascii_lowercase();
    let (codec, level) = match lower.split_once(':') {
        Some((codec, level)) => (codec, Some(level.parse::<u32>().ok()?)),
        None => (lower.as_str(), None),
    };
    Some(match (codec, level) {
        ("zstd", None) => Compression::ZSTD(ZstdLevel::default()),
        ("zstd", Some(l)) => Compression::ZSTD(ZstdLevel::try_new(i32::try_from(l).ok()?).ok()?),
        ("gzip", None) => Compression::GZIP(GzipLevel::default()),
        ("gzip", Some(l)) => Compression::GZIP(GzipLevel::try_new(l).ok()?),
        ("snappy", None) => Compression::SNAPPY,
        ("lz4", None) => Compression::LZ4_RAW,
        ("none" | "uncompressed", None) => Compression::UNCOMPRESSED,
        _ => return None,
    })
}

/// A generated date column ODP computes (and checks) on write.
#[derive(Debug, Clone)]
struct GeneratedDate {
    /// index of the generated column in the table schema
    column: usize,
    /// index of its source column in the table schema
    source: usize,
}

/// The writes of one host transaction to one Delta table.
pub struct TableWriter {
    table: DeltaTable,
    schema: DeltaSchema,
    arrow_schema: deltalake::arrow::datatypes::SchemaRef,
    writer: RecordBatchWriter,
    /// files sealed so far, in order; savepoints are positions in this list
    staged: Vec<Add>,
    zone: WriterZone,
    generated: Vec<GeneratedDate>,
    rows: u64,
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
            .with_writer_properties(options.writer_properties())
            .with_target_file_size(options.target_file_bytes);
        let arrow_schema = writer.arrow_schema();
        let generated = generated_dates(&schema)?;
        Ok(TableWriter {
            table,
            schema,
            arrow_schema,
            writer,
            staged: Vec::new(),
            zone,
            generated,
            rows: 0,
        })
    }

    /// The Delta column a foreign column writes to.
    pub fn column(&self, name: &str) -> Result<&DeltaColumn> {
        self.schema
            .column(name)
            .ok_or_else(|| DeltaError::NoSuchColumn(name.to_string()))
    }

    /// Rows written so far in this transaction.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Streams `batch` (columns named as in the table, any subset) into data files.
    /// Missing columns are NULL, generated date columns are computed when NULL and
    /// checked when given.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let full = self.complete(batch)?;
        let rows = full.num_rows() as u64;
        let here = self.table.table_url().to_string();
        crate::runtime::block_on(self.writer.write(full))
            .map_err(DeltaError::Runtime)?
            .map_err(|e| write_error(&here, e))?;
        self.rows += rows;
        Ok(())
    }

    /// Seals the files written so far and returns a mark [`Self::rollback_to`] can
    /// return to (a savepoint of the host transaction).
    pub fn savepoint(&mut self) -> Result<usize> {
        self.seal()?;
        Ok(self.staged.len())
    }

    /// Forgets everything written after `mark`: open files are aborted, sealed ones are
    /// left unreferenced for vacuum.
    pub fn rollback_to(&mut self, mark: usize) {
        self.writer.reset();
        self.staged.truncate(mark);
    }

    /// Commits every file of the transaction in one Delta commit; `None` when nothing
    /// was written. A commit that loses to a conflicting writer is retried; appends
    /// never conflict.
    pub fn commit(&mut self) -> Result<Option<u64>> {
        self.seal()?;
        if self.staged.is_empty() {
            return Ok(None);
        }
        let here = self.table.table_url().to_string();
        let actions: Vec<Action> = self.staged.drain(..).map(Action::Add).collect();
        let partition_by = self
            .schema
            .columns
            .iter()
            .filter(|c| c.is_partition)
            .map(|c| c.name.clone())
            .collect::<Vec<_>>();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: (!partition_by.is_empty()).then_some(partition_by),
            predicate: None,
        };
        let state = self
            .table
            .snapshot()
            .map_err(|e| DeltaError::from_delta(&here, e))?;
        let checked = CheckedByOdp::new(state)?;
        let commit = CommitBuilder::from(CommitProperties::default())
            .with_max_retries(COMMIT_RETRIES)
            .with_actions(actions)
            .build(Some(&checked), self.table.log_store(), operation);
        let finalized = crate::runtime::block_on(async move { commit.await })
            .map_err(DeltaError::Runtime)?
            .map_err(|e| write_error(&here, e))?;
        Ok(Some(finalized.version))
    }

    fn seal(&mut self) -> Result<()> {
        let here = self.table.table_url().to_string();
        let adds = crate::runtime::block_on(self.writer.flush())
            .map_err(DeltaError::Runtime)?
            .map_err(|e| write_error(&here, e))?;
        self.staged.extend(adds);
        Ok(())
    }

    /// `batch` as a batch of the whole table schema.
    fn complete(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let exact = CastOptions {
            safe: false,
            ..Default::default()
        };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.arrow_schema.fields().len());
        for (field, column) in self.arrow_schema.fields().iter().zip(&self.schema.columns) {
            let given = batch.column_by_name(&column.name);
            let array = match given {
                Some(array) if array.data_type() == field.data_type() => array.clone(),
                Some(array) => {
                    cast_with_options(array, field.data_type(), &exact).map_err(|e| {
                        DeltaError::InvalidValue {
                            column: column.name.clone(),
                            reason: e.to_string(),
                        }
                    })?
                }
                None => new_null_array(field.data_type(), rows),
            };
            columns.push(array);
        }
        for generated in &self.generated {
            columns[generated.column] = self.generate_date(generated, &columns)?;
        }
        for (array, column) in columns.iter().zip(&self.schema.columns) {
            if !column.nullable && array.null_count() > 0 {
                return Err(DeltaError::NullValue(column.name.clone()));
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
                (Some(v), _, _) => Some(v),
            });
        }
        Ok(Arc::new(Date32Array::from(out)))
    }
}

/// Writer features whose rules ODP follows when it appends: it computes generated date
/// columns, refuses tables with invariants, check constraints or identity columns
/// ([`check_writable`]), never writes deletion vectors, and leaves checkpoints alone.
const SUPPORTED_WRITER_FEATURES: &[&str] = &[
    "appendOnly",
    "invariants",
    "checkConstraints",
    "changeDataFeed",
    "generatedColumns",
    "identityColumns",
    "timestampNtz",
    "deletionVectors",
    "v2Checkpoint",
    "vacuumProtocolCheck",
    "checkpointProtection",
];

/// Refuses tables whose writer rules ODP does not follow: column mapping, invariants,
/// check constraints, identity columns and unknown writer features.
fn check_writable(state: &deltalake::table::state::DeltaTableState) -> Result<()> {
    let unsupported =
        |what: String| DeltaError::UnsupportedFeature(format!("writing to a table with {what}"));
    let protocol = serde_json::to_value(TableReference::protocol(state))
        .map_err(|e| DeltaError::CorruptLog(e.to_string()))?;
    let metadata = serde_json::to_value(TableReference::metadata(state))
        .map_err(|e| DeltaError::CorruptLog(e.to_string()))?;
    let features = protocol
        .get("writerFeatures")
        .and_then(|f| f.as_array())
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if let Some(feature) = features
        .iter()
        .find(|f| !SUPPORTED_WRITER_FEATURES.contains(&f.as_str()))
    {
        return Err(unsupported(format!("the writer feature \"{feature}\"")));
    }
    let configuration = metadata.get("configuration").and_then(|c| c.as_object());
    let setting = |key: &str| {
        configuration
            .and_then(|c| c.get(key))
            .and_then(|v| v.as_str())
    };
    if setting("delta.columnMapping.mode").is_some_and(|m| m != "none") {
        return Err(unsupported("column mapping".into()));
    }
    if configuration.is_some_and(|c| c.keys().any(|k| k.starts_with("delta.constraints."))) {
        return Err(unsupported("CHECK constraints".into()));
    }
    let schema_string = metadata
        .get("schemaString")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if schema_string.contains("delta.invariants") {
        return Err(unsupported("column invariants".into()));
    }
    if schema_string.contains("delta.identity.") {
        return Err(unsupported("identity columns".into()));
    }
    Ok(())
}

/// The read snapshot a commit is checked against. delta-rs built without DataFusion
/// refuses every table whose writer version implies features it cannot evaluate
/// (invariants, constraints, generated columns); ODP enforces those rules itself
/// ([`check_writable`], generated dates), so the commit sees the table's own protocol
/// with the writer requirement that was checked here lifted.
struct CheckedByOdp<'a> {
    state: &'a deltalake::table::state::DeltaTableState,
    protocol: deltalake::kernel::Protocol,
}

impl<'a> CheckedByOdp<'a> {
    fn new(state: &'a deltalake::table::state::DeltaTableState) -> Result<CheckedByOdp<'a>> {
        check_writable(state)?;
        let mut protocol = serde_json::to_value(TableReference::protocol(state))
            .map_err(|e| DeltaError::CorruptLog(e.to_string()))?;
        let reader_version = protocol
            .get("minReaderVersion")
            .and_then(|v| v.as_i64())
            .unwrap_or(1);
        if let Some(fields) = protocol.as_object_mut() {
            // Reader version 3 (reader features) requires writer version 7 (features).
            let writer_version = if reader_version >= 3 { 7 } else { 1 };
            fields.insert("minWriterVersion".into(), writer_version.into());
            if writer_version == 7 {
                fields.insert("writerFeatures".into(), serde_json::json!([]));
            } else {
                fields.remove("writerFeatures");
            }
        }
        let protocol = serde_json::from_value(protocol)
            .map_err(|e| DeltaError::CorruptLog(format!("protocol: {e}")))?;
        Ok(CheckedByOdp { state, protocol })
    }
}

impl TableReference for CheckedByOdp<'_> {
    fn config(&self) -> &delta_kernel::table_properties::TableProperties {
        TableReference::config(self.state)
    }

    fn protocol(&self) -> &deltalake::kernel::Protocol {
        &self.protocol
    }

    fn metadata(&self) -> &deltalake::kernel::Metadata {
        TableReference::metadata(self.state)
    }

    fn eager_snapshot(&self) -> &deltalake::kernel::EagerSnapshot {
        TableReference::eager_snapshot(self.state)
    }
}

/// The generated date columns ODP can compute; a table with other generated columns
/// cannot be written.
fn generated_dates(schema: &DeltaSchema) -> Result<Vec<GeneratedDate>> {
    let mut out = Vec::new();
    for (i, column) in schema.columns.iter().enumerate() {
        let Some(expression) = &column.generation_expression else {
            continue;
        };
        let source = date_generation_source(expression)
            .and_then(|source| schema.columns.iter().position(|c| c.name == source))
            .filter(|&s| {
                column.data_type == DeltaType::Date
                    && matches!(
                        schema.columns[s].data_type,
                        DeltaType::Date | DeltaType::Timestamp | DeltaType::TimestampNtz
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

/// Classifies a write or commit error: a lost commit race is a serialization failure.
fn write_error(location: &str, err: DeltaTableError) -> DeltaError {
    match err {
        DeltaTableError::Transaction { source } => match source {
            TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_) => {
                DeltaError::WriteConflict(source.to_string())
            }
            other => DeltaError::Storage(other.to_string()),
        },
        other => DeltaError::from_delta(location, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> Options {
        Options::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    #[test]
    fn write_options_parse() {
        let w = WriteOptions::from_options(&o(&[])).unwrap();
        assert_eq!(w.compression, Compression::ZSTD(ZstdLevel::default()));
        assert_eq!(w.target_file_bytes, 128 * 1024 * 1024);
        let w = WriteOptions::from_options(&o(&[
            ("compression", "zstd:9"),
            ("target_file_mb", "16"),
            ("row_group_rows", "10000"),
        ]))
        .unwrap();
        assert_eq!(
            w.compression,
            Compression::ZSTD(ZstdLevel::try_new(9).unwrap())
        );
        assert_eq!(w.row_group_rows, 10_000);
        assert_eq!(parse_compression("snappy"), Some(Compression::SNAPPY));
        assert!(WriteOptions::from_options(&o(&[("compression", "brotli:99")])).is_err());
        assert!(WriteOptions::from_options(&o(&[("target_file_mb", "0")])).is_err());
    }
}
