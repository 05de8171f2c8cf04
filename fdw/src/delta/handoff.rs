//! The snapshot the leader of a parallel scan hands to its workers.
//!
//! A worker is a new process: opening the table itself would replay the Delta log
//! (about 15 ms for the benchmark's one commit of 365 files, threads started included)
//! before it reads a row. Instead the leader writes its snapshot into the parallel
//! query's shared memory: version, schema, and the file list with each file's
//! statistics as the log spelled them. Each worker rebuilds the same snapshot from it,
//! with the same files in the same order, so the file positions all participants claim
//! name the same files. A file list larger than [`MAX_HANDOFF_BYTES`] is not copied:
//! its workers open the leader's version from the log.

use super::error::{DeltaError, Result};
use super::options::{TableLocation, TimeTravel};
use super::prune::FileStats;
use super::schema::DeltaSchema;
use super::table::{snapshot, store_for, DataFile, TableSnapshot};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The largest snapshot copied to workers (about 60,000 files with statistics).
pub const MAX_HANDOFF_BYTES: usize = 32 << 20;

/// What a worker receives.
#[derive(Serialize, Deserialize)]
enum Handoff {
    /// the version to open from the log (the file list was too large to copy)
    Version(u64),
    /// the leader's snapshot itself
    Snapshot(SnapshotImage),
}

#[derive(Serialize, Deserialize)]
struct SnapshotImage {
    version: u64,
    schema: DeltaSchema,
    url: String,
    local_root: Option<PathBuf>,
    files: Vec<FileImage>,
}

/// A [`DataFile`] with its statistics as the log's JSON: a worker parses them exactly
/// as the leader did.
#[derive(Serialize, Deserialize)]
struct FileImage {
    path: String,
    size: u64,
    partition_values: HashMap<String, Option<String>>,
    stats_json: Option<String>,
    has_deletion_vector: bool,
    log_path: String,
    modification_time: i64,
}

/// The bytes the leader hands its workers for `snapshot`.
pub fn handoff(snapshot: &TableSnapshot) -> Vec<u8> {
    let image = SnapshotImage {
        version: snapshot.version,
        schema: snapshot.schema.clone(),
        url: snapshot.url.clone(),
        local_root: snapshot.local_root.clone(),
        files: snapshot
            .files
            .iter()
            .map(|file| FileImage {
                path: file.path.to_string(),
                size: file.size,
                partition_values: file.partition_values.clone(),
                stats_json: file.stats_json.clone(),
                has_deletion_vector: file.has_deletion_vector,
                log_path: file.log_path.clone(),
                modification_time: file.modification_time,
            })
            .collect(),
    };
    serde_json::to_vec(&Handoff::Snapshot(image))
        .ok()
        .filter(|bytes| bytes.len() <= MAX_HANDOFF_BYTES)
        .unwrap_or_else(|| {
            serde_json::to_vec(&Handoff::Version(snapshot.version)).expect("a version serializes")
        })
}

/// The snapshot a worker reads, from the leader's `bytes`; `location` is the table as
/// the worker resolved its options (it gives the object store).
pub fn receive(bytes: &[u8], location: &TableLocation) -> Result<Arc<TableSnapshot>> {
    let handoff: Handoff = serde_json::from_slice(bytes)
        .map_err(|e| DeltaError::Runtime(format!("parallel scan handoff unreadable: {e}")))?;
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
    let schema = image.schema;
    let files = image
        .files
        .into_iter()
        .map(|file| {
            Ok(DataFile {
                path: deltalake::Path::parse(&file.path)
                    .map_err(|e| DeltaError::Runtime(format!("parallel scan handoff: {e}")))?,
                size: file.size,
                partition_values: file.partition_values,
                stats: file
                    .stats_json
                    .as_deref()
                    .and_then(|json| FileStats::parse(json, &schema)),
                has_deletion_vector: file.has_deletion_vector,
                log_path: file.log_path,
                stats_json: file.stats_json,
                modification_time: file.modification_time,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(TableSnapshot {
        version: image.version,
        schema,
        files,
        store: store_for(location)?,
        url: image.url,
        local_root: image.local_root,
        last_selection: Default::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::schema::DeltaType;

    fn location() -> TableLocation {
        TableLocation {
            url: url::Url::from_directory_path(std::env::temp_dir()).unwrap(),
            storage_options: HashMap::new(),
            time_travel: TimeTravel::Latest,
        }
    }

    #[test]
    fn a_worker_rebuilds_the_leaders_snapshot() {
        let schema = DeltaSchema::parse(
            r#"{"type":"struct","fields":[
                {"name":"id","type":"long","nullable":false,"metadata":{}},
                {"name":"day","type":"date","nullable":true,"metadata":{}}]}"#,
            &["day".to_string()],
        )
        .unwrap();
        let file = |name: &str, stats: Option<&str>| DataFile {
            path: deltalake::Path::from(name),
            size: 100,
            partition_values: HashMap::from([("day".into(), Some("2026-01-02".into()))]),
            stats: stats.and_then(|s| FileStats::parse(s, &schema)),
            has_deletion_vector: false,
            log_path: name.replace(' ', "%20"),
            stats_json: stats.map(str::to_string),
            modification_time: 7,
        };
        let stats =
            r#"{"numRecords":3,"minValues":{"id":1},"maxValues":{"id":9},"nullCount":{"id":0}}"#;
        let leader = TableSnapshot {
            version: 4,
            schema: schema.clone(),
            files: vec![
                file("day=2026-01-02/part 1.parquet", Some(stats)),
                file("day=2026-01-02/part-2.parquet", None),
            ],
            store: store_for(&location()).unwrap(),
            url: "file:///lake/t/".into(),
            local_root: Some("/lake/t".into()),
            last_selection: Default::default(),
        };
        let worker = receive(&handoff(&leader), &location()).unwrap();
        assert_eq!(worker.version, 4);
        assert_eq!(worker.schema, leader.schema);
        assert_eq!(worker.url, leader.url);
        assert_eq!(worker.local_root, leader.local_root);
        assert_eq!(worker.files.len(), 2);
        for (w, l) in worker.files.iter().zip(&leader.files) {
            assert_eq!(w.path, l.path);
            assert_eq!(w.log_path, l.log_path);
            assert_eq!(w.partition_values, l.partition_values);
            assert_eq!(w.stats_json, l.stats_json);
            assert_eq!(w.stats, l.stats);
        }
        assert_eq!(worker.files[0].stats.as_ref().unwrap().num_records, Some(3));
        assert!(matches!(
            worker.schema.columns[1].data_type,
            DeltaType::Date
        ));
    }

    #[test]
    fn an_unreadable_handoff_is_an_error() {
        assert!(receive(b"{", &location()).is_err());
    }
}
