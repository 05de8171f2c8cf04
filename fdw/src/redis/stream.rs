//! The streaming feature pipeline's Redis side: transactions written through ODP are
//! appended to a stream (by a `kind 'stream'` foreign table, at commit); a consumer in a
//! consumer group reads them (`XREADGROUP`), updates each user's feature hash with one
//! atomic script per event, and acknowledges them (`XACK`) in the same round trip.
//!
//! Delivery is at least once: entries read but not acknowledged (a worker that stopped
//! or crashed) stay pending for the consumer and are read again first when it starts.
//! Applying is idempotent: each feature hash remembers the last stream entry it took
//! (`stream_id`), and an entry at or before it is skipped.

use super::client::run;
use super::error::Result;
use super::options::ServerOptions;
use ::redis::Value as Reply;
use std::collections::HashMap;

/// The stream transactions are appended to.
pub const TRANSACTIONS_STREAM: &str = "odp:stream:transactions";
/// The consumer group of the feature worker.
pub const FEATURE_GROUP: &str = "odp-features";
/// The hash holding the worker's counters.
pub const STATS_KEY: &str = "odp:stream:transactions:stats";
/// Where entries whose application failed are kept, with the error.
pub const FAILED_STREAM: &str = "odp:stream:transactions:failed";

/// Updates one user's features with one purchase, unless the hash already took this
/// entry or a later one. KEYS[1]: the feature hash; ARGV: entry id, amount, category
/// ('' when unknown), the length of `last_categories`. Returns 1 when applied.
const APPLY_PURCHASE: &str = r#"
local key, id = KEYS[1], ARGV[1]
local last = redis.call('HGET', key, 'stream_id')
if last then
  local lm, ls = string.match(last, '^(%d+)-(%d+)$')
  local im, is = string.match(id, '^(%d+)-(%d+)$')
  lm, ls, im, is = tonumber(lm), tonumber(ls), tonumber(im), tonumber(is)
  if lm and (im < lm or (im == lm and is <= ls)) then return 0 end
end
local n = tonumber(redis.call('HGET', key, 'purchase_count') or '0') or 0
local avg = tonumber(redis.call('HGET', key, 'avg_order_value') or '0') or 0
local amount = tonumber(ARGV[2]) or 0
local category, limit = ARGV[3], tonumber(ARGV[4])
local recent = {}
if category ~= '' then table.insert(recent, category) end
local stored = redis.call('HGET', key, 'last_categories')
local ok, decoded = pcall(cjson.decode, stored or '[]')
if ok and type(decoded) == 'table' then
  for _, c in ipairs(decoded) do
    if c ~= cjson.null and c ~= category and #recent < limit then table.insert(recent, c) end
  end
end
local encoded = '[]'
if #recent > 0 then encoded = cjson.encode(recent) end
redis.call('HSET', key, 'purchase_count', n + 1,
  'avg_order_value', string.format('%.17g', (avg * n + amount) / (n + 1)),
  'last_categories', encoded, 'stream_id', id)
return 1
"#;

/// One stream entry: its id and fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// the entry id (`<ms>-<seq>`)
    pub id: String,
    /// field → value
    pub fields: HashMap<String, String>,
}

/// What applying a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Applied {
    /// entries that changed a feature hash
    pub applied: u64,
    /// entries already taken before (redelivered)
    pub duplicates: u64,
    /// entries whose script failed (kept in [`FAILED_STREAM`])
    pub failed: u64,
}

/// Creates the consumer group (and the stream) if missing; new groups start at the
/// stream's first entry, so nothing appended before the first worker is lost.
pub fn ensure_group(server: &ServerOptions) -> Result<()> {
    let outcome: Result<Reply> = run(server, async |c| {
        ::redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(TRANSACTIONS_STREAM)
            .arg(FEATURE_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(c)
            .await
    });
    match outcome {
        Err(super::RedisError::Command(text)) if text.contains("BUSYGROUP") => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Reads up to `count` entries for `consumer`: its pending ones (delivered before but
/// never acknowledged) when `pending`, else new ones, waiting up to `block_ms`.
pub fn read(
    server: &ServerOptions,
    consumer: &str,
    pending: bool,
    count: usize,
    block_ms: u64,
) -> Result<Vec<Entry>> {
    let mut command = ::redis::cmd("XREADGROUP");
    command
        .arg("GROUP")
        .arg(FEATURE_GROUP)
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if !pending {
        command.arg("BLOCK").arg(block_ms);
    }
    command
        .arg("STREAMS")
        .arg(TRANSACTIONS_STREAM)
        .arg(if pending { "0" } else { ">" });
    let reply: Reply = run(server, async |c| command.query_async(c).await)?;
    Ok(parse_entries(reply))
}

/// The entries of an `XREADGROUP` reply (one stream).
fn parse_entries(reply: Reply) -> Vec<Entry> {
    let mut entries = Vec::new();
    let streams = match reply {
        Reply::Array(streams) => streams,
        Reply::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Reply::Array(vec![k, v]))
            .collect(),
        _ => return entries,
    };
    for stream in streams {
        let Reply::Array(mut parts) = stream else {
            continue;
        };
        let Some(Reply::Array(items)) = parts.pop() else {
            continue;
        };
        for item in items {
            let Reply::Array(mut pair) = item else {
                continue;
            };
            if pair.len() != 2 {
                continue;
            }
            let values = pair.pop();
            let Some(id) = pair.pop().and_then(text) else {
                continue;
            };
            let mut fields = HashMap::new();
            if let Some(Reply::Array(flat)) = values {
                for kv in flat.chunks(2) {
                    if let [k, v] = kv {
                        if let (Some(k), Some(v)) = (text(k.clone()), text(v.clone())) {
                            fields.insert(k, v);
                        }
                    }
                }
            }
            entries.push(Entry { id, fields });
        }
    }
    entries
}

fn text(reply: Reply) -> Option<String> {
    match reply {
        Reply::BulkString(b) => String::from_utf8(b).ok(),
        Reply::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// A purchase to apply: whose features, which entry, how much, which category.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    /// the stream entry id
    pub entry_id: String,
    /// the feature hash key
    pub features_key: String,
    /// the order amount
    pub amount: f64,
    /// the product's category, if known
    pub category: Option<String>,
}

/// Applies `purchases`, then acknowledges `entry_ids` (including entries that named no
/// purchase) once their scripts ran: two round trips. A crash in between leaves the
/// entries pending, and their second application changes nothing. An entry whose script
/// fails (a feature key holding another type, say) is copied to [`FAILED_STREAM`] with
/// the error and acknowledged, so it cannot stop the pipeline.
pub fn apply_and_ack(
    server: &ServerOptions,
    purchases: &[Purchase],
    entry_ids: &[String],
    categories: usize,
) -> Result<Applied> {
    let mut outcome = Applied::default();
    let mut failures: Vec<(&str, String)> = Vec::new();
    if !purchases.is_empty() {
        let mut pipe = ::redis::pipe();
        pipe.ignore_errors();
        for p in purchases {
            pipe.cmd("EVAL")
                .arg(APPLY_PURCHASE)
                .arg(1)
                .arg(&p.features_key)
                .arg(&p.entry_id)
                .arg(p.amount)
                .arg(p.category.as_deref().unwrap_or(""))
                .arg(categories);
        }
        let results: Vec<::redis::RedisResult<i64>> =
            run(server, async |c| pipe.query_async(c).await)?;
        for (p, result) in purchases.iter().zip(results) {
            match result {
                Ok(1) => outcome.applied += 1,
                Ok(_) => outcome.duplicates += 1,
                Err(e) => failures.push((&p.entry_id, e.to_string())),
            }
        }
    }
    outcome.failed = failures.len() as u64;
    let mut pipe = ::redis::pipe();
    for (id, error) in &failures {
        pipe.cmd("XADD")
            .arg(FAILED_STREAM)
            .arg("*")
            .arg("entry")
            .arg(*id)
            .arg("error")
            .arg(error)
            .ignore();
    }
    if !entry_ids.is_empty() {
        let ack = pipe.cmd("XACK").arg(TRANSACTIONS_STREAM).arg(FEATURE_GROUP);
        for id in entry_ids {
            ack.arg(id);
        }
        ack.ignore();
    }
    pipe.cmd("HINCRBY")
        .arg(STATS_KEY)
        .arg("applied")
        .arg(outcome.applied)
        .ignore()
        .cmd("HINCRBY")
        .arg(STATS_KEY)
        .arg("duplicates")
        .arg(outcome.duplicates)
        .ignore()
        .cmd("HINCRBY")
        .arg(STATS_KEY)
        .arg("failed")
        .arg(outcome.failed)
        .ignore()
        .cmd("HSET")
        .arg(STATS_KEY)
        .arg("last_batch_ms")
        .arg(chrono::Utc::now().timestamp_millis())
        .ignore();
    run(server, async |c| pipe.query_async::<()>(c).await)?;
    Ok(outcome)
}

/// The watermark for a batch refresh: the id of the newest entry appended so far
/// (`0-0` when there is none). Every transaction of an entry up to it was committed to
/// the lake before the entry was appended, so a refresh computed from a snapshot taken
/// after this call includes them all; stamping it as the hashes' `stream_id` makes the
/// worker skip those entries instead of counting them twice.
pub fn last_entry_id(server: &ServerOptions) -> Result<String> {
    let reply: Reply = run(server, async |c| {
        ::redis::cmd("XREVRANGE")
            .arg(TRANSACTIONS_STREAM)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(c)
            .await
    })?;
    let newest = match reply {
        Reply::Array(items) => items.into_iter().next(),
        _ => None,
    };
    Ok(match newest {
        Some(Reply::Array(mut pair)) if !pair.is_empty() => {
            text(pair.swap_remove(0)).unwrap_or_else(|| "0-0".into())
        }
        _ => "0-0".into(),
    })
}

/// The pipeline's state as the server sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// entries in the stream
    pub length: i64,
    /// entries delivered to a consumer and not acknowledged
    pub pending: i64,
    /// entries not yet delivered to the group (`None` when the server cannot tell)
    pub lag: Option<i64>,
    /// entries applied, and redeliveries skipped, since the stream was created
    pub applied: i64,
    /// redelivered entries skipped
    pub duplicates: i64,
    /// entries that failed (see [`FAILED_STREAM`])
    pub failed: i64,
    /// when the worker last applied a batch (milliseconds since the epoch)
    pub last_batch_ms: Option<i64>,
}

/// Reads the stream's length, the group's pending count and lag, and the counters.
pub fn status(server: &ServerOptions) -> Result<Status> {
    let (length, groups, stats): (i64, Reply, HashMap<String, i64>) = run(server, async |c| {
        ::redis::pipe()
            .cmd("XLEN")
            .arg(TRANSACTIONS_STREAM)
            .cmd("XINFO")
            .arg("GROUPS")
            .arg(TRANSACTIONS_STREAM)
            .cmd("HGETALL")
            .arg(STATS_KEY)
            .query_async(c)
            .await
    })
    .or_else(|e| match e {
        super::RedisError::Command(text) if text.contains("no such key") => {
            Ok((0, Reply::Nil, HashMap::new()))
        }
        other => Err(other),
    })?;
    let mut status = Status {
        length,
        applied: stats.get("applied").copied().unwrap_or(0),
        duplicates: stats.get("duplicates").copied().unwrap_or(0),
        failed: stats.get("failed").copied().unwrap_or(0),
        last_batch_ms: stats.get("last_batch_ms").copied(),
        ..Status::default()
    };
    if let Reply::Array(groups) = groups {
        for group in groups {
            let fields: Vec<(String, Reply)> = match group {
                Reply::Array(flat) => flat
                    .chunks(2)
                    .filter_map(|kv| match kv {
                        [k, v] => Some((text(k.clone())?, v.clone())),
                        _ => None,
                    })
                    .collect(),
                Reply::Map(pairs) => pairs
                    .into_iter()
                    .filter_map(|(k, v)| Some((text(k)?, v)))
                    .collect(),
                _ => continue,
            };
            let get = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            if get("name").and_then(text).as_deref() != Some(FEATURE_GROUP) {
                continue;
            }
            if let Some(Reply::Int(p)) = get("pending") {
                status.pending = p;
            }
            if let Some(Reply::Int(l)) = get("lag") {
                status.lag = Some(l);
            }
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn xreadgroup_replies_parse() {
        let reply = Reply::Array(vec![Reply::Array(vec![
            bulk(TRANSACTIONS_STREAM),
            Reply::Array(vec![Reply::Array(vec![
                bulk("1-0"),
                Reply::Array(vec![
                    bulk("user_id"),
                    bulk("u1"),
                    bulk("total_amount"),
                    bulk("2.5"),
                ]),
            ])]),
        ])]);
        let entries = parse_entries(reply);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, "1-0");
        assert_eq!(entries[0].fields["user_id"], "u1");
        assert!(parse_entries(Reply::Nil).is_empty());
    }
}
