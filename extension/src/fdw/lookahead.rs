//! Batched parameterized scans. In a nested loop whose outer rows come from another
//! ODP scan, the inner scan's key qual (`inner.key = outer.column`) would cost one
//! source request per outer row. Instead the outer scan *publishes* each Arrow batch
//! it reads (only when an inner scan of the same query asked for it), and the inner
//! scan, on a key it has not fetched, asks the source once for that key and the next
//! distinct keys of the published batch (`key IN (...)`, up to
//! `odp.lookup_batch_size`), then serves the following outer rows from that answer.
//!
//! Exactness: the answer is bucketed by the key column's exact value (integers, text
//! under a deterministic collation), the other quals of the request are the same
//! values the single-key request would carry (the answer is dropped when they
//! change), and Postgres re-checks every qual. Outer rows that do not come from an
//! ODP scan, or keys not in the published batch, fall back to one request per key.

use odp_fdw::batch::{ColumnData, ScanBatch};
use odp_fdw::lookup::{column_keys, next_keys, LookupAnswer, LookupKey};
use odp_fdw::request::Qual;
use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;

/// `odp.lookup_batch_size`: outer keys per batched lookup request (1 turns batching off).
pub static LOOKUP_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// Registers the GUCs of this module.
pub fn init_gucs() {
    GucRegistry::define_int_guc(
        c"odp.lookup_batch_size",
        c"Outer keys fetched per request by a parameterized foreign scan",
        c"A nested loop over ODP scans asks the inner source for this many outer keys at once; 1 asks per row.",
        &LOOKUP_BATCH_SIZE,
        1,
        100_000,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// Where a parameterized qual's value comes from, as the planner saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OuterColumn {
    /// the outer relation's range-table index at planning time
    pub(super) varno: u32,
    /// the outer column's attribute number
    pub(super) attnum: i16,
}

/// The published batch of one outer scan, and whether an inner scan wants it.
#[derive(Default)]
struct Published {
    /// (attribute number, column) of the batch being read
    columns: Vec<(i16, ColumnData)>,
    rows: usize,
    /// counts the batches published, so a reader knows when its position is stale
    generation: u64,
}

thread_local! {
    /// Per query (executor state) and range-table index: outer scans someone reads.
    static PUBLISHED: RefCell<HashMap<(usize, u32), Published>> = RefCell::new(HashMap::new());
}

/// Asks the scan of range-table entry `rti` in executor state `estate` to publish
/// its batches (called by an inner scan when it starts).
pub(super) fn subscribe(estate: *mut pg_sys::EState, rti: u32) {
    PUBLISHED.with_borrow_mut(|p| {
        p.entry((estate as usize, rti)).or_default();
    });
}

/// Publishes the batch scan `rti` just read, if an inner scan subscribed to it.
pub(super) fn publish(
    estate: *mut pg_sys::EState,
    rti: u32,
    attnums: impl Iterator<Item = i16>,
    batch: &ScanBatch,
) {
    PUBLISHED.with_borrow_mut(|p| {
        if let Some(published) = p.get_mut(&(estate as usize, rti)) {
            published.columns = attnums.zip(batch.columns.iter().cloned()).collect();
            published.rows = batch.num_rows;
            published.generation += 1;
        }
    });
}

/// Forgets what scan `rti` published (it ended).
pub(super) fn withdraw(estate: *mut pg_sys::EState, rti: u32) {
    PUBLISHED.with_borrow_mut(|p| {
        if let Some(published) = p.get_mut(&(estate as usize, rti)) {
            published.columns.clear();
            published.rows = 0;
            published.generation += 1;
        }
    });
}

/// Forgets every publication (the transaction ended; executor states are gone).
pub(crate) fn forget_all() {
    PUBLISHED.with_borrow_mut(HashMap::clear);
}

/// The keys of column `attnum` in the batch scan `rti` published, with its generation.
fn published_keys(
    estate: *mut pg_sys::EState,
    rti: u32,
    attnum: i16,
) -> Option<(u64, Vec<Option<LookupKey>>)> {
    PUBLISHED.with_borrow(|p| {
        let published = p.get(&(estate as usize, rti))?;
        let (_, column) = published.columns.iter().find(|(a, _)| *a == attnum)?;
        Some((published.generation, column_keys(column, published.rows)?))
    })
}

/// The batching state of one parameterized inner scan.
pub(super) struct BatchedLookup {
    /// the executor state both scans run in
    estate: *mut pg_sys::EState,
    /// the outer scan's range-table index in the final plan
    outer_rti: u32,
    outer_attnum: i16,
    /// which of the plan's quals carries the outer value
    pub(super) qual: usize,
    /// where the key column is in the scan's columns
    pub(super) key_column: usize,
    answer: Option<LookupAnswer>,
    /// the outer batch (generation) the last request drew keys from, and where
    cursor: (u64, usize),
    /// the other quals' values the answer was fetched with
    answer_context: Vec<Option<Qual>>,
    /// source requests made for batches, and keys asked for in them
    pub(super) requests: u64,
    pub(super) keys: u64,
    /// outer rows served from an earlier request
    pub(super) served: u64,
    /// rescans that asked for their key alone
    pub(super) singles: u64,
}

/// What a (re)scan of a batched inner scan does.
pub(super) enum LookupStep {
    /// the rows for this key are in the current answer
    Serve(Vec<ScanBatch>),
    /// ask the source for these keys, then [`BatchedLookup::answer`]
    Fetch(Vec<LookupKey>),
    /// no batch to draw keys from: a plain single-key scan
    Single,
}

impl BatchedLookup {
    /// Batching for the qual `qual` whose value is `outer`'s column; `rti_offset` is
    /// the difference between the final and the planning range-table indexes.
    pub(super) fn start(
        estate: *mut pg_sys::EState,
        outer: OuterColumn,
        rti_offset: u32,
        qual: usize,
        key_column: usize,
    ) -> BatchedLookup {
        let outer_rti = outer.varno + rti_offset;
        subscribe(estate, outer_rti);
        BatchedLookup {
            estate,
            outer_rti,
            outer_attnum: outer.attnum,
            qual,
            key_column,
            answer: None,
            cursor: (0, 0),
            answer_context: Vec::new(),
            requests: 0,
            keys: 0,
            served: 0,
            singles: 0,
        }
    }

    /// Decides how to scan for the evaluated quals of this rescan.
    pub(super) fn step(&mut self, quals: &[Option<Qual>]) -> Result<LookupStep, String> {
        let Some(key) = quals[self.qual]
            .as_ref()
            .and_then(|q| LookupKey::of_value(&q.value))
        else {
            return Ok(LookupStep::Single);
        };
        let context = self.context(quals);
        if context != self.answer_context {
            self.answer = None;
        }
        if let Some(rows) = self.answer.as_ref().and_then(|a| a.rows(&key)) {
            self.served += 1;
            return rows.map(LookupStep::Serve);
        }
        let limit = LOOKUP_BATCH_SIZE.get().max(1) as usize;
        let Some((generation, outer)) =
            published_keys(self.estate, self.outer_rti, self.outer_attnum)
        else {
            self.singles += 1;
            return Ok(LookupStep::Single);
        };
        let from = if self.cursor.0 == generation {
            self.cursor.1
        } else {
            0
        };
        match next_keys(&outer, &key, from, limit) {
            Some((position, keys)) if keys.len() > 1 => {
                self.cursor = (generation, position);
                self.answer_context = context;
                Ok(LookupStep::Fetch(keys))
            }
            _ => {
                self.singles += 1;
                Ok(LookupStep::Single)
            }
        }
    }

    /// Starts the answer to a [`LookupStep::Fetch`] of `keys`.
    pub(super) fn start_answer(&mut self, keys: &[LookupKey]) {
        self.requests += 1;
        self.keys += keys.len() as u64;
        self.answer = Some(LookupAnswer::new(keys));
    }

    /// Adds a batch of the source's answer; an error means the key column has no exact
    /// keys (batching is then off for good).
    pub(super) fn add(&mut self, batch: ScanBatch) -> Result<(), String> {
        let answer = self.answer.as_mut().expect("an answer was started");
        answer
            .add(batch, self.key_column)
            .inspect_err(|_| self.answer = None)
    }

    /// The rows for `key` in the answer just completed.
    pub(super) fn rows(&self, key: &LookupKey) -> Result<Vec<ScanBatch>, String> {
        match self.answer.as_ref().and_then(|a| a.rows(key)) {
            Some(rows) => rows,
            None => Ok(Vec::new()),
        }
    }

    fn context(&self, quals: &[Option<Qual>]) -> Vec<Option<Qual>> {
        quals
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.qual)
            .map(|(_, q)| q.clone())
            .collect()
    }

    /// EXPLAIN ANALYZE lines.
    pub(super) fn explain(&self) -> Vec<(String, String)> {
        vec![(
            "Batched Lookups".into(),
            format!(
                "{} requests for {} keys, {} rescans served from them, {} single-key requests",
                self.requests, self.keys, self.served, self.singles
            ),
        )]
    }
}
