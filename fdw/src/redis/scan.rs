//! Reading a Redis table: keys named by quals are read directly (pipelined `HMGET` or
//! `GET`, one round trip per batch of keys); otherwise `SCAN MATCH` walks the keys of
//! the template's shape. Each batch becomes Arrow arrays in the codec's types.

use super::client::run;
use super::codec::{decode, Origin};
use super::error::{RedisError, Result};
use super::options::TableKind;
use super::rowid::identify;
use super::table::{ColumnSource, KeyPlan, RedisTable};
use crate::batch::{ColumnData, ScanBatch};
use crate::request::ScanRequest;
use ::redis::Value as Reply;
use std::collections::{HashSet, VecDeque};

/// A key that was found: its name, its key-column values, and its value bytes (one per
/// requested field of a hash, or the value of a string).
struct FoundKey {
    key: String,
    parts: Vec<String>,
    values: Vec<Option<Vec<u8>>>,
}

/// Keys read per round trip.
const KEYS_PER_BATCH: usize = 1_000;

/// What a scan did, for EXPLAIN ANALYZE.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanCounters {
    /// round trips to the server
    pub round_trips: u64,
    /// `SCAN` calls
    pub scan_calls: u64,
    /// keys looked up
    pub keys_read: u64,
    /// rows returned
    pub rows_returned: u64,
}

/// A scan in progress.
pub struct RedisScan {
    table: RedisTable,
    columns: Vec<String>,
    plan: KeyPlan,
    /// keys still to read (direct plans) or found by SCAN and not read yet
    pending: VecDeque<(String, Vec<String>)>,
    /// the SCAN cursor; `None` once the walk is complete
    cursor: Option<u64>,
    /// keys SCAN already returned (it may return a key twice)
    seen: HashSet<String>,
    remaining: Option<u64>,
    row_ids: bool,
    counters: ScanCounters,
}

impl RedisScan {
    /// Starts a scan of `table` for `request` (stream tables are written only).
    pub fn new(table: &RedisTable, request: &ScanRequest) -> Result<RedisScan> {
        if table.options.kind == TableKind::Stream {
            return Err(RedisError::Unsupported(
                "reading a stream table (its entries are consumed by the feature stream worker)"
                    .into(),
            ));
        }
        let plan = table.plan(&request.quals);
        let (pending, cursor) = match &plan {
            KeyPlan::Keys(keys) => (keys.iter().cloned().collect(), None),
            KeyPlan::Pattern(_) => (VecDeque::new(), Some(0)),
        };
        Ok(RedisScan {
            table: table.clone(),
            columns: request.columns.clone(),
            plan,
            pending,
            cursor,
            seen: HashSet::new(),
            remaining: request.limit,
            row_ids: request.row_ids,
            counters: ScanCounters::default(),
        })
    }

    /// How the scan finds keys, for EXPLAIN.
    pub fn plan(&self) -> &KeyPlan {
        &self.plan
    }

    /// What the scan did so far.
    pub fn counters(&self) -> &ScanCounters {
        &self.counters
    }

    /// The next batch of rows, or `None` when the scan is done.
    pub fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        loop {
            if self.remaining == Some(0) {
                return Ok(None);
            }
            if self.pending.is_empty() {
                match self.cursor {
                    None => return Ok(None),
                    Some(cursor) => self.scan_more(cursor)?,
                }
                continue;
            }
            let take = self.pending.len().min(KEYS_PER_BATCH);
            let keys: Vec<(String, Vec<String>)> = self.pending.drain(..take).collect();
            let batch = self.read(keys)?;
            if batch.num_rows > 0 {
                return Ok(Some(batch));
            }
        }
    }

    /// One `SCAN` call: queues the new keys of the template's shape.
    fn scan_more(&mut self, cursor: u64) -> Result<()> {
        crate::runtime::check_interrupts();
        let KeyPlan::Pattern(pattern) = &self.plan else {
            self.cursor = None;
            return Ok(());
        };
        let kind = match self.table.options.kind {
            TableKind::Hash => "hash",
            TableKind::String => "string",
            TableKind::Stream => "stream",
        };
        let mut command = ::redis::cmd("SCAN");
        command
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(self.table.options.scan_count)
            .arg("TYPE")
            .arg(kind);
        let (next, keys): (u64, Vec<String>) =
            run(&self.table.server, async |c| command.query_async(c).await)?;
        self.counters.scan_calls += 1;
        self.counters.round_trips += 1;
        self.cursor = (next != 0).then_some(next);
        for key in keys {
            if let Some(parts) = self.table.template.parse_key(&key) {
                if self.seen.insert(key.clone()) {
                    self.pending.push_back((key, parts));
                }
            }
        }
        Ok(())
    }

    /// Reads `keys` in one pipelined round trip; keys that do not exist are left out.
    fn read(&mut self, keys: Vec<(String, Vec<String>)>) -> Result<ScanBatch> {
        crate::runtime::check_interrupts();
        let fields: Vec<(usize, String)> = self
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, name)| match &self.table.column(name)?.source {
                ColumnSource::Field(f) => Some((i, f.clone())),
                _ => None,
            })
            .collect();
        let mut pipe = ::redis::pipe();
        for (key, _) in &keys {
            match self.table.options.kind {
                TableKind::Hash | TableKind::Stream => {
                    pipe.cmd("EXISTS").arg(key);
                    if !fields.is_empty() {
                        let command = pipe.cmd("HMGET").arg(key);
                        for (_, f) in &fields {
                            command.arg(f);
                        }
                    }
                }
                TableKind::String => {
                    pipe.cmd("GET").arg(key);
                }
            }
        }
        let replies: Vec<Reply> = run(&self.table.server, async |c| pipe.query_async(c).await)?;
        self.counters.round_trips += 1;
        self.counters.keys_read += keys.len() as u64;

        // Per found key: its value bytes per field (hash) or the value (string).
        let mut found: Vec<FoundKey> = Vec::new();
        let mut replies = replies.into_iter();
        for (key, parts) in keys {
            let values = match self.table.options.kind {
                TableKind::Hash | TableKind::Stream => {
                    let exists = matches!(replies.next(), Some(Reply::Int(n)) if n > 0);
                    let values = if fields.is_empty() {
                        Vec::new()
                    } else {
                        match replies.next() {
                            Some(Reply::Array(items)) => items.into_iter().map(bytes_of).collect(),
                            _ => vec![None; fields.len()],
                        }
                    };
                    if !exists {
                        continue;
                    }
                    values
                }
                TableKind::String => match replies.next().and_then(bytes_of) {
                    Some(value) => vec![Some(value)],
                    None => continue,
                },
            };
            found.push(FoundKey { key, parts, values });
        }
        if let Some(limit) = self.remaining.as_mut() {
            found.truncate(*limit as usize);
            *limit -= found.len() as u64;
        }
        self.counters.rows_returned += found.len() as u64;
        self.to_batch(found, &fields)
    }

    fn to_batch(&self, found: Vec<FoundKey>, fields: &[(usize, String)]) -> Result<ScanBatch> {
        let rows: Vec<(&str, &[String])> = found
            .iter()
            .map(|f| (f.key.as_str(), f.parts.as_slice()))
            .collect();
        let mut columns = Vec::with_capacity(self.columns.len());
        for (i, name) in self.columns.iter().enumerate() {
            let column = self
                .table
                .column(name)
                .expect("requested columns are declared columns");
            let array = match &column.source {
                ColumnSource::Key(k) => self.table.decode_key_column(*k, &rows)?,
                ColumnSource::Field(field) => {
                    let slot = fields
                        .iter()
                        .position(|(c, _)| *c == i)
                        .expect("every requested field is read");
                    let values: Vec<(Option<&[u8]>, Origin)> = found
                        .iter()
                        .map(|f| {
                            let origin = Origin { key: &f.key, field };
                            (f.values[slot].as_deref(), origin)
                        })
                        .collect();
                    decode(&column.pg_type, &values)?
                }
                ColumnSource::Value => {
                    let values: Vec<(Option<&[u8]>, Origin)> = found
                        .iter()
                        .map(|f| {
                            let origin = Origin {
                                key: &f.key,
                                field: "value",
                            };
                            (f.values[0].as_deref(), origin)
                        })
                        .collect();
                    decode(&column.pg_type, &values)?
                }
            };
            columns.push(ColumnData::Array(array));
        }
        let row_ids = if self.row_ids {
            Some(
                found
                    .iter()
                    .map(|f| identify(&f.key))
                    .collect::<Result<Vec<_>>>()?,
            )
        } else {
            None
        };
        Ok(ScanBatch {
            num_rows: found.len(),
            columns,
            row_ids,
        })
    }
}

/// The bytes of a bulk-string reply; `None` for nil.
fn bytes_of(reply: Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::BulkString(b) => Some(b),
        Reply::SimpleString(s) => Some(s.into_bytes()),
        Reply::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}
