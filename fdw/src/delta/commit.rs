//! Committing to a Delta table: the writer rules ODP enforces itself before a commit,
//! and the commit of a transaction's actions, retried when only appends raced.

use super::error::{DeltaError, Result};
use deltalake::kernel::transaction::{
    CommitBuilder, CommitProperties, TableReference, TransactionError,
};
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};

/// Retries of a commit that lost a race with another writer (appends never conflict).
const COMMIT_RETRIES: usize = 100;

/// Commits `actions` on top of `table`'s version after checking the table's writer
/// rules; returns the new version. Conflicting concurrent commits fail with
/// [`DeltaError::WriteConflict`].
pub(super) fn commit_actions(
    table: &DeltaTable,
    actions: Vec<Action>,
    operation: DeltaOperation,
) -> Result<u64> {
    let here = table.table_url().to_string();
    let state = table
        .snapshot()
        .map_err(|e| DeltaError::from_delta(&here, e))?;
    let checked = CheckedByOdp::new(state)?;
    let commit = CommitBuilder::from(CommitProperties::default())
        .with_max_retries(COMMIT_RETRIES)
        .with_actions(actions)
        .build(Some(&checked), table.log_store(), operation);
    let finalized = crate::runtime::block_on(async move { commit.await })
        .map_err(DeltaError::Runtime)?
        .map_err(|e| write_error(&here, e))?;
    Ok(finalized.version)
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
            // Reader version 3 (reader features) requires writer version 7 (features).
            let writer_version = if reader_version >= 3 { 7 } else { 1 };
            fields.insert("minWriterVersion".into(), writer_version.into());
            if writer_version == 7 {
                fields.insert("writerFeatures".into(), serde_json::json!([]));
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
