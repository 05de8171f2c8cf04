//! Compaction: small files of each partition rewritten into fewer, optionally
//! Z-ordered; one commit that fails if another writer changed the table meanwhile.

use super::super::error::{DeltaError, Result};
use super::super::log::table::{open_for_write, snapshot, TableSnapshot};
use super::super::options::TableLocation;
use super::super::read::scan::DeltaScan;
use super::super::write::commit::commit_actions;
use super::super::write::write_options::WriteOptions;
use super::super::write::TableWriter;
use crate::parquet::prune::WriterZone;
use crate::runtime::check_interrupts;
use deltalake::arrow::array::{RecordBatch, UInt32Array};
use deltalake::arrow::compute::kernels::rank::rank;
use deltalake::arrow::compute::{concat_batches, take_record_batch};
use deltalake::kernel::{Action, Add};
use deltalake::protocol::DeltaOperation;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What [`optimize`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptimizeMetrics {
    /// the version committed, `None` when nothing was worth compacting
    pub version: Option<u64>,
    /// small files read and removed
    pub files_removed: u64,
    /// files written
    pub files_added: u64,
    /// partitions compacted
    pub partitions: u64,
}

/// Compacts the files smaller than `target_bytes` of each partition holding at least
/// two of them into files of about `target_bytes` (rows unchanged, `dataChange` false,
/// so readers of older versions and streams are unaffected). With `zorder_by` columns,
/// every file of each partition is rewritten with its rows in Z-order of those columns,
/// so each file covers a narrow range of all of them and statistics skip more files
/// (a partition is sorted in memory). `progress` is told about each partition.
pub fn optimize(
    location: &TableLocation,
    zone: WriterZone,
    options: &WriteOptions,
    target_bytes: u64,
    zorder_by: &[String],
    progress: &mut dyn FnMut(&str),
) -> Result<OptimizeMetrics> {
    // Z-ordered rows keep their order; plain compaction sorts by `sort_by`.
    let options = WriteOptions {
        target_file_bytes: target_bytes,
        sort_by: if zorder_by.is_empty() {
            options.sort_by.clone()
        } else {
            Vec::new()
        },
        ..options.clone()
    };
    let mut writer = TableWriter::open(location, zone, &options)?;
    let snapshot = snapshot(location, None)?;
    let mut groups: BTreeMap<Vec<(String, Option<String>)>, Vec<usize>> = BTreeMap::new();
    for name in zorder_by {
        let column = snapshot
            .schema
            .column(name)
            .ok_or_else(|| DeltaError::NoSuchColumn(name.clone()))?;
        if column.is_partition {
            return Err(DeltaError::InvalidValue {
                column: name.clone(),
                reason: "a partition column cannot be a Z-order column".into(),
            });
        }
    }
    let zorder = !zorder_by.is_empty();
    for (i, file) in snapshot.files.iter().enumerate() {
        if (zorder || file.size < target_bytes) && !file.has_deletion_vector {
            let mut key: Vec<_> = file.partition_values.clone().into_iter().collect();
            key.sort();
            groups.entry(key).or_default().push(i);
        }
    }
    let mut metrics = OptimizeMetrics::default();
    let mut removes = Vec::new();
    let now = chrono::Utc::now().timestamp_millis();
    for (key, files) in groups
        .into_iter()
        .filter(|(_, files)| files.len() > 1 || zorder)
    {
        check_interrupts();
        progress(&format!(
            "{} {} files of partition {}",
            if zorder { "Z-ordering" } else { "compacting" },
            files.len(),
            describe(&key)
        ));
        let mut scan = DeltaScan::of_files(snapshot.clone(), files.clone(), zone);
        if zorder {
            let mut batches = Vec::new();
            while let Some(batch) = scan.next_batch()? {
                batches.push(writer.table_rows(batch)?);
            }
            writer.write_rows(&z_ordered(&batches, zorder_by)?)?;
        } else {
            while let Some(batch) = scan.next_batch()? {
                writer.write_scanned(batch)?;
            }
        }
        removes.extend(files.iter().map(|&i| snapshot.files[i].remove(false, now)));
        metrics.files_removed += files.len() as u64;
        metrics.partitions += 1;
    }
    if removes.is_empty() {
        return Ok(metrics);
    }
    let adds: Vec<Add> = writer
        .take_sealed()?
        .into_iter()
        .map(|add| Add {
            data_change: false,
            ..add
        })
        .collect();
    metrics.files_added = adds.len() as u64;
    let table = open_for_write(location)?;
    ensure_unchanged(&table, &snapshot, location)?;
    let actions = adds
        .into_iter()
        .map(Action::Add)
        .chain(removes.into_iter().map(Action::Remove))
        .collect();
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: target_bytes as i64,
    };
    metrics.version = Some(commit_actions(&table, actions, operation)?);
    Ok(metrics)
}

/// The rows of `batches` (one partition) sorted by the Z-order value of `columns`: the
/// bits of each column's rank interleaved, so rows close in all columns end up close.
fn z_ordered(batches: &[RecordBatch], columns: &[String]) -> Result<RecordBatch> {
    let Some(first) = batches.first() else {
        return Err(DeltaError::Runtime("no rows to Z-order".into()));
    };
    let arrow = |e: deltalake::arrow::error::ArrowError| DeltaError::Runtime(e.to_string());
    let all = concat_batches(&first.schema(), batches).map_err(arrow)?;
    let ranks = columns
        .iter()
        .map(|name| {
            let array = all
                .column_by_name(name)
                .ok_or_else(|| DeltaError::NoSuchColumn(name.clone()))?;
            rank(array.as_ref(), None).map_err(arrow)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut keys: Vec<(u128, u32)> = (0..all.num_rows() as u32)
        .map(|row| (interleave(ranks.iter().map(|r| r[row as usize])), row))
        .collect();
    keys.sort_unstable();
    let order = UInt32Array::from(keys.into_iter().map(|(_, row)| row).collect::<Vec<_>>());
    take_record_batch(&all, &order).map_err(arrow)
}

/// Interleaves the bits of up to four 32-bit values, most significant bits first.
fn interleave(values: impl Iterator<Item = u32>) -> u128 {
    let values: Vec<u32> = values.take(4).collect();
    let mut key = 0u128;
    for bit in (0..32).rev() {
        for value in &values {
            key = (key << 1) | ((value >> bit) & 1) as u128;
        }
    }
    key
}

fn describe(values: &[(String, Option<String>)]) -> String {
    if values.is_empty() {
        return "(unpartitioned)".into();
    }
    values
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NULL")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fails when the table moved past the version a maintenance operation read (its
/// removes would name files another writer already changed).
fn ensure_unchanged(
    table: &deltalake::DeltaTable,
    read: &Arc<TableSnapshot>,
    location: &TableLocation,
) -> Result<()> {
    let now = table.version().unwrap_or_default();
    if now != read.version {
        return Err(DeltaError::WriteConflict(format!(
            "{} changed from version {} to {now} during the operation",
            location.url, read.version
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_order_interleaves_bits() {
        assert_eq!(interleave([0b11u32, 0b00].into_iter()), 0b1010);
        assert_eq!(interleave([0b01u32, 0b10].into_iter()), 0b0110);
        assert!(interleave([1u32, 1].into_iter()) < interleave([2u32, 0].into_iter()));
    }
}
