//! Committing to a Delta table in two steps, so nothing that can fail is left for after
//! the table changed. [`prepare_commit`] does what can fail while nothing is visible:
//! the writer rules ODP enforces itself (append-only, change data feed, features), and
//! the check that no version committed since the transaction read the table removed a
//! file this commit removes or changed the schema or protocol. [`PendingCommit::land`]
//! then writes the one log entry (a put-if-absent of the next version); when another
//! writer took that version first, the versions in between are checked the same way
//! and the entry goes on top, or the commit fails with [`DeltaError::WriteConflict`].
//! Checkpoints are not part of a commit: [`PendingCommit::checkpoint_if_due`] writes
//! them afterwards, and its failure leaves the commit in place.
//!
//! delta-rs's own conflict checker is not used: it lets a rewrite commit over a
//! compaction that removed the same files (`dataChange: false` removes are not
//! conflicts to it), which duplicates or resurrects rows.

use crate::delta::error::{DeltaError, Result};
use crate::delta::log::table::ListingRetry;
use crate::runtime::block_on;
use deltalake::kernel::transaction::{
    CommitBuilder, CommitProperties, TableReference, TransactionError,
};
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};
use std::collections::HashSet;

/// Times a commit goes on top of versions that other writers committed first.
const COMMIT_RETRIES: usize = 100;

/// Versions between checkpoints when a table does not set `delta.checkpointInterval`.
const DEFAULT_CHECKPOINT_INTERVAL: u64 = 100;

/// A commit whose rules and conflicts were checked; [`Self::land`] makes it visible.
pub struct PendingCommit {
    /// the table at the version the commit goes on top of
    table: DeltaTable,
    actions: Vec<Action>,
    operation: DeltaOperation,
    /// data files this commit removes, as decoded paths relative to the table root
    removed: HashSet<String>,
    /// the version the commit became, once landed
    landed: Option<u64>,
}

/// Checks `actions` against `table`'s writer rules and against every version committed
/// since `table`'s version (and, for schema and protocol changes, since version
/// `written_since`, when the transaction's first rows were written); the commit then
/// goes on top of the newest version.
pub(in crate::delta) fn prepare_commit(
    table: DeltaTable,
    actions: Vec<Action>,
    operation: DeltaOperation,
    written_since: u64,
) -> Result<PendingCommit> {
    let removed = actions
        .iter()
        .filter_map(|action| match action {
            Action::Remove(remove) => Some(decode_path(&remove.path)),
            _ => None,
        })
        .collect();
    let mut pending = PendingCommit {
        table,
        actions,
        operation,
        removed,
        landed: None,
    };
    pending.check_rules()?;
    pending.check_versions(written_since, true)?;
    pending.catch_up()?;
    Ok(pending)
}

/// Prepares and lands a commit of a maintenance operation, holding interrupts while the
/// log entry is written, then writes a checkpoint when one is due (best effort).
pub(in crate::delta) fn commit_actions(
    table: &DeltaTable,
    actions: Vec<Action>,
    operation: DeltaOperation,
) -> Result<u64> {
    let base = table.version().unwrap_or_default();
    let mut pending = prepare_commit(table.clone(), actions, operation, base)?;
    let version = {
        let _held = crate::runtime::hold_interrupts();
        pending.land()?
    };
    pending.checkpoint_if_due(version);
    Ok(version)
}

impl PendingCommit {
    fn here(&self) -> String {
        self.table.table_url().to_string()
    }

    /// The writer rules of the base version: supported features, and no removal of
    /// rows from append-only or change-data-feed tables.
    fn check_rules(&self) -> Result<()> {
        let here = self.here();
        let state = self
            .table
            .snapshot()
            .map_err(|e| DeltaError::from_delta(&here, e))?;
        check_writable(state)?;
        let removes_rows = self
            .actions
            .iter()
            .any(|action| matches!(action, Action::Remove(remove) if remove.data_change));
        let restoring = matches!(self.operation, DeltaOperation::Restore { .. });
        if removes_rows && !restoring {
            check_may_remove_rows(state, &here)?;
        }
        Ok(())
    }

    /// Moves the base to the newest version after checking every version since the
    /// base: none may remove a file this commit removes or change the metadata or
    /// protocol.
    fn catch_up(&mut self) -> Result<()> {
        let here = self.here();
        let base = self.table.version().unwrap_or_default();
        let latest = latest_version(&self.table, base, &here)?;
        if latest <= base {
            return Ok(());
        }
        self.check_versions(base, false)?;
        let mut retry = ListingRetry::default();
        loop {
            let outcome = block_on(self.table.update_incremental(Some(latest)))
                .map_err(DeltaError::Runtime)?;
            if !retry.again(&outcome) {
                break outcome.map_err(|e| DeltaError::from_delta(&here, e))?;
            }
        }
        self.check_rules()
    }

    /// Checks the versions after `since`, up to the newest (`metadata_only`: up to the
    /// base, for schema and protocol changes only).
    fn check_versions(&self, since: u64, metadata_only: bool) -> Result<()> {
        let here = self.here();
        let base = self.table.version().unwrap_or_default();
        let log_store = self.table.log_store();
        let last = match metadata_only {
            true => base,
            false => latest_version(&self.table, base, &here)?,
        };
        for version in since + 1..=last {
            crate::runtime::check_interrupts();
            let entry = block_on(log_store.read_commit_entry(version))
                .map_err(DeltaError::Runtime)?
                .map_err(|e| DeltaError::from_delta(&here, e))?
                .ok_or_else(|| {
                    DeltaError::WriteConflict(format!(
                        "version {version} of {here} disappeared while committing"
                    ))
                })?;
            self.check_against(version, &entry, metadata_only)?;
        }
        Ok(())
    }

    /// Fails when the commit of `version` (its log entry) conflicts with this one.
    fn check_against(&self, version: u64, entry: &[u8], metadata_only: bool) -> Result<()> {
        for line in entry.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let action: serde_json::Value = serde_json::from_slice(line)
                .map_err(|e| DeltaError::CorruptLog(format!("version {version}: {e}")))?;
            if let Some(path) = action
                .get("remove")
                .filter(|_| !metadata_only)
                .and_then(|r| r.get("path"))
                .and_then(|p| p.as_str())
            {
                if self.removed.contains(&decode_path(path)) {
                    return Err(DeltaError::WriteConflict(format!(
                        "version {version} (another writer) removed data file \"{path}\", which this transaction rewrites or removes too"
                    )));
                }
            }
            if action.get("metaData").is_some() || action.get("protocol").is_some() {
                return Err(DeltaError::WriteConflict(format!(
                    "version {version} (another writer) changed the table's schema, properties or protocol"
                )));
            }
        }
        Ok(())
    }

    /// Writes the log entry: the one step that makes the commit visible. Returns the
    /// version it became.
    pub fn land(&mut self) -> Result<u64> {
        if let Some(version) = self.landed {
            return Ok(version);
        }
        for _ in 0..COMMIT_RETRIES {
            crate::fault::point("delta.before_log_entry")
                .map_err(|e| DeltaError::Storage(e.to_string()))?;
            match self.try_land()? {
                Some(version) => {
                    self.landed = Some(version);
                    return Ok(version);
                }
                None => self.catch_up()?,
            }
        }
        Err(DeltaError::WriteConflict(format!(
            "other writers committed first {COMMIT_RETRIES} times in a row"
        )))
    }

    /// One attempt at the next version; `None` when another writer took it first.
    fn try_land(&self) -> Result<Option<u64>> {
        let here = self.here();
        let state = self
            .table
            .snapshot()
            .map_err(|e| DeltaError::from_delta(&here, e))?;
        let checked = CheckedByOdp::new(state)?;
        // No retries inside delta-rs (its conflict checker is not ours) and no
        // post-commit work: a checkpoint is not part of the commit.
        let properties = CommitProperties::default()
            .with_max_retries(0)
            .with_create_checkpoint(false)
            .with_cleanup_expired_logs(Some(false));
        let commit = CommitBuilder::from(properties)
            .with_actions(self.actions.clone())
            .build(
                Some(&checked),
                self.table.log_store(),
                self.operation.clone(),
            );
        let landed = block_on(async move { commit.into_prepared_commit_future().await?.await })
            .map_err(DeltaError::Runtime)?;
        match landed {
            Ok(post_commit) => Ok(Some(post_commit.version)),
            Err(DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(_),
            }) => Ok(None),
            // delta-rs looks for the latest version before it writes the entry, by a
            // listing that can race other writers: nothing was written, so it is a
            // lost race like any other (catch up, try again)
            Err(e) if crate::delta::log::table::listing_raced(&e) => Ok(None),
            Err(e) => Err(write_error(&here, e)),
        }
    }

    /// The version the commit became, once [`Self::land`] succeeded.
    pub fn landed(&self) -> Option<u64> {
        self.landed
    }

    /// Writes a checkpoint of `version` when the table's checkpoint interval says one
    /// is due. A failure is reported as a warning: the commit stands, readers replay a
    /// few more log entries until the next checkpoint.
    pub fn checkpoint_if_due(&self, version: u64) {
        let interval = self
            .table
            .snapshot()
            .ok()
            .and_then(|state| {
                TableReference::metadata(state)
                    .configuration()
                    .get("delta.checkpointInterval")
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .filter(|i| *i > 0)
            .unwrap_or(DEFAULT_CHECKPOINT_INTERVAL);
        if version == 0 || !version.is_multiple_of(interval) {
            return;
        }
        let written = crate::fault::point("delta.checkpoint")
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let mut table = self.table.clone();
                block_on(async move {
                    table.load_version(version).await?;
                    deltalake::checkpoints::create_checkpoint(&table, None).await
                })?
                .map_err(|e| e.to_string())
            });
        if let Err(reason) = written {
            crate::runtime::warning(&format!(
                "committed version {version} of {}, but its checkpoint failed: {reason}",
                self.here()
            ));
        }
    }
}

/// The newest version of `table`'s log at or after `base`, the log listed again when
/// the listing raced a writer (see [`crate::delta::log::table::listing_raced`]).
fn latest_version(table: &DeltaTable, base: u64, here: &str) -> Result<u64> {
    let mut retry = ListingRetry::default();
    loop {
        let outcome =
            block_on(table.log_store().get_latest_version(base)).map_err(DeltaError::Runtime)?;
        if !retry.again(&outcome) {
            return outcome.map_err(|e| DeltaError::from_delta(here, e));
        }
    }
}

/// Refuses removing rows (`dataChange` removes) from a table that declares
/// `delta.appendOnly`, or a change data feed (whose change files ODP does not write).
pub(in crate::delta) fn check_may_remove_rows(
    state: &deltalake::table::state::DeltaTableState,
    here: &str,
) -> Result<()> {
    let configuration = TableReference::metadata(state).configuration();
    let enabled = |key: &str| {
        configuration
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    if enabled("delta.appendOnly") {
        return Err(DeltaError::AppendOnly(here.to_string()));
    }
    if enabled("delta.enableChangeDataFeed") {
        return Err(DeltaError::UnsupportedFeature(
            "UPDATE or DELETE on a table with delta.enableChangeDataFeed (ODP writes no change data files)"
                .into(),
        ));
    }
    Ok(())
}

/// A data file path of the log (percent-encoded, relative to the table root) decoded.
pub(in crate::delta) fn decode_path(path: &str) -> String {
    deltalake::Path::from_url_path(path)
        .map(|p| p.to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// Writer features whose rules ODP follows when it appends: it computes generated date
/// columns, refuses tables with invariants, check constraints or identity columns
/// ([`check_writable`]), never writes deletion vectors, and leaves checkpoints alone.
const SUPPORTED_WRITER_FEATURES: &[&str] = &[
    "appendOnly",
    "invariants",
    "checkConstraints",
    "changeDataFeed",
    "generatedColumns",
    "identityColumns",
    "timestampNtz",
    "deletionVectors",
    "v2Checkpoint",
    "vacuumProtocolCheck",
    "checkpointProtection",
];

/// Writer features delta-rs follows itself when it commits (built without DataFusion).
const FOLLOWED_BY_DELTA_RS: &[&str] = &[
    "appendOnly",
    "timestampNtz",
    "deletionVectors",
    "v2Checkpoint",
    "variantType",
    "variantType-preview",
    "checkpointProtection",
];

/// Refuses tables whose writer rules ODP does not follow: column mapping, invariants,
/// check constraints, identity columns and unknown writer features.
fn check_writable(state: &deltalake::table::state::DeltaTableState) -> Result<()> {
    let unsupported =
        |what: String| DeltaError::UnsupportedFeature(format!("writing to a table with {what}"));
    let protocol = serde_json::to_value(TableReference::protocol(state))
        .map_err(|e| DeltaError::CorruptLog(e.to_string()))?;
    let metadata = serde_json::to_value(TableReference::metadata(state))
        .map_err(|e| DeltaError::CorruptLog(e.to_string()))?;
    let features = protocol
        .get("writerFeatures")
        .and_then(|f| f.as_array())
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if let Some(feature) = features
        .iter()
        .find(|f| !SUPPORTED_WRITER_FEATURES.contains(&f.as_str()))
    {
        return Err(unsupported(format!("the writer feature \"{feature}\"")));
    }
    let configuration = metadata.get("configuration").and_then(|c| c.as_object());
    let setting = |key: &str| {
        configuration
            .and_then(|c| c.get(key))
            .and_then(|v| v.as_str())
    };
    if setting("delta.columnMapping.mode").is_some_and(|m| m != "none") {
        return Err(unsupported("column mapping".into()));
    }
    if configuration.is_some_and(|c| c.keys().any(|k| k.starts_with("delta.constraints."))) {
        return Err(unsupported("CHECK constraints".into()));
    }
    let schema_string = metadata
        .get("schemaString")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if schema_string.contains("delta.invariants") {
        return Err(unsupported("column invariants".into()));
    }
    if schema_string.contains("delta.identity.") {
        return Err(unsupported("identity columns".into()));
    }
    Ok(())
}

/// The read snapshot a commit is checked against. delta-rs built without DataFusion
/// refuses every table whose writer version implies features it cannot evaluate
/// (invariants, constraints, generated columns); ODP enforces those rules itself
/// ([`check_writable`], generated dates), so the commit sees the table's own protocol
/// with the writer requirement that was checked here lifted.
struct CheckedByOdp<'a> {
    state: &'a deltalake::table::state::DeltaTableState,
    protocol: deltalake::kernel::Protocol,
}

impl<'a> CheckedByOdp<'a> {
    fn new(state: &'a deltalake::table::state::DeltaTableState) -> Result<CheckedByOdp<'a>> {
        check_writable(state)?;
        let mut protocol = serde_json::to_value(TableReference::protocol(state))
            .map_err(|e| DeltaError::CorruptLog(e.to_string()))?;
        let reader_version = protocol
            .get("minReaderVersion")
            .and_then(|v| v.as_i64())
            .unwrap_or(1);
        if let Some(fields) = protocol.as_object_mut() {
            // Reader version 3 (reader features) requires writer version 7 (features);
            // of the table's writer features, those delta-rs checks and follows itself
            // stay (timestampNtz, deletion vectors, ...), the ones ODP enforces go.
            let writer_version = if reader_version >= 3 { 7 } else { 1 };
            fields.insert("minWriterVersion".into(), writer_version.into());
            if writer_version == 7 {
                let kept: Vec<serde_json::Value> = fields
                    .get("writerFeatures")
                    .and_then(|f| f.as_array())
                    .into_iter()
                    .flatten()
                    .filter(|f| {
                        f.as_str()
                            .is_some_and(|f| FOLLOWED_BY_DELTA_RS.contains(&f))
                    })
                    .cloned()
                    .collect();
                fields.insert("writerFeatures".into(), kept.into());
            } else {
                fields.remove("writerFeatures");
            }
        }
        let protocol = serde_json::from_value(protocol)
            .map_err(|e| DeltaError::CorruptLog(format!("protocol: {e}")))?;
        Ok(CheckedByOdp { state, protocol })
    }
}

impl TableReference for CheckedByOdp<'_> {
    fn config(&self) -> &delta_kernel::table_properties::TableProperties {
        TableReference::config(self.state)
    }

    fn protocol(&self) -> &deltalake::kernel::Protocol {
        &self.protocol
    }

    fn metadata(&self) -> &deltalake::kernel::Metadata {
        TableReference::metadata(self.state)
    }

    fn eager_snapshot(&self) -> &deltalake::kernel::EagerSnapshot {
        TableReference::eager_snapshot(self.state)
    }
}

/// Classifies a write or commit error: a lost commit race is a serialization failure.
pub(in crate::delta) fn write_error(location: &str, err: DeltaTableError) -> DeltaError {
    match err {
        DeltaTableError::Transaction { source } => match source {
            TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_) => {
                DeltaError::WriteConflict(source.to_string())
            }
            other => DeltaError::Storage(other.to_string()),
        },
        other => DeltaError::from_delta(location, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::log::table::{open_for_write, snapshot};
    use crate::delta::write::tests::{commit, ids, named, Scratch};
    use std::collections::HashMap;

    /// Commits new table properties (a `metaData` action) from another writer.
    fn set_properties(table: &Scratch, properties: &[(&str, &str)]) {
        let delta = open_for_write(&table.location).unwrap();
        let properties: HashMap<String, String> = properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        block_on(async move { delta.set_tbl_properties().with_properties(properties).await })
            .unwrap()
            .unwrap();
    }

    fn log_entry(table: &Scratch, version: u64, suffix: &str) -> std::path::PathBuf {
        table
            .dir
            .join("_delta_log")
            .join(format!("{version:020}.{suffix}"))
    }

    /// The row identities of the newest version, by id.
    fn row_ids(table: &Scratch) -> HashMap<i64, u64> {
        let (_, rows) = table.read();
        rows.into_iter().map(|(id, _, row)| (id, row)).collect()
    }

    #[test]
    fn appends_racing_on_one_version_both_land_one_on_top_of_the_other() {
        let table = Scratch::new(false);
        let mut first = table.writer();
        let mut second = table.writer();
        first.write(&ids(&[1, 2]), false).unwrap();
        second.write(&ids(&[3]), false).unwrap();
        let mut a = first.prepare_commit().unwrap().unwrap();
        let mut b = second.prepare_commit().unwrap().unwrap();
        assert_eq!(a.landed(), None);
        assert_eq!(a.land().unwrap(), 1);
        // version 1 is taken: appends do not conflict, the commit goes on top
        assert_eq!(b.land().unwrap(), 2);
        assert_eq!(b.landed(), Some(2));
        // landing again writes nothing more
        assert_eq!(b.land().unwrap(), 2);
        assert!(!log_entry(&table, 3, "json").exists());
        assert_eq!(
            table.contents(),
            (2, named(&[(1, None), (2, None), (3, None)]))
        );
    }

    #[test]
    fn rewrites_of_one_file_racing_each_other_conflict() {
        let table = Scratch::new(false);
        let mut writer = table.writer();
        writer.write(&ids(&[1, 2, 3]), false).unwrap();
        assert_eq!(commit(&mut writer), Some(1));
        let rows = row_ids(&table);
        // three transactions read version 1, each deletes another row of its one file
        let mut first = table.writer();
        let mut second = table.writer();
        let mut third = table.writer();
        first.delete(&[rows[&1]]).unwrap();
        second.delete(&[rows[&2]]).unwrap();
        third.delete(&[rows[&3]]).unwrap();
        let mut a = first.prepare_commit().unwrap().unwrap();
        let mut b = second.prepare_commit().unwrap().unwrap();
        assert_eq!(a.land().unwrap(), 2);
        // the second removes the file the first removed: landing it would resurrect row 1
        assert!(matches!(b.land(), Err(DeltaError::WriteConflict(_))));
        assert_eq!(b.landed(), None);
        // the third rewrites at prepare, after the file is gone
        assert!(matches!(
            third.prepare_commit(),
            Err(DeltaError::WriteConflict(_))
        ));
        assert_eq!(table.contents(), (2, named(&[(2, None), (3, None)])));
        assert!(!log_entry(&table, 3, "json").exists());
    }

    #[test]
    fn a_metadata_change_after_the_writer_read_the_table_conflicts() {
        let table = Scratch::new(false);
        let mut writer = table.writer();
        writer.write(&ids(&[1]), false).unwrap();
        assert_eq!(commit(&mut writer), Some(1));
        let rows = row_ids(&table);
        let mut prepared = table.writer();
        prepared.write(&ids(&[2]), false).unwrap();
        let mut pending = prepared.prepare_commit().unwrap().unwrap();
        let mut appending = table.writer();
        appending.write(&ids(&[3]), false).unwrap();
        let mut deleting = table.writer();
        deleting.delete(&[rows[&1]]).unwrap();
        // another writer changes the table's properties: version 2
        set_properties(
            &table,
            &[("delta.logRetentionDuration", "interval 30 days")],
        );
        assert!(matches!(
            pending.land(),
            Err(DeltaError::WriteConflict(reason)) if reason.contains("version 2")
        ));
        assert!(matches!(
            appending.prepare_commit(),
            Err(DeltaError::WriteConflict(_))
        ));
        // (a rewrite reads the newest version; the change is still after its rows)
        assert!(matches!(
            deleting.prepare_commit(),
            Err(DeltaError::WriteConflict(_))
        ));
        assert_eq!(table.contents(), (2, named(&[(1, None)])));
        // a writer opened after the change commits
        let mut later = table.writer();
        later.write(&ids(&[4]), false).unwrap();
        assert_eq!(commit(&mut later), Some(3));
    }

    #[test]
    fn append_only_tables_take_rows_but_refuse_removing_them() {
        let table = Scratch::new(false);
        set_properties(&table, &[("delta.appendOnly", "true")]);
        let mut writer = table.writer();
        assert!(matches!(
            writer.delete(&[0]),
            Err(DeltaError::AppendOnly(_))
        ));
        writer.write(&ids(&[1]), false).unwrap();
        assert_eq!(commit(&mut writer), Some(2));
        // a commit removing the file's rows is refused at prepare, one rewriting them
        // unchanged (compaction: no data change) is not
        let delta = open_for_write(&table.location).unwrap();
        let file = &snapshot(&table.location, None).unwrap().files[0];
        let remove = |data_change| vec![Action::Remove(file.remove(data_change, 0))];
        let delete = DeltaOperation::Delete { predicate: None };
        assert!(matches!(
            prepare_commit(delta.clone(), remove(true), delete.clone(), 2),
            Err(DeltaError::AppendOnly(_))
        ));
        assert!(prepare_commit(delta, remove(false), delete, 2).is_ok());
        assert_eq!(table.contents(), (2, named(&[(1, None)])));
    }

    #[test]
    fn change_data_feed_tables_refuse_removing_rows() {
        let table = Scratch::new(false);
        set_properties(&table, &[("delta.enableChangeDataFeed", "true")]);
        let mut writer = table.writer();
        assert!(matches!(
            writer.delete(&[0]),
            Err(DeltaError::UnsupportedFeature(reason)) if reason.contains("enableChangeDataFeed")
        ));
    }

    #[test]
    fn log_entries_conflict_by_removed_file_or_metadata() {
        let table = Scratch::new(false);
        let pending = PendingCommit {
            table: open_for_write(&table.location).unwrap(),
            actions: Vec::new(),
            operation: DeltaOperation::Delete { predicate: None },
            removed: [decode_path("part=a%20b/f.parquet")].into_iter().collect(),
            landed: None,
        };
        let check =
            |entry: &str, metadata_only| pending.check_against(7, entry.as_bytes(), metadata_only);
        let harmless = concat!(
            r#"{"commitInfo":{"operation":"WRITE"}}"#,
            "\n\n",
            r#"{"add":{"path":"part=a%20b/f.parquet","size":1}}"#,
            "\n",
            r#"{"remove":{"path":"part=a%20b/g.parquet"}}"#,
            "\n"
        );
        assert!(check(harmless, false).is_ok());
        // the same file, whatever its spelling in the log
        for removal in [
            r#"{"remove":{"path":"part=a%20b/f.parquet"}}"#,
            r#"{"remove":{"path":"part=a b/f.parquet"}}"#,
        ] {
            assert!(matches!(
                check(removal, false),
                Err(DeltaError::WriteConflict(reason)) if reason.contains("version 7")
            ));
            // before the base, only metadata matters
            assert!(check(removal, true).is_ok());
        }
        for change in [
            r#"{"metaData":{"id":"x"}}"#,
            r#"{"protocol":{"minReaderVersion":1}}"#,
        ] {
            assert!(matches!(
                check(change, true),
                Err(DeltaError::WriteConflict(_))
            ));
            assert!(matches!(
                check(change, false),
                Err(DeltaError::WriteConflict(_))
            ));
        }
        assert!(matches!(
            check("{not json", false),
            Err(DeltaError::CorruptLog(_))
        ));
    }

    #[test]
    fn checkpoints_follow_the_table_interval() {
        let table = Scratch::new(false);
        set_properties(&table, &[("delta.checkpointInterval", "3")]);
        for (id, version) in [(1, 2), (2, 3)] {
            let mut writer = table.writer();
            writer.write(&ids(&[id]), false).unwrap();
            let mut pending = writer.prepare_commit().unwrap().unwrap();
            assert_eq!(pending.land().unwrap(), version);
            pending.checkpoint_if_due(version);
        }
        assert!(!log_entry(&table, 2, "checkpoint.parquet").exists());
        assert!(log_entry(&table, 3, "checkpoint.parquet").exists());
        assert_eq!(table.contents(), (3, named(&[(1, None), (2, None)])));
    }

    #[test]
    fn lost_commit_races_are_write_conflicts() {
        let lost = DeltaTableError::Transaction {
            source: TransactionError::MaxCommitAttempts(3),
        };
        assert!(matches!(
            write_error("file:///t/", lost),
            DeltaError::WriteConflict(_)
        ));
        let other = DeltaTableError::Transaction {
            source: TransactionError::UnsupportedTableFeatures(Vec::new()),
        };
        assert!(matches!(
            write_error("file:///t/", other),
            DeltaError::Storage(_)
        ));
    }
}
