//! Restoring an earlier version: one commit that makes the table hold its files again.

use super::super::error::{DeltaError, Result};
use super::super::log::table::{open_for_write, snapshot};
use super::super::options::{TableLocation, TimeTravel};
use super::super::write::commit::commit_actions;
use crate::runtime::{block_on, check_interrupts};
use deltalake::kernel::{Action, Add};
use deltalake::protocol::DeltaOperation;
use object_store::ObjectStoreExt;
use std::collections::HashSet;

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
