//! From Parquet record batches to scan batches: the row filters of late
//! materialization, dictionary-encoded reads, type casts to the mapped Arrow types, and
//! the quals applied to decoded rows.

use crate::batch::{cast_exact, ColumnData, ScanBatch};
use crate::parquet::filter::{combine, constant_matches, qual_mask};
use crate::parquet::schema::LakeType;
use crate::parquet::types::mapping;
use crate::request::Qual;
use crate::value::Value;
use deltalake::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use deltalake::arrow::compute::{
    cast_with_options, filter, filter_record_batch, prep_null_mask_filter, CastOptions,
};
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::arrow::error::ArrowError;
use deltalake::parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions,
};
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::file::metadata::ParquetMetaData;
use std::sync::Arc;

/// Rows per batch a scan decodes.
pub const BATCH_ROWS: usize = 8192;

/// A qual applied to decoded rows.
pub(in crate::parquet) struct Filter {
    /// index among the columns read
    pub index: usize,
    /// the qual
    pub qual: Qual,
    /// the column's Arrow type (what partition values are compared as)
    pub data_type: DataType,
    /// whether the qual is decided exactly on the file's decoded values (not on a
    /// partition value): a Parquet row filter, not re-checked by Postgres
    pub row_filter: bool,
}

/// Where a requested column's values come from.
pub(in crate::parquet) enum ColumnSource {
    /// position in the projected batch, and the column's type
    Projected(usize, LakeType),
    /// one value for every row (partition values, missing columns)
    Constant(Value),
}

/// A Parquet row filter deciding `qual` on one decoded column (as [`qual_mask`] does;
/// rows of a qual it leaves to Postgres all pass).
pub(in crate::parquet) fn row_predicate(
    columns: ProjectionMask,
    qual: Qual,
    data_type: DataType,
) -> Box<dyn ArrowPredicate> {
    Box::new(ArrowPredicateFn::new(columns, move |batch: RecordBatch| {
        exact_mask(batch.column(0), &qual, &data_type)
    }))
}

/// The rows of `column` that pass `qual`, computed exactly: the column in the qual's
/// type (a failed conversion is an error, never a NULL), NULL outcomes as false.
fn exact_mask(
    column: &ArrayRef,
    qual: &Qual,
    data_type: &DataType,
) -> std::result::Result<BooleanArray, ArrowError> {
    let column = if column.data_type() == data_type {
        column.clone()
    } else {
        cast_exact(column, data_type)?
    };
    match qual_mask(&column, qual) {
        Some(mask) => {
            let mask = mask?;
            Ok(match mask.nulls() {
                Some(_) => prep_null_mask_filter(&mask),
                None => mask,
            })
        }
        None => Ok(BooleanArray::from(vec![true; column.len()])),
    }
}

/// The rows of a batch decoded from a whole file that pass the scan's exact quals on
/// its columns, found before any column is converted: a lookup served from a decoded
/// file converts only the rows it returns, as one reading Parquet with row filters does.
pub(in crate::parquet) fn prefilter(
    batch: RecordBatch,
    sources: &[ColumnSource],
    filters: &[Filter],
) -> std::result::Result<RecordBatch, String> {
    let mut masks = Vec::new();
    for filter in filters.iter().filter(|f| f.row_filter) {
        if let ColumnSource::Projected(i, _) = &sources[filter.index] {
            let mask = exact_mask(batch.column(*i), &filter.qual, &filter.data_type);
            masks.push(mask.map_err(|e| e.to_string())?);
        }
    }
    match combine(masks).map_err(|e| e.to_string())? {
        Some(mask) if mask.true_count() < batch.num_rows() => {
            filter_record_batch(&batch, &mask).map_err(|e| e.to_string())
        }
        _ => Ok(batch),
    }
}

/// Reader metadata that decodes the text columns named in `dictionary` (physical names)
/// as dictionaries, as Parquet stores them, instead of expanding every value.
pub(in crate::parquet) fn with_dictionaries(
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

pub(in crate::parquet) fn to_scan_batch(
    batch: &RecordBatch,
    sources: &[ColumnSource],
) -> std::result::Result<ScanBatch, String> {
    let columns = sources
        .iter()
        .map(|source| match source {
            ColumnSource::Constant(v) => Ok(ColumnData::Constant(v.clone())),
            ColumnSource::Projected(i, data_type) => {
                let array = batch.column(*i);
                match mapping(data_type).arrow {
                    Some(target) if !same_shape(array.data_type(), &target) => {
                        cast_exact(array, &target)
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
pub(in crate::parquet) fn apply_filters(
    batch: ScanBatch,
    filters: &[Filter],
) -> std::result::Result<ScanBatch, String> {
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

pub(in crate::parquet) fn truncate(batch: ScanBatch, rows: usize) -> ScanBatch {
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
