//! Writing a Redis table for one host transaction. Changes are collected and applied at
//! commit, so a rolled-back transaction (or savepoint) sends nothing: hashes are set with
//! `HSET` (fields set to NULL are removed with `HDEL`), strings with `SET`, rows deleted
//! with `DEL`, and `ttl_seconds` adds an `EXPIRE`. On a single server the changes go in
//! `MULTI`/`EXEC` blocks of [`CHANGES_PER_BLOCK`], one round trip each.

use super::client::run;
use super::codec::encode;
use super::error::{RedisError, Result};
use super::options::TableKind;
use super::rowid::key_of;
use super::table::{ColumnSource, KeyPlan, RedisTable};
use crate::request::Qual;
use deltalake::arrow::array::{Array, RecordBatch};
use std::collections::HashMap;

/// Changes applied atomically in one round trip.
pub const CHANGES_PER_BLOCK: usize = 10_000;

/// One change to one key.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// set these fields (hash: `None` removes the field; string: the one value)
    Put {
        key: String,
        values: Vec<(String, Option<Vec<u8>>)>,
    },
    /// remove the key
    Delete { key: String },
}

/// The changes of one host transaction to one Redis table.
pub struct RedisWriter {
    table: RedisTable,
    /// changes in order; `None`: a delete an UPDATE turned into a put of the same key
    changes: Vec<Option<Change>>,
    /// position in `changes` of the latest delete of each key
    deletes: HashMap<String, usize>,
}

impl RedisWriter {
    /// A writer for `table`.
    pub fn new(table: RedisTable) -> RedisWriter {
        RedisWriter {
            table,
            changes: Vec::new(),
            deletes: HashMap::new(),
        }
    }

    /// Takes rows (columns named as the table's, any subset holding every key column).
    /// The `updated` versions of rows replace their deleted originals field by field,
    /// so fields the foreign table does not declare are kept when the key is unchanged.
    pub fn write(&mut self, batch: &RecordBatch, updated: bool) -> Result<()> {
        let key_columns = self.table.template.columns();
        let mut key_arrays = Vec::with_capacity(key_columns.len());
        for name in &key_columns {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| RedisError::NullKey(name.to_string()))?;
            key_arrays.push((*name, array));
        }
        let value_columns: Vec<(String, &std::sync::Arc<dyn Array>)> = self
            .table
            .columns
            .iter()
            .filter_map(|c| {
                let array = batch.column_by_name(&c.name)?;
                match &c.source {
                    ColumnSource::Field(f) => Some((f.clone(), array)),
                    ColumnSource::Value => Some(("value".to_string(), array)),
                    ColumnSource::Key(_) => None,
                }
            })
            .collect();
        for row in 0..batch.num_rows() {
            let mut parts = Vec::with_capacity(key_arrays.len());
            for (name, array) in &key_arrays {
                let text =
                    encode(array, row)?.ok_or_else(|| RedisError::NullKey(name.to_string()))?;
                parts.push(String::from_utf8(text).map_err(|_| RedisError::KeyValue {
                    column: name.to_string(),
                    reason: "not valid UTF-8".into(),
                })?);
            }
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let key = self.table.template.render(&refs)?;
            let mut values = Vec::with_capacity(value_columns.len());
            for (field, array) in &value_columns {
                values.push((field.clone(), encode(array, row)?));
            }
            if updated {
                if let Some(position) = self.deletes.remove(&key) {
                    self.changes[position] = None;
                }
            }
            let no_field = values.iter().all(|(_, v)| v.is_none());
            if self.table.options.kind != TableKind::String && no_field && !updated {
                return Err(RedisError::EmptyHash(key));
            }
            let change = match self.table.options.kind {
                TableKind::String if values.first().is_none_or(|(_, v)| v.is_none()) => {
                    Change::Delete { key }
                }
                _ => Change::Put { key, values },
            };
            self.changes.push(Some(change));
        }
        Ok(())
    }

    /// Deletes the rows with these identities (see [`super::rowid`]).
    pub fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        for id in row_ids {
            let key = key_of(*id)?;
            self.push_delete(key);
        }
        Ok(())
    }

    fn push_delete(&mut self, key: String) {
        self.deletes.insert(key.clone(), self.changes.len());
        self.changes.push(Some(Change::Delete { key }));
    }

    /// Whether `quals` name whole keys (`=` or `IN` on every key column), so a DELETE
    /// needs no scan.
    pub fn deletes_by_key(table: &RedisTable, quals: &[Qual]) -> bool {
        matches!(table.plan(quals), KeyPlan::Keys(_))
    }

    /// Deletes the keys `quals` name and returns how many exist (one round trip).
    pub fn delete_where(&mut self, quals: &[Qual]) -> Result<u64> {
        let KeyPlan::Keys(keys) = self.table.plan(quals) else {
            return Err(RedisError::Unsupported(
                "a DELETE without a value for every key column".into(),
            ));
        };
        if keys.is_empty() {
            return Ok(0);
        }
        let mut pipe = ::redis::pipe();
        for (key, _) in &keys {
            pipe.cmd("EXISTS").arg(key);
        }
        let exists: Vec<u64> = run(&self.table.server, async |c| pipe.query_async(c).await)?;
        let mut count = 0;
        for ((key, _), found) in keys.into_iter().zip(exists) {
            if found > 0 {
                count += 1;
                self.push_delete(key);
            }
        }
        Ok(count)
    }

    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(Option::is_none)
    }

    /// A mark [`Self::rollback_to`] can return to.
    pub fn savepoint(&mut self) -> usize {
        self.changes.len()
    }

    /// Forgets the changes made after `mark`.
    pub fn rollback_to(&mut self, mark: usize) {
        self.changes.truncate(mark);
        self.deletes.retain(|_, position| *position < mark);
    }

    /// Applies every change; returns how many keys were changed.
    pub fn commit(&mut self) -> Result<u64> {
        let changes: Vec<Change> = std::mem::take(&mut self.changes)
            .into_iter()
            .flatten()
            .collect();
        self.deletes.clear();
        let ttl = self.table.options.ttl_seconds;
        let kind = self.table.options.kind;
        for block in changes.chunks(CHANGES_PER_BLOCK) {
            crate::runtime::check_interrupts();
            let mut pipe = ::redis::pipe();
            for change in block {
                match change {
                    Change::Delete { key } => {
                        pipe.cmd("DEL").arg(key).ignore();
                    }
                    Change::Put { key, values } => {
                        match kind {
                            TableKind::Hash => {
                                let set: Vec<_> =
                                    values.iter().filter(|(_, v)| v.is_some()).collect();
                                let unset: Vec<_> =
                                    values.iter().filter(|(_, v)| v.is_none()).collect();
                                if !set.is_empty() {
                                    let command = pipe.cmd("HSET").arg(key);
                                    for (field, value) in set {
                                        command.arg(field).arg(value.as_deref());
                                    }
                                    command.ignore();
                                }
                                if !unset.is_empty() {
                                    let command = pipe.cmd("HDEL").arg(key);
                                    for (field, _) in unset {
                                        command.arg(field);
                                    }
                                    command.ignore();
                                }
                            }
                            TableKind::String => {
                                let value = values.first().and_then(|(_, v)| v.as_deref());
                                pipe.cmd("SET").arg(key).arg(value).ignore();
                            }
                            TableKind::Stream => {
                                let command = pipe.cmd("XADD").arg(key);
                                if let Some(maxlen) = self.table.options.stream_maxlen {
                                    command.arg("MAXLEN").arg("~").arg(maxlen);
                                }
                                command.arg("*");
                                for (field, value) in values {
                                    if let Some(value) = value {
                                        command.arg(field).arg(value.as_slice());
                                    }
                                }
                                command.ignore();
                            }
                        }
                        if let Some(seconds) = ttl {
                            pipe.cmd("EXPIRE").arg(key).arg(seconds).ignore();
                        }
                    }
                }
            }
            run(&self.table.server, async |c| {
                if !c.is_cluster() {
                    pipe.atomic();
                }
                pipe.query_async::<()>(c).await
            })?;
        }
        Ok(changes.len() as u64)
    }
}
