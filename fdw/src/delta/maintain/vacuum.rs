//! Vacuum: deleting files no version within the retention period refers to.

use super::super::error::{DeltaError, Result};
use super::super::log::table::{open_for_write, snapshot, table_metadata};
use super::super::options::TableLocation;
use super::super::write::commit::decode_path;
use crate::runtime::{block_on, check_interrupts};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use std::collections::HashSet;

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
    fn delta_intervals_parse() {
        assert_eq!(parse_interval_millis("interval 7 days"), Some(604_800_000));
        assert_eq!(parse_interval_millis("interval 1 hour"), Some(3_600_000));
        assert_eq!(parse_interval_millis("7 days"), None);
    }
}
