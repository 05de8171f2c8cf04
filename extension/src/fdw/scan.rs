//! Executor callbacks of a foreign scan, generic over a [`Source`]: begin, iterate
//! (batches of Arrow arrays turned into Datums in the slot), rescan, end and EXPLAIN.

use super::catalog::{list_ptrs, table_context};
use super::datum::{fits_length, BatchColumn, TypedColumn};
use super::lookahead::{self, BatchedLookup, LookupStep};
use super::pgtype::pg_type_of;
use super::plan::{evaluate_quals, ScanPlan};
use super::routine::in_current_context;
use super::upper::AggregatePlan;
use super::{Source, SourceScan};
use crate::error::{OdpError, OrReport};
use odp_fdw::aggregate::Aggregator;
use odp_fdw::batch::ScanBatch;
use odp_fdw::lookup::LookupKey;
use odp_fdw::request::{Op, Qual, ScanRequest};
use odp_fdw::security::resource::Action;
use odp_fdw::source::SourceError;
use odp_fdw::types::PgType;
use odp_fdw::value::Value;
use pgrx::{pg_guard, pg_sys, PgMemoryContexts};
use std::any::Any;
use std::collections::VecDeque;
use std::ffi::CString;
use std::os::raw::c_int;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the rows of the current (re)scan come from.
enum Running<S: Source> {
    /// a scan of the source
    Source(S::Scan),
    /// rows a batched lookup already fetched, batch by batch
    Served(VecDeque<ScanBatch>),
}

/// The executor's state of one foreign scan node.
struct ScanState<S: Source> {
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
    targets: Vec<PgType>,
    /// the length limit of each `varchar(n)` target, checked on every value read
    length_limits: Vec<Option<usize>>,
    scan: Option<Running<S>>,
    batch: Option<(usize, Vec<BatchColumn>, Option<Vec<u64>>)>,
    row: usize,
    /// the scan returned its last row; only a rescan starts another
    done: bool,
    batch_context: PgMemoryContexts,
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
struct SharedScan {
    next: AtomicU64,
    handoff_len: u64,
}

impl SharedScan {
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

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn begin_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _eflags: c_int,
) {
    // SAFETY: node is the executor's scan state; its plan is our ForeignScan.
    unsafe {
        let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
        let plan_data = ScanPlan::of(plan);
        // the scanned relation's columns, or an aggregate scan's (its fdw_scan_tlist)
        let descriptor = (*(*node).ss.ss_ScanTupleSlot).tts_tupleDescriptor;
        let relation = (*node).ss.ss_currentRelation;
        let relid = if relation.is_null() {
            pg_sys::Oid::from(plan_data.relation)
        } else {
            (*relation).rd_id
        };
        let exprs = list_ptrs((*plan).fdw_exprs)
            .into_iter()
            .map(|e| pg_sys::ExecInitExpr(e as *mut pg_sys::Expr, node as *mut pg_sys::PlanState))
            .collect();
        let attributes = (*descriptor).attrs.as_slice((*descriptor).natts as usize);
        let length_limits = plan_data
            .columns
            .iter()
            .map(|(_, attnum)| {
                let attribute = attributes[(*attnum - 1) as usize];
                (attribute.atttypid == pg_sys::VARCHAROID
                    && attribute.atttypmod >= pg_sys::VARHDRSZ as i32)
                    .then(|| (attribute.atttypmod - pg_sys::VARHDRSZ as i32) as usize)
            })
            .collect();
        let targets = plan_data
            .columns
            .iter()
            .map(|(name, attnum)| {
                let attribute = attributes[(*attnum - 1) as usize];
                pg_type_of(attribute.atttypid).unwrap_or_else(|| {
                    let pg_type = super::catalog::type_name(attribute.atttypid);
                    OdpError::from(SourceError::column_type(name, &pg_type, "unsupported")).report()
                })
            })
            .collect();
        // A child of the query context: deleted with it, so it is never freed twice.
        let batch_context = PgMemoryContexts::For(pg_sys::AllocSetContextCreateInternal(
            pg_sys::CurrentMemoryContext,
            c"odp scan batch".as_ptr(),
            0,
            8 * 1024,
            8 * 1024 * 1024,
        ));
        let estate = (*node).ss.ps.state;
        let scanrelid = (*plan).scan.scanrelid;
        let lookup = batched_lookup(&plan_data, estate, scanrelid);
        let policy = plan_data.policy.as_ref().map(|p| {
            let condition = super::policy::condition(p);
            pg_sys::ExecInitExpr(
                condition as *mut pg_sys::Expr,
                node as *mut pg_sys::PlanState,
            )
        });
        let state = ScanState::<S> {
            relid,
            estate,
            scanrelid,
            lookup,
            policy,
            source: None,
            plan: plan_data,
            exprs,
            targets,
            length_limits,
            scan: None,
            pending: None,
            batch: None,
            row: 0,
            done: false,
            batch_context,
            totals: Vec::new(),
            shared: None,
            handoff: Vec::new(),
        };
        (*node).fdw_state = in_current_context(state) as *mut _;
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
        self.source.get_or_insert_with(|| {
            let table = table_context(relid);
            super::resources::check(&S::resources(&table), Action::Read);
            S::open(&table).or_report()
        })
    }

    /// Starts the rows of this (re)scan: a source scan, or rows of a batched lookup.
    unsafe fn start(&mut self, node: *mut pg_sys::ForeignScanState) -> Running<S> {
        // SAFETY: node is this state's scan node.
        let quals = unsafe { self.evaluate(node) };
        if let Some(aggregate) = self.plan.aggregate.clone() {
            return Running::Served(vec![self.aggregate(&aggregate, quals)].into());
        }
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

    /// The grouped rows of a pushed aggregate: from the source's statistics, or from
    /// its batches through the aggregation kernel.
    fn aggregate(&mut self, plan: &AggregatePlan, quals: Vec<Option<Qual>>) -> ScanBatch {
        let request = ScanRequest {
            columns: plan.columns.clone(),
            quals: quals.into_iter().flatten().collect(),
            group_columns: plan.group_columns(),
            ..Default::default()
        };
        // the statistics are those of the committed files
        let summarized = match self.pending {
            Some(_) => None,
            None => self.source().summarize(&request, &plan.spec).or_report(),
        };
        let (result, origin) = match summarized {
            Some(result) => (result, "source statistics"),
            None => {
                let mut aggregator = Aggregator::new(plan.spec.clone())
                    .unwrap_or_else(|e| OdpError::from(e).report());
                let mut scan = self.begin_scan(&request).or_report();
                while let Some(batch) = scan.next_batch().or_report() {
                    pgrx::check_for_interrupts!();
                    aggregator
                        .update(&batch)
                        .unwrap_or_else(|e| OdpError::from(e).report());
                }
                self.record(scan.explain());
                let result = aggregator
                    .finish()
                    .unwrap_or_else(|e| OdpError::from(e).report());
                (result, "rows")
            }
        };
        self.totals.push(("Aggregated From".into(), origin.into()));
        crate::api::metrics::increment(if origin == "rows" {
            "aggregates_from_rows"
        } else {
            "aggregates_from_statistics"
        });
        plan.rows(result).or_report()
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
        match self.pending.clone() {
            Some(pending) => self.source().begin_scan_pending(request, pending.as_ref()),
            None => self.source().begin_scan(request),
        }
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
        while let Some(batch) = scan
            .next_batch()
            .unwrap_or_else(|e| withheld_if(restricted, e).report())
        {
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
            crate::api::metrics::record(&lines);
            crate::api::metrics::increment("scans");
        }
        merge_totals(&mut self.totals, lines);
    }

    fn finish_scan(&mut self) {
        if let Some(Running::Source(scan)) = self.scan.take() {
            self.record(scan.explain());
        }
        self.batch = None;
        lookahead::withdraw(self.estate, self.scanrelid);
    }
}

/// Adds counters of one (re)scan to the running totals; non-numeric values are replaced.
fn merge_totals(totals: &mut Vec<(String, String)>, lines: Vec<(String, String)>) {
    for (key, value) in lines {
        match totals.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => match (old.parse::<u64>(), value.parse::<u64>()) {
                (Ok(a), Ok(b)) => *old = (a + b).to_string(),
                _ => *old = value,
            },
            None => totals.push((key, value)),
        }
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn iterate_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: fdw_state was set by begin_foreign_scan; the slot belongs to this node.
    unsafe {
        let state = &mut *((*node).fdw_state as *mut ScanState<S>);
        let slot = (*node).ss.ss_ScanTupleSlot;
        if state.done {
            return pg_sys::ExecClearTuple(slot);
        }
        if state.scan.is_none() {
            state.pending = super::xact::pending_view(state.relid).or_report();
            let running = state.start(node);
            state.scan = Some(running);
        }
        loop {
            if let Some((rows, columns, row_ids)) = &state.batch {
                if state.row < *rows {
                    fill_slot(slot, &state.plan.columns, columns, state.row);
                    if let Some(ids) = row_ids {
                        (*slot).tts_tid = item_pointer(ids[state.row]);
                    }
                    state.row += 1;
                    if passes_policy(state.policy, node, slot) {
                        if state.policy.is_some() {
                            // under a policy only the rows the role sees are checked
                            check_lengths(slot, &state.plan.columns, &state.length_limits);
                        }
                        return slot;
                    }
                    pgrx::check_for_interrupts!();
                    continue;
                }
            }
            let next = match state.scan.as_mut().expect("started above") {
                Running::Source(scan) => scan
                    .next_batch()
                    .unwrap_or_else(|e| withheld_if(state.policy.is_some(), e).report()),
                Running::Served(rows) => rows.pop_front(),
            };
            match next {
                None => {
                    state.finish_scan();
                    state.done = true;
                    return pg_sys::ExecClearTuple(slot);
                }
                Some(batch) => {
                    let attnums = state.plan.columns.iter().map(|(_, a)| *a);
                    if state.policy.is_none() && state.scanrelid != 0 {
                        // (a restricted scan's batches hold rows the role may not see;
                        // an aggregate scan's rows are no table's)
                        lookahead::publish(state.estate, state.scanrelid, attnums, &batch);
                    }
                    state.batch = None;
                    state.batch_context.reset();
                    // (under a row policy each returned row is checked instead: an
                    // error about a row the role may not see would tell of it)
                    let too_long = batch
                        .columns
                        .iter()
                        .zip(&state.length_limits)
                        .zip(&state.plan.columns)
                        .find_map(|((column, limit), (name, _))| {
                            limit.filter(|l| !fits_length(column, *l)).map(|limit| {
                                OdpError::TooLong {
                                    column: name.clone(),
                                    limit,
                                }
                            })
                        })
                        .filter(|_| state.policy.is_none());
                    if let Some(e) = too_long {
                        e.report();
                    }
                    let targets = &state.targets;
                    let rows = batch.num_rows;
                    let columns = state.batch_context.switch_to(|_| {
                        batch
                            .columns
                            .iter()
                            .zip(targets)
                            .map(|(c, t)| TypedColumn::prepare(c, t)?.materialize(rows))
                            .collect::<Result<Vec<_>, _>>()
                    });
                    let columns = columns.unwrap_or_else(|e| {
                        withheld_if(state.policy.is_some(), OdpError::Unsupported(e.0)).report()
                    });
                    state.batch = Some((rows, columns, batch.row_ids));
                    state.row = 0;
                }
            }
        }
    }
}

/// Fails when a `varchar(n)` column of the row in `slot` holds more than `n`
/// characters.
///
/// # Safety
/// `slot` must hold a row filled for `columns` (virtual: values and NULL flags set).
unsafe fn check_lengths(
    slot: *mut pg_sys::TupleTableSlot,
    columns: &[(String, i16)],
    limits: &[Option<usize>],
) {
    for ((name, attnum), limit) in columns.iter().zip(limits) {
        let Some(limit) = *limit else { continue };
        let index = (*attnum - 1) as usize;
        // SAFETY: the caller guarantees a filled slot; varchar values are text datums.
        let text = unsafe {
            if *(*slot).tts_isnull.add(index) {
                continue;
            }
            <&str as pgrx::FromDatum>::from_datum(*(*slot).tts_values.add(index), false)
        };
        if text.is_some_and(|t| t.len() > limit && t.chars().count() > limit) {
            OdpError::TooLong {
                column: name.clone(),
                limit,
            }
            .report();
        }
    }
}

/// `error` as it may be shown: under a row policy only its SQLSTATE, since its message
/// may quote values of rows the role may not see.
fn withheld_if(restricted: bool, error: impl Into<OdpError>) -> OdpError {
    let error = error.into();
    if restricted {
        OdpError::Withheld(error.class())
    } else {
        error
    }
}

/// Whether the row in `slot` passes the scan's row policy (NULL counts as false); rows
/// that fail never leave the scan.
unsafe fn passes_policy(
    policy: Option<*mut pg_sys::ExprState>,
    node: *mut pg_sys::ForeignScanState,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    let Some(policy) = policy else {
        return true;
    };
    // SAFETY: the policy was initialised for this node; the slot holds a stored row.
    unsafe {
        let econtext = (*node).ss.ps.ps_ExprContext;
        (*econtext).ecxt_scantuple = slot;
        let mut is_null = false;
        let datum = pg_sys::ExecEvalExprSwitchContext(policy, econtext, &mut is_null);
        let visible = !is_null && datum.value() != 0;
        pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
        visible
    }
}

/// A row identity (48 bits) as the `ctid` of a tuple.
pub fn item_pointer(id: u64) -> pg_sys::ItemPointerData {
    let block = (id >> 16) as u32;
    pg_sys::ItemPointerData {
        ip_blkid: pg_sys::BlockIdData {
            bi_hi: (block >> 16) as u16,
            bi_lo: block as u16,
        },
        ip_posid: id as u16,
    }
}

/// The row identity a `ctid` holds.
pub fn row_id(tid: &pg_sys::ItemPointerData) -> u64 {
    let block = ((tid.ip_blkid.bi_hi as u64) << 16) | tid.ip_blkid.bi_lo as u64;
    (block << 16) | tid.ip_posid as u64
}

/// Stores row `row` of the batch in `slot`: one guarded call per row
/// (`ExecStoreAllNullTuple` clears the slot and marks every column NULL), then the
/// non-NULL Datums are copied in place.
unsafe fn fill_slot(
    slot: *mut pg_sys::TupleTableSlot,
    columns: &[(String, i16)],
    data: &[BatchColumn],
    row: usize,
) {
    // SAFETY: the slot has the relation's descriptor, so natts values and nulls; a
    // stored virtual tuple reads them when the executor asks, after we return.
    unsafe {
        pg_sys::ExecStoreAllNullTuple(slot);
        let natts = (*(*slot).tts_tupleDescriptor).natts as usize;
        let values = std::slice::from_raw_parts_mut((*slot).tts_values, natts);
        let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, natts);
        for ((_, attnum), column) in columns.iter().zip(data) {
            if let Some(datum) = column.datum(row) {
                let i = (*attnum - 1) as usize;
                values[i] = datum;
                nulls[i] = false;
            }
        }
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn rescan_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
) {
    // SAFETY: fdw_state was set by begin_foreign_scan.
    unsafe {
        let state = &mut *((*node).fdw_state as *mut ScanState<S>);
        state.finish_scan();
        state.done = false;
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn end_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
) {
    // SAFETY: fdw_state is ours or null (EXPLAIN without ANALYZE still begins the scan).
    unsafe {
        let state = (*node).fdw_state as *mut ScanState<S>;
        if !state.is_null() {
            (*state).finish_scan();
        }
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn explain_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    es: *mut pg_sys::ExplainState,
) {
    // SAFETY: fdw_state was set by begin_foreign_scan; es is the executor's.
    unsafe {
        let state = &*((*node).fdw_state as *mut ScanState<S>);
        let verbose = (*es).verbose;
        if !state.plan.quals.is_empty() {
            explain_text(es, "Pushed Quals", &state.plan.quals_display());
        }
        if let Some(limit) = state.plan.limit {
            explain_text(es, "Pushed Limit", &limit.to_string());
        }
        if verbose && state.plan.aggregate.is_none() {
            let names: Vec<&str> = state.plan.columns.iter().map(|(n, _)| n.as_str()).collect();
            explain_text(es, "Source Columns", &names.join(", "));
        }
        if state.plan.policy.is_some() {
            // Under a row policy only the policy is shown: file counts, estimates and
            // source counters would count rows the role may not see.
            for (key, value) in state
                .plan
                .explain
                .iter()
                .filter(|(k, _)| k == "Row Policies")
            {
                explain_text(es, key, value);
            }
            return;
        }
        for (key, value) in &state.plan.explain {
            explain_text(es, key, value);
        }
        if (*es).analyze {
            let mut totals = state.totals.clone();
            if let Some(Running::Source(scan)) = &state.scan {
                merge_totals(&mut totals, scan.explain());
            }
            if let Some(lookup) = &state.lookup {
                totals.extend(lookup.explain());
            }
            for (key, value) in &totals {
                explain_text(es, key, value);
            }
        }
    }
}

pub(super) unsafe fn explain_text(es: *mut pg_sys::ExplainState, label: &str, value: &str) {
    let label = CString::new(label).unwrap_or_default();
    let value = CString::new(value).unwrap_or_default();
    // SAFETY: ExplainPropertyText copies both strings into the explain output.
    unsafe { pg_sys::ExplainPropertyText(label.as_ptr(), value.as_ptr(), es) }
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
    S::capabilities(&super::catalog::table_context(relid)).parallel
        && super::xact::ensure_unchanged(relid).is_ok()
        && !super::policy::for_relation(relid).has_policies
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn estimate_dsm_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _pcxt: *mut pg_sys::ParallelContext,
) -> pg_sys::Size {
    // SAFETY: fdw_state was set by begin_foreign_scan.
    let state = unsafe { &mut *((*node).fdw_state as *mut ScanState<S>) };
    // workers would not see this transaction's pending writes
    super::xact::ensure_unchanged(state.relid).or_report();
    let handoff = state.source().worker_handoff();
    let size = std::mem::size_of::<SharedScan>() + handoff.len();
    state.handoff = handoff;
    size
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn initialize_dsm_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _pcxt: *mut pg_sys::ParallelContext,
    coordinate: *mut std::ffi::c_void,
) {
    // SAFETY: fdw_state was set by begin_foreign_scan; coordinate is this node's chunk
    // of dynamic shared memory, of the size estimate_dsm_foreign_scan asked for.
    unsafe {
        let state = &mut *((*node).fdw_state as *mut ScanState<S>);
        let handoff = std::mem::take(&mut state.handoff);
        let shared = coordinate as *mut SharedScan;
        shared.write(SharedScan {
            next: AtomicU64::new(0),
            handoff_len: handoff.len() as u64,
        });
        std::ptr::copy_nonoverlapping(
            handoff.as_ptr(),
            (shared as *mut u8).add(std::mem::size_of::<SharedScan>()),
            handoff.len(),
        );
        state.shared = Some(shared);
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn reinitialize_dsm_foreign_scan(
    _node: *mut pg_sys::ForeignScanState,
    _pcxt: *mut pg_sys::ParallelContext,
    coordinate: *mut std::ffi::c_void,
) {
    // SAFETY: coordinate holds the SharedScan initialize_dsm_foreign_scan wrote.
    unsafe {
        (*(coordinate as *mut SharedScan))
            .next
            .store(0, Ordering::Relaxed)
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn initialize_worker_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _toc: *mut pg_sys::shm_toc,
    coordinate: *mut std::ffi::c_void,
) {
    // SAFETY: fdw_state was set by begin_foreign_scan in this worker; coordinate holds
    // the SharedScan and handoff the leader wrote.
    unsafe {
        let state = &mut *((*node).fdw_state as *mut ScanState<S>);
        let shared = coordinate as *mut SharedScan;
        let table = table_context(state.relid);
        super::resources::check(&S::resources(&table), Action::Read);
        state.source = Some(S::open_in_worker(&table, SharedScan::handoff(shared)).or_report());
        state.shared = Some(shared);
    }
}
