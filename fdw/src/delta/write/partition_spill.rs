//! Rows of a partitioned table on their way to data files, kept per partition on local
//! disk, so a statement writing to many partitions holds a bounded amount of memory.
//!
//! Each open data file keeps its row group in progress in memory, about 300 KB even for
//! a few rows: writing to hundreds of partitions at once through open files takes
//! hundreds of megabytes. Instead, rows are split by partition and buffered (at most
//! [`BUFFER_BYTES`] in all), then appended to one Arrow IPC file per partition in a
//! private directory in the host's temporary-file directory (see
//! [`crate::runtime::spill_dir`]). When the files are sealed, the partitions are written
//! one at a time ([`PartitionSpill::drain`]): one data file open at once, one file per
//! partition.

use crate::delta::error::{DeltaError, Result};
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::compute::{lexsort_to_indices, partition, take_record_batch, SortColumn};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::ipc::reader::StreamReader;
use deltalake::arrow::ipc::writer::StreamWriter;
use deltalake::arrow::util::display::array_value_to_string;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

/// Rows buffered in memory (all partitions) before they are appended to disk.
pub const BUFFER_BYTES: usize = 32 << 20;

/// Rows waiting per partition, in memory and on disk.
pub struct PartitionSpill {
    schema: SchemaRef,
    /// positions of the partition columns in the batches
    columns: Vec<usize>,
    /// where the partition files go (created at the first append)
    dir: PathBuf,
    created: bool,
    /// partition key -> its buffered rows and whether it has a file, in first-seen order
    partitions: Vec<Waiting>,
    index: HashMap<String, usize>,
    buffered_bytes: usize,
}

/// What [`PartitionSpill::drain`] hands out.
pub enum Drained {
    /// rows of the current partition
    Rows(RecordBatch),
    /// the current partition has no more rows
    PartitionDone,
}

struct Waiting {
    batches: Vec<RecordBatch>,
    on_disk: bool,
}

impl PartitionSpill {
    /// A spill for batches of `schema` partitioned by the columns at `columns`, under a
    /// new directory in `parent`.
    pub fn new(schema: SchemaRef, columns: Vec<usize>, parent: PathBuf) -> PartitionSpill {
        let dir = parent.join(format!(
            "{}partitions_{}",
            crate::runtime::SPILL_PREFIX,
            crate::runtime::unique_name()
        ));
        PartitionSpill {
            schema,
            columns,
            dir,
            created: false,
            partitions: Vec::new(),
            index: HashMap::new(),
            buffered_bytes: 0,
        }
    }

    /// Whether no row waits.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// Splits `rows` by partition and keeps them; appends the buffers to disk once
    /// they pass [`BUFFER_BYTES`].
    pub fn append(&mut self, rows: &RecordBatch) -> Result<()> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        let keys: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|&i| rows.column(i).clone())
            .collect();
        let order = lexsort_to_indices(
            &keys
                .iter()
                .map(|values| SortColumn {
                    values: values.clone(),
                    options: None,
                })
                .collect::<Vec<_>>(),
            None,
        )
        .map_err(spill_error)?;
        let sorted = take_record_batch(rows, &order).map_err(spill_error)?;
        let sorted_keys: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|&i| sorted.column(i).clone())
            .collect();
        let ranges = partition(&sorted_keys).map_err(spill_error)?.ranges();
        for range in ranges {
            let key = partition_key(&sorted_keys, range.start)?;
            // each range is copied out, so the sorted batch is freed with the last one
            let indices = deltalake::arrow::array::UInt32Array::from_iter_values(
                (range.start as u32)..(range.end as u32),
            );
            let slice = take_record_batch(&sorted, &indices).map_err(spill_error)?;
            self.buffered_bytes += slice.get_array_memory_size();
            let at = match self.index.get(&key) {
                Some(&at) => at,
                None => {
                    self.partitions.push(Waiting {
                        batches: Vec::new(),
                        on_disk: false,
                    });
                    self.index.insert(key, self.partitions.len() - 1);
                    self.partitions.len() - 1
                }
            };
            self.partitions[at].batches.push(slice);
        }
        if self.buffered_bytes > BUFFER_BYTES {
            self.write_buffers()?;
        }
        Ok(())
    }

    /// Appends every buffer to its partition's file.
    fn write_buffers(&mut self) -> Result<()> {
        if !self.created {
            std::fs::create_dir_all(&self.dir).map_err(|e| self.io_error(e))?;
            self.created = true;
        }
        for at in 0..self.partitions.len() {
            crate::runtime::check_interrupts();
            let batches = std::mem::take(&mut self.partitions[at].batches);
            if batches.is_empty() {
                continue;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.file_of(at))
                .map_err(|e| self.io_error(e))?;
            // one IPC stream per append; the reader takes them one after another
            let mut writer =
                StreamWriter::try_new(BufWriter::new(file), &self.schema).map_err(spill_error)?;
            for batch in &batches {
                writer.write(batch).map_err(spill_error)?;
            }
            writer.finish().map_err(spill_error)?;
            self.partitions[at].on_disk = true;
        }
        self.buffered_bytes = 0;
        Ok(())
    }

    /// Hands every waiting row to `each`, partition by partition (its rows in the order
    /// they came), with [`Drained::PartitionDone`] after each partition; then forgets
    /// them.
    pub fn drain(&mut self, mut each: impl FnMut(Drained) -> Result<()>) -> Result<()> {
        for at in 0..self.partitions.len() {
            crate::runtime::check_interrupts();
            if self.partitions[at].on_disk {
                let path = self.file_of(at);
                let mut input = BufReader::new(File::open(&path).map_err(|e| self.io_error(e))?);
                // the file is a sequence of IPC streams: read until none is left
                while !input.fill_buf_is_empty().map_err(|e| self.io_error(e))? {
                    let reader = StreamReader::try_new(&mut input, None).map_err(spill_error)?;
                    for batch in reader {
                        each(Drained::Rows(batch.map_err(spill_error)?))?;
                    }
                }
                let _ = std::fs::remove_file(&path);
                self.partitions[at].on_disk = false;
            }
            for batch in std::mem::take(&mut self.partitions[at].batches) {
                each(Drained::Rows(batch))?;
            }
            each(Drained::PartitionDone)?;
        }
        self.partitions.clear();
        self.index.clear();
        self.buffered_bytes = 0;
        Ok(())
    }

    fn file_of(&self, at: usize) -> PathBuf {
        self.dir.join(format!("{at}.arrows"))
    }

    fn io_error(&self, e: std::io::Error) -> DeltaError {
        DeltaError::Runtime(format!("spilling rows to {}: {e}", self.dir.display()))
    }
}

impl Drop for PartitionSpill {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether a buffered reader is at the end of its input.
trait AtEnd {
    fn fill_buf_is_empty(&mut self) -> std::io::Result<bool>;
}

impl<R: std::io::Read> AtEnd for BufReader<R> {
    fn fill_buf_is_empty(&mut self) -> std::io::Result<bool> {
        use std::io::BufRead;
        Ok(self.fill_buf()?.is_empty())
    }
}

/// The text naming the partition of row `row` (NULL told apart from every value).
fn partition_key(columns: &[ArrayRef], row: usize) -> Result<String> {
    let mut key = String::new();
    for column in columns {
        if column.is_null(row) {
            key.push('\u{0}');
        } else {
            key.push_str(&array_value_to_string(column, row).map_err(spill_error)?);
        }
        key.push('\u{1}');
    }
    Ok(key)
}

fn spill_error(e: deltalake::arrow::error::ArrowError) -> DeltaError {
    DeltaError::Runtime(format!("spilling rows by partition: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, AsArray, Int32Array, Int64Array};
    use deltalake::arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};
    use std::sync::Arc;

    #[test]
    fn rows_come_back_by_partition_in_their_order_from_memory_and_disk() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("part", DataType::Int32, true),
        ]));
        let mut spill = PartitionSpill::new(schema.clone(), vec![1], std::env::temp_dir());
        let batch = |ids: Vec<i64>, parts: Vec<Option<i32>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(Int32Array::from(parts)),
                ],
            )
            .unwrap()
        };
        spill
            .append(&batch(
                vec![1, 2, 3, 4],
                vec![Some(2), Some(1), None, Some(2)],
            ))
            .unwrap();
        spill.write_buffers().unwrap();
        spill
            .append(&batch(vec![5, 6], vec![Some(1), Some(2)]))
            .unwrap();
        let dir = spill.dir.clone();
        assert!(dir.is_dir());
        let (mut all, mut partitions_done) = (Vec::new(), 0);
        spill
            .drain(|drained| {
                match drained {
                    Drained::Rows(b) => {
                        let ids = b.column(0).as_primitive::<Int64Type>();
                        let parts = b.column(1).as_primitive::<Int32Type>();
                        for r in 0..b.num_rows() {
                            let part = (!parts.is_null(r)).then(|| parts.value(r));
                            all.push((ids.value(r), part));
                        }
                    }
                    Drained::PartitionDone => partitions_done += 1,
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(partitions_done, 3);
        let mut by_part: HashMap<Option<i32>, Vec<i64>> = HashMap::new();
        // each partition's rows come together
        let mut runs = all.iter().map(|(_, p)| *p).collect::<Vec<_>>();
        runs.dedup();
        assert_eq!(runs.len(), 3);
        for (id, part) in &all {
            by_part.entry(*part).or_default().push(*id);
        }
        assert_eq!(by_part[&Some(1)], vec![2, 5]);
        assert_eq!(by_part[&Some(2)], vec![1, 4, 6]);
        assert_eq!(by_part[&None], vec![3]);
        assert!(spill.is_empty());
        drop(spill);
        assert!(!dir.exists());
    }
}
