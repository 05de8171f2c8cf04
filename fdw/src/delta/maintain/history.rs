//! The history of a Delta table and its partitions.

use super::super::error::{DeltaError, Result};
use super::super::log::table::{open_for_write, snapshot, TableSnapshot};
use super::super::options::TableLocation;
use crate::runtime::block_on;
use futures::StreamExt;
use std::collections::BTreeMap;

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
