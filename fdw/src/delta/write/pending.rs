//! A transaction's own uncommitted changes to a Delta table, as its scans see them
//! (read-your-writes): the files it wrote, the files it deleted whole, and the rows it
//! deleted (or replaced by new versions) by position in their files.

use crate::delta::error::{DeltaError, Result};
use crate::delta::log::table::{DataFile, TableSnapshot};
use deltalake::kernel::Add;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// What a scan in the writing transaction must merge into the table it reads.
#[derive(Debug, Clone, Default)]
pub struct PendingView {
    /// the files the transaction wrote, not in the log yet
    pub added: Vec<Add>,
    /// URLs of the files it deleted whole
    pub dropped: HashSet<String>,
    /// positions of the rows it deleted, by file URL
    pub deleted: HashMap<String, Arc<HashSet<u64>>>,
}

impl PendingView {
    /// Whether the view changes nothing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.dropped.is_empty() && self.deleted.is_empty()
    }

    /// `base` as the transaction sees it: without the files it deleted whole, with the
    /// files it wrote.
    pub fn apply(&self, base: &TableSnapshot) -> Result<TableSnapshot> {
        let mut files: Vec<DataFile> = (0..base.files.len())
            .filter(|&i| !self.dropped.contains(&base.file_url(i)))
            .map(|i| base.files[i].clone())
            .collect();
        for add in &self.added {
            files.push(DataFile::from_add(add, &base.schema)?);
        }
        Ok(TableSnapshot {
            version: base.version,
            schema: base.schema.clone(),
            files,
            store: base.store.clone(),
            url: base.url.clone(),
            local_root: base.local_root.clone(),
            storage_scope: base.storage_scope,
            last_selection: Mutex::default(),
        })
    }
}

impl DataFile {
    /// The data file an add action (of this transaction) names.
    pub fn from_add(add: &Add, schema: &crate::parquet::schema::LakeSchema) -> Result<DataFile> {
        let path = deltalake::Path::from_url_path(&add.path).map_err(|e| DeltaError::DataFile {
            path: add.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(DataFile {
            path,
            size: add.size.max(0) as u64,
            partition_values: add.partition_values.clone(),
            stats: add
                .stats
                .as_deref()
                .and_then(|json| crate::delta::log::stats::parse_stats(json, schema)),
            has_deletion_vector: add.deletion_vector.is_some(),
            log_path: add.path.clone(),
            stats_json: add.stats.clone(),
            modification_time: add.modification_time,
        })
    }
}
