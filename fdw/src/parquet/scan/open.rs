//! Opening a file of a scan: its footer, the columns read (partition values as
//! constants), the row groups and pages its metadata lets the scan skip, and whether
//! it is read from Parquet with row filters or decoded whole for the lookup cache.

use super::file::{FileBatches, FileReader};
use super::{ParquetScan, LOOKUP_FILES};
use crate::parquet::batches::{row_predicate, with_dictionaries, ColumnSource, BATCH_ROWS};
use crate::parquet::error::{ReadError, Result};
use crate::parquet::hot_files::{self, Admission, HotFile};
use crate::parquet::prune::parse_partition_value;
use crate::parquet::reader::ObjectFileReader;
use crate::parquet::skipping::{bloom_may_match, page_ranges, row_group_stats};
use crate::value::Value;
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::parquet::arrow::arrow_reader::{
    ArrowPredicate, RowFilter, RowSelection, RowSelector,
};
use deltalake::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use deltalake::parquet::file::metadata::ParquetMetaData;
use futures::StreamExt;
use std::sync::Arc;
impl ParquetScan {
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

    pub(super) async fn open_file(&mut self, index: usize) -> Result<Option<Box<FileReader>>> {
        let counters_at_open = self.counters.clone();
        let (path, size, modified) = {
            let file = &self.files[index];
            if let Some(reason) = &file.refused {
                return Err(ReadError::Unsupported(reason.clone()));
            }
            (file.path.clone(), file.size, file.modified)
        };
        let url = format!("{}{}", self.store.url, path);
        let cache_name = format!("{:016x} {url}", self.store.scope);
        let hidden = if self.hidden.is_empty() {
            None
        } else {
            self.hidden.get(&url).cloned()
        };
        // rows are counted by position for their identities, or to hide some
        let positions = self.row_ids || hidden.is_some();
        let data_error = |reason: String| ReadError::DataFile {
            path: path.to_string(),
            reason,
        };
        let mut reader = ObjectFileReader::open(
            self.store.store.clone(),
            self.store.local_root.as_deref(),
            path.clone(),
            size,
        )
        .map_err(|e| data_error(e.to_string()))?;
        let metadata = crate::parquet::footer::metadata(&mut reader, &cache_name, size, modified)
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
                let raw = self.files[index]
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
            self.hot_file(
                size,
                modified,
                cache_name,
                &metadata,
                &arrow_schema,
                &sorted,
            )
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

    /// The cache entry for the file named `cache_name` (of `size` bytes modified at `modified`,
    /// Arrow schema `file_schema`) when this
    /// scan is a lookup worth caching: an exact qual filters rows, the scan selected few
    /// files and reads whole rows (no identities, no grouping dictionaries, not a
    /// parallel share), the read columns decode into an entry the cache can hold, and
    /// the quals' columns convert to the quals' types without a possible error (a
    /// decoded file converts them in rows the lookup's skipping would not read).
    fn hot_file(
        &self,
        size: u64,
        modified: i64,
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
            size,
            modified,
            roots: roots.to_vec(),
        })
    }
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
