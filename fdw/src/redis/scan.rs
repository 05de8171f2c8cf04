//! Reading a Redis table: keys named by quals are read directly (pipelined `HMGET`,
//! `GET`, `SMEMBERS`, `ZRANGE` or `LRANGE`, one round trip per batch of keys); otherwise
//! `SCAN MATCH` walks the keys of the template's shape. Each batch becomes Arrow arrays
//! in the codec's types; a collection gives one row per element.

use super::client::run_retrying;
use super::codec::{decode, Origin};
use super::error::{RedisError, Result};
use super::options::TableKind;
use super::table::{ColumnSource, KeyPlan, RedisTable};
use crate::batch::{ColumnData, ScanBatch};
use crate::request::ScanRequest;
use crate::rowid::identify;
use ::redis::Value as Reply;
use std::collections::{HashSet, VecDeque};

/// One row read: its key, its key-column values, the bytes of each requested column
/// (`None` for key columns and absent values), and its identity within the key (the
/// member of a set or sorted set).
struct FoundRow {
    key: String,
    parts: Vec<String>,
    values: Vec<Option<Vec<u8>>>,
    member: Option<Vec<u8>>,
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
        if table.server.cluster && matches!(plan, KeyPlan::Pattern(_)) {
            return Err(RedisError::Unsupported(
                "a scan without a value for every key column on a Redis Cluster (SCAN walks one node); \
                 give the key columns with = or IN"
                    .into(),
            ));
        }
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
        // No TYPE filter: a key of the template's shape holding another type is an
        // error when read, as it is for a lookup by key, so a pushed qual never hides
        // a key a full scan would report.
        let mut command = ::redis::cmd("SCAN");
        command
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(self.table.options.scan_count);
        let (next, keys): (u64, Vec<Vec<u8>>) =
            run_retrying(&self.table.server, async |c| command.query_async(c).await)?;
        self.counters.scan_calls += 1;
        self.counters.round_trips += 1;
        self.cursor = (next != 0).then_some(next);
        for key in keys {
            // a key of the template's shape must be text to fill its key columns
            let key = String::from_utf8(key).map_err(|e| RedisError::InvalidText {
                key: e.as_bytes().escape_ascii().to_string(),
                field: "the key itself".into(),
            })?;
            if let Some(parts) = self.table.template.parse_key(&key) {
                if self.seen.insert(key.clone()) {
                    self.pending.push_back((key, parts));
                }
            }
        }
        Ok(())
    }

    /// Reads `keys` in one pipelined round trip; keys that do not exist are left out,
    /// collections give a row per element.
    fn read(&mut self, keys: Vec<(String, Vec<String>)>) -> Result<ScanBatch> {
        crate::runtime::check_interrupts();
        let sources: Vec<&ColumnSource> = self
            .columns
            .iter()
            .map(|name| {
                &self
                    .table
                    .column(name)
                    .expect("requested columns are declared columns")
                    .source
            })
            .collect();
        let fields: Vec<(usize, &str)> = sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                ColumnSource::Field(f) => Some((i, f.as_str())),
                _ => None,
            })
            .collect();
        let kind = self.table.options.kind;
        let mut pipe = ::redis::pipe();
        // Each key's TYPE first: a key of the template holding another type is an
        // error, never rows read as if it were of the table's kind.
        pipe.ignore_errors();
        for (key, _) in &keys {
            pipe.cmd("TYPE").arg(key);
            match kind {
                TableKind::Hash | TableKind::Stream => {
                    let command = pipe.cmd("HMGET").arg(key);
                    for (_, f) in &fields {
                        command.arg(*f);
                    }
                    if fields.is_empty() {
                        command.arg("");
                    }
                }
                TableKind::String => {
                    pipe.cmd("GET").arg(key);
                }
                TableKind::Set => {
                    pipe.cmd("SMEMBERS").arg(key);
                }
                TableKind::SortedSet => {
                    pipe.cmd("ZRANGE").arg(key).arg(0).arg(-1).arg("WITHSCORES");
                }
                TableKind::List => {
                    pipe.cmd("LRANGE").arg(key).arg(0).arg(-1);
                }
            }
        }
        let replies: Vec<Reply> =
            run_retrying(&self.table.server, async |c| pipe.query_async(c).await)?;
        self.counters.round_trips += 1;
        self.counters.keys_read += keys.len() as u64;
        let mut replies = replies.into_iter();
        let mut data = Vec::with_capacity(keys.len());
        for (key, parts) in keys {
            let type_reply = replies.next().unwrap_or(Reply::Nil);
            let reply = replies.next().unwrap_or(Reply::Nil);
            // a refused TYPE (an ACL without it, say) is that error, not a key of no type
            if let Reply::ServerError(e) = &type_reply {
                return Err(key_error(&key, e));
            }
            let found_type = bytes_of(type_reply).unwrap_or_default();
            if found_type == b"none" {
                continue;
            }
            if found_type != kind.redis_type().as_bytes() {
                return Err(RedisError::WrongType {
                    key,
                    found: String::from_utf8_lossy(&found_type).into_owned(),
                    expected: kind.redis_type(),
                });
            }
            if let Reply::ServerError(e) = &reply {
                return Err(key_error(&key, e));
            }
            data.push((key, parts, reply));
        }

        let width = self.columns.len();
        let row = |key: &str, parts: &[String], cells: &[(&ColumnSource, Vec<u8>)]| {
            let mut values = vec![None; width];
            for (i, source) in sources.iter().enumerate() {
                values[i] = cells
                    .iter()
                    .find(|(s, _)| s == source)
                    .map(|(_, v)| v.clone());
            }
            (key.to_string(), parts.to_vec(), values)
        };
        let mut found: Vec<FoundRow> = Vec::new();
        for (key, parts, reply) in data {
            match kind {
                TableKind::Hash | TableKind::Stream => {
                    let mut values = vec![None; width];
                    if let Reply::Array(items) = reply {
                        for ((i, _), item) in fields.iter().zip(items) {
                            values[*i] = bytes_of(item);
                        }
                    }
                    found.push(FoundRow {
                        key,
                        parts,
                        values,
                        member: None,
                    });
                }
                TableKind::String => {
                    if let Some(value) = bytes_of(reply) {
                        let (key, parts, values) =
                            row(&key, &parts, &[(&ColumnSource::Value, value)]);
                        found.push(FoundRow {
                            key,
                            parts,
                            values,
                            member: None,
                        });
                    }
                }
                TableKind::Set | TableKind::SortedSet | TableKind::List => {
                    let Reply::Array(items) = reply else {
                        continue;
                    };
                    let items: Vec<Vec<u8>> = items.into_iter().filter_map(bytes_of).collect();
                    match kind {
                        TableKind::Set => {
                            for member in items {
                                let (key, parts, values) =
                                    row(&key, &parts, &[(&ColumnSource::Member, member.clone())]);
                                found.push(FoundRow {
                                    key,
                                    parts,
                                    values,
                                    member: Some(member),
                                });
                            }
                        }
                        TableKind::SortedSet => {
                            for pair in items.chunks(2) {
                                let [member, score] = pair else { continue };
                                let (key, parts, values) = row(
                                    &key,
                                    &parts,
                                    &[
                                        (&ColumnSource::Member, member.clone()),
                                        (&ColumnSource::Score, score.clone()),
                                    ],
                                );
                                found.push(FoundRow {
                                    key,
                                    parts,
                                    values,
                                    member: Some(member.clone()),
                                });
                            }
                        }
                        _ => {
                            for (position, value) in items.into_iter().enumerate() {
                                let (key, parts, values) = row(
                                    &key,
                                    &parts,
                                    &[
                                        (
                                            &ColumnSource::Position,
                                            position.to_string().into_bytes(),
                                        ),
                                        (&ColumnSource::Value, value),
                                    ],
                                );
                                found.push(FoundRow {
                                    key,
                                    parts,
                                    values,
                                    member: None,
                                });
                            }
                        }
                    }
                }
            }
        }
        if let Some(limit) = self.remaining.as_mut() {
            found.truncate(*limit as usize);
            *limit -= found.len() as u64;
        }
        self.counters.rows_returned += found.len() as u64;
        self.to_batch(found)
    }

    fn to_batch(&self, found: Vec<FoundRow>) -> Result<ScanBatch> {
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
                other => {
                    let field = match other {
                        ColumnSource::Field(f) => f.as_str(),
                        _ => column.name.as_str(),
                    };
                    let values: Vec<(Option<&[u8]>, Origin)> = found
                        .iter()
                        .map(|f| {
                            let origin = Origin { key: &f.key, field };
                            (f.values[i].as_deref(), origin)
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
                    .map(|f| identify(&f.key, f.member.as_deref()))
                    .collect::<std::result::Result<Vec<_>, _>>()?,
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
/// The error a command on `key` answered: `NOPERM` is a denial, anything else a failed
/// command, both naming the key.
fn key_error(key: &str, e: &::redis::ServerError) -> RedisError {
    let reason = match e.details() {
        Some(details) => format!("{} {details}", e.code()),
        None => e.code().to_string(),
    };
    if e.code() == "NOPERM" {
        RedisError::Denied {
            key: key.to_string(),
            reason,
        }
    } else {
        RedisError::Command(format!("key \"{key}\": {reason}"))
    }
}

fn bytes_of(reply: Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::BulkString(b) => Some(b),
        Reply::SimpleString(s) => Some(s.into_bytes()),
        Reply::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;
    use crate::redis::options::{ServerOptions, TableOptions};
    use crate::request::{Op, Qual};
    use crate::rowid::row_of;
    use crate::types::PgType;
    use crate::value::Value;
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::{Float64Type, Int64Type};

    /// A table over keys `u:{id}:{tag}` (`id bigint`, `tag text`) and these other
    /// columns; nothing listens at the server's port, so any round trip fails.
    fn table(
        options: &[(&str, &str)],
        server: &[(&str, &str)],
        columns: &[(&str, PgType)],
    ) -> RedisTable {
        let pairs = |p: &[(&str, &str)]| {
            Options::new(p.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        };
        let server = ServerOptions::from_options(
            &pairs(&[[("url", "redis://127.0.0.1:1")].as_slice(), server].concat()),
            &Options::default(),
        )
        .unwrap();
        let options = TableOptions::from_options(&pairs(
            &[[("key_template", "u:{id}:{tag}")].as_slice(), options].concat(),
        ))
        .unwrap();
        let mut declared = vec![
            ("id".to_string(), PgType::Int8, None),
            ("tag".to_string(), PgType::Text, None),
        ];
        declared.extend(
            columns
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone(), None)),
        );
        RedisTable::new(server, options, &declared).unwrap()
    }

    fn request(columns: &[&str], quals: Vec<Qual>) -> ScanRequest {
        ScanRequest {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            quals,
            ..ScanRequest::default()
        }
    }

    fn eq(column: &str, value: Value) -> Qual {
        Qual {
            column: column.into(),
            op: Op::Eq,
            value,
        }
    }

    fn found(
        key: &str,
        parts: &[&str],
        values: Vec<Option<&[u8]>>,
        member: Option<&[u8]>,
    ) -> FoundRow {
        FoundRow {
            key: key.into(),
            parts: parts.iter().map(|p| p.to_string()).collect(),
            values: values.into_iter().map(|v| v.map(<[u8]>::to_vec)).collect(),
            member: member.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn scans_that_cannot_be_served_are_refused_before_any_round_trip() {
        let stream = table(&[("kind", "stream")], &[], &[("event", PgType::Text)]);
        assert!(matches!(
            RedisScan::new(&stream, &request(&["event"], vec![])),
            Err(RedisError::Unsupported(_))
        ));
        // SCAN walks one node of a cluster: only lookups by every key column
        let cluster = table(&[], &[("cluster", "true")], &[("name", PgType::Text)]);
        let partial = vec![eq("id", Value::Int(1))];
        assert!(matches!(
            RedisScan::new(&cluster, &request(&["name"], partial)),
            Err(RedisError::Unsupported(_))
        ));
        let full = vec![eq("id", Value::Int(1)), eq("tag", Value::Text("a".into()))];
        let scan = RedisScan::new(&cluster, &request(&["name"], full)).unwrap();
        assert_eq!(
            scan.plan(),
            &KeyPlan::Keys(vec![("u:1:a".into(), vec!["1".into(), "a".into()])])
        );
    }

    #[test]
    fn scans_with_nothing_to_read_end_without_a_round_trip() {
        let hash = table(&[], &[], &[("name", PgType::Text)]);
        // `id IN ()` names no key
        let none = Qual {
            column: "id".into(),
            op: Op::In,
            value: Value::List(vec![]),
        };
        let quals = vec![none, eq("tag", Value::Text("x".into()))];
        let mut scan = RedisScan::new(&hash, &request(&["name"], quals)).unwrap();
        assert_eq!(scan.plan(), &KeyPlan::Keys(vec![]));
        assert!(scan.next_batch().unwrap().is_none());
        // LIMIT 0 over a pattern scan
        let mut limited = RedisScan::new(
            &hash,
            &ScanRequest {
                limit: Some(0),
                ..request(&["name"], vec![eq("id", Value::Int(4))])
            },
        )
        .unwrap();
        assert_eq!(limited.plan(), &KeyPlan::Pattern("u:4:*".into()));
        assert!(limited.next_batch().unwrap().is_none());
        assert_eq!(scan.counters(), &ScanCounters::default());
        assert_eq!(limited.counters(), &ScanCounters::default());
    }

    #[test]
    fn rows_found_become_typed_columns_with_their_identities() {
        let set = table(&[("kind", "set")], &[], &[("member", PgType::Text)]);
        let mut request = request(&["member", "id", "tag"], vec![]);
        request.row_ids = true;
        let scan = RedisScan::new(&set, &request).unwrap();
        let batch = scan
            .to_batch(vec![
                found(
                    "u:7:a",
                    &["7", "a"],
                    vec![Some(b"x"), None, None],
                    Some(b"x"),
                ),
                found(
                    "u:-2:b c",
                    &["-2", "b c"],
                    vec![Some(b"y"), None, None],
                    Some(b"y"),
                ),
            ])
            .unwrap();
        assert_eq!(batch.num_rows, 2);
        let column = |i: usize| match &batch.columns[i] {
            ColumnData::Array(a) => a.clone(),
            ColumnData::Constant(_) => panic!("scans return arrays"),
        };
        let members = column(0);
        let members: Vec<Option<&str>> = members.as_string::<i32>().iter().collect();
        assert_eq!(members, vec![Some("x"), Some("y")]);
        let ids: Vec<Option<i64>> = column(1).as_primitive::<Int64Type>().iter().collect();
        assert_eq!(ids, vec![Some(7), Some(-2)]);
        assert_eq!(column(2).as_string::<i32>().value(1), "b c");
        let row_ids = batch.row_ids.unwrap();
        assert_eq!(
            row_of(row_ids[0]).unwrap(),
            ("u:7:a".into(), Some(b"x".to_vec()))
        );
        assert_eq!(
            row_of(row_ids[1]).unwrap(),
            ("u:-2:b c".into(), Some(b"y".to_vec()))
        );
    }

    #[test]
    fn stored_values_are_decoded_or_refused_by_column_type() {
        let hash = table(&[], &[], &[("score", PgType::Float8)]);
        let scan = RedisScan::new(&hash, &request(&["score", "id"], vec![])).unwrap();
        let batch = scan
            .to_batch(vec![
                found("u:1:a", &["1", "a"], vec![Some(b"2.5"), None], None),
                found("u:2:a", &["2", "a"], vec![None, None], None),
            ])
            .unwrap();
        let ColumnData::Array(scores) = &batch.columns[0] else {
            panic!("scans return arrays")
        };
        assert_eq!(scores.as_primitive::<Float64Type>().value(0), 2.5);
        assert!(scores.is_null(1), "an absent field is NULL");
        assert!(batch.row_ids.is_none(), "identities only when asked for");
        // a stored value that is no number, or a key part not in canonical form
        let bad = scan.to_batch(vec![found(
            "u:1:a",
            &["1", "a"],
            vec![Some(b"abc"), None],
            None,
        )]);
        assert!(matches!(bad, Err(RedisError::BadValue { key, .. }) if key == "u:1:a"));
        let padded = scan.to_batch(vec![found(
            "u:01:a",
            &["01", "a"],
            vec![Some(b"1"), None],
            None,
        )]);
        assert!(matches!(padded, Err(RedisError::BadValue { .. })));
    }

    #[test]
    fn server_errors_on_a_key_name_it() {
        let error = |reply: &[u8]| match ::redis::parse_redis_value(reply).unwrap() {
            Reply::ServerError(e) => e,
            other => panic!("not an error reply: {other:?}"),
        };
        let denied = key_error(
            "u:1:a",
            &error(b"-NOPERM no permissions to access 'u:1:a'\r\n"),
        );
        assert!(matches!(
            denied,
            RedisError::Denied { key, reason } if key == "u:1:a" && reason.starts_with("NOPERM")
        ));
        let failed = key_error("u:1:a", &error(b"-WRONGTYPE Operation against a key\r\n"));
        assert!(matches!(
            failed,
            RedisError::Command(text) if text.contains("u:1:a") && text.contains("WRONGTYPE")
        ));
    }

    #[test]
    fn replies_give_their_bytes() {
        assert_eq!(
            bytes_of(Reply::BulkString(b"v".to_vec())),
            Some(b"v".to_vec())
        );
        assert_eq!(
            bytes_of(Reply::SimpleString("hash".into())),
            Some(b"hash".to_vec())
        );
        assert_eq!(bytes_of(Reply::Int(-4)), Some(b"-4".to_vec()));
        assert_eq!(bytes_of(Reply::Nil), None);
        assert_eq!(bytes_of(Reply::Array(vec![])), None);
    }
}
