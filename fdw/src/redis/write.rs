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
mod tests {
    use super::*;
    use crate::options::Options;
    use crate::redis::options::{ServerOptions, TableOptions};
    use crate::rowid::identify;
    use crate::types::PgType;
    use deltalake::arrow::array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    /// A table of `kind` over keys `k:{id}` (`id bigint`) with these other columns; the
    /// server is never contacted (nothing listens on its port).
    fn table(options: &[(&str, &str)], columns: &[(&str, PgType, Option<&str>)]) -> RedisTable {
        let server = ServerOptions::from_options(
            &Options::new([("url".to_string(), "redis://127.0.0.1:1".to_string())]),
            &Options::default(),
        )
        .unwrap();
        let options = TableOptions::from_options(&Options::new(
            [("key_template", "k:{id}")]
                .iter()
                .chain(options)
                .map(|(k, v)| (k.to_string(), v.to_string())),
        ))
        .unwrap();
        let mut declared = vec![("id".to_string(), PgType::Int8, None)];
        declared.extend(
            columns
                .iter()
                .map(|(n, t, f)| (n.to_string(), t.clone(), f.map(str::to_string))),
        );
        RedisTable::new(server, options, &declared).unwrap()
    }

    fn hash() -> RedisTable {
        table(
            &[],
            &[
                ("name", PgType::Text, None),
                ("age", PgType::Int4, Some("years")),
            ],
        )
    }

    fn rows(ids: &[i64], columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let mut all = vec![("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef)];
        all.extend(columns);
        RecordBatch::try_from_iter(all).unwrap()
    }

    fn texts(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    fn names(ids: &[i64], names: &[Option<&str>]) -> RecordBatch {
        rows(ids, vec![("name", texts(names))])
    }

    /// The commands `writer` sends for each change staged in memory, as text.
    fn commands(writer: &RedisWriter) -> Vec<Vec<String>> {
        let mut pipe = ::redis::pipe();
        for change in writer.changes.iter().flatten() {
            writer.add_commands(&mut pipe, change);
        }
        texts_of(&pipe)
    }

    fn texts_of(pipe: &::redis::Pipeline) -> Vec<Vec<String>> {
        pipe.cmd_iter()
            .map(|command| {
                command
                    .args_iter()
                    .map(|arg| match arg {
                        ::redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                        _ => "<cursor>".into(),
                    })
                    .collect()
            })
            .collect()
    }

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    /// The commands a commit would send, spilled changes first (as `commit` reads
    /// them: cancelled ones skipped, replacing ones marked).
    fn staged(writer: &mut RedisWriter) -> Vec<Vec<String>> {
        let mut changes = Vec::new();
        if let Some(spill) = writer.spill.as_mut() {
            let (cancelled, replacing) = (&writer.spilled_cancelled, &writer.spilled_replacing);
            spill
                .read(|position, change| {
                    if let Some(mut change) = change.filter(|_| !cancelled.contains(&position)) {
                        if let Change::Put { replace, .. } = &mut change {
                            *replace |= replacing.contains(&position);
                        }
                        changes.push(change);
                    }
                    Ok(())
                })
                .unwrap();
        }
        changes.extend(writer.changes.iter().flatten().cloned());
        let mut pipe = ::redis::pipe();
        for change in &changes {
            writer.add_commands(&mut pipe, change);
        }
        texts_of(&pipe)
    }

    #[test]
    fn hash_rows_set_their_fields_and_remove_null_ones() {
        let mut writer = RedisWriter::new(hash());
        let batch = rows(
            &[1, 2],
            vec![
                ("name", texts(&[Some("ann"), None])),
                (
                    "age",
                    Arc::new(deltalake::arrow::array::Int32Array::from(vec![30, 41])),
                ),
            ],
        );
        writer.write(&batch, false).unwrap();
        assert_eq!(
            commands(&writer),
            vec![
                words("HSET k:1 name ann years 30"),
                words("HSET k:2 years 41"),
                words("HDEL k:2 name"),
            ]
        );
        // columns a batch does not carry are left alone
        let mut partial = RedisWriter::new(hash());
        partial.write(&names(&[3], &[Some("cy")]), false).unwrap();
        assert_eq!(commands(&partial), vec![words("HSET k:3 name cy")]);
    }

    #[test]
    fn rows_redis_cannot_hold_are_refused() {
        let mut writer = RedisWriter::new(hash());
        // a NULL key column names no key
        let null_key = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![None])) as ArrayRef),
            ("name", texts(&[Some("x")])),
        ])
        .unwrap();
        assert!(matches!(writer.write(&null_key, false), Err(RedisError::NullKey(c)) if c == "id"));
        // a key column missing from the batch
        assert!(matches!(
            writer.write(
                &RecordBatch::try_from_iter(vec![("name", texts(&[Some("x")]))]).unwrap(),
                false
            ),
            Err(RedisError::NullKey(_))
        ));
        // Redis has no empty hashes
        assert!(matches!(
            writer.write(&names(&[1], &[None]), false),
            Err(RedisError::EmptyHash(key)) if key == "k:1"
        ));
        assert!(writer.is_empty());

        let zset = table(
            &[("kind", "zset")],
            &[
                ("member", PgType::Text, None),
                ("score", PgType::Float8, None),
            ],
        );
        let mut writer = RedisWriter::new(zset);
        let scored = |member: Option<&str>, score: f64| {
            rows(
                &[1],
                vec![
                    ("member", texts(&[member])),
                    (
                        "score",
                        Arc::new(Float64Array::from(vec![score])) as ArrayRef,
                    ),
                ],
            )
        };
        assert!(matches!(
            writer.write(&scored(Some("m"), f64::NAN), false),
            Err(RedisError::KeyValue { column, .. }) if column == "score"
        ));
        assert!(matches!(
            writer.write(&scored(None, 1.0), false),
            Err(RedisError::NullElement(_))
        ));
        writer.write(&scored(Some("m"), 2.5), false).unwrap();
        assert_eq!(commands(&writer), vec![words("ZADD k:1 2.5 m")]);

        // a string set to NULL: refused on INSERT, the key deleted on UPDATE
        let string = table(&[("kind", "string")], &[("value", PgType::Text, None)]);
        let mut writer = RedisWriter::new(string);
        let value = |v: Option<&str>| rows(&[7], vec![("value", texts(&[v]))]);
        assert!(matches!(
            writer.write(&value(None), false),
            Err(RedisError::NullElement(_))
        ));
        writer.write(&value(Some("v")), false).unwrap();
        writer.write(&value(None), true).unwrap();
        assert_eq!(
            commands(&writer),
            vec![words("SET k:7 v"), words("DEL k:7")]
        );
    }

    #[test]
    fn an_update_keeping_its_key_cancels_the_delete_of_the_old_row() {
        let mut writer = RedisWriter::new(hash());
        let old = identify("k:1", None).unwrap();
        writer.delete(&[old]).unwrap();
        writer.write(&names(&[1], &[Some("new")]), true).unwrap();
        // the hash is updated field by field (undeclared fields stay), never deleted
        assert_eq!(commands(&writer), vec![words("HSET k:1 name new")]);
        assert!(!writer.is_empty());
        assert_eq!(writer.changes.iter().flatten().count(), 1);
    }

    #[test]
    fn an_update_moving_a_row_onto_a_key_deleted_later_replaces_it() {
        // UPDATE moves row 2 to key 1, then deletes the old row at key 1 (read before)
        let mut writer = RedisWriter::new(hash());
        writer.write(&names(&[1], &[Some("moved")]), true).unwrap();
        writer.delete(&[identify("k:1", None).unwrap()]).unwrap();
        writer.delete(&[identify("k:2", None).unwrap()]).unwrap();
        assert_eq!(
            commands(&writer),
            vec![
                words("DEL k:1"),
                words("HSET k:1 name moved"),
                words("DEL k:2")
            ]
        );

        // a set member put back by the same UPDATE is not removed after it
        let set = table(&[("kind", "set")], &[("tag", PgType::Text, None)]);
        let mut writer = RedisWriter::new(set);
        writer
            .write(&rows(&[5], vec![("tag", texts(&[Some("a")]))]), true)
            .unwrap();
        writer
            .delete(&[identify("k:5", Some(b"a")).unwrap()])
            .unwrap();
        writer
            .delete(&[identify("k:5", Some(b"b")).unwrap()])
            .unwrap();
        assert_eq!(
            commands(&writer),
            vec![words("SADD k:5 a"), words("SREM k:5 b")]
        );
    }

    #[test]
    fn rollback_forgets_the_changes_and_the_bookkeeping_after_the_mark() {
        let mut writer = RedisWriter::new(hash());
        writer.write(&names(&[1], &[Some("a")]), false).unwrap();
        let mark = writer.savepoint();
        assert_eq!(mark, 1);
        writer.delete(&[identify("k:2", None).unwrap()]).unwrap();
        writer.write(&names(&[3], &[Some("c")]), true).unwrap();
        writer.rollback_to(mark);
        assert_eq!(writer.savepoint(), 1);
        // neither the rolled-back delete of k:2 nor the put of k:3 is found again
        writer.write(&names(&[2], &[Some("b")]), true).unwrap();
        writer.delete(&[identify("k:3", None).unwrap()]).unwrap();
        assert_eq!(
            commands(&writer),
            vec![
                words("HSET k:1 name a"),
                words("HSET k:2 name b"),
                words("DEL k:3")
            ]
        );
        writer.rollback_to(0);
        assert!(writer.is_empty());
        assert_eq!(writer.changes_bytes, 0);
    }

    #[test]
    fn rollback_reaches_into_spilled_changes() {
        let mut writer = RedisWriter::new(hash());
        // earlier statements: an INSERT, and an UPDATE keeping its key (delete cancelled)
        writer
            .write(&names(&[1, 2], &[Some("a"), Some("b")]), false)
            .unwrap();
        writer.delete(&[identify("k:3", None).unwrap()]).unwrap();
        writer.write(&names(&[3], &[Some("c")]), true).unwrap();
        // (what passing the memory budget does)
        writer.spill_changes().unwrap();
        assert_eq!((writer.spilled(), writer.changes.len()), (4, 0));
        assert_eq!(writer.spilled_live, 3);
        // a subtransaction's UPDATE: its changes spill part-way, and the rest of the
        // statement cancels a spilled delete and makes a spilled put replace its key
        let mark = writer.savepoint();
        assert_eq!(mark, 4);
        writer.delete(&[identify("k:7", None).unwrap()]).unwrap();
        writer.write(&names(&[8], &[Some("h")]), true).unwrap();
        writer.spill_changes().unwrap();
        writer.write(&names(&[7], &[Some("g")]), true).unwrap();
        writer.delete(&[identify("k:8", None).unwrap()]).unwrap();
        assert_eq!(writer.spilled_cancelled, [4].into_iter().collect());
        assert_eq!(writer.spilled_replacing, [5].into_iter().collect());
        assert_eq!(writer.spilled_live, 4);
        assert_eq!(
            staged(&mut writer),
            vec![
                words("HSET k:1 name a"),
                words("HSET k:2 name b"),
                words("HSET k:3 name c"),
                words("DEL k:8"),
                words("HSET k:8 name h"),
                words("HSET k:7 name g"),
            ]
        );
        // the subtransaction aborts: the spill is cut back to the mark, with the
        // cancellations and replacements of the changes it drops
        writer.rollback_to(mark);
        assert_eq!((writer.spilled(), writer.changes.len()), (4, 0));
        assert!(writer.spilled_cancelled.is_empty());
        assert!(writer.spilled_replacing.is_empty());
        assert_eq!(writer.spilled_live, 3);
        assert!(writer.broken.is_none());
        assert_eq!(
            staged(&mut writer),
            vec![
                words("HSET k:1 name a"),
                words("HSET k:2 name b"),
                words("HSET k:3 name c"),
            ]
        );
        // new changes go on after the kept ones
        writer.write(&names(&[9], &[Some("i")]), false).unwrap();
        assert_eq!(writer.savepoint(), 5);
        writer.rollback_to(0);
        assert!(writer.is_empty());
    }

    #[test]
    fn a_commit_of_nothing_sends_nothing() {
        let mut writer = RedisWriter::new(hash());
        assert_eq!(writer.commit().unwrap(), 0);
        writer.write(&names(&[1], &[Some("a")]), false).unwrap();
        writer.rollback_to(0);
        // (the server's port is closed: any command would fail)
        assert_eq!(writer.commit().unwrap(), 0);
    }

    #[test]
    fn list_elements_cannot_be_deleted_by_identity() {
        let list = table(&[("kind", "list")], &[("value", PgType::Text, None)]);
        let mut writer = RedisWriter::new(list);
        assert!(matches!(
            writer.delete(&[identify("k:1", None).unwrap()]),
            Err(RedisError::Unsupported(_))
        ));
        assert!(matches!(
            writer.delete(&[u64::MAX >> 16]),
            Err(RedisError::RowId(_))
        ));
    }

    #[test]
    fn every_kind_gets_its_commands_and_the_expiry() {
        let value = |v: &str| rows(&[1], vec![("value", texts(&[Some(v)]))]);
        let string = table(
            &[("kind", "string"), ("ttl_seconds", "60")],
            &[("value", PgType::Text, None)],
        );
        let mut writer = RedisWriter::new(string);
        writer.write(&value("v"), false).unwrap();
        assert_eq!(
            commands(&writer),
            vec![words("SET k:1 v"), words("EXPIRE k:1 60")]
        );
        let list = table(&[("kind", "list")], &[("value", PgType::Text, None)]);
        let mut writer = RedisWriter::new(list);
        writer.write(&value("x"), false).unwrap();
        writer.write(&value("y"), false).unwrap();
        assert_eq!(
            commands(&writer),
            vec![words("RPUSH k:1 x"), words("RPUSH k:1 y")]
        );
        let stream = table(
            &[("kind", "stream"), ("stream_maxlen", "100")],
            &[("event", PgType::Text, None), ("note", PgType::Text, None)],
        );
        let mut writer = RedisWriter::new(stream);
        let entry = rows(
            &[1],
            vec![("event", texts(&[Some("click")])), ("note", texts(&[None]))],
        );
        writer.write(&entry, false).unwrap();
        assert_eq!(
            commands(&writer),
            vec![words("XADD k:1 MAXLEN ~ 100 * event click")]
        );
        let zset = table(
            &[("kind", "zset")],
            &[
                ("member", PgType::Text, None),
                ("score", PgType::Float8, None),
            ],
        );
        let mut writer = RedisWriter::new(zset);
        writer
            .delete(&[identify("k:1", Some(b"m")).unwrap()])
            .unwrap();
        writer.delete(&[identify("k:2", None).unwrap()]).unwrap();
        assert_eq!(
            commands(&writer),
            vec![words("ZREM k:1 m"), words("DEL k:2")]
        );
    }
}
