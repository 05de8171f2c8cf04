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

use super::error::{DeltaError, Result};
use super::table::ListingRetry;
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
pub(super) fn prepare_commit(
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
pub(super) fn commit_actions(
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
            Err(e) if super::table::listing_raced(&e) => Ok(None),
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
/// the listing raced a writer (see [`super::table::listing_raced`]).
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
pub(super) fn check_may_remove_rows(
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
pub(super) fn decode_path(path: &str) -> String {
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
pub(super) fn write_error(location: &str, err: DeltaTableError) -> DeltaError {
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
