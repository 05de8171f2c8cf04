//! The executor of [`NodePlan::Aggregate`](super::node::NodePlan::Aggregate): the
//! grouped rows of a pushed aggregate, taken from the source's statistics or computed
//! by the aggregation kernel over its batches, before any row becomes a tuple. The
//! planning side is [`super::upper`].

use super::emit::Emitter;
use super::explain::{explain_text, merge_totals};
use super::node::{evaluate_quals, AggregatePlan, ScanPlan};
use super::scan::{begin_scan, init_exprs, open_for_read};
use super::{Source, SourceScan};
use crate::error::{OdpError, OrReport};
use odp_fdw::aggregate::Aggregator;
use odp_fdw::batch::ScanBatch;
use odp_fdw::request::ScanRequest;
use pgrx::pg_sys;
use std::any::Any;
use std::rc::Rc;

/// The executor's state of one aggregate node.
pub(super) struct AggregateState<S: Source> {
    relid: pg_sys::Oid,
    /// opened at the first row, so a plain `EXPLAIN` never touches the source
    source: Option<S>,
    scan: ScanPlan,
    aggregate: AggregatePlan,
    exprs: Vec<*mut pg_sys::ExprState>,
    emitter: Emitter,
    /// the grouped rows were computed for this (re)scan
    computed: bool,
    totals: Vec<(String, String)>,
}

impl<S: Source> AggregateState<S> {
    /// The state of an aggregate node running `scan` and `aggregate`; nothing touches
    /// the source yet.
    ///
    /// # Safety
    /// `node` must be the executor's state of the ForeignScan planned as these plans.
    pub(super) unsafe fn begin(
        node: *mut pg_sys::ForeignScanState,
        scan: ScanPlan,
        aggregate: AggregatePlan,
    ) -> Self {
        // SAFETY: the node's plan is our ForeignScan; its columns are the scan tuple's
        // (fdw_scan_tlist).
        let (exprs, emitter) = unsafe {
            let foreign_scan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
            (
                init_exprs(node, (*foreign_scan).fdw_exprs),
                Emitter::new(node, &scan.columns),
            )
        };
        AggregateState {
            relid: pg_sys::Oid::from(scan.relation),
            source: None,
            scan,
            aggregate,
            exprs,
            emitter,
            computed: false,
            totals: Vec::new(),
        }
    }

    /// The next grouped row in the node's slot, or an empty slot at the end.
    ///
    /// # Safety
    /// `node` must be this state's node.
    pub(super) unsafe fn iterate(
        &mut self,
        node: *mut pg_sys::ForeignScanState,
    ) -> *mut pg_sys::TupleTableSlot {
        // SAFETY: the slot belongs to this node.
        let slot = unsafe { (*node).ss.ss_ScanTupleSlot };
        if !self.computed {
            self.computed = true;
            let pending = super::xact::pending_view(self.relid).or_report();
            // SAFETY: exprs are this node's initialised fdw_exprs; econtext is its own.
            let quals = unsafe {
                evaluate_quals(&self.scan.quals, &self.exprs, (*node).ss.ps.ps_ExprContext)
            };
            let request = ScanRequest {
                columns: self.aggregate.columns.clone(),
                quals: quals.into_iter().flatten().collect(),
                group_columns: self.aggregate.group_columns(),
                ..Default::default()
            };
            let rows = self.grouped_rows(&request, pending);
            self.emitter.load(rows, false);
        }
        // SAFETY: the slot is the node's scan slot.
        if unsafe { self.emitter.store_next(slot) } {
            return slot;
        }
        self.emitter.clear();
        // SAFETY: clears the node's own slot.
        unsafe { pg_sys::ExecClearTuple(slot) }
    }

    /// The grouped rows of the aggregate over `request`: from the source's statistics,
    /// or from its batches (with the transaction's own changes, `pending`) through the
    /// aggregation kernel.
    fn grouped_rows(&mut self, request: &ScanRequest, pending: Option<Rc<dyn Any>>) -> ScanBatch {
        let relid = self.relid;
        let source = self.source.get_or_insert_with(|| open_for_read(relid));
        // the statistics are those of the committed files
        let summarized = match pending {
            Some(_) => None,
            None => source.summarize(request, &self.aggregate.spec).or_report(),
        };
        let (result, origin) = match summarized {
            Some(result) => (result, "source statistics"),
            None => {
                let mut aggregator = Aggregator::new(self.aggregate.spec.clone())
                    .unwrap_or_else(|e| OdpError::from(e).report());
                let mut scan = begin_scan(source, pending.as_deref(), request).or_report();
                while let Some(batch) = scan.next_batch().or_report() {
                    pgrx::check_for_interrupts!();
                    aggregator
                        .update(&batch)
                        .unwrap_or_else(|e| OdpError::from(e).report());
                }
                let lines = scan.explain();
                odp_fdw::metrics::record(&lines);
                odp_fdw::metrics::increment("scans");
                merge_totals(&mut self.totals, lines);
                let result = aggregator
                    .finish()
                    .unwrap_or_else(|e| OdpError::from(e).report());
                (result, "rows")
            }
        };
        self.totals.push(("Aggregated From".into(), origin.into()));
        odp_fdw::metrics::increment(if origin == "rows" {
            "aggregates_from_rows"
        } else {
            "aggregates_from_statistics"
        });
        self.aggregate.rows(result).or_report()
    }

    /// Starts the node again (its parameters changed).
    pub(super) fn rescan(&mut self) {
        self.emitter.clear();
        self.computed = false;
    }

    /// The node's EXPLAIN lines.
    ///
    /// # Safety
    /// `es` must be the running EXPLAIN's state.
    pub(super) unsafe fn explain(&self, es: *mut pg_sys::ExplainState) {
        let mut lines = Vec::new();
        if !self.scan.quals.is_empty() {
            lines.push(("Pushed Quals".to_string(), self.scan.quals_display()));
        }
        lines.extend(self.scan.explain.iter().cloned());
        // SAFETY: es is the executor's.
        if unsafe { (*es).analyze } {
            lines.extend(self.totals.iter().cloned());
        }
        for (key, value) in &lines {
            // SAFETY: es is the running EXPLAIN's state.
            unsafe { explain_text(es, key, value) };
        }
    }
}
