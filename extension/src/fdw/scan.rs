//! The executor of [`NodePlan::Scan`](super::node::NodePlan::Scan), generic over a
//! [`Source`]: rows of the source (or of a batched lookup), checked against the row
//! policy, with the shared state of parallel scans. The node callbacks that dispatch to
//! it are in [`super::executor`].

use super::catalog::{list_ptrs, table_context};
use super::emit::{or_withheld, Emitter};
use super::explain::{explain_text, merge_totals};
use super::lookahead::{self, BatchedLookup, LookupStep};
use super::node::{evaluate_quals, ScanPlan};
use super::{Source, SourceScan};
use crate::error::{OdpError, OrReport};
use odp_fdw::batch::ScanBatch;
use odp_fdw::lookup::LookupKey;
use odp_fdw::request::{Op, Qual, ScanRequest};
use odp_fdw::security::resource::Action;
use odp_fdw::value::Value;
use pgrx::{pg_guard, pg_sys};
use std::any::Any;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the rows of the current (re)scan come from.
enum Running<S: Source> {
    /// a scan of the source
    Source(S::Scan),
    /// rows a batched lookup already fetched, batch by batch
    Served(VecDeque<ScanBatch>),
}

/// The executor's state of one scan node.
pub(super) struct ScanState<S: Source> {
    relid: pg_sys::Oid,
    /// the query's executor state and this scan's range-table index in it
    estate: *mut pg_sys::EState,
    scanrelid: u32,
    /// set when the scan is the inner side of a nested loop over another ODP scan
    lookup: Option<BatchedLookup>,
    /// the row policy every row must pass before it leaves the scan
    policy: Option<*mut pg_sys::ExprState>,
    /// opened at the first row, so a plain `EXPLAIN` never touches the source
    source: Option<S>,
    plan: ScanPlan,
    exprs: Vec<*mut pg_sys::ExprState>,
    emitter: Emitter,
    scan: Option<Running<S>>,
    /// the scan returned its last row; only a rescan starts another
    done: bool,
    totals: Vec<(String, String)>,
    /// the state a parallel scan's participants share (in dynamic shared memory)
    shared: Option<*mut SharedScan>,
    /// the leader's handoff to its workers, between sizing and filling shared memory
    handoff: Vec<u8>,
    /// the transaction's own changes to the table, merged into the scan (taken when
    /// the scan starts)
    pending: Option<Rc<dyn Any>>,
}

/// What the participants of a parallel scan share: the next file to claim, and the
/// leader's handoff to its workers ([`Source::worker_handoff`]), whose `handoff_len`
/// bytes follow this header.
#[repr(C)]
pub(super) struct SharedScan {
    next: AtomicU64,
    handoff_len: u64,
}

impl SharedScan {
    /// Starts the claims of files again (the parallel scan is rescanned).
    pub(super) fn restart(&self) {
        self.next.store(0, Ordering::Relaxed);
    }

    /// The handoff bytes after the header at `shared`.
    ///
    /// # Safety
    /// `shared` must point to a header written by `initialize_dsm_foreign_scan`,
    /// followed by its `handoff_len` bytes.
    unsafe fn handoff<'a>(shared: *const SharedScan) -> &'a [u8] {
        // SAFETY: the caller guarantees the bytes follow the header.
        unsafe {
            std::slice::from_raw_parts(
                (shared as *const u8).add(std::mem::size_of::<SharedScan>()),
                (*shared).handoff_len as usize,
            )
        }
    }
}

impl<S: Source> ScanState<S> {
    /// The state of a scan node running `plan`; nothing touches the source yet.
    ///
    /// # Safety
    /// `node` must be the executor's state of the ForeignScan planned as `plan`.
    pub(super) unsafe fn begin(node: *mut pg_sys::ForeignScanState, plan: ScanPlan) -> Self {
        // SAFETY: guaranteed by the caller: the node's plan is our ForeignScan, its
        // current relation the scanned one (a scan plan always has one; the plan's
        // relation stands in should it be missing).
        let (foreign_scan, relation) = unsafe {
            (
                (*node).ss.ps.plan as *mut pg_sys::ForeignScan,
                (*node).ss.ss_currentRelation,
            )
        };
        let relid = if relation.is_null() {
            pg_sys::Oid::from(plan.relation)
        } else {
            // SAFETY: a non-null current relation is the executor's open Relation.
            unsafe { (*relation).rd_id }
        };
        // SAFETY: fdw_exprs are the planned expressions of the node's ForeignScan.
        let exprs = unsafe { init_exprs(node, (*foreign_scan).fdw_exprs) };
        // SAFETY: the node's scan tuple has the attributes the plan's columns name.
        let emitter = unsafe { Emitter::new(node, &plan.columns) };
        // SAFETY: `node` is the executor's state of `foreign_scan`.
        let (estate, scanrelid) = unsafe { ((*node).ss.ps.state, (*foreign_scan).scan.scanrelid) };
        let lookup = batched_lookup(&plan, estate, scanrelid);
        let policy = plan.policy.as_ref().map(|p| {
            // SAFETY: the executor runs in a transaction; the condition is allocated in
            // the query's current memory context.
            let condition = unsafe { super::policy::condition(p) };
            // SAFETY: the condition is a planned expression; `node` is the PlanState it
            // is initialised for (ExecInitExpr allocates in the query's context).
            unsafe {
                pg_sys::ExecInitExpr(
                    condition as *mut pg_sys::Expr,
                    node as *mut pg_sys::PlanState,
                )
            }
        });
        ScanState {
            relid,
            estate,
            scanrelid,
            lookup,
            policy,
            source: None,
            plan,
            exprs,
            emitter,
            scan: None,
            pending: None,
            done: false,
            totals: Vec::new(),
            shared: None,
            handoff: Vec::new(),
        }
    }
}

/// The node's `fdw_exprs`, initialised for evaluation.
///
/// # Safety
/// `exprs` must be the planned expressions of `node`'s ForeignScan.
pub(super) unsafe fn init_exprs(
    node: *mut pg_sys::ForeignScanState,
    exprs: *mut pg_sys::List,
) -> Vec<*mut pg_sys::ExprState> {
    // SAFETY: guaranteed by the caller: NIL or a List of expressions.
    unsafe { list_ptrs(exprs) }
        .into_iter()
        .map(|e| {
            // SAFETY: `e` is a planned expression of the node's ForeignScan;
            // ExecInitExpr allocates in the query context.
            unsafe { pg_sys::ExecInitExpr(e as *mut pg_sys::Expr, node as *mut pg_sys::PlanState) }
        })
        .collect()
}

/// Opens source `S` for the foreign table `relid` after checking that the role may
/// read its resources.
pub(super) fn open_for_read<S: Source>(relid: pg_sys::Oid) -> S {
    let table = table_context(relid);
    super::resources::check(&S::resources(&table), Action::Read);
    S::open(&table).or_report()
}

/// Starts a scan of `source` for `request`, with the transaction's own changes
/// (`pending`) merged in.
pub(super) fn begin_scan<S: Source>(
    source: &S,
    pending: Option<&dyn Any>,
    request: &ScanRequest,
) -> odp_fdw::source::Result<S::Scan> {
    match pending {
        Some(pending) => source.begin_scan_pending(request, pending),
        None => source.begin_scan(request),
    }
}

/// Batching for the first qual whose value is another ODP scan's column, when the
/// scan returns that qual's column (to bucket the answer) and no row identities.
fn batched_lookup(
    plan: &ScanPlan,
    estate: *mut pg_sys::EState,
    scanrelid: u32,
) -> Option<BatchedLookup> {
    if plan.row_ids {
        return None;
    }
    let offset = scanrelid.checked_sub(plan.planned_relid)?;
    plan.quals.iter().enumerate().find_map(|(i, q)| {
        let outer = q.outer?;
        let key_column = plan
            .columns
            .iter()
            .position(|(name, _)| *name == q.column)?;
        Some(BatchedLookup::start(estate, outer, offset, i, key_column))
    })
}

impl<S: Source> ScanState<S> {
    /// Evaluates the qual values (constants, parameters, outer columns) for this
    /// (re)scan, one entry per planned qual.
    unsafe fn evaluate(&self, node: *mut pg_sys::ForeignScanState) -> Vec<Option<Qual>> {
        // SAFETY: exprs are this node's initialised fdw_exprs; econtext is its context.
        unsafe { evaluate_quals(&self.plan.quals, &self.exprs, (*node).ss.ps.ps_ExprContext) }
    }

    /// The request for evaluated quals.
    fn request(&self, quals: Vec<Option<Qual>>) -> ScanRequest {
        ScanRequest {
            columns: self.plan.columns.iter().map(|(n, _)| n.clone()).collect(),
            quals: quals.into_iter().flatten().collect(),
            limit: self.plan.limit,
            row_ids: self.plan.row_ids,
            runtime_quals: Vec::new(),
            group_columns: Vec::new(),
        }
    }

    /// The source, opened on first use.
    fn source(&mut self) -> &S {
        let relid = self.relid;
        self.source.get_or_insert_with(|| open_for_read(relid))
    }

    /// Starts the rows of this (re)scan: a source scan, or rows of a batched lookup.
    unsafe fn start(&mut self, node: *mut pg_sys::ForeignScanState) -> Running<S> {
        // SAFETY: node is this state's scan node.
        let quals = unsafe { self.evaluate(node) };
        let step = match self.lookup.as_mut() {
            Some(lookup) => lookup
                .step(&quals)
                .unwrap_or_else(|e| OdpError::Unsupported(e).report()),
            None => LookupStep::Single,
        };
        match step {
            LookupStep::Single => self.single(quals),
            LookupStep::Serve(rows) => Running::Served(rows.into()),
            LookupStep::Fetch(keys) => match self.fetch_batch(&quals, &keys) {
                Some(rows) => Running::Served(rows.into()),
                None => {
                    // the key column has no exact keys: scan key by key from now on
                    self.lookup = None;
                    self.single(quals)
                }
            },
        }
    }

    /// A plain scan for the evaluated quals (this participant's share of it, in a
    /// parallel scan).
    fn single(&mut self, quals: Vec<Option<Qual>>) -> Running<S> {
        let request = self.request(quals);
        let scan = match self.shared {
            Some(shared) => {
                let claim = move || {
                    // SAFETY: the shared state lives in the parallel query's dynamic
                    // shared memory, which outlives every participant's scan.
                    unsafe { (*shared).next.fetch_add(1, Ordering::Relaxed) as usize }
                };
                self.source().begin_shared_scan(&request, Box::new(claim))
            }
            None => self.begin_scan(&request),
        };
        Running::Source(scan.or_report())
    }

    /// The source's scan for `request`, with the transaction's own changes merged in.
    fn begin_scan(&mut self, request: &ScanRequest) -> odp_fdw::source::Result<S::Scan> {
        let pending = self.pending.clone();
        begin_scan(self.source(), pending.as_deref(), request)
    }

    /// Asks the source once for all `keys` (the first is this rescan's) and returns the
    /// first key's rows, or `None` when the answer cannot be bucketed.
    fn fetch_batch(
        &mut self,
        quals: &[Option<Qual>],
        keys: &[LookupKey],
    ) -> Option<Vec<ScanBatch>> {
        let lookup = self.lookup.as_mut().expect("a fetch comes from the lookup");
        let position = lookup.qual;
        lookup.start_answer(keys);
        let mut quals = quals.to_vec();
        quals[position] = Some(Qual {
            column: self.plan.quals[position].column.clone(),
            op: Op::In,
            value: Value::List(keys.iter().map(|k| k.to_value()).collect()),
        });
        let request = self.request(quals);
        let mut scan = self.begin_scan(&request).or_report();
        let mut bucketed = true;
        let restricted = self.policy.is_some();
        while let Some(batch) = or_withheld(scan.next_batch(), restricted) {
            pgrx::check_for_interrupts!();
            let lookup = self.lookup.as_mut().expect("a fetch comes from the lookup");
            if lookup.add(batch).is_err() {
                bucketed = false;
                break;
            }
        }
        self.record(scan.explain());
        let lookup = self.lookup.as_ref().expect("a fetch comes from the lookup");
        bucketed.then(|| {
            lookup
                .rows(&keys[0])
                .unwrap_or_else(|e| OdpError::Unsupported(e).report())
        })
    }

    /// Counts one source scan in the metrics and the node's EXPLAIN ANALYZE totals. A
    /// scan a row policy restricts counts nothing in the metrics: what the source read
    /// before the policy dropped rows describes the hidden rows (EXPLAIN shows only the
    /// policy for the same reason).
    fn record(&mut self, lines: Vec<(String, String)>) {
        if self.policy.is_none() {
            odp_fdw::metrics::record(&lines);
            odp_fdw::metrics::increment("scans");
        }
        merge_totals(&mut self.totals, lines);
    }

    fn finish_scan(&mut self) {
        if let Some(Running::Source(scan)) = self.scan.take() {
            self.record(scan.explain());
        }
        self.emitter.clear();
        lookahead::withdraw(self.estate, self.scanrelid);
    }

    /// The next row in the node's slot, or an empty slot at the end.
    ///
    /// # Safety
    /// `node` must be this state's scan node.
    pub(super) unsafe fn iterate(
        &mut self,
        node: *mut pg_sys::ForeignScanState,
    ) -> *mut pg_sys::TupleTableSlot {
        // SAFETY: the slot belongs to this node.
        let slot = unsafe { (*node).ss.ss_ScanTupleSlot };
        if self.done {
            // SAFETY: clears the node's own slot.
            return unsafe { pg_sys::ExecClearTuple(slot) };
        }
        if self.scan.is_none() {
            self.pending = super::xact::pending_view(self.relid).or_report();
            // SAFETY: node is this state's scan node.
            let running = unsafe { self.start(node) };
            self.scan = Some(running);
        }
        let restricted = self.policy.is_some();
        loop {
            // SAFETY: the slot is the node's scan slot.
            while unsafe { self.emitter.store_next(slot) } {
                // SAFETY: the policy was initialised for this node; the slot holds a row.
                if unsafe { passes_policy(self.policy, node, slot) } {
                    if restricted {
                        // under a policy only the rows the role sees are checked
                        // SAFETY: the slot holds the row just stored.
                        unsafe { self.emitter.check_lengths(slot) };
                    }
                    return slot;
                }
                pgrx::check_for_interrupts!();
            }
            let next = match self.scan.as_mut().expect("started above") {
                Running::Source(scan) => or_withheld(scan.next_batch(), restricted),
                Running::Served(rows) => rows.pop_front(),
            };
            let Some(batch) = next else {
                self.finish_scan();
                self.done = true;
                // SAFETY: clears the node's own slot.
                return unsafe { pg_sys::ExecClearTuple(slot) };
            };
            if !restricted {
                // (a restricted scan's batches hold rows the role may not see)
                let attnums = self.plan.columns.iter().map(|(_, a)| *a);
                lookahead::publish(self.estate, self.scanrelid, attnums, &batch);
            }
            self.emitter.load(batch, restricted);
        }
    }

    /// Starts the node again (its parameters changed).
    pub(super) fn rescan(&mut self) {
        self.finish_scan();
        self.done = false;
    }

    /// Ends the node.
    pub(super) fn end(&mut self) {
        self.finish_scan();
    }

    /// The node's EXPLAIN lines.
    ///
    /// # Safety
    /// `es` must be the running EXPLAIN's state.
    pub(super) unsafe fn explain(&self, es: *mut pg_sys::ExplainState) {
        // SAFETY: es is the executor's.
        let (verbose, analyze) = unsafe { ((*es).verbose, (*es).analyze) };
        let mut lines = Vec::new();
        if !self.plan.quals.is_empty() {
            lines.push(("Pushed Quals".to_string(), self.plan.quals_display()));
        }
        if let Some(limit) = self.plan.limit {
            lines.push(("Pushed Limit".to_string(), limit.to_string()));
        }
        if verbose {
            let names: Vec<&str> = self.plan.columns.iter().map(|(n, _)| n.as_str()).collect();
            lines.push(("Source Columns".to_string(), names.join(", ")));
        }
        if self.plan.policy.is_some() {
            // Under a row policy only the policy is shown: file counts, estimates and
            // source counters would count rows the role may not see.
            lines.extend(
                self.plan
                    .explain
                    .iter()
                    .filter(|(k, _)| k == "Row Policies")
                    .cloned(),
            );
        } else {
            lines.extend(self.plan.explain.iter().cloned());
            if analyze {
                let mut totals = self.totals.clone();
                if let Some(Running::Source(scan)) = &self.scan {
                    merge_totals(&mut totals, scan.explain());
                }
                if let Some(lookup) = &self.lookup {
                    totals.extend(lookup.explain());
                }
                lines.extend(totals);
            }
        }
        for (key, value) in &lines {
            // SAFETY: es is the running EXPLAIN's state.
            unsafe { explain_text(es, key, value) };
        }
    }

    /// What the leader hands parallel workers, kept until shared memory is filled;
    /// returns the size of the node's shared memory.
    pub(super) fn estimate_shared(&mut self) -> usize {
        // workers would not see this transaction's pending writes
        super::xact::ensure_unchanged(self.relid).or_report();
        let handoff = self.source().worker_handoff();
        let size = std::mem::size_of::<SharedScan>() + handoff.len();
        self.handoff = handoff;
        size
    }

    /// Fills the node's shared memory (the leader).
    ///
    /// # Safety
    /// `coordinate` must be the node's shared memory, of [`ScanState::estimate_shared`]'s
    /// size.
    pub(super) unsafe fn initialize_shared(&mut self, coordinate: *mut std::ffi::c_void) {
        let handoff = std::mem::take(&mut self.handoff);
        let shared = coordinate as *mut SharedScan;
        let header = SharedScan {
            next: AtomicU64::new(0),
            handoff_len: handoff.len() as u64,
        };
        // SAFETY: guaranteed by the caller: room for the header at `coordinate`.
        unsafe { shared.write(header) };
        // SAFETY: guaranteed by the caller: room for the handoff after the header; the
        // handoff is our own Vec, which does not overlap shared memory.
        unsafe {
            std::ptr::copy_nonoverlapping(
                handoff.as_ptr(),
                (shared as *mut u8).add(std::mem::size_of::<SharedScan>()),
                handoff.len(),
            )
        };
        self.shared = Some(shared);
    }

    /// Joins the leader's parallel scan (a worker): opens the source from its handoff.
    ///
    /// # Safety
    /// `coordinate` must hold the [`SharedScan`] and handoff the leader wrote.
    pub(super) unsafe fn join_shared(&mut self, coordinate: *mut std::ffi::c_void) {
        let shared = coordinate as *mut SharedScan;
        let table = table_context(self.relid);
        super::resources::check(&S::resources(&table), Action::Read);
        // SAFETY: guaranteed by the caller.
        let handoff = unsafe { SharedScan::handoff(shared) };
        self.source = Some(S::open_in_worker(&table, handoff).or_report());
        self.shared = Some(shared);
    }
}

/// Whether the row in `slot` passes the scan's row policy (NULL counts as false); rows
/// that fail never leave the scan.
///
/// # Safety
/// `policy` must be initialised for `node` (the executor's state of the scan), and
/// `slot` must hold a stored row of it.
unsafe fn passes_policy(
    policy: Option<*mut pg_sys::ExprState>,
    node: *mut pg_sys::ForeignScanState,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    let Some(policy) = policy else {
        return true;
    };
    // SAFETY: guaranteed by the caller: the node's ExprContext is its own.
    let econtext = unsafe { (*node).ss.ps.ps_ExprContext };
    // SAFETY: `econtext` is the node's; the slot holds the row to check.
    unsafe { (*econtext).ecxt_scantuple = slot };
    let mut is_null = false;
    // SAFETY: the policy was initialised for this node; it reads the row through
    // `econtext` and allocates in its per-tuple memory.
    let datum = unsafe { pg_sys::ExecEvalExprSwitchContext(policy, econtext, &mut is_null) };
    let visible = !is_null && datum.value() != 0;
    // SAFETY: frees the per-tuple memory of the node's context; the boolean result is
    // already read.
    unsafe { pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory) };
    visible
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn is_foreign_scan_parallel_safe<S: Source>(
    _root: *mut pg_sys::PlannerInfo,
    _rel: *mut pg_sys::RelOptInfo,
    rte: *mut pg_sys::RangeTblEntry,
) -> bool {
    // SAFETY: rte is the planner's entry of the foreign table.
    let relid = unsafe { (*rte).relid };
    // workers would not see this transaction's pending writes to the table, nor the
    // session state (claims) a row policy may read
    S::capabilities(&super::catalog::foreign_table_options(relid)).parallel
        && super::xact::ensure_unchanged(relid).is_ok()
        && !super::policy::for_relation(relid).has_policies
}
