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

use super::client::run;
use super::error::Result;
use super::options::ServerOptions;
use std::collections::HashMap;

/// The hash holding the pipeline's counters.
pub const STATS_KEY: &str = "odp:features:stats";

/// Updates one user's features with one purchase, unless the hash already took this
/// apply number or a later one. KEYS[1]: the feature hash; ARGV: apply number, amount
/// ('' when NULL: counted as a purchase, left out of the average, as `avg` does),
/// category ('' when unknown), the length of `last_categories`. Returns 1 when applied.
/// `amount_count` (purchases with an amount) is kept next to the average so NULL
/// amounts weigh nothing; a hash without it counts every purchase.
const APPLY_PURCHASE: &str = r#"
local key, id = KEYS[1], tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', key, 'stream_id') or '')
if last and id <= last then return 0 end
local n = tonumber(redis.call('HGET', key, 'purchase_count') or '0') or 0
local counted = tonumber(redis.call('HGET', key, 'amount_count') or '') or n
local avg = tonumber(redis.call('HGET', key, 'avg_order_value') or '0') or 0
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
local fields = {'purchase_count', n + 1, 'last_categories', encoded, 'stream_id', ARGV[1]}
local amount = tonumber(ARGV[2])
if amount then
  avg = (avg * counted + amount) / (counted + 1)
  counted = counted + 1
  table.insert(fields, 'avg_order_value')
  table.insert(fields, string.format('%.17g', avg))
end
table.insert(fields, 'amount_count')
table.insert(fields, counted)
redis.call('HSET', key, unpack(fields))
return 1
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

/// What applying one purchase did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// the hash changed
    Applied,
    /// the hash had taken this purchase (or a later one) before
    Skipped,
    /// the script failed (a feature key holding another type, say), with the reason
    Failed(String),
}

/// Applies `purchases` in order, in one round trip; one outcome per purchase. An error
/// is returned only when Redis could not be reached or answered nothing usable (then
/// any part of the batch may have been applied: applying it again is safe).
pub fn apply(
    server: &ServerOptions,
    purchases: &[Purchase],
    categories: usize,
) -> Result<Vec<Outcome>> {
    if purchases.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = ::redis::pipe();
    pipe.ignore_errors();
    for p in purchases {
        pipe.cmd("EVAL")
            .arg(APPLY_PURCHASE)
            .arg(1)
            .arg(&p.features_key)
            .arg(p.apply_number)
            .arg(p.amount.map(|a| format!("{a:?}")).unwrap_or_default())
            .arg(p.category.as_deref().unwrap_or(""))
            .arg(categories);
    }
    let results: Vec<::redis::RedisResult<i64>> = run(server, async |c| pipe.query_async(c).await)?;
    Ok(results
        .into_iter()
        .map(|result| match result {
            Ok(1) => Outcome::Applied,
            Ok(_) => Outcome::Skipped,
            Err(e) => Outcome::Failed(e.to_string()),
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
    let fields: HashMap<String, i64> = run(server, async |c| {
        ::redis::cmd("HGETALL").arg(STATS_KEY).query_async(c).await
    })?;
    Ok(Stats {
        applied: fields.get("applied").copied().unwrap_or(0),
        skipped: fields.get("skipped").copied().unwrap_or(0),
        failed: fields.get("failed").copied().unwrap_or(0),
        last_batch_ms: fields.get("last_batch_ms").copied(),
    })
}
