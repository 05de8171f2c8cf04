//! A transaction's writes to an object table: uploads and deletes are staged in order
//! and sent at commit. An INSERT creates only (`If-None-Match: *`) unless the table
//! allows overwriting; an UPDATE replaces only the version the scan read (`If-Match`
//! with its etag). A commit that fails removes the objects it created before failing.
//!
//! Memory is bounded: content larger than the server's `multipart_bytes`, and all
//! content once the staged bytes pass [`MEMORY_BUDGET`], is uploaded right away under a
//! temporary key in [`STAGING_DIR`] and copied to its key by the commit (server-side).
//! Prepare checks every upload's condition, so the usual conflicts (the key exists, the
//! object changed) abort the transaction before anything of it is visible; the commit
//! checks them again. Temporary keys are deleted after the commit or the abort.

use super::error::{ObjectError, Result};
use super::keys::{confine, guess_content_type};
use super::store::{Store, STAGING_DIR};
use super::table::ObjectTable;
use crate::arrow::array::{Array, AsArray, RecordBatch};
use crate::arrow::datatypes::DataType;
use bytes::Bytes;
use object_store::{Attribute, Attributes, PutMode, UpdateVersion};

/// How an upload treats an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PutKind {
    /// fail if it exists
    Create,
    /// replace whatever is there
    Overwrite,
    /// replace only the version with this etag
    Replace(Option<String>),
}

/// Staged content held in memory past this many bytes is uploaded to temporary keys.
pub const MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// Where an upload's content waits until the commit.
#[derive(Debug, Clone)]
enum Content {
    /// in memory: the commit uploads it
    Held(Bytes),
    /// uploaded under this temporary key (with its attributes): the commit copies it
    Uploaded(String),
}

/// One staged change.
#[derive(Debug, Clone)]
enum Change {
    Put {
        key: String,
        content: Content,
        content_type: Option<String>,
        metadata: Vec<(String, String)>,
        kind: PutKind,
    },
    /// delete the version with this etag (any version when the scan knew none)
    Delete { key: String, etag: Option<String> },
}

/// The staged writes of one transaction to one object table.
pub struct ObjectWriter {
    table: ObjectTable,
    changes: Vec<Change>,
    /// bytes of content held in memory
    held_bytes: usize,
    /// this writer's directory under [`STAGING_DIR`]
    staging: String,
    /// temporary keys uploaded so far (deleted after the commit or the abort)
    uploaded: Vec<String>,
}

/// The values of one written row.
struct RowValues {
    key: String,
    content: Bytes,
    content_type: Option<String>,
    metadata: Vec<(String, String)>,
}

impl ObjectWriter {
    /// A writer with nothing staged.
    pub fn new(table: ObjectTable) -> ObjectWriter {
        ObjectWriter {
            table,
            changes: Vec::new(),
            held_bytes: 0,
            staging: format!("{STAGING_DIR}{}/", crate::runtime::unique_name()),
            uploaded: Vec::new(),
        }
    }

    /// Stages the rows of an INSERT (or COPY FROM).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let kind = if self.table.options.overwrite {
            PutKind::Overwrite
        } else {
            PutKind::Create
        };
        for row in 0..batch.num_rows() {
            for derived in ["size", "etag", "last_modified"] {
                if batch
                    .column_by_name(derived)
                    .is_some_and(|c| c.is_valid(row))
                {
                    return Err(ObjectError::BadValue {
                        key: text_at(batch, "key", row).unwrap_or_default(),
                        column: derived_name(derived),
                        reason: "is set by the store; leave it NULL".into(),
                    });
                }
            }
            let values = self.row_values(batch, row)?;
            self.stage_put(values, kind.clone())?;
        }
        Ok(())
    }

    /// Stages the new versions of rows an UPDATE changed: each replaces the version its
    /// scan read; a changed key uploads the new key and deletes the old one.
    pub fn update(&mut self, row_ids: &[u64], batch: &RecordBatch) -> Result<()> {
        for (row, id) in row_ids.iter().enumerate() {
            let (old_key, etag) = identity(*id)?;
            let values = self.row_values(batch, row)?;
            if values.key == old_key {
                self.stage_put(values, PutKind::Replace(etag))?;
            } else {
                self.stage_put(values, PutKind::Create)?;
                self.changes.push(Change::Delete { key: old_key, etag });
            }
        }
        Ok(())
    }

    /// Stages deletes of rows by the identities the scan gave them: each deletes only
    /// the version its scan read.
    pub fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        for id in row_ids {
            let (key, etag) = identity(*id)?;
            self.changes.push(Change::Delete { key, etag });
        }
        Ok(())
    }

    /// Stages an upload: held in memory, or uploaded to a temporary key when it is
    /// large or memory is full.
    fn stage_put(&mut self, values: RowValues, kind: PutKind) -> Result<()> {
        let large = values.content.len() as u64 > self.table.server.multipart_bytes;
        let content = if large {
            let attributes = attributes(values.content_type.clone(), values.metadata.clone());
            Content::Uploaded(self.upload_temporary(values.content, attributes)?)
        } else {
            self.held_bytes += values.content.len();
            Content::Held(values.content)
        };
        self.changes.push(Change::Put {
            key: values.key,
            content,
            content_type: values.content_type,
            metadata: values.metadata,
            kind,
        });
        if self.held_bytes > MEMORY_BUDGET {
            self.upload_held()?;
        }
        Ok(())
    }

    /// Uploads `content` under a new temporary key and returns the key.
    fn upload_temporary(&mut self, content: Bytes, attributes: Attributes) -> Result<String> {
        let key = format!("{}{}", self.staging, self.uploaded.len());
        let store = self.table.store.clone();
        let multipart = content.len() as u64 > self.table.server.multipart_bytes;
        let target = key.clone();
        super::block(async move {
            if multipart {
                store.put_multipart(&target, content, attributes).await
            } else {
                store
                    .put(&target, content, attributes, PutMode::Overwrite)
                    .await
            }
        })??;
        self.uploaded.push(key.clone());
        Ok(key)
    }

    /// Uploads all content held in memory to temporary keys.
    fn upload_held(&mut self) -> Result<()> {
        for i in 0..self.changes.len() {
            let Change::Put {
                content: Content::Held(bytes),
                content_type,
                metadata,
                ..
            } = &self.changes[i]
            else {
                continue;
            };
            crate::runtime::check_interrupts();
            let (bytes, attributes) = (
                bytes.clone(),
                attributes(content_type.clone(), metadata.clone()),
            );
            let key = self.upload_temporary(bytes, attributes)?;
            if let Change::Put { content, .. } = &mut self.changes[i] {
                *content = Content::Uploaded(key);
            }
        }
        self.held_bytes = 0;
        Ok(())
    }

    fn row_values(&self, batch: &RecordBatch, row: usize) -> Result<RowValues> {
        let key = text_at(batch, "key", row).ok_or_else(|| {
            ObjectError::Unsupported("a written object needs a non-NULL key".into())
        })?;
        confine(&key, &self.table.options.prefix)?;
        if !self.table.store.could_hold(&key) {
            return Err(ObjectError::BadKey {
                key: key.clone(),
                reason: "a local root cannot hold a file name ending in # and digits (its temporary-file form)".into(),
            });
        }
        let bad = |column: &'static str, reason: &str| ObjectError::BadValue {
            key: key.clone(),
            column,
            reason: reason.to_string(),
        };
        let content = match batch.column_by_name("content") {
            Some(c) if c.is_valid(row) && c.data_type() == &DataType::Binary => {
                Bytes::copy_from_slice(c.as_binary::<i32>().value(row))
            }
            _ => return Err(bad("content", "cannot be NULL (an empty object is '\\x')")),
        };
        if content.len() as u64 > self.table.server.max_content_bytes {
            return Err(ObjectError::TooLarge {
                key: key.clone(),
                size: content.len() as u64,
                limit: self.table.server.max_content_bytes,
            });
        }
        let mut content_type = text_at(batch, "content_type", row);
        let metadata = match text_at(batch, "metadata", row) {
            None => Vec::new(),
            Some(json) => metadata_pairs(&json).map_err(|reason| bad("metadata", &reason))?,
        };
        if !self.table.store.keeps_attributes {
            if content_type
                .as_deref()
                .is_some_and(|t| t != guess_content_type(&key))
                || !metadata.is_empty()
            {
                return Err(ObjectError::Unsupported(
                    "a local object root keeps no content_type or metadata (the content type comes from the key's extension)".into(),
                ));
            }
            content_type = None;
        }
        Ok(RowValues {
            content_type: content_type.or_else(|| {
                self.table
                    .store
                    .keeps_attributes
                    .then(|| guess_content_type(&key).to_string())
            }),
            key,
            content,
            metadata,
        })
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Marks the changes so far (a savepoint starts).
    pub fn savepoint(&self) -> usize {
        self.changes.len()
    }

    /// Forgets the changes after `mark` (their temporary keys go with the others).
    pub fn rollback_to(&mut self, mark: usize) {
        self.changes.truncate(mark);
        self.held_bytes = self
            .changes
            .iter()
            .map(|c| match c {
                Change::Put {
                    content: Content::Held(bytes),
                    ..
                } => bytes.len(),
                _ => 0,
            })
            .sum();
    }

    /// Checks every staged upload's condition against the store (the key must not
    /// exist for a create; the object must still be the version read for a replace),
    /// so that the usual conflicts fail before anything of the transaction is visible.
    pub fn prepare(&mut self) -> Result<()> {
        // A key an earlier change of this transaction touched (deleted, say, before
        // it is created again) is left to the commit's own check, in order.
        let mut touched = std::collections::HashSet::new();
        let mut checks: Vec<Change> = Vec::new();
        for change in &self.changes {
            let key = match change {
                Change::Put { key, .. } | Change::Delete { key, .. } => key,
            };
            let overwrite = matches!(
                change,
                Change::Put {
                    kind: PutKind::Overwrite,
                    ..
                }
            );
            if touched.insert(key.clone()) && !overwrite {
                checks.push(change.clone());
            }
        }
        let store = self.table.store.clone();
        super::block(async move {
            use futures::StreamExt;
            let mut results = futures::stream::iter(checks)
                .map(|change| {
                    let store = store.clone();
                    async move {
                        match change {
                            Change::Put { key, kind, .. } => {
                                check_condition(&store, &key, &kind).await
                            }
                            Change::Delete { key, etag } => {
                                check_delete(&store, &key, etag.as_deref()).await
                            }
                        }
                    }
                })
                .buffer_unordered(PREPARE_CHECKS_IN_FLIGHT);
            while let Some(result) = results.next().await {
                crate::runtime::check_interrupts();
                result?;
            }
            Ok(())
        })?
    }

    /// Deletes the temporary keys, best effort: it stops at the first failure (the
    /// store is likely down; what is left stays under [`STAGING_DIR`]).
    fn discard_temporary(&mut self) {
        let keys = std::mem::take(&mut self.uploaded);
        if keys.is_empty() {
            return;
        }
        let store = self.table.store.clone();
        let _ = super::block(async move {
            for key in keys {
                if store.delete(&key).await.is_err() {
                    return;
                }
            }
        });
    }

    /// Sends the staged changes in order; returns how many objects changed. On the
    /// first failure the objects this commit created are deleted again and the error
    /// is returned, as [`ObjectError::PartlyApplied`] once objects were replaced or
    /// deleted (they cannot be restored).
    pub fn commit(&mut self) -> Result<usize> {
        let changes = std::mem::take(&mut self.changes);
        let store = self.table.store.clone();
        let count = changes.len();
        let outcome = super::block(async move {
            let mut created: Vec<String> = Vec::new();
            // deletes and replacements done so far: they cannot be undone
            let mut lasting = 0;
            for change in changes {
                crate::runtime::check_interrupts();
                let result = match change {
                    // (its version was checked by prepare)
                    Change::Delete { key, .. } => {
                        store.delete(&key).await.inspect(|_| lasting += 1)
                    }
                    Change::Put {
                        key,
                        content,
                        content_type,
                        metadata,
                        kind,
                    } => {
                        let creates = kind == PutKind::Create;
                        let done = match content {
                            Content::Held(bytes) => {
                                let attributes = attributes(content_type, metadata);
                                put(&store, &key, bytes, attributes, kind).await
                            }
                            Content::Uploaded(temporary) => {
                                copy(&store, &temporary, &key, &kind).await
                            }
                        };
                        match (&done, creates) {
                            (Ok(()), true) => created.push(key),
                            (Ok(()), false) => lasting += 1,
                            _ => {}
                        }
                        done
                    }
                };
                if let Err(e) = result {
                    for key in created {
                        let _ = store.delete(&key).await;
                    }
                    return Err(match lasting {
                        0 => e,
                        applied => ObjectError::PartlyApplied {
                            applied,
                            total: count,
                            reason: e.to_string(),
                        },
                    });
                }
            }
            Ok(())
        })?;
        outcome.map(|()| count)
    }
}

/// A writer goes away after its commit, or with its aborted transaction: its temporary
/// keys go with it.
impl Drop for ObjectWriter {
    fn drop(&mut self) {
        self.discard_temporary();
    }
}

/// Condition checks prepare keeps in flight at once.
const PREPARE_CHECKS_IN_FLIGHT: usize = 16;

/// Whether an upload's condition holds now (see [`PutKind`]).
async fn check_condition(store: &Store, key: &str, kind: &PutKind) -> Result<()> {
    let current = store.head(key).await?;
    match (kind, current) {
        (PutKind::Create, Some(_)) => Err(ObjectError::AlreadyExists(key.to_string())),
        (PutKind::Replace(etag), current) if current.as_ref().map(|c| &c.etag) != Some(etag) => {
            Err(ObjectError::Changed(key.to_string()))
        }
        _ => Ok(()),
    }
}

/// Whether a delete may go ahead (checked by prepare): the object is gone already
/// (nothing to do) or still the version the scan read. The store's delete takes no
/// condition, so a writer racing between this check and the delete is not seen.
async fn check_delete(store: &Store, key: &str, etag: Option<&str>) -> Result<()> {
    match (store.head(key).await?, etag) {
        (Some(current), Some(read)) if current.etag.as_deref() != Some(read) => {
            Err(ObjectError::Changed(key.to_string()))
        }
        _ => Ok(()),
    }
}

/// The key and etag a scan gave a row (no etag when the store has none).
fn identity(id: u64) -> Result<(String, Option<String>)> {
    let (key, etag) = crate::rowid::row_of(id)?;
    let etag = etag
        .and_then(|e| String::from_utf8(e).ok())
        .filter(|e| !e.is_empty());
    Ok((key, etag))
}

/// Copies an uploaded temporary key to `key` (server-side), its condition checked
/// first: the store's copy takes none.
async fn copy(store: &Store, temporary: &str, key: &str, kind: &PutKind) -> Result<()> {
    check_condition(store, key, kind).await?;
    store.copy(temporary, key).await
}

/// Uploads content held in memory as `key` in one request, under its condition.
async fn put(
    store: &Store,
    key: &str,
    content: Bytes,
    attributes: Attributes,
    kind: PutKind,
) -> Result<()> {
    if matches!(kind, PutKind::Replace(_)) && !store.keeps_attributes {
        // local files take no condition: check, then write
        check_condition(store, key, &kind).await?;
        return store
            .put(key, content, attributes, PutMode::Overwrite)
            .await;
    }
    let mode = match kind {
        PutKind::Create => PutMode::Create,
        PutKind::Overwrite => PutMode::Overwrite,
        PutKind::Replace(e_tag) => PutMode::Update(UpdateVersion {
            e_tag,
            version: None,
        }),
    };
    store.put(key, content, attributes, mode).await
}

fn attributes(content_type: Option<String>, metadata: Vec<(String, String)>) -> Attributes {
    let mut attributes = Attributes::new();
    if let Some(content_type) = content_type {
        attributes.insert(Attribute::ContentType, content_type.into());
    }
    for (name, value) in metadata {
        attributes.insert(Attribute::Metadata(name.into()), value.into());
    }
    attributes
}

/// A JSON object of strings as metadata pairs (names are lower-cased by S3).
fn metadata_pairs(json: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(map) = value else {
        return Err("must be a JSON object of strings".into());
    };
    map.into_iter()
        .map(|(name, value)| {
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            match value {
                serde_json::Value::String(s)
                    if valid_name && s.is_ascii() && !s.chars().any(|c| c.is_ascii_control()) =>
                {
                    Ok((name.to_ascii_lowercase(), s))
                }
                _ if !valid_name => Err(format!(
                    "name \"{name}\" must be ASCII letters, digits, - or _"
                )),
                _ => Err(format!(
                    "value of \"{name}\" must be a string of printable ASCII"
                )),
            }
        })
        .collect()
}

fn text_at(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let array = batch.column_by_name(column)?;
    if !array.is_valid(row) || array.data_type() != &DataType::Utf8 {
        return None;
    }
    Some(array.as_string::<i32>().value(row).to_string())
}

fn derived_name(name: &str) -> &'static str {
    match name {
        "size" => "size",
        "etag" => "etag",
        _ => "last_modified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_must_be_an_object_of_ascii_strings() {
        assert_eq!(
            metadata_pairs(r#"{"Owner": "ann", "kind": "photo"}"#).unwrap(),
            vec![
                ("owner".to_string(), "ann".to_string()),
                ("kind".to_string(), "photo".to_string())
            ]
        );
        assert!(metadata_pairs("[1]").is_err());
        assert!(metadata_pairs(r#"{"a b": "x"}"#).is_err());
        assert!(metadata_pairs(r#"{"a": 1}"#).is_err());
        assert!(metadata_pairs(r#"{"a": "line\nbreak"}"#).is_err());
    }
}
