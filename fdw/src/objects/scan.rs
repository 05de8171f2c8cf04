//! Scans of an object table: exact keys are looked up, anything else is listed under
//! the narrowest prefix the quals allow; content and attributes are fetched only for
//! the rows that need them.

use super::block;
use super::error::{ObjectError, Result};
use super::keys::{check_key, could_start_a_key, listing, narrower, Listing};
use super::store::{ObjectInfo, Store};
use super::table::{ObjectColumn, ObjectTable};
use crate::arrow::array::{
    ArrayRef, BinaryBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use crate::batch::{ColumnData, ScanBatch};
use crate::request::{like_pattern_prefix, Op, Qual, ScanRequest};
use crate::value::Value;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Objects fetched at once (content and attribute requests run concurrently).
const FETCH_CONCURRENCY: usize = 8;
/// Rows per batch without content.
const BATCH_ROWS: usize = 1000;
/// Content bytes per batch before it is handed over.
const BATCH_CONTENT_BYTES: u64 = 16 * 1024 * 1024;
/// Objects whose content is fetched per round: the batch's content limit is checked
/// after each round.
const CONTENT_ROUND: usize = 4;

/// How a scan finds its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// look these keys up
    Keys(Vec<String>),
    /// list the keys starting with this prefix
    List(String),
    /// no key can match the quals
    Nothing,
}

impl Access {
    /// How EXPLAIN shows the access.
    pub fn describe(&self) -> String {
        match self {
            Access::Keys(keys) => format!("lookup of {} keys (no listing)", keys.len()),
            Access::List(prefix) => format!("list prefix '{prefix}'"),
            Access::Nothing => "none (no key can match)".into(),
        }
    }
}

/// The access a request needs: `key =`/`IN` become lookups, `key LIKE 'p%'` narrows the
/// listing; keys outside the table's prefix cannot be rows.
pub fn access(table: &ObjectTable, request: &ScanRequest) -> Access {
    let prefix = table.options.prefix.as_str();
    let is_key = |q: &&Qual| table.column(&q.column) == Some(ObjectColumn::Key);
    let mut exact: Option<BTreeSet<String>> = None;
    for qual in request.quals.iter().filter(is_key) {
        let keys: BTreeSet<String> = match (&qual.op, &qual.value) {
            (Op::Eq, Value::Text(k)) => [k.clone()].into(),
            (Op::In, Value::List(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::Text(k) => Some(k.clone()),
                    _ => None,
                })
                .collect(),
            (Op::Eq | Op::In, Value::Null) => BTreeSet::new(),
            _ => continue,
        };
        let keys = keys
            .into_iter()
            .filter(|k| k.starts_with(prefix) && check_key(k).is_ok() && table.store.could_hold(k))
            .collect();
        exact = Some(match exact {
            Some(known) => known.intersection(&keys).cloned().collect(),
            None => keys,
        });
    }
    if let Some(keys) = exact {
        return Access::Keys(keys.into_iter().collect());
    }
    let mut narrowed = prefix.to_string();
    for qual in request.quals.iter().filter(is_key) {
        if let Some(like) = qual.like_prefix() {
            match narrower(&narrowed, like) {
                Some(n) => narrowed = n.to_string(),
                None => return Access::Nothing,
            }
        }
    }
    if !could_start_a_key(&narrowed) {
        return Access::Nothing;
    }
    Access::List(narrowed)
}

/// Counters for EXPLAIN ANALYZE.
#[derive(Debug, Clone, Default)]
pub struct ScanCounters {
    /// keys the listing returned
    pub listed: u64,
    /// metadata requests (HEAD)
    pub heads: u64,
    /// content requests (GET)
    pub gets: u64,
    /// content bytes read
    pub bytes: u64,
    /// rows handed over
    pub rows: u64,
}

enum Pending {
    Keys(std::vec::IntoIter<String>),
    Listing {
        stream: BoxStream<'static, Result<ObjectInfo>>,
        prefix: String,
        /// the key equal to the prefix (a listing that starts after it skips it)
        prefix_itself: Option<String>,
    },
    Done,
}

/// A running scan.
pub struct ObjectScan {
    store: Store,
    columns: Vec<ObjectColumn>,
    access: Access,
    pending: Pending,
    hints: Vec<(ObjectColumn, Qual)>,
    needs_content: bool,
    needs_attributes: bool,
    content_limit: u64,
    sorted_listing: bool,
    limit: Option<u64>,
    row_ids: bool,
    counters: ScanCounters,
}

impl ObjectScan {
    /// Starts a scan (the listing request is sent with the first batch).
    pub fn new(table: &ObjectTable, request: &ScanRequest) -> Result<ObjectScan> {
        let columns = request
            .columns
            .iter()
            .map(|name| {
                table.column(name).ok_or_else(|| ObjectError::Column {
                    column: name.clone(),
                    reason: "not a column of this table".into(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let access = access(table, request);
        let pending = match &access {
            Access::Keys(keys) => Pending::Keys(keys.clone().into_iter()),
            Access::Nothing => Pending::Done,
            Access::List(prefix) => {
                let plan: Listing = listing(prefix);
                Pending::Listing {
                    prefix_itself: plan.start_after.clone(),
                    stream: table.store.list(&plan)?,
                    prefix: prefix.clone(),
                }
            }
        };
        let hints = request
            .quals
            .iter()
            .filter_map(|q| Some((table.column(&q.column)?, q.clone())))
            .collect();
        Ok(ObjectScan {
            store: table.store.clone(),
            needs_content: columns.contains(&ObjectColumn::Content),
            needs_attributes: table.store.keeps_attributes
                && (columns.contains(&ObjectColumn::ContentType)
                    || columns.contains(&ObjectColumn::Metadata)),
            columns,
            access,
            pending,
            hints,
            content_limit: table.server.max_content_bytes,
            sorted_listing: table.store.sorted_listing,
            limit: request.limit,
            row_ids: request.row_ids,
            counters: ScanCounters::default(),
        })
    }

    /// How the scan finds its objects.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// What the scan did so far.
    pub fn counters(&self) -> &ScanCounters {
        &self.counters
    }

    /// The next batch of rows, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        let wanted = match self.limit {
            Some(limit) => (limit.saturating_sub(self.counters.rows) as usize).min(BATCH_ROWS),
            None => BATCH_ROWS,
        };
        if wanted == 0 {
            return Ok(None);
        }
        let mut rows: Vec<(ObjectInfo, Option<Bytes>)> = Vec::new();
        let mut content_bytes = 0u64;
        while rows.len() < wanted && content_bytes < BATCH_CONTENT_BYTES {
            // content is fetched a few objects at a time, so the batch stops soon after
            // BATCH_CONTENT_BYTES, not after a whole listing round of contents
            let round = match self.needs_content {
                true => (wanted - rows.len()).min(CONTENT_ROUND),
                false => wanted - rows.len(),
            };
            let candidates = self.candidates(round)?;
            if candidates.is_empty() {
                break;
            }
            for row in self.fetch(candidates)? {
                content_bytes += row.1.as_ref().map_or(0, |c| c.len() as u64);
                rows.push(row);
            }
            crate::runtime::check_interrupts();
        }
        if rows.is_empty() {
            return Ok(None);
        }
        self.counters.rows += rows.len() as u64;
        self.batch(rows).map(Some)
    }

    /// Up to `n` objects that may match, from lookups or the listing (metadata only);
    /// empty only at the end (a round whose objects all fail the hints goes on).
    fn candidates(&mut self, n: usize) -> Result<Vec<ObjectInfo>> {
        loop {
            let out = self.candidates_of_one_round(n)?;
            if !out.is_empty() || matches!(self.pending, Pending::Done) {
                return Ok(out);
            }
            crate::runtime::check_interrupts();
        }
    }

    /// The objects of one round of lookups or listing that may match (possibly none).
    fn candidates_of_one_round(&mut self, n: usize) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        // keys whose metadata the GET brings: only the key can be judged before it
        let mut unfetched_keys = false;
        match &mut self.pending {
            Pending::Done => {}
            Pending::Keys(keys) => {
                let batch: Vec<String> = keys.by_ref().take(n).collect();
                if batch.is_empty() {
                    self.pending = Pending::Done;
                    return Ok(out);
                }
                if self.needs_content {
                    // the GET gives the metadata too
                    unfetched_keys = true;
                    out.extend(batch.into_iter().map(unfetched));
                } else {
                    self.counters.heads += batch.len() as u64;
                    let store = self.store.clone();
                    let found = block(async move {
                        stream::iter(batch)
                            .map(|key| {
                                let store = store.clone();
                                async move { store.head(&key).await }
                            })
                            .buffered(FETCH_CONCURRENCY)
                            .collect::<Vec<_>>()
                            .await
                    })?;
                    for info in found {
                        out.extend(info?);
                    }
                }
            }
            Pending::Listing {
                stream,
                prefix,
                prefix_itself,
            } => {
                if let Some(key) = prefix_itself.take() {
                    self.counters.heads += 1;
                    let store = self.store.clone();
                    if let Some(info) = block(async move { store.head(&key).await })?? {
                        out.push(info);
                    }
                }
                let sorted = self.sorted_listing;
                let prefix = prefix.clone();
                let mut listed = 0u64;
                let mut ended = false;
                let items = block(async {
                    let mut items = Vec::new();
                    while items.len() < n {
                        match stream.next().await {
                            None => {
                                ended = true;
                                break;
                            }
                            Some(Err(e)) => return Err(e),
                            Some(Ok(info)) => {
                                listed += 1;
                                if info.key.starts_with(&prefix) {
                                    items.push(info);
                                } else if sorted && info.key.as_str() > prefix.as_str() {
                                    ended = true;
                                    break;
                                }
                            }
                        }
                    }
                    Ok(items)
                })??;
                self.counters.listed += listed;
                out.extend(items);
                if ended {
                    self.pending = Pending::Done;
                }
            }
        }
        // (the size and time of a key not fetched yet are placeholders: `fetch` judges
        // them once the GET brought the real ones)
        out.retain(|info| match unfetched_keys {
            true => self.key_may_match(info),
            false => self.may_match(info),
        });
        Ok(out)
    }

    /// Whether the key hints leave the object possible.
    fn key_may_match(&self, info: &ObjectInfo) -> bool {
        !info.key.is_empty()
            && self.hints.iter().all(|(column, qual)| match column {
                ObjectColumn::Key => key_may_match(&info.key, qual),
                _ => true,
            })
    }

    /// Whether the qual hints leave the object possible (a hint drops only objects
    /// that provably fail it).
    fn may_match(&self, info: &ObjectInfo) -> bool {
        if info.key.is_empty() {
            return false;
        }
        self.hints.iter().all(|(column, qual)| match column {
            ObjectColumn::Key => key_may_match(&info.key, qual),
            ObjectColumn::Size => compare_may_match(info.size as i64, qual, Value::Int),
            ObjectColumn::LastModified => compare_may_match(
                info.last_modified.timestamp_micros(),
                qual,
                Value::Timestamp,
            ),
            _ => true,
        })
    }

    /// Completes the candidates with content or attributes where the query needs them;
    /// objects gone since the listing are skipped.
    fn fetch(&mut self, candidates: Vec<ObjectInfo>) -> Result<Vec<(ObjectInfo, Option<Bytes>)>> {
        // Lookups by key already brought the attributes with their HEAD.
        let complete = |i: &ObjectInfo| !self.needs_attributes || i.metadata.is_some();
        if !self.needs_content && candidates.iter().all(complete) {
            return Ok(candidates.into_iter().map(|i| (i, None)).collect());
        }
        let store = self.store.clone();
        let limit = self.content_limit;
        let content = self.needs_content;
        if content {
            self.counters.gets += candidates.len() as u64;
        } else {
            self.counters.heads += candidates.len() as u64;
        }
        let fetched = block(async move {
            stream::iter(candidates)
                .map(|info| {
                    let store = store.clone();
                    async move {
                        if content {
                            Ok(store
                                .get(&info.key, limit)
                                .await?
                                .map(|(i, c)| (i, Some(c))))
                        } else {
                            Ok(store.head(&info.key).await?.map(|i| (i, None)))
                        }
                    }
                })
                .buffered(FETCH_CONCURRENCY)
                .collect::<Vec<Result<Option<(ObjectInfo, Option<Bytes>)>>>>()
                .await
        })?;
        let mut out = Vec::new();
        for row in fetched {
            if let Some((info, content)) = row? {
                if self.may_match(&info) {
                    self.counters.bytes += content.as_ref().map_or(0, |c| c.len() as u64);
                    out.push((info, content));
                }
            }
        }
        Ok(out)
    }

    fn batch(&self, rows: Vec<(ObjectInfo, Option<Bytes>)>) -> Result<ScanBatch> {
        let columns = self
            .columns
            .iter()
            .map(|column| ColumnData::Array(array(*column, &rows)))
            .collect();
        let row_ids = if self.row_ids {
            Some(
                rows.iter()
                    .map(|(info, _)| {
                        crate::rowid::identify(
                            &info.key,
                            Some(info.etag.as_deref().unwrap_or("").as_bytes()),
                        )
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?,
            )
        } else {
            None
        };
        Ok(ScanBatch {
            num_rows: rows.len(),
            columns,
            row_ids,
        })
    }
}

/// A key whose metadata the GET will bring.
fn unfetched(key: String) -> ObjectInfo {
    ObjectInfo {
        key,
        size: 0,
        etag: None,
        last_modified: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        content_type: None,
        metadata: None,
    }
}

fn key_may_match(key: &str, qual: &Qual) -> bool {
    match (&qual.op, &qual.value) {
        (Op::Eq, Value::Text(v)) => key == v,
        (Op::In, Value::List(items)) => items
            .iter()
            .any(|v| matches!(v, Value::Text(t) if t == key)),
        (Op::Like, Value::Text(pattern)) => {
            like_pattern_prefix(pattern).is_none_or(|p| key.starts_with(p))
        }
        _ => true,
    }
}

fn compare_may_match(actual: i64, qual: &Qual, wrap: fn(i64) -> Value) -> bool {
    let bound = match &qual.value {
        Value::Int(v) | Value::Timestamp(v) => *v,
        _ => return true,
    };
    if wrap(bound) != qual.value {
        return true;
    }
    match qual.op {
        Op::Eq => actual == bound,
        Op::Ne => actual != bound,
        Op::Lt => actual < bound,
        Op::Le => actual <= bound,
        Op::Gt => actual > bound,
        Op::Ge => actual >= bound,
        _ => true,
    }
}

/// One column of the rows as an Arrow array.
fn array(column: ObjectColumn, rows: &[(ObjectInfo, Option<Bytes>)]) -> ArrayRef {
    let text = |f: &dyn Fn(&ObjectInfo) -> Option<String>| {
        let mut b = StringBuilder::new();
        for (info, _) in rows {
            b.append_option(f(info));
        }
        Arc::new(b.finish()) as ArrayRef
    };
    match column {
        ObjectColumn::Key => text(&|i| Some(i.key.clone())),
        ObjectColumn::Etag => text(&|i| i.etag.clone()),
        ObjectColumn::ContentType => text(&|i| {
            Some(
                i.content_type
                    .clone()
                    .unwrap_or_else(|| super::keys::guess_content_type(&i.key).to_string()),
            )
        }),
        ObjectColumn::Metadata => text(&|i| {
            i.metadata.as_ref().map(|pairs| {
                let map: serde_json::Map<String, serde_json::Value> = pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                serde_json::Value::Object(map).to_string()
            })
        }),
        ObjectColumn::Size => {
            let mut b = Int64Builder::new();
            for (info, _) in rows {
                b.append_value(info.size as i64);
            }
            Arc::new(b.finish())
        }
        ObjectColumn::LastModified => {
            let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
            for (info, _) in rows {
                b.append_value(info.last_modified.timestamp_micros());
            }
            Arc::new(b.finish())
        }
        ObjectColumn::Content => {
            let mut b = BinaryBuilder::new();
            for (_, content) in rows {
                b.append_option(content.as_deref());
            }
            Arc::new(b.finish())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_hints_drop_only_provable_misses() {
        let q = |op, v| Qual {
            column: "size".into(),
            op,
            value: Value::Int(v),
        };
        assert!(!compare_may_match(10, &q(Op::Gt, 10), Value::Int));
        assert!(compare_may_match(11, &q(Op::Gt, 10), Value::Int));
        let null = Qual {
            column: "size".into(),
            op: Op::Eq,
            value: Value::Null,
        };
        assert!(compare_may_match(11, &null, Value::Int));
        let like = Qual {
            column: "key".into(),
            op: Op::Like,
            value: Value::Text("images/u%".into()),
        };
        assert!(key_may_match("images/users/1.jpg", &like));
        assert!(!key_may_match("images/products/1.jpg", &like));
    }
}
