//! What a Parquet file's own metadata lets a scan skip, under the same rules as Delta
//! statistics ([`Pruner`]): row groups by their column statistics, pages by the page
//! index (per-page bounds and null counts, with the rows each page holds), and row
//! groups by bloom filters, for `=` and `IN` quals.

use crate::numeric::{Decimal, Numeric};
use crate::parquet::prune::{FileStats, Pruner};
use crate::parquet::schema::{LakeColumn, LakeSchema, LakeType};
use crate::value::Value;
use deltalake::parquet::arrow::async_reader::AsyncFileReader;
use deltalake::parquet::arrow::ParquetRecordBatchStreamBuilder;
use deltalake::parquet::basic::ColumnOrder;
use deltalake::parquet::bloom_filter::Sbbf;
use deltalake::parquet::data_type::{
    ByteArray, ByteArrayType, DataType as PhysicalType, DoubleType, FixedLenByteArray,
    FixedLenByteArrayType, FloatType, Int32Type, Int64Type,
};
use deltalake::parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData, RowGroupMetaData};
use deltalake::parquet::file::page_index::column_index::ColumnIndexMetaData;
use deltalake::parquet::file::statistics::Statistics;
use std::ops::Range;

/// The top-level column of `schema` a column chunk stores.
fn stored_column<'a>(
    chunk: &ColumnChunkMetaData,
    schema: &'a LakeSchema,
) -> Option<&'a LakeColumn> {
    let path = chunk.column_path().parts();
    if path.len() != 1 {
        return None;
    }
    schema.columns.iter().find(|c| c.physical_name == path[0])
}

/// The rows of one row group a scan reads after page skipping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRanges {
    /// row positions within the group, ascending and disjoint (empty: no row may match)
    pub rows: Vec<Range<usize>>,
    /// pages whose bounds ruled them out
    pub pages_skipped: u64,
}

/// The rows of row group `group` whose pages may match `pruner`, from the page index of
/// every column a qual constrains; `None` when no such column has a usable page index.
pub fn page_ranges(
    metadata: &ParquetMetaData,
    group: usize,
    schema: &LakeSchema,
    pruner: &Pruner,
) -> Option<PageRanges> {
    let column_index = metadata.column_index()?.get(group)?;
    let offset_index = metadata.offset_index()?.get(group)?;
    let row_group = metadata.row_group(group);
    let rows = usize::try_from(row_group.num_rows()).ok()?;
    let mut kept: Vec<Range<usize>> = std::iter::once(0..rows).collect();
    let mut pages_skipped = 0;
    let mut used = false;
    for (i, chunk) in row_group.columns().iter().enumerate() {
        // a widened column's older files hold bounds of the narrower type
        let Some(column) = stored_column(chunk, schema).filter(|c| !c.type_widened) else {
            continue;
        };
        let defined_order = matches!(
            metadata.file_metadata().column_order(i),
            ColumnOrder::TYPE_DEFINED_ORDER(_)
        );
        if !defined_order || !pruner.constrains(&column.physical_name) {
            continue;
        }
        let (Some(index), Some(offsets)) = (column_index.get(i), offset_index.get(i)) else {
            continue;
        };
        let pages = offsets.page_locations();
        let scale = chunk.column_descr().type_scale();
        // (`num_pages` of an index without bounds panics; a malformed index is ignored)
        let consistent = !matches!(index, ColumnIndexMetaData::NONE)
            && index.num_pages() as usize == pages.len()
            && index.null_counts().is_none_or(|n| n.len() == pages.len());
        if !consistent {
            continue;
        }
        let mut matching: Vec<Range<usize>> = Vec::new();
        for (page, location) in pages.iter().enumerate() {
            let start = usize::try_from(location.first_row_index).ok()?;
            let end = match pages.get(page + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => rows,
            };
            // a malformed offset index is ignored
            if start > end || end > rows {
                return None;
            }
            if !pruner.stats_may_match(&page_stats(index, page, end - start, column, scale)) {
                pages_skipped += 1;
            } else if let Some(last) = matching.last_mut().filter(|r| r.end == start) {
                last.end = end;
            } else {
                matching.push(start..end);
            }
        }
        kept = intersect(&kept, &matching);
        used = true;
    }
    used.then_some(PageRanges {
        rows: kept,
        pages_skipped,
    })
}

/// The rows in both lists of ascending, disjoint ranges.
fn intersect(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The statistics of page `page` (of `rows` rows) of `column` from its column index.
fn page_stats(
    index: &ColumnIndexMetaData,
    page: usize,
    rows: usize,
    column: &LakeColumn,
    scale: i32,
) -> FileStats {
    let name = &column.physical_name;
    let mut stats = FileStats {
        num_records: Some(rows as u64),
        ..Default::default()
    };
    if index.is_null_page(page) {
        stats.null_count.insert(name.clone(), rows as u64);
        return stats;
    }
    if let Some(nulls) = index.null_count(page).and_then(|n| u64::try_from(n).ok()) {
        stats.null_count.insert(name.clone(), nulls);
    }
    let bytes = |b: Option<&[u8]>| b.map(|b| ByteArray::from(b.to_vec()));
    let statistics = match index {
        ColumnIndexMetaData::INT32(i) => bounds::<Int32Type>(i.min_value(page), i.max_value(page)),
        ColumnIndexMetaData::INT64(i) => bounds::<Int64Type>(i.min_value(page), i.max_value(page)),
        ColumnIndexMetaData::FLOAT(i) => bounds::<FloatType>(i.min_value(page), i.max_value(page)),
        ColumnIndexMetaData::DOUBLE(i) => {
            bounds::<DoubleType>(i.min_value(page), i.max_value(page))
        }
        ColumnIndexMetaData::BYTE_ARRAY(i) => bounds::<ByteArrayType>(
            bytes(i.min_value(page)).as_ref(),
            bytes(i.max_value(page)).as_ref(),
        ),
        ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(i) => bounds::<FixedLenByteArrayType>(
            bytes(i.min_value(page))
                .map(FixedLenByteArray::from)
                .as_ref(),
            bytes(i.max_value(page))
                .map(FixedLenByteArray::from)
                .as_ref(),
        ),
        _ => return stats,
    };
    if let Some((min, max)) = min_max(&statistics, &column.data_type, scale) {
        stats.min.insert(name.clone(), min);
        stats.max.insert(name.clone(), max);
    }
    stats
}

/// One page's bounds as Parquet statistics of their physical type.
fn bounds<T: PhysicalType>(min: Option<&T::T>, max: Option<&T::T>) -> Statistics {
    Statistics::new(min.cloned(), max.cloned(), None, None, false)
}

/// Whether row group `group` may hold a row matching `pruner` by its bloom filters:
/// false when, for some `=` or `IN` qual, the column's filter holds none of the values.
/// A filter that cannot be read skips nothing (the data may still be readable).
pub async fn bloom_may_match<T: AsyncFileReader + Send + 'static>(
    builder: &mut ParquetRecordBatchStreamBuilder<T>,
    group: usize,
    schema: &LakeSchema,
    pruner: &Pruner,
) -> bool {
    let probes = bloom_probes(builder.metadata().row_group(group), schema, pruner);
    for (column, values) in probes {
        let filter = builder
            .get_row_group_column_bloom_filter(group, column)
            .await;
        if let Ok(Some(filter)) = filter {
            if !values.iter().any(|v| v.may_be_in(&filter)) {
                return false;
            }
        }
    }
    true
}

/// For each `=` or `IN` qual on a column with a bloom filter in `row_group`: the
/// column's position in the file and the values a matching row holds, as the filter
/// hashes them (their plain Parquet encoding).
fn bloom_probes(
    row_group: &RowGroupMetaData,
    schema: &LakeSchema,
    pruner: &Pruner,
) -> Vec<(usize, Vec<Probe>)> {
    let mut probes = Vec::new();
    for (column, data_type, values) in pruner.required_values() {
        let position = row_group.columns().iter().position(|chunk| {
            stored_column(chunk, schema)
                .is_some_and(|c| c.physical_name == column && !c.type_widened)
        });
        let Some(position) =
            position.filter(|&i| row_group.column(i).bloom_filter_offset().is_some())
        else {
            continue;
        };
        let encoded: Option<Vec<Probe>> = values.iter().map(|v| Probe::of(v, data_type)).collect();
        if let Some(encoded) = encoded {
            probes.push((position, encoded));
        }
    }
    probes
}

/// One value as a bloom filter hashes it; `Absent` for a value no row can equal.
#[derive(Debug, Clone, PartialEq)]
enum Probe {
    /// an INT32 column's value
    Int32(i32),
    /// an INT64 column's value
    Int64(i64),
    /// a BYTE_ARRAY column's value
    Bytes(Vec<u8>),
    /// `NULL`: equal to nothing
    Absent,
}

impl Probe {
    /// The probe of `value` in a column of `data_type`; `None` when the type's bloom
    /// filters are not used (the row group is kept).
    fn of(value: &Value, data_type: &LakeType) -> Option<Probe> {
        match (value, data_type) {
            (Value::Null, _) => Some(Probe::Absent),
            (Value::Int(v), LakeType::Integer | LakeType::Short | LakeType::Byte) => {
                i32::try_from(*v).ok().map(Probe::Int32)
            }
            (Value::Int(v), LakeType::Long) => Some(Probe::Int64(*v)),
            (Value::Date(days), LakeType::Date) => Some(Probe::Int32(*days)),
            (Value::Text(text), LakeType::String) => Some(Probe::Bytes(text.as_bytes().to_vec())),
            _ => None,
        }
    }

    /// Whether `filter` may hold this value.
    fn may_be_in(&self, filter: &Sbbf) -> bool {
        match self {
            Probe::Int32(v) => filter.check(v),
            Probe::Int64(v) => filter.check(v),
            Probe::Bytes(v) => filter.check(v.as_slice()),
            Probe::Absent => false,
        }
    }
}

/// The statistics of a row group's columns, keyed like Delta statistics.
pub fn row_group_stats(
    row_group: &RowGroupMetaData,
    schema: &LakeSchema,
    pruner: &Pruner,
) -> FileStats {
    let mut stats = FileStats {
        num_records: Some(row_group.num_rows() as u64),
        ..Default::default()
    };
    for chunk in row_group.columns() {
        let Some(column) = stored_column(chunk, schema) else {
            continue;
        };
        if !pruner.constrains(&column.physical_name) {
            continue;
        }
        let Some(statistics) = chunk.statistics() else {
            continue;
        };
        if let Some(n) = statistics.null_count_opt() {
            stats.null_count.insert(column.physical_name.clone(), n);
        }
        // Bounds from the deprecated min/max fields were ordered by old writers with a
        // signed byte comparison; a widened column's older files hold a narrower type.
        if statistics.is_min_max_deprecated() || column.type_widened {
            continue;
        }
        let scale = chunk.column_descr().type_scale();
        if let Some((min, max)) = min_max(statistics, &column.data_type, scale) {
            stats.min.insert(column.physical_name.clone(), min);
            stats.max.insert(column.physical_name.clone(), max);
        }
    }
    stats
}

/// Bounds of a row group's column; `scale` is the Parquet column's own decimal scale.
fn min_max(statistics: &Statistics, data_type: &LakeType, scale: i32) -> Option<(Value, Value)> {
    let pair = |a: Option<Value>, b: Option<Value>| a.zip(b);
    let scale = i8::try_from(scale).ok()?;
    let decimal =
        |unscaled: i128| Value::Numeric(Numeric::Finite(Decimal::from_unscaled(unscaled, scale)));
    match (statistics, data_type) {
        (Statistics::Int32(s), LakeType::Date) => pair(
            s.min_opt().map(|v| Value::Date(*v)),
            s.max_opt().map(|v| Value::Date(*v)),
        ),
        (Statistics::Int32(s), LakeType::Integer | LakeType::Short | LakeType::Byte) => pair(
            s.min_opt().map(|v| Value::Int(*v as i64)),
            s.max_opt().map(|v| Value::Int(*v as i64)),
        ),
        (Statistics::Int64(s), LakeType::Long) => pair(
            s.min_opt().map(|v| Value::Int(*v)),
            s.max_opt().map(|v| Value::Int(*v)),
        ),
        (Statistics::Int32(s), LakeType::Decimal(..)) => pair(
            s.min_opt().map(|v| decimal(*v as i128)),
            s.max_opt().map(|v| decimal(*v as i128)),
        ),
        (Statistics::Int64(s), LakeType::Decimal(..)) => pair(
            s.min_opt().map(|v| decimal(*v as i128)),
            s.max_opt().map(|v| decimal(*v as i128)),
        ),
        (Statistics::FixedLenByteArray(s), LakeType::Decimal(..)) => pair(
            s.min_opt()
                .and_then(|v| big_endian_i128(v.data()))
                .map(&decimal),
            s.max_opt()
                .and_then(|v| big_endian_i128(v.data()))
                .map(&decimal),
        ),
        // NaN is left out of float statistics; a NaN minimum is not trusted
        (Statistics::Double(s), LakeType::Double) => pair(
            s.min_opt()
                .filter(|v| !v.is_nan())
                .map(|v| Value::Float(*v)),
            s.max_opt().map(|v| Value::Float(*v)),
        ),
        (Statistics::Float(s), LakeType::Float) => pair(
            s.min_opt()
                .filter(|v| !v.is_nan())
                .map(|v| Value::Float4(*v)),
            s.max_opt().map(|v| Value::Float4(*v)),
        ),
        (Statistics::ByteArray(s), LakeType::String) if s.max_is_exact() && s.min_is_exact() => {
            pair(
                s.min_opt()
                    .and_then(|v| v.as_utf8().ok())
                    .map(|v| Value::Text(v.to_string())),
                s.max_opt()
                    .and_then(|v| v.as_utf8().ok())
                    .map(|v| Value::Text(v.to_string())),
            )
        }
        _ => None,
    }
}

/// A big-endian two's-complement integer of at most 16 bytes (Parquet decimals).
fn big_endian_i128(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    // (one-range lists are the point of these cases)
    #[allow(clippy::single_range_in_vec_init)]
    #[test]
    fn intersect_keeps_rows_in_both() {
        assert_eq!(intersect(&[0..10], &[2..4, 6..12]), vec![2..4, 6..10]);
        assert_eq!(intersect(&[0..3, 5..9], &[2..6]), vec![2..3, 5..6]);
        assert_eq!(intersect(&[0..3], &[3..5]), Vec::<Range<usize>>::new());
        assert_eq!(intersect(&[0..5], &[]), Vec::<Range<usize>>::new());
    }

    #[test]
    fn probes_follow_the_physical_type() {
        let int = |v| Probe::of(&Value::Int(v), &LakeType::Integer);
        assert_eq!(int(7), Some(Probe::Int32(7)));
        // a value an int column cannot hold: the row group is kept, not guessed at
        assert_eq!(int(1 << 40), None);
        assert_eq!(
            Probe::of(&Value::Int(1 << 40), &LakeType::Long),
            Some(Probe::Int64(1 << 40))
        );
        assert_eq!(
            Probe::of(&Value::Null, &LakeType::String),
            Some(Probe::Absent)
        );
        assert_eq!(Probe::of(&Value::Float(1.0), &LakeType::Double), None);
        let mut filter = Sbbf::new_with_ndv_fpp(100, 0.01).unwrap();
        filter.insert("c7");
        filter.insert(&7i64);
        assert!(Probe::of(&Value::Text("c7".into()), &LakeType::String)
            .unwrap()
            .may_be_in(&filter));
        assert!(Probe::Int64(7).may_be_in(&filter));
        assert!(!Probe::Absent.may_be_in(&filter));
    }
}
