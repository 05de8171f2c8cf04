//! The snapshot the leader of a parallel scan hands to its workers.
//!
//! A worker is a new process: opening the table itself would replay the Delta log
//! (15-28 ms for the benchmark's one commit of 365 files, threads started included)
//! before it reads a row. Instead the leader writes its snapshot into the parallel
//! query's shared memory: version, schema, and the file list with each file's
//! statistics as the log spelled them. Each worker rebuilds the same snapshot from it,
//! with the same files in the same order, so the file positions all participants claim
//! name the same files. A snapshot larger than [`MAX_HANDOFF_BYTES`] is not copied:
//! its workers open the leader's version from the log.

use crate::delta::error::{DeltaError, Result};
use crate::delta::log::stats::parse_stats;
use crate::delta::log::table::{snapshot, store_for, DataFile, TableSnapshot};
use crate::delta::options::{TableLocation, TimeTravel};
use crate::parquet::schema::LakeSchema;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The largest snapshot copied to workers, in shared memory per parallel scan (about
/// 9,600 files with statistics of 7 columns).
const MAX_HANDOFF_BYTES: usize = 8 << 20;

/// Bytes a file takes in the handoff beyond its path, statistics and partition values.
const FILE_OVERHEAD_BYTES: usize = 160;

/// What a worker receives.
#[derive(Serialize, Deserialize)]
enum Handoff<'a> {
    /// the version to open from the log (the snapshot was too large to copy)
    Version(u64),
    /// the leader's snapshot itself
    #[serde(borrow)]
    Snapshot(SnapshotImage<'a>),
}

/// A [`TableSnapshot`] without its object store (each worker builds its own).
#[derive(Serialize, Deserialize)]
struct SnapshotImage<'a> {
    version: u64,
    schema: Cow<'a, LakeSchema>,
    url: Cow<'a, str>,
    local_root: Option<PathBuf>,
    #[serde(borrow)]
    files: Vec<FileImage<'a>>,
}

/// A [`DataFile`] with its statistics as the log's JSON: a worker parses them exactly
/// as the leader did.
#[derive(Serialize, Deserialize)]
struct FileImage<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
    size: u64,
    partition_values: Cow<'a, HashMap<String, Option<String>>>,
    #[serde(borrow)]
    stats_json: Option<Cow<'a, str>>,
    has_deletion_vector: bool,
    #[serde(borrow)]
    log_path: Cow<'a, str>,
    modification_time: i64,
}

/// The bytes the leader hands its workers for `snapshot`.
pub fn handoff(snapshot: &TableSnapshot) -> Vec<u8> {
    handoff_within(snapshot, MAX_HANDOFF_BYTES)
}

/// [`handoff`] with the snapshot copied only if it takes at most `max_bytes`.
fn handoff_within(snapshot: &TableSnapshot, max_bytes: usize) -> Vec<u8> {
    let version_only =
        || serde_json::to_vec(&Handoff::Version(snapshot.version)).expect("a number serializes");
    let estimate: usize = snapshot
        .files
        .iter()
        .map(|file| {
            let partition_values: usize = file
                .partition_values
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(4, String::len) + 6)
                .sum();
            FILE_OVERHEAD_BYTES
                + file.path.as_ref().len()
                + file.log_path.len()
                + file.stats_json.as_ref().map_or(0, |s| s.len() * 5 / 4)
                + partition_values
        })
        .sum();
    if estimate > max_bytes {
        return version_only();
    }
    let image = SnapshotImage {
        version: snapshot.version,
        schema: Cow::Borrowed(&snapshot.schema),
        url: Cow::Borrowed(&snapshot.url),
        local_root: snapshot.local_root.clone(),
        files: snapshot
            .files
            .iter()
            .map(|file| FileImage {
                path: Cow::Borrowed(file.path.as_ref()),
                size: file.size,
                partition_values: Cow::Borrowed(&file.partition_values),
                stats_json: file.stats_json.as_deref().map(Cow::Borrowed),
                has_deletion_vector: file.has_deletion_vector,
                log_path: Cow::Borrowed(&file.log_path),
                modification_time: file.modification_time,
            })
            .collect(),
    };
    serde_json::to_vec(&Handoff::Snapshot(image))
        .ok()
        .filter(|bytes| bytes.len() <= max_bytes)
        .unwrap_or_else(version_only)
}

/// The snapshot a worker reads, from the leader's `bytes`; `location` is the table as
/// the worker resolved its options (it gives the object store).
pub fn receive(bytes: &[u8], location: &TableLocation) -> Result<Arc<TableSnapshot>> {
    let handoff: Handoff =
        serde_json::from_slice(bytes).map_err(|e| DeltaError::Handoff(e.to_string()))?;
    let image = match handoff {
        Handoff::Version(version) => {
            let pinned = TableLocation {
                time_travel: TimeTravel::Version(version),
                ..location.clone()
            };
            return snapshot(&pinned, None);
        }
        Handoff::Snapshot(image) => image,
    };
    let schema = image.schema.into_owned();
    let files = image
        .files
        .into_iter()
        .map(|file| {
            let stats_json = file.stats_json.map(Cow::into_owned);
            Ok(DataFile {
                path: deltalake::Path::parse(&file.path)
                    .map_err(|e| DeltaError::Handoff(e.to_string()))?,
                size: file.size,
                partition_values: file.partition_values.into_owned(),
                stats: stats_json
                    .as_deref()
                    .and_then(|json| parse_stats(json, &schema)),
                has_deletion_vector: file.has_deletion_vector,
                log_path: file.log_path.into_owned(),
                stats_json,
                modification_time: file.modification_time,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // built under the runtime: a store that resolves credentials may start threads
    let store =
        crate::runtime::block_on(async { store_for(location) }).map_err(DeltaError::Runtime)??;
    Ok(Arc::new(TableSnapshot {
        version: image.version,
        schema,
        files,
        store,
        url: image.url.into_owned(),
        local_root: image.local_root,
        storage_scope: crate::storage::scope(&location.storage_options),
        last_selection: Default::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parquet::schema::LakeType;

    fn location() -> TableLocation {
        TableLocation {
            url: url::Url::from_directory_path(std::env::temp_dir()).unwrap(),
            storage_options: HashMap::new(),
            time_travel: TimeTravel::Latest,
        }
    }

    fn leader() -> TableSnapshot {
        let schema = crate::delta::log::schema::parse_schema(
            r#"{"type":"struct","fields":[
                {"name":"id","type":"long","nullable":false,"metadata":{}},
                {"name":"cat","type":"string","nullable":true,"metadata":{}}]}"#,
            &["cat".to_string()],
        )
        .unwrap();
        let stats =
            r#"{"numRecords":3,"minValues":{"id":1},"maxValues":{"id":9},"nullCount":{"id":0}}"#;
        let file = |path: deltalake::Path, cat: Option<&str>, stats: Option<&str>| DataFile {
            log_path: path.to_string(),
            path,
            size: 100,
            partition_values: HashMap::from([("cat".into(), cat.map(str::to_string))]),
            stats: stats.and_then(|s| parse_stats(s, &schema)),
            has_deletion_vector: false,
            stats_json: stats.map(str::to_string),
            modification_time: 7,
        };
        TableSnapshot {
            version: 4,
            schema: schema.clone(),
            files: vec![
                file(
                    deltalake::Path::from("cat=a b/part 1.parquet"),
                    Some("a b"),
                    Some(stats),
                ),
                file(
                    deltalake::Path::parse("cat=c%25d/part-2.parquet").unwrap(),
                    Some("c%d"),
                    None,
                ),
                file(
                    deltalake::Path::from("cat=__HIVE_DEFAULT_PARTITION__/ü.parquet"),
                    None,
                    Some(stats),
                ),
            ],
            store: store_for(&location()).unwrap(),
            url: "file:///lake/t/".into(),
            local_root: Some("/lake/t".into()),
            storage_scope: crate::storage::scope(&location().storage_options),
            last_selection: Default::default(),
        }
    }

    #[test]
    fn a_worker_rebuilds_the_leaders_snapshot() {
        let leader = leader();
        let worker = receive(&handoff(&leader), &location()).unwrap();
        assert_eq!(worker.version, 4);
        assert_eq!(worker.schema, leader.schema);
        assert_eq!(worker.url, leader.url);
        assert_eq!(worker.local_root, leader.local_root);
        assert_eq!(worker.storage_scope, leader.storage_scope);
        assert_eq!(worker.files.len(), leader.files.len());
        for (w, l) in worker.files.iter().zip(&leader.files) {
            assert_eq!(w.path, l.path);
            assert_eq!(w.log_path, l.log_path);
            assert_eq!(w.partition_values, l.partition_values);
            assert_eq!(w.stats_json, l.stats_json);
            assert_eq!(w.stats, l.stats);
            assert_eq!(w.size, l.size);
        }
        assert_eq!(worker.files[0].stats.as_ref().unwrap().num_records, Some(3));
        assert_eq!(worker.files[1].path.as_ref(), "cat=c%25d/part-2.parquet");
        assert!(matches!(
            worker.schema.columns[1].data_type,
            LakeType::String
        ));
    }

    #[test]
    fn a_snapshot_over_the_limit_hands_over_its_version_only() {
        let leader = leader();
        let whole = handoff_within(&leader, MAX_HANDOFF_BYTES);
        assert!(matches!(
            serde_json::from_slice::<Handoff>(&whole).unwrap(),
            Handoff::Snapshot(_)
        ));
        let small = handoff_within(&leader, 200);
        assert!(matches!(
            serde_json::from_slice::<Handoff>(&small).unwrap(),
            Handoff::Version(4)
        ));
    }

    #[test]
    fn an_unreadable_handoff_is_an_error() {
        assert!(matches!(
            receive(b"{", &location()),
            Err(DeltaError::Handoff(_))
        ));
    }
}
