//! Writing a Redis table for one host transaction. Changes are collected and applied at
//! commit, so a rolled-back transaction (or savepoint) sends nothing: hashes are set with
//! `HSET` (fields set to NULL are removed with `HDEL`), strings with `SET`, set members
//! with `SADD`/`SREM`, sorted-set members with `ZADD`/`ZREM`, list elements appended with
//! `RPUSH`, stream entries with `XADD`, rows deleted by key with `DEL`; `ttl_seconds`
//! adds an `EXPIRE`. On a single server the changes go in `MULTI`/`EXEC` blocks of
//! [`CHANGES_PER_BLOCK`], one round trip each.

use super::client::{run, run_retrying};
use super::codec::encode;
use super::error::{RedisError, Result};
use super::options::TableKind;
use super::spill::{Change, ChangeSpill};
use super::table::{ColumnSource, KeyPlan, RedisTable};
use crate::request::Qual;
use crate::rowid::row_of;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use std::collections::HashMap;

/// Changes applied atomically in one round trip.
pub const CHANGES_PER_BLOCK: usize = 10_000;

/// Memory of staged changes past which the oldest go to a temporary file.
pub const MEMORY_BUDGET: usize = 32 << 20;

/// The changes of one host transaction to one Redis table.
pub struct RedisWriter {
    table: RedisTable,
    /// the oldest changes, `0..spill.len()`, on disk (see [`super::spill`])
    spill: Option<ChangeSpill>,
    /// spilled changes cancelled since (a delete an UPDATE turned into a put of the
    /// same key) or made to replace their key, by position
    spilled_cancelled: std::collections::HashSet<usize>,
    spilled_replacing: std::collections::HashSet<usize>,
    /// spilled changes not cancelled
    spilled_live: usize,
    /// why the spill can no longer be trusted (a failed truncation): the commit fails
    broken: Option<String>,
    /// changes after the spilled ones, in order; `None`: a delete an UPDATE turned into
    /// a put of the same key
    changes: Vec<Option<Change>>,
    /// memory of `changes`
    changes_bytes: usize,
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
            spill: None,
            spilled_cancelled: Default::default(),
            spilled_replacing: Default::default(),
            spilled_live: 0,
            broken: None,
            changes: Vec::new(),
            changes_bytes: 0,
            deletes: HashMap::new(),
            puts: HashMap::new(),
        }
    }

    /// Takes rows (columns named as the table's, any subset holding every key column).
    /// The `updated` version of a hash row replaces its deleted original field by field,
    /// so fields the foreign table does not declare are kept when the key is unchanged.
    pub fn write(&mut self, batch: &RecordBatch, updated: bool) -> Result<()> {
        let kind = self.table.options.kind;
        let key_columns: Vec<String> = self
            .table
            .template
            .columns()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let mut key_arrays = Vec::with_capacity(key_columns.len());
        for name in &key_columns {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| RedisError::NullKey(name.to_string()))?;
            key_arrays.push((name.as_str(), array));
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
                            self.cancel(position);
                        }
                    }
                    // (also for an UPDATE: HDEL of every field would delete the row)
                    if values.iter().all(|(_, v)| v.is_none()) {
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
                self.puts.insert((key.clone(), member), self.len());
            }
            self.push(change)?;
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
                (Some(member), None) => self.push(Change::Delete {
                    key,
                    member: Some(member),
                })?,
                (None, Some(position)) => self.make_replace(position),
                (None, None) => self.push_delete(key)?,
            }
        }
        Ok(())
    }

    fn push_delete(&mut self, key: String) -> Result<()> {
        self.deletes.insert(key.clone(), self.len());
        self.push(Change::Delete { key, member: None })
    }

    /// Changes staged so far (positions run across the spill and memory).
    fn len(&self) -> usize {
        self.spilled() + self.changes.len()
    }

    fn spilled(&self) -> usize {
        self.spill.as_ref().map_or(0, ChangeSpill::len)
    }

    /// Stages a change; past [`MEMORY_BUDGET`] the changes in memory go to the spill.
    fn push(&mut self, change: Change) -> Result<()> {
        self.changes_bytes += change.size();
        self.changes.push(Some(change));
        if self.changes_bytes > MEMORY_BUDGET {
            if let Err(e) = self.spill_changes() {
                // changes may be lost part-way: the transaction must not commit them
                self.broken = Some(e.to_string());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Moves the changes in memory to the end of the spill file.
    fn spill_changes(&mut self) -> Result<()> {
        let spill = match self.spill.as_mut() {
            Some(spill) => spill,
            None => self
                .spill
                .insert(ChangeSpill::create(crate::runtime::spill_dir())?),
        };
        for change in self.changes.drain(..) {
            if change.is_some() {
                self.spilled_live += 1;
            }
            spill.push(change.as_ref())?;
        }
        self.changes_bytes = 0;
        Ok(())
    }

    /// Drops the delete at `position` (an UPDATE put the same key back).
    fn cancel(&mut self, position: usize) {
        match position.checked_sub(self.spilled()) {
            Some(at) => self.changes[at] = None,
            None => {
                if self.spilled_cancelled.insert(position) {
                    self.spilled_live -= 1;
                }
            }
        }
    }

    /// Makes the put at `position` remove its key first.
    fn make_replace(&mut self, position: usize) {
        match position.checked_sub(self.spilled()) {
            Some(at) => {
                if let Some(Some(Change::Put { replace, .. })) = self.changes.get_mut(at) {
                    *replace = true;
                }
            }
            None => {
                self.spilled_replacing.insert(position);
            }
        }
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
        let types: Vec<String> =
            run_retrying(&self.table.server, async |c| pipe.query_async(c).await)?;
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
            _ if present.is_empty() => Vec::new(),
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
                run_retrying(&self.table.server, async |c| pipe.query_async(c).await)?
            }
            _ => vec![1; present.len()],
        };
        let count = sizes.iter().sum();
        for key in present {
            self.push_delete(key)?;
        }
        Ok(count)
    }

    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.spilled_live == 0 && self.changes.iter().all(Option::is_none)
    }

    /// A mark [`Self::rollback_to`] can return to.
    pub fn savepoint(&mut self) -> usize {
        self.len()
    }

    /// Forgets the changes made after `mark`.
    pub fn rollback_to(&mut self, mark: usize) {
        match mark.checked_sub(self.spilled()) {
            Some(at) => self.changes.truncate(at),
            None => {
                self.changes.clear();
                if let Err(e) = self.truncate_spill(mark) {
                    self.broken = Some(e.to_string());
                }
            }
        }
        self.changes_bytes = self.changes.iter().flatten().map(Change::size).sum();
        self.deletes.retain(|_, position| *position < mark);
        self.puts.retain(|_, position| *position < mark);
    }

    /// Forgets the spilled changes from `mark` on, and counts the live ones left.
    fn truncate_spill(&mut self, mark: usize) -> Result<()> {
        let Some(spill) = self.spill.as_mut() else {
            return Ok(());
        };
        spill.truncate(mark)?;
        self.spilled_cancelled.retain(|p| *p < mark);
        self.spilled_replacing.retain(|p| *p < mark);
        let (mut live, cancelled) = (0, &self.spilled_cancelled);
        spill.read(|position, change| {
            if change.is_some() && !cancelled.contains(&position) {
                live += 1;
            }
            Ok(())
        })?;
        self.spilled_live = live;
        Ok(())
    }

    /// Applies every change; returns how many there were.
    pub fn commit(&mut self) -> Result<u64> {
        if let Some(reason) = &self.broken {
            return Err(RedisError::Command(format!(
                "an earlier change of this transaction could not be staged ({reason}); roll the transaction back"
            )));
        }
        self.deletes.clear();
        self.puts.clear();
        let total =
            (self.spilled_live + self.changes.iter().filter(|c| c.is_some()).count()) as u64;
        // A connection kept from an earlier statement may be broken (the server
        // restarted): check it first, where sending twice is harmless. On a single
        // server the check is an empty MULTI/EXEC, so a user the ACL denies either
        // gets a clear refusal before anything is sent (a denied MULTI would otherwise
        // let the block's commands run one by one, outside any transaction).
        if total > 0 {
            run_retrying(&self.table.server, async |c| {
                if c.is_cluster() {
                    ::redis::cmd("PING").query_async::<()>(c).await
                } else {
                    let mut check = ::redis::pipe();
                    check.cmd("MULTI").ignore().cmd("EXEC").ignore();
                    check.query_async::<()>(c).await
                }
            })?;
        }
        let mut sender = BlockSender {
            writer: self,
            block: Vec::with_capacity(CHANGES_PER_BLOCK),
            applied: 0,
            total,
        };
        if let Some(mut spill) = sender.writer.spill.take() {
            let (cancelled, replacing) = (
                std::mem::take(&mut sender.writer.spilled_cancelled),
                std::mem::take(&mut sender.writer.spilled_replacing),
            );
            let read = spill.read(|position, change| {
                let Some(mut change) = change.filter(|_| !cancelled.contains(&position)) else {
                    return Ok(());
                };
                if replacing.contains(&position) {
                    if let Change::Put { replace, .. } = &mut change {
                        *replace = true;
                    }
                }
                sender.add(change)
            });
            sender.writer.spilled_live = 0;
            read?;
        }
        for change in std::mem::take(&mut sender.writer.changes)
            .into_iter()
            .flatten()
        {
            sender.add(change)?;
        }
        sender.writer.changes_bytes = 0;
        sender.flush()?;
        Ok(total)
    }

    /// Sends one block of changes (`MULTI`/`EXEC` on a single server).
    fn send_block(&self, block: &[Change], applied: u64, total: u64) -> Result<()> {
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
            Ok(()) => Ok(()),
            Err(e) if applied == 0 => Err(e),
            Err(e) => Err(RedisError::PartlyApplied {
                applied,
                total,
                reason: e.to_string(),
            }),
        }
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

/// Collects changes into blocks of [`CHANGES_PER_BLOCK`] and sends each when full.
struct BlockSender<'a> {
    writer: &'a mut RedisWriter,
    block: Vec<Change>,
    applied: u64,
    total: u64,
}

impl BlockSender<'_> {
    fn add(&mut self, change: Change) -> Result<()> {
        self.block.push(change);
        if self.block.len() == CHANGES_PER_BLOCK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.writer
            .send_block(&self.block, self.applied, self.total)?;
        self.applied += self.block.len() as u64;
        self.block.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
