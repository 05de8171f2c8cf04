//! Dropping a partition: its files removed in one commit, without reading them.

use super::super::error::{DeltaError, Result};
use super::super::log::table::{open_for_write, snapshot};
use super::super::options::TableLocation;
use super::super::write::commit::commit_actions;
use crate::parquet::prune::{parse_partition_value, WriterZone};
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;

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
