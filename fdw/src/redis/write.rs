//! Writing a Redis table for one host transaction. Changes are collected and applied at
//! commit, so a rolled-back transaction (or savepoint) sends nothing: hashes are set with
//! `HSET` (fields set to NULL are removed with `HDEL`), strings with `SET`, set members
//! with `SADD`/`SREM`, sorted-set members with `ZADD`/`ZREM`, list elements appended with
//! `RPUSH`, stream entries with `XADD`, rows deleted by key with `DEL`; `ttl_seconds`
//! adds an `EXPIRE`. On a single server the changes go in `MULTI`/`EXEC` blocks of
//! [`CHANGES_PER_BLOCK`], one round trip each.

use super::client::run;
use super::codec::encode;
use super::error::{RedisError, Result};
use super::options::TableKind;
use super::table::{ColumnSource, KeyPlan, RedisTable};
use crate::request::Qual;
use crate::rowid::row_of;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use std::collections::HashMap;

/// Changes applied atomically in one round trip.
pub const CHANGES_PER_BLOCK: usize = 10_000;

/// One change to one key.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// write a row: its stored values by where they go (`None`: NULL); `replace`
    /// removes the key first (its old row was deleted by the statement that wrote this)
    Put {
        key: String,
        values: Vec<(ColumnSource, Option<Vec<u8>>)>,
        replace: bool,
    },
    /// remove the key, or one member of the set or sorted set under it
    Delete {
        key: String,
        member: Option<Vec<u8>>,
    },
}

/// The changes of one host transaction to one Redis table.
pub struct RedisWriter {
    table: RedisTable,
    /// changes in order; `None`: a delete an UPDATE turned into a put of the same key
    changes: Vec<Option<Change>>,
    /// position in `changes` of the latest whole-key delete of each key
    deletes: HashMap<String, usize>,
    /// position in `changes` of the latest put of each key (and set member) by an UPDATE
    puts: HashMap<(String, Option<Vec<u8>>), usize>,
}

impl RedisWriter {
    /// A writer for `table`.
    pub fn new(table: RedisTable) -> RedisWriter {
        RedisWriter {
            table,
            changes: Vec::new(),
            deletes: HashMap::new(),
            puts: HashMap::new(),
        }
    }

    /// Takes rows (columns named as the table's, any subset holding every key column).
    /// The `updated` version of a hash row replaces its deleted original field by field,
    /// so fields the foreign table does not declare are kept when the key is unchanged.
    pub fn write(&mut self, batch: &RecordBatch, updated: bool) -> Result<()> {
        let kind = self.table.options.kind;
        let key_columns = self.table.template.columns();
        let mut key_arrays = Vec::with_capacity(key_columns.len());
        for name in &key_columns {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| RedisError::NullKey(name.to_string()))?;
            key_arrays.push((*name, array));
        }
        let value_columns: Vec<(ColumnSource, &ArrayRef)> = self
            .table
            .columns
            .iter()
            .filter(|c| !matches!(c.source, ColumnSource::Key(_) | ColumnSource::Position))
            .filter_map(|c| Some((c.source.clone(), batch.column_by_name(&c.name)?)))
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
            for (source, array) in &value_columns {
                values.push((source.clone(), encode(array, row)?));
            }
            let value_of = |wanted: &ColumnSource| {
                values
                    .iter()
                    .find(|(s, _)| s == wanted)
                    .and_then(|(_, v)| v.clone())
            };
            let change = match kind {
                TableKind::Hash | TableKind::Stream => {
                    if updated && kind == TableKind::Hash {
                        if let Some(position) = self.deletes.remove(&key) {
                            self.changes[position] = None;
                        }
                    }
                    if !updated && values.iter().all(|(_, v)| v.is_none()) {
                        return Err(RedisError::EmptyHash(key));
                    }
                    Change::Put {
                        key,
                        values,
                        replace: false,
                    }
                }
                TableKind::String => match value_of(&ColumnSource::Value) {
                    None if updated => Change::Delete { key, member: None },
                    None => return Err(RedisError::NullElement(key)),
                    Some(_) => Change::Put {
                        key,
                        values,
                        replace: false,
                    },
                },
                TableKind::Set | TableKind::SortedSet | TableKind::List => {
                    let element = if kind == TableKind::List {
                        ColumnSource::Value
                    } else {
                        ColumnSource::Member
                    };
                    let required = [element]
                        .into_iter()
                        .chain((kind == TableKind::SortedSet).then_some(ColumnSource::Score));
                    for source in required {
                        if value_of(&source).is_none() {
                            return Err(RedisError::NullElement(key));
                        }
                    }
                    if value_of(&ColumnSource::Score).is_some_and(|s| s == b"NaN") {
                        return Err(RedisError::KeyValue {
                            column: "score".into(),
                            reason: "Redis scores cannot be NaN".into(),
                        });
                    }
                    Change::Put {
                        key,
                        values,
                        replace: false,
                    }
                }
            };
            // only a row an UPDATE moved can be followed by the delete of its key's
            // old row (see `delete`)
            if let (true, Change::Put { key, values, .. }) = (updated, &change) {
                let member = match kind {
                    TableKind::Set | TableKind::SortedSet => values
                        .iter()
                        .find(|(s, _)| *s == ColumnSource::Member)
                        .and_then(|(_, v)| v.clone()),
                    _ => None,
                };
                self.puts.insert((key.clone(), member), self.changes.len());
            }
            self.changes.push(Some(change));
        }
        Ok(())
    }

    /// Deletes the rows with these identities (see [`crate::rowid`]).
    ///
    /// A transaction cannot read a Redis table it changed (the FDW core refuses it), so
    /// a row deleted after this transaction put its key was read before the put: it is
    /// the old row, and the put by the same statement (an UPDATE moving another row to
    /// this key) is the new one. Its delete therefore goes before that put, never after
    /// it, which would remove the new row.
    pub fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        let kind = self.table.options.kind;
        for id in row_ids {
            let (key, member) = row_of(*id)?;
            if kind == TableKind::List {
                return Err(RedisError::Unsupported(
                    "UPDATE or DELETE of list elements (delete the whole list by its key)".into(),
                ));
            }
            let put = self.puts.get(&(key.clone(), member.clone())).copied();
            match (member, put) {
                // the member is added again afterwards: removing it first changes nothing
                (Some(_), Some(_)) => {}
                (Some(member), None) => self.changes.push(Some(Change::Delete {
                    key,
                    member: Some(member),
                })),
                (None, Some(position)) => {
                    if let Some(Some(Change::Put { replace, .. })) = self.changes.get_mut(position)
                    {
                        *replace = true;
                    }
                }
                (None, None) => self.push_delete(key),
            }
        }
        Ok(())
    }

    fn push_delete(&mut self, key: String) {
        self.deletes.insert(key.clone(), self.changes.len());
        self.changes
            .push(Some(Change::Delete { key, member: None }));
    }

    /// Deletes the keys `quals` name and returns how many rows they held (one round
    /// trip): a key of a hash or string is one row, a collection one per element.
    pub fn delete_where(&mut self, quals: &[Qual]) -> Result<u64> {
        let KeyPlan::Keys(keys) = self.table.plan(quals) else {
            return Err(RedisError::Unsupported(
                "a DELETE without a value for every key column".into(),
            ));
        };
        if keys.is_empty() {
            return Ok(0);
        }
        // Only keys of the table's type are its rows: any other type is refused, never
        // deleted.
        let kind = self.table.options.kind;
        let mut pipe = ::redis::pipe();
        for (key, _) in &keys {
            pipe.cmd("TYPE").arg(key);
        }
        let types: Vec<String> = run(&self.table.server, async |c| pipe.query_async(c).await)?;
        let mut present = Vec::new();
        for ((key, _), found) in keys.into_iter().zip(types) {
            match found.as_str() {
                "none" => {}
                t if t == kind.redis_type() => present.push(key),
                _ => {
                    return Err(RedisError::WrongType {
                        key,
                        found,
                        expected: kind.redis_type(),
                    })
                }
            }
        }
        let sizes: Vec<u64> = match kind {
            TableKind::Set | TableKind::SortedSet | TableKind::List => {
                let mut pipe = ::redis::pipe();
                for key in &present {
                    let size = match kind {
                        TableKind::Set => "SCARD",
                        TableKind::SortedSet => "ZCARD",
                        _ => "LLEN",
                    };
                    pipe.cmd(size).arg(key);
                }
                run(&self.table.server, async |c| pipe.query_async(c).await)?
            }
            _ => vec![1; present.len()],
        };
        let count = sizes.iter().sum();
        for key in present {
            self.push_delete(key);
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
        self.puts.retain(|_, position| *position < mark);
    }

    /// Applies every change; returns how many there were.
    pub fn commit(&mut self) -> Result<u64> {
        let changes: Vec<Change> = std::mem::take(&mut self.changes)
            .into_iter()
            .flatten()
            .collect();
        self.deletes.clear();
        self.puts.clear();
        let total = changes.len() as u64;
        let mut applied = 0;
        for block in changes.chunks(CHANGES_PER_BLOCK) {
            crate::runtime::check_interrupts();
            let mut pipe = ::redis::pipe();
            for change in block {
                self.add_commands(&mut pipe, change);
            }
            let sent = match applied {
                0 => Ok(()),
                _ => crate::fault::point("redis.between_blocks")
                    .map_err(|e| RedisError::Command(e.to_string())),
            }
            .and_then(|()| {
                run(&self.table.server, async |c| {
                    if !c.is_cluster() {
                        pipe.atomic();
                    }
                    pipe.query_async::<()>(c).await
                })
            });
            match sent {
                Ok(()) => applied += block.len() as u64,
                Err(e) if applied == 0 => return Err(e),
                Err(e) => {
                    return Err(RedisError::PartlyApplied {
                        applied,
                        total,
                        reason: e.to_string(),
                    })
                }
            }
        }
        Ok(total)
    }

    /// The commands of one change.
    fn add_commands(&self, pipe: &mut ::redis::Pipeline, change: &Change) {
        let kind = self.table.options.kind;
        let (key, values) = match change {
            Change::Delete { key, member } => {
                match (member, kind) {
                    (Some(m), TableKind::SortedSet) => pipe.cmd("ZREM").arg(key).arg(m.as_slice()),
                    (Some(m), _) => pipe.cmd("SREM").arg(key).arg(m.as_slice()),
                    (None, _) => pipe.cmd("DEL").arg(key),
                }
                .ignore();
                return;
            }
            Change::Put {
                key,
                values,
                replace,
            } => {
                if *replace {
                    pipe.cmd("DEL").arg(key).ignore();
                }
                (key, values)
            }
        };
        let value_of = |wanted: &ColumnSource| {
            values
                .iter()
                .find(|(s, _)| s == wanted)
                .and_then(|(_, v)| v.as_deref())
        };
        let fields = || {
            values.iter().filter_map(|(s, v)| match s {
                ColumnSource::Field(f) => Some((f.as_str(), v.as_deref())),
                _ => None,
            })
        };
        match kind {
            TableKind::Hash => {
                if fields().any(|(_, v)| v.is_some()) {
                    let command = pipe.cmd("HSET").arg(key);
                    for (field, value) in fields().filter(|(_, v)| v.is_some()) {
                        command.arg(field).arg(value);
                    }
                    command.ignore();
                }
                if fields().any(|(_, v)| v.is_none()) {
                    let command = pipe.cmd("HDEL").arg(key);
                    for (field, _) in fields().filter(|(_, v)| v.is_none()) {
                        command.arg(field);
                    }
                    command.ignore();
                }
            }
            TableKind::Stream => {
                let command = pipe.cmd("XADD").arg(key);
                if let Some(maxlen) = self.table.options.stream_maxlen {
                    command.arg("MAXLEN").arg("~").arg(maxlen);
                }
                command.arg("*");
                for (field, value) in fields() {
                    if let Some(value) = value {
                        command.arg(field).arg(value);
                    }
                }
                command.ignore();
            }
            TableKind::String => {
                pipe.cmd("SET")
                    .arg(key)
                    .arg(value_of(&ColumnSource::Value))
                    .ignore();
            }
            TableKind::Set => {
                pipe.cmd("SADD")
                    .arg(key)
                    .arg(value_of(&ColumnSource::Member))
                    .ignore();
            }
            TableKind::SortedSet => {
                pipe.cmd("ZADD")
                    .arg(key)
                    .arg(value_of(&ColumnSource::Score))
                    .arg(value_of(&ColumnSource::Member))
                    .ignore();
            }
            TableKind::List => {
                pipe.cmd("RPUSH")
                    .arg(key)
                    .arg(value_of(&ColumnSource::Value))
                    .ignore();
            }
        }
        if let Some(seconds) = self.table.options.ttl_seconds {
            pipe.cmd("EXPIRE").arg(key).arg(seconds).ignore();
        }
    }
}
