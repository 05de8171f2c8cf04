//! The streaming feature pipeline's Redis side: purchases taken from the Postgres
//! outbox (`odp.feature_outbox`, written inside the purchasing transaction) are applied
//! to the users' feature hashes, one atomic script per purchase.
//!
//! Every purchase carries its **apply number**, given once when it is claimed from the
//! outbox and never changed. Each feature hash remembers the highest apply number it
//! took (`stream_id`), and a purchase at or below it is skipped: applying a purchase
//! twice (a worker that died before deleting it from the outbox) changes nothing, and a
//! batch refresh that stamps its watermark on a hash makes the purchases it counted
//! skip that hash.

use super::client::{run, run_retrying};
use super::error::Result;
use super::options::ServerOptions;
use std::collections::HashMap;

/// The hash holding the pipeline's counters.
pub const STATS_KEY: &str = "odp:features:stats";

/// Updates one user's features with that user's purchases of a batch, in apply-number
/// order, skipping those at or below the hash's `stream_id` (taken before, or counted by
/// a batch refresh). KEYS[1]: the feature hash; ARGV[1]: the length of
/// `last_categories`; then per purchase: apply number, amount ('' when NULL: counted as
/// a purchase, left out of the average, as `avg` does), category ('' when unknown).
/// `amount_count` (purchases with an amount) is kept next to the average so NULL
/// amounts weigh nothing; a hash without it counts every purchase. Everything is read
/// first and written by one HSET at the end, so an error leaves the hash as it was.
/// Returns how many purchases were applied.
const APPLY_PURCHASES: &str = r#"
local key, limit = KEYS[1], tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', key, 'stream_id') or '')
local n = tonumber(redis.call('HGET', key, 'purchase_count') or '0') or 0
local counted = tonumber(redis.call('HGET', key, 'amount_count') or '') or n
local avg = tonumber(redis.call('HGET', key, 'avg_order_value') or '0') or 0
local recent = {}
local ok, decoded = pcall(cjson.decode, redis.call('HGET', key, 'last_categories') or '[]')
if ok and type(decoded) == 'table' then
  for _, c in ipairs(decoded) do
    if c ~= cjson.null then table.insert(recent, c) end
  end
end
local applied = 0
for i = 2, #ARGV, 3 do
  local id = tonumber(ARGV[i])
  if not last or id > last then
    n = n + 1
    local amount = tonumber(ARGV[i + 1])
    if amount then
      avg = (avg * counted + amount) / (counted + 1)
      counted = counted + 1
    end
    local category = ARGV[i + 2]
    if category ~= '' then
      local moved = {category}
      for _, c in ipairs(recent) do
        if c ~= category then table.insert(moved, c) end
      end
      recent = moved
    end
    last = id
    applied = applied + 1
  end
end
if applied == 0 then return 0 end
while #recent > limit do table.remove(recent) end
local encoded = '[]'
if #recent > 0 then encoded = cjson.encode(recent) end
local fields = {'purchase_count', n, 'last_categories', encoded, 'stream_id', string.format('%d', last),
  'amount_count', counted}
if counted > 0 then
  table.insert(fields, 'avg_order_value')
  table.insert(fields, string.format('%.17g', avg))
end
redis.call('HSET', key, unpack(fields))
return applied
"#;

/// A purchase to apply: which apply number, whose features, how much, which category.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    /// the apply number given when the purchase was claimed from the outbox
    pub apply_number: i64,
    /// the feature hash key
    pub features_key: String,
    /// the order amount (`None`: NULL)
    pub amount: Option<f64>,
    /// the product's category, if known
    pub category: Option<String>,
}

/// What applying one user's purchases of a batch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// this many changed the hash; the others it had taken before
    Applied(usize),
    /// the script failed and changed nothing: `permanent` when retrying cannot help
    /// (the key holds another type, say), else the purchases are to be tried again
    Failed { reason: String, permanent: bool },
}

/// Applies `purchases` (in apply-number order), one script per feature hash with all of
/// its purchases, in one round trip; returns each hash's key, the purchases' apply
/// numbers and the outcome. An error is returned only when Redis could not be reached
/// or answered nothing usable (then any hash may have been updated: applying again is
/// safe).
pub fn apply(
    server: &ServerOptions,
    purchases: &[Purchase],
    categories: usize,
) -> Result<Vec<(Vec<i64>, Outcome)>> {
    let mut by_key: Vec<(&str, Vec<&Purchase>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for p in purchases {
        let at = *index.entry(&p.features_key).or_insert_with(|| {
            by_key.push((&p.features_key, Vec::new()));
            by_key.len() - 1
        });
        by_key[at].1.push(p);
    }
    if by_key.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = ::redis::pipe();
    pipe.ignore_errors();
    for (key, own) in &by_key {
        let command = pipe
            .cmd("EVAL")
            .arg(APPLY_PURCHASES)
            .arg(1)
            .arg(*key)
            .arg(categories);
        for p in own {
            command
                .arg(p.apply_number)
                .arg(p.amount.map(|a| format!("{a:?}")).unwrap_or_default())
                .arg(p.category.as_deref().unwrap_or(""));
        }
    }
    // the scripts skip what a hash took before: sending them twice is harmless
    let results: Vec<::redis::RedisResult<i64>> =
        run_retrying(server, async |c| pipe.query_async(c).await)?;
    Ok(by_key
        .into_iter()
        .zip(results)
        .map(|((_, own), result)| {
            let numbers = own.iter().map(|p| p.apply_number).collect();
            let outcome = match result {
                Ok(applied) => Outcome::Applied(applied.max(0) as usize),
                Err(e) => Outcome::Failed {
                    permanent: matches!(e.code(), Some("WRONGTYPE") | Some("ERR")),
                    reason: e.to_string(),
                },
            };
            (numbers, outcome)
        })
        .collect())
}

/// The pipeline's counters as the feature store keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// purchases applied
    pub applied: i64,
    /// purchases skipped (taken before, or counted by a batch refresh)
    pub skipped: i64,
    /// purchases whose script failed
    pub failed: i64,
    /// when the worker last applied a batch (milliseconds since the epoch)
    pub last_batch_ms: Option<i64>,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// purchases that changed a hash
    pub applied: usize,
    /// purchases a hash had taken before
    pub skipped: usize,
    /// purchases whose script failed
    pub failed: usize,
}

/// Adds a batch's tally to the counters and stamps the batch's time.
pub fn record(server: &ServerOptions, tally: Tally) -> Result<()> {
    let mut pipe = ::redis::pipe();
    pipe.cmd("HINCRBY")
        .arg(STATS_KEY)
        .arg("applied")
        .arg(tally.applied)
        .ignore()
        .cmd("HINCRBY")
        .arg(STATS_KEY)
        .arg("skipped")
        .arg(tally.skipped)
        .ignore()
        .cmd("HINCRBY")
        .arg(STATS_KEY)
        .arg("failed")
        .arg(tally.failed)
        .ignore()
        .cmd("HSET")
        .arg(STATS_KEY)
        .arg("last_batch_ms")
        .arg(chrono::Utc::now().timestamp_millis())
        .ignore();
    run(server, async |c| pipe.query_async::<()>(c).await)
}

/// Reads the counters (zeros when the pipeline never ran).
pub fn stats(server: &ServerOptions) -> Result<Stats> {
    let fields: HashMap<String, i64> = run_retrying(server, async |c| {
        ::redis::cmd("HGETALL").arg(STATS_KEY).query_async(c).await
    })?;
    Ok(Stats {
        applied: fields.get("applied").copied().unwrap_or(0),
        skipped: fields.get("skipped").copied().unwrap_or(0),
        failed: fields.get("failed").copied().unwrap_or(0),
        last_batch_ms: fields.get("last_batch_ms").copied(),
    })
}
