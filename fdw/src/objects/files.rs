//! Data files under a prefix read as one table (`format 'parquet' | 'csv' | 'json'`).
//!
//! Parquet files are read by the Parquet layer ([`crate::parquet`]), as Delta files are:
//! projection, row groups and pages skipped by footer statistics, page indexes and bloom
//! filters, Arrow filters before rows become tuples, and the same Arrow → Datum
//! conversion. CSV and JSON-lines files are
//! parsed by arrow's readers into the declared column types; Postgres applies the quals.

use super::error::{ObjectError, Result};
use super::keys::{listing, shorten};
use super::options::{Format, ServerOptions, TableOptions};
use super::store::{ObjectInfo, Store};
use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crate::batch::{ColumnData, ScanBatch};
use crate::parquet::counters::ScanCounters;
use crate::parquet::prune::{Pruner, WriterZone};
use crate::parquet::scan::{FileStore, ParquetFile, ParquetScan};
use crate::parquet::schema::{LakeColumn, LakeSchema};
use crate::parquet::types::lake_type_for;
use crate::request::ScanRequest;
use crate::types::PgType;
use futures::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Cursor};
use std::sync::Arc;

/// Rows per batch of the CSV and JSON readers.
const BATCH_ROWS: usize = 8192;

/// A declared column: name, type, `numeric(p, s)` modifier.
pub type DeclaredColumn = (String, PgType, Option<(u8, i8)>);

/// A table over the data files under a prefix.
#[derive(Debug, Clone)]
pub struct FileTable {
    store: Store,
    server: ServerOptions,
    options: TableOptions,
    columns: Vec<DeclaredColumn>,
}

impl FileTable {
    /// Opens a table, checking that every declared column has a type the format reads.
    pub fn new(
        server: ServerOptions,
        options: TableOptions,
        declared: &[DeclaredColumn],
    ) -> Result<FileTable> {
        for (name, pg_type, numeric) in declared {
            let readable = match options.format {
                Format::Parquet => lake_type_for(pg_type, *numeric).is_some(),
                _ => {
                    // (arrow's CSV and JSON readers parse no interval)
                    pg_type.text_source_arrow_type().is_some()
                        && !matches!(pg_type, PgType::Bytea | PgType::Interval)
                }
            };
            if !readable {
                return Err(ObjectError::Column {
                    column: name.clone(),
                    reason: format!(
                        "type {} cannot be read from {} files",
                        pg_type.sql(),
                        options.format.name()
                    ),
                });
            }
        }
        Ok(FileTable {
            store: Store::open(&server)?,
            server,
            options,
            columns: declared.to_vec(),
        })
    }

    /// The table's format.
    pub fn format(&self) -> Format {
        self.options.format
    }

    /// The planner's guess of the table's rows (table option `estimated_rows`).
    pub fn estimated_rows(&self) -> u64 {
        self.options.estimated_rows
    }

    /// The extensions of the files the table reads.
    fn extensions(&self) -> &'static [&'static str] {
        match self.options.format {
            Format::Parquet => &[".parquet"],
            Format::Csv => &[".csv"],
            Format::Json => &[".json", ".jsonl", ".ndjson"],
            Format::Objects => &[],
        }
    }

    /// The data files under the prefix: their extension matches the format, and no part
    /// of their key starts with `_` or `.` (`_SUCCESS`, `_delta_log/`, hidden files).
    fn data_files(&self) -> Result<Vec<ObjectInfo>> {
        let prefix = self.options.prefix.clone();
        let extensions = self.extensions();
        let mut stream = self.store.list(&listing(&prefix))?;
        let files = super::block(async move {
            let mut files = Vec::new();
            while let Some(info) = stream.next().await {
                crate::runtime::check_interrupts();
                let info = info?;
                if is_data_file(&info.key, &prefix, extensions) {
                    files.push(info);
                }
            }
            files.sort_by(|a, b| a.key.cmp(&b.key));
            Ok::<_, ObjectError>(files)
        })??;
        Ok(files)
    }

    /// Starts a scan of every data file.
    pub fn scan(&self, request: &ScanRequest) -> Result<FileScan> {
        let files = self.data_files()?;
        let listed = files.len() as u64;
        match self.options.format {
            Format::Parquet => {
                let schema = self.parquet_schema();
                let store = FileStore {
                    store: self.store.object_store(),
                    url: self.store.describe(),
                    scope: self.server.s3.scope(),
                    local_root: self.store.local_root(),
                };
                let files = self.parquet_files(files)?;
                let counters = ScanCounters {
                    files_total: listed,
                    ..Default::default()
                };
                let pruner = Pruner::new(&schema, &request.quals, WriterZone::Utc);
                let scan = ParquetScan::new(
                    store,
                    &schema,
                    files,
                    request,
                    pruner,
                    counters,
                    WriterZone::Utc,
                )
                .map_err(|e| ObjectError::BadFile {
                    key: self.options.prefix.clone(),
                    format: "parquet",
                    reason: e.to_string(),
                })?;
                Ok(FileScan::Parquet {
                    scan,
                    listed,
                    prefix: self.options.prefix.clone(),
                })
            }
            format => {
                let schema = self.text_schema();
                let projection = request
                    .columns
                    .iter()
                    .map(|name| {
                        schema.index_of(name).map_err(|_| ObjectError::Column {
                            column: name.clone(),
                            reason: "not a column of this table".into(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(FileScan::Text(TextScan {
                    store: self.store.clone(),
                    format,
                    csv_header: self.options.csv_header,
                    csv_delimiter: self.options.csv_delimiter,
                    content_limit: self.server.max_content_bytes,
                    schema,
                    projection,
                    files: files.into_iter().map(|f| f.key).collect(),
                    current: None,
                    remaining: request.limit,
                    listed,
                    files_read: 0,
                }))
            }
        }
    }

    /// The declared columns as the Parquet layer reads them.
    fn parquet_schema(&self) -> LakeSchema {
        let columns = self
            .columns
            .iter()
            .map(|(name, pg_type, numeric)| LakeColumn {
                name: name.clone(),
                physical_name: name.clone(),
                data_type: lake_type_for(pg_type, *numeric)
                    .expect("checked when the table was opened"),
                nullable: true,
                generation_expression: None,
                type_widened: false,
                is_partition: false,
            })
            .collect();
        LakeSchema { columns }
    }

    /// The listed files as the Parquet layer reads them: no partition values.
    fn parquet_files(&self, files: Vec<ObjectInfo>) -> Result<Vec<ParquetFile>> {
        files
            .into_iter()
            .map(|info| {
                Ok(ParquetFile {
                    path: self.store.location(&info.key)?,
                    size: info.size,
                    modified: info.last_modified.timestamp_millis(),
                    partition_values: HashMap::new(),
                    refused: None,
                })
            })
            .collect()
    }

    /// The declared columns as the Arrow schema the CSV and JSON readers parse into.
    fn text_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, pg_type, _)| {
                let data_type = pg_type
                    .text_source_arrow_type()
                    .expect("checked when the table was opened");
                Field::new(name, data_type, true)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }
}

/// Whether `key` is a data file of a table over `prefix`: under it, with one of the
/// `extensions`, and without a path part below the prefix's directory that starts with
/// `_` or `.` (`_SUCCESS`, `_delta_log/`, hidden files).
fn is_data_file(key: &str, prefix: &str, extensions: &[&str]) -> bool {
    let directory = prefix.rfind('/').map_or(0, |i| i + 1);
    let below = key.get(directory..).unwrap_or_default();
    let hidden = below
        .split('/')
        .any(|part| part.starts_with('_') || part.starts_with('.'));
    let lower = key.to_ascii_lowercase();
    key.starts_with(prefix) && !hidden && extensions.iter().any(|e| lower.ends_with(e))
}

/// A running scan of data files.
pub enum FileScan {
    /// Parquet files
    Parquet {
        /// the scan
        scan: ParquetScan,
        /// data files found under the prefix
        listed: u64,
        /// the table's prefix, naming the files in errors
        prefix: String,
    },
    /// CSV or JSON-lines files
    Text(TextScan),
}

impl FileScan {
    /// The next batch of rows, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        match self {
            FileScan::Parquet { scan, prefix, .. } => {
                scan.next_batch().map_err(|e| ObjectError::BadFile {
                    key: prefix.clone(),
                    format: "parquet",
                    reason: e.to_string(),
                })
            }
            FileScan::Text(scan) => scan.next_batch(),
        }
    }

    /// EXPLAIN ANALYZE lines.
    pub fn explain(&self) -> Vec<(String, String)> {
        match self {
            FileScan::Parquet { scan, listed, .. } => {
                let c = scan.counters();
                vec![
                    ("Data Files Listed".into(), listed.to_string()),
                    ("Data Files Read".into(), c.files_read.to_string()),
                    (
                        "Parquet Row Groups Skipped".into(),
                        c.row_groups_skipped.to_string(),
                    ),
                    ("Rows Returned".into(), c.rows_returned.to_string()),
                ]
            }
            FileScan::Text(scan) => vec![
                ("Data Files Listed".into(), scan.listed.to_string()),
                ("Data Files Read".into(), scan.files_read.to_string()),
            ],
        }
    }
}

type BatchReader =
    Box<dyn Iterator<Item = std::result::Result<RecordBatch, crate::arrow::error::ArrowError>>>;

/// A scan of CSV or JSON-lines files, one file in memory at a time.
pub struct TextScan {
    store: Store,
    format: Format,
    csv_header: bool,
    csv_delimiter: u8,
    content_limit: u64,
    schema: SchemaRef,
    projection: Vec<usize>,
    files: VecDeque<String>,
    current: Option<(String, BatchReader)>,
    remaining: Option<u64>,
    listed: u64,
    files_read: u64,
}

impl TextScan {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        loop {
            crate::runtime::check_interrupts();
            if self.remaining == Some(0) {
                return Ok(None);
            }
            let Some((key, reader)) = self.current.as_mut() else {
                let Some(key) = self.files.pop_front() else {
                    return Ok(None);
                };
                self.current = self.open(key)?;
                continue;
            };
            match reader.next() {
                None => self.current = None,
                Some(Err(e)) => {
                    return Err(ObjectError::BadFile {
                        key: shorten(key),
                        format: self.format.name(),
                        reason: e.to_string(),
                    })
                }
                Some(Ok(batch)) => {
                    let mut rows = batch.num_rows();
                    if let Some(left) = self.remaining.as_mut() {
                        rows = rows.min(*left as usize);
                        *left -= rows as u64;
                    }
                    let columns = self
                        .projection
                        .iter()
                        .map(|&i| ColumnData::Array(batch.column(i).slice(0, rows)))
                        .collect();
                    return Ok(Some(ScanBatch {
                        num_rows: rows,
                        columns,
                        row_ids: None,
                    }));
                }
            }
        }
    }

    /// Reads a file and starts parsing it (`None` when it vanished since the listing).
    fn open(&mut self, key: String) -> Result<Option<(String, BatchReader)>> {
        let store = self.store.clone();
        let limit = self.content_limit;
        let fetched_key = key.clone();
        let Some((_, bytes)) = super::block(async move { store.get(&fetched_key, limit).await })??
        else {
            return Ok(None);
        };
        self.files_read += 1;
        let bad = |reason: String| ObjectError::BadFile {
            key: shorten(&key),
            format: self.format.name(),
            reason,
        };
        let table = self.schema.clone();
        let reader: BatchReader = match self.format {
            Format::Csv => {
                // With a header, columns are matched by name (any order; a column the
                // file lacks is NULL, one the table lacks is skipped); without, by
                // position.
                let file_schema = if self.csv_header {
                    let (header, _) = crate::arrow::csv::reader::Format::default()
                        .with_header(true)
                        .with_delimiter(self.csv_delimiter)
                        .infer_schema(Cursor::new(&bytes), Some(0))
                        .map_err(|e| bad(e.to_string()))?;
                    Arc::new(Schema::new(
                        header
                            .fields()
                            .iter()
                            .map(|f| match table.field_with_name(f.name()) {
                                Ok(declared) => read_field(declared, false),
                                Err(_) => Field::new(f.name(), DataType::Utf8, true),
                            })
                            .collect::<Vec<_>>(),
                    ))
                } else {
                    Arc::new(Schema::new(
                        table
                            .fields()
                            .iter()
                            .map(|f| read_field(f, false))
                            .collect::<Vec<_>>(),
                    ))
                };
                let reader = crate::arrow::csv::ReaderBuilder::new(file_schema)
                    .with_header(self.csv_header)
                    .with_delimiter(self.csv_delimiter)
                    .with_batch_size(BATCH_ROWS)
                    .build(Cursor::new(bytes))
                    .map_err(|e| bad(e.to_string()))?;
                Box::new(reader.map(move |batch| exact_columns(by_name(batch?, &table), &table)))
            }
            _ => {
                let read_as = Arc::new(Schema::new(
                    table
                        .fields()
                        .iter()
                        .map(|f| read_field(f, true))
                        .collect::<Vec<_>>(),
                ));
                let reader = crate::arrow::json::ReaderBuilder::new(read_as)
                    .with_coerce_primitive(true)
                    .with_batch_size(BATCH_ROWS)
                    .build(BufReader::new(Cursor::new(bytes)))
                    .map_err(|e| bad(e.to_string()))?;
                Box::new(reader.map(move |batch| exact_columns(batch?.columns().to_vec(), &table)))
            }
        };
        Ok(Some((key, reader)))
    }
}

type ArrowResult<T> = std::result::Result<T, crate::arrow::error::ArrowError>;

/// How a text file's column is read: `timestamp` (without time zone), and with
/// `integers_as_text` the integers, as text, parsed by [`exact_columns`] (arrow would
/// convert a timestamp with an offset to UTC where Postgres ignores the offset, and
/// truncate a JSON 1.7 to 1); the rest as declared.
fn read_field(f: &Field, integers_as_text: bool) -> Field {
    let as_text = (integers_as_text && f.data_type().is_integer())
        || matches!(f.data_type(), DataType::Timestamp(_, None));
    match as_text {
        true => Field::new(f.name(), DataType::Utf8, true),
        false => f.clone(),
    }
}

/// `batch` (a CSV file's columns, by its header) as the table's columns, by name, in
/// their read types (see [`read_field`]).
fn by_name(batch: RecordBatch, table: &SchemaRef) -> Vec<crate::arrow::array::ArrayRef> {
    table
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(column) => column.clone(),
            None => crate::arrow::array::new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect()
}

/// The table's batch from columns read as text where [`read_field`] says: each integer
/// parsed exactly (a fraction or a value out of range an error), each `timestamp` as
/// Postgres's input reads it (an offset is ignored).
fn exact_columns(
    columns: Vec<crate::arrow::array::ArrayRef>,
    table: &SchemaRef,
) -> ArrowResult<RecordBatch> {
    use crate::arrow::array::{Array, AsArray};
    let parse_error = |value: &str, what: &str, column: &str| {
        crate::arrow::error::ArrowError::ParseError(format!(
            "\"{value}\" is not {what} (column \"{column}\")"
        ))
    };
    let mut out = Vec::with_capacity(columns.len());
    for (f, column) in table.fields().iter().zip(columns) {
        if column.data_type() == f.data_type() || column.data_type() != &DataType::Utf8 {
            out.push(column);
            continue;
        }
        let text = column.as_string::<i32>();
        let wide: crate::arrow::array::ArrayRef = if f.data_type().is_integer() {
            let mut values: Vec<Option<i64>> = Vec::with_capacity(text.len());
            for i in 0..text.len() {
                values.push(match text.is_null(i) {
                    true => None,
                    false => Some(
                        text.value(i)
                            .parse::<i64>()
                            .map_err(|_| parse_error(text.value(i), "an integer", f.name()))?,
                    ),
                });
            }
            Arc::new(crate::arrow::array::Int64Array::from(values))
        } else {
            let mut values: Vec<Option<i64>> = Vec::with_capacity(text.len());
            for i in 0..text.len() {
                values.push(match text.is_null(i) {
                    true => None,
                    false => Some(
                        crate::temporal::parse_wall_clock(text.value(i))
                            .ok_or_else(|| parse_error(text.value(i), "a timestamp", f.name()))?,
                    ),
                });
            }
            Arc::new(crate::arrow::array::TimestampMicrosecondArray::from(values))
        };
        let cast = crate::arrow::compute::cast_with_options(
            &wide,
            f.data_type(),
            &crate::arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            },
        )
        .map_err(|e| {
            crate::arrow::error::ArrowError::ParseError(format!("column \"{}\": {e}", f.name()))
        })?;
        out.push(cast);
    }
    RecordBatch::try_new(table.clone(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_skip_hidden_parts_below_the_prefix() {
        let parquet = &[".parquet"];
        assert!(is_data_file("t/day=1/a.parquet", "t/", parquet));
        assert!(is_data_file(
            "documents/catalog.csv",
            "documents/catalog",
            &[".csv"]
        ));
        assert!(!is_data_file("t/_delta_log/0.parquet", "t/", parquet));
        assert!(!is_data_file("t/.hidden.parquet", "t/", parquet));
        assert!(!is_data_file("t/a.csv", "t/", parquet));
        assert!(!is_data_file("u/a.parquet", "t/", parquet));
        assert!(is_data_file("_root/t/a.PARQUET", "_root/t/", parquet));
    }

    #[test]
    fn json_integers_are_exact_and_csv_columns_go_by_name() {
        use crate::arrow::array::{Array, AsArray, Float64Array, StringArray};
        use crate::arrow::datatypes::{Float64Type, Int32Type};
        let table: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, true),
            Field::new("x", DataType::Float64, true),
        ]));
        let read = |n: Vec<Option<&str>>| {
            RecordBatch::try_new(
                Arc::new(Schema::new(vec![
                    Field::new("n", DataType::Utf8, true),
                    Field::new("x", DataType::Float64, true),
                ])),
                vec![
                    Arc::new(StringArray::from(n.clone())),
                    Arc::new(Float64Array::from(vec![Some(1.5); n.len()])),
                ],
            )
            .unwrap()
        };
        let exact = |batch: RecordBatch| exact_columns(batch.columns().to_vec(), &table);
        let ok = exact(read(vec![Some("17"), None, Some("-3")])).unwrap();
        let n = ok.column(0).as_primitive::<Int32Type>();
        assert_eq!((n.value(0), n.is_null(1), n.value(2)), (17, true, -3));
        assert!(exact(read(vec![Some("1.7")])).is_err());
        assert!(exact(read(vec![Some("3000000000")])).is_err());

        // a file with the columns swapped and one extra, one missing
        let file = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("extra", DataType::Utf8, true),
                Field::new("x", DataType::Float64, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["e"])),
                Arc::new(Float64Array::from(vec![2.5])),
            ],
        )
        .unwrap();
        let rows = exact_columns(by_name(file, &table), &table).unwrap();
        assert!(rows.column(0).is_null(0));
        assert_eq!(rows.column(1).as_primitive::<Float64Type>().value(0), 2.5);
    }
}
