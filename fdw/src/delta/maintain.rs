//! Storage management of a Delta table: history, partitions, compaction, dropping a
//! partition, restoring a version, checkpoints and vacuum. Every change is one Delta
//! commit checked against the table's writer rules like ODP's writes; long loops check
//! for interrupts.

use super::commit::{commit_actions, decode_path};
use super::error::{DeltaError, Result};
use super::options::{TableLocation, TimeTravel};
use super::prune::{parse_partition_value, WriterZone};
use super::scan::DeltaScan;
use super::table::{open_for_write, snapshot, table_metadata, TableSnapshot};
use super::write::TableWriter;
use super::write_options::WriteOptions;
use crate::runtime::{block_on, check_interrupts};
use deltalake::arrow::array::{RecordBatch, UInt32Array};
use deltalake::arrow::compute::kernels::rank::rank;
use deltalake::arrow::compute::{concat_batches, take_record_batch};
use deltalake::kernel::{Action, Add};
use deltalake::protocol::DeltaOperation;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// One commit of the table's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// the version the commit created
    pub version: u64,
    /// commit time, milliseconds since the epoch
    pub timestamp: Option<i64>,
    /// the operation (`WRITE`, `DELETE`, `OPTIMIZE`, ...)
    pub operation: Option<String>,
    /// the operation's parameters as JSON
    pub parameters: serde_json::Value,
}

/// The commits of a table, newest first.
pub fn history(location: &TableLocation, limit: Option<usize>) -> Result<Vec<HistoryEntry>> {
    let table = open_for_write(location)?;
    let here = location.url.as_str();
    let latest = table.version().unwrap_or_default();
    let infos = block_on(async {
        table
            .history(limit)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
    })
    .map_err(DeltaError::Runtime)?
    .map_err(|e| DeltaError::from_delta(here, e))?;
    Ok(infos
        .into_iter()
        .enumerate()
        .map(|(i, info)| HistoryEntry {
            version: latest.saturating_sub(i as u64),
            timestamp: info.timestamp,
            operation: info.operation,
            parameters: serde_json::to_value(info.operation_parameters.unwrap_or_default())
                .unwrap_or_default(),
        })
        .collect())
}

/// The files, rows and bytes of one partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionSummary {
    /// partition column → value (`None` for NULL), empty for an unpartitioned table
    pub values: BTreeMap<String, Option<String>>,
    /// data files
    pub files: u64,
    /// rows according to the statistics (files without them are not counted)
    pub rows: u64,
    /// bytes of data files
    pub bytes: u64,
}

/// The partitions of the current version, ordered by their values.
pub fn partitions(location: &TableLocation) -> Result<Vec<PartitionSummary>> {
    let snapshot = snapshot(location, None)?;
    let mut by_values: BTreeMap<Vec<(String, Option<String>)>, PartitionSummary> = BTreeMap::new();
    for file in &snapshot.files {
        let values: BTreeMap<String, Option<String>> = file
            .partition_values
            .iter()
            .map(|(k, v)| (logical_name(&snapshot, k), v.clone()))
            .collect();
        let entry = by_values
            .entry(values.clone().into_iter().collect())
            .or_insert_with(|| PartitionSummary {
                values,
                ..Default::default()
            });
        entry.files += 1;
        entry.rows += file.stats.as_ref().and_then(|s| s.num_records).unwrap_or(0);
        entry.bytes += file.size;
    }
    Ok(by_values.into_values().collect())
}

fn logical_name(snapshot: &TableSnapshot, physical: &str) -> String {
    snapshot
        .schema
        .columns
        .iter()
        .find(|c| c.physical_name == physical)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| physical.to_string())
}

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

/// Removes every file of the partitions whose single partition column equals `value`
/// (`None`: the NULL partition), without reading them; returns the files removed and
/// the version, `None` when no file matched.
pub fn drop_partition(
    location: &TableLocation,
    zone: WriterZone,
    value: Option<&str>,
) -> Result<(u64, Option<u64>)> {
    let table = open_for_write(location)?;
    let snapshot = snapshot(location, None)?;
    let partition_columns: Vec<_> = snapshot
        .schema
        .columns
        .iter()
        .filter(|c| c.is_partition)
        .collect();
    let [column] = partition_columns.as_slice() else {
        return Err(DeltaError::UnsupportedFeature(
            "dropping a partition of a table without exactly one partition column".into(),
        ));
    };
    let wanted = match value {
        None => None,
        Some(text) => Some(
            parse_partition_value(text, &column.data_type, zone).ok_or_else(|| {
                DeltaError::InvalidValue {
                    column: column.name.clone(),
                    reason: format!("\"{text}\" is not a {}", column.data_type.name()),
                }
            })?,
        ),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let mut removes = Vec::new();
    for file in &snapshot.files {
        let raw = file
            .partition_values
            .get(&column.physical_name)
            .cloned()
            .flatten()
            .filter(|s| !s.is_empty());
        let actual = raw
            .as_deref()
            .map(|text| parse_partition_value(text, &column.data_type, zone));
        let matches = match (&wanted, actual) {
            (None, None) => true,
            (Some(w), Some(Some(a))) => a.compare(w) == Some(std::cmp::Ordering::Equal),
            _ => false,
        };
        if matches {
            removes.push(Action::Remove(file.remove(true, now)));
        }
    }
    let removed = removes.len() as u64;
    if removes.is_empty() {
        return Ok((0, None));
    }
    let predicate = format!(
        "{} = {}",
        column.name,
        value
            .map(|v| format!("'{v}'"))
            .unwrap_or_else(|| "NULL".into())
    );
    let version = commit_actions(
        &table,
        removes,
        DeltaOperation::Delete {
            predicate: Some(predicate),
        },
    )?;
    Ok((removed, Some(version)))
}

/// Makes the table's newest version hold the files of `version` again (files of later
/// versions are removed, files it had are added back); returns the new version.
pub fn restore(location: &TableLocation, version: u64) -> Result<u64> {
    let table = open_for_write(location)?;
    let current = snapshot(location, None)?;
    let old_location = TableLocation {
        time_travel: TimeTravel::Version(version),
        ..location.clone()
    };
    let old = snapshot(&old_location, None)?;
    if old.schema != current.schema {
        return Err(DeltaError::UnsupportedFeature(format!(
            "restoring version {version}, whose schema differs from the current one"
        )));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let old_paths: HashSet<&str> = old.files.iter().map(|f| f.log_path.as_str()).collect();
    let current_paths: HashSet<&str> = current.files.iter().map(|f| f.log_path.as_str()).collect();
    let removes = current
        .files
        .iter()
        .filter(|f| !old_paths.contains(f.log_path.as_str()))
        .map(|f| Action::Remove(f.remove(true, now)));
    let adds = old
        .files
        .iter()
        .filter(|f| !current_paths.contains(f.log_path.as_str()))
        .map(|f| {
            Action::Add(Add {
                path: f.log_path.clone(),
                partition_values: f.partition_values.clone().into_iter().collect(),
                size: f.size as i64,
                modification_time: f.modification_time,
                data_change: true,
                stats: f.stats_json.clone(),
                ..Default::default()
            })
        });
    let actions: Vec<Action> = removes.chain(adds).collect();
    // A file vacuum deleted cannot come back: committing it would make a table no
    // one can read.
    for file in old
        .files
        .iter()
        .filter(|f| !current_paths.contains(f.log_path.as_str()))
    {
        check_interrupts();
        match block_on(old.store.head(&file.path)).map_err(DeltaError::Runtime)? {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => {
                return Err(DeltaError::TimeTravel(format!(
                    "version {version} needs data file \"{}\", which vacuum has deleted",
                    file.path
                )))
            }
            Err(e) => return Err(DeltaError::Storage(e.to_string())),
        }
    }
    commit_actions(
        &table,
        actions,
        DeltaOperation::Restore {
            version: Some(version),
            datetime: None,
        },
    )
}

/// Writes a checkpoint of the newest version, so readers replay fewer commits.
pub fn checkpoint(location: &TableLocation) -> Result<u64> {
    let table = open_for_write(location)?;
    let here = location.url.as_str();
    block_on(deltalake::checkpoints::create_checkpoint(&table, None))
        .map_err(DeltaError::Runtime)?
        .map_err(|e| DeltaError::from_delta(here, e))?;
    Ok(table.version().unwrap_or_default())
}

/// Deletes data files no version within `retain_millis` needs: files the newest version
/// does not reference, last modified and (when removed) removed longer ago than the
/// retention. `dry_run` only lists them. Returns their paths.
pub fn vacuum(location: &TableLocation, retain_millis: i64, dry_run: bool) -> Result<Vec<String>> {
    let table = open_for_write(location)?;
    let here = location.url.as_str();
    let current = snapshot(location, None)?;
    let cutoff = chrono::Utc::now().timestamp_millis() - retain_millis;
    let active: HashSet<String> = current.files.iter().map(|f| f.path.to_string()).collect();
    let state = table
        .snapshot()
        .map_err(|e| DeltaError::from_delta(here, e))?;
    let recently_removed: HashSet<String> = block_on(async {
        let mut out = HashSet::new();
        let mut tombstones = state.all_tombstones(table.log_store().as_ref());
        while let Some(tombstone) = tombstones.next().await {
            let tombstone = tombstone.map_err(|e| DeltaError::from_delta(here, e))?;
            if tombstone.deletion_timestamp().unwrap_or(i64::MAX) > cutoff {
                out.insert(decode_path(&tombstone.path()));
            }
        }
        Ok::<_, DeltaError>(out)
    })
    .map_err(DeltaError::Runtime)??;
    let store = current.store.clone();
    let listed = block_on(async {
        let mut out = Vec::new();
        let mut listing = store.list(None);
        while let Some(meta) = listing.next().await {
            check_interrupts();
            let meta = meta.map_err(|e| DeltaError::Storage(e.to_string()))?;
            out.push(meta);
        }
        Ok::<_, DeltaError>(out)
    })
    .map_err(DeltaError::Runtime)??;
    let mut doomed = Vec::new();
    for meta in listed {
        let path = meta.location.to_string();
        let hidden = path
            .split('/')
            .any(|part| part.starts_with('_') || part.starts_with('.'));
        let old = meta.last_modified.timestamp_millis() < cutoff;
        if !hidden
            && old
            && path.ends_with(".parquet")
            && !active.contains(&path)
            && !recently_removed.contains(&path)
        {
            doomed.push(path);
        }
    }
    doomed.sort();
    if !dry_run {
        let store = current.store.clone();
        block_on(async {
            for path in &doomed {
                check_interrupts();
                store
                    .delete(&deltalake::Path::from(path.as_str()))
                    .await
                    .map_err(|e| DeltaError::Storage(e.to_string()))?;
            }
            Ok::<_, DeltaError>(())
        })
        .map_err(DeltaError::Runtime)??;
    }
    Ok(doomed)
}

/// The retention a table declares (`delta.deletedFileRetentionDuration`), in
/// milliseconds; 7 days when it declares none.
pub fn declared_retention_millis(location: &TableLocation) -> Result<i64> {
    let table = open_for_write(location)?;
    let metadata = table_metadata(&table, location.url.as_str())?;
    let declared = metadata
        .get("configuration")
        .and_then(|c| c.get("delta.deletedFileRetentionDuration"))
        .and_then(|v| v.as_str())
        .and_then(parse_interval_millis);
    Ok(declared.unwrap_or(7 * 24 * 3600 * 1000))
}

/// Parses Delta's `interval N unit` durations.
fn parse_interval_millis(text: &str) -> Option<i64> {
    let mut words = text.split_whitespace();
    if words.next()? != "interval" {
        return None;
    }
    let n: i64 = words.next()?.parse().ok()?;
    let unit = words.next()?.trim_end_matches('s');
    let millis = match unit {
        "millisecond" => 1,
        "second" => 1000,
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        "week" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(millis)
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

    #[test]
    fn delta_intervals_parse() {
        assert_eq!(parse_interval_millis("interval 7 days"), Some(604_800_000));
        assert_eq!(parse_interval_millis("interval 1 hour"), Some(3_600_000));
        assert_eq!(parse_interval_millis("7 days"), None);
    }
}
