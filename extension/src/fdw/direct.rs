//! Direct DELETE: a DELETE whose whole WHERE clause the source can decide without
//! reading rows (Delta: comparisons on partition columns) runs as one call into the
//! transaction's writer instead of a scan that names every row to delete.
//!
//! `PlanDirectModify` turns the DELETE's ForeignScan into the direct node when every
//! clause is a pushable qual the source accepts; Postgres then calls
//! `BeginDirectModify`, `IterateDirectModify` (once: it deletes and counts) and
//! `EndDirectModify` on that node instead of the scan and modify callbacks.

use super::catalog::{list_ptrs, table_context};
use super::explain::explain_text;
use super::memory::in_current_context;
use super::node::{evaluate_quals, plan_quals, DirectDelete, NodePlan, ScanPlan};
use super::plan::PlanningState;
use super::quals::extract;
use super::xact::{ensure_unchanged, with_writer};
use super::Source;
use crate::error::{OdpError, OrReport};
use odp_fdw::request::Op;
use odp_fdw::security::resource::Action;
use pgrx::{pg_guard, pg_sys};
use std::os::raw::c_int;

/// The executor's state of a direct DELETE node.
struct DirectState {
    relid: pg_sys::Oid,
    plan: ScanPlan,
    delete: DirectDelete,
    exprs: Vec<*mut pg_sys::ExprState>,
    /// rows deleted, once the node has run
    deleted: Option<u64>,
}

/// `PlanDirectModify`: whether the DELETE on `result_relation` runs directly.
#[pg_guard]
pub unsafe extern "C-unwind" fn plan_direct_modify<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    plan: *mut pg_sys::ModifyTable,
    result_relation: pg_sys::Index,
    _subplan_index: c_int,
) -> bool {
    // SAFETY: `plan` is the planner's ModifyTable.
    if unsafe {
        (*plan).operation != pg_sys::CmdType::CMD_DELETE || !(*plan).returningLists.is_null()
    } {
        return false;
    }
    // SAFETY: `plan` is the planner's ModifyTable.
    let subplan = unsafe { (*plan).plan.lefttree };
    // SAFETY: a non-null subplan is a valid Plan node.
    if subplan.is_null() || unsafe { (*subplan).type_ } != pg_sys::NodeTag::T_ForeignScan {
        return false;
    }
    let scan = subplan as *mut pg_sys::ForeignScan;
    // SAFETY: the subplan is a ForeignScan (its tag was checked above).
    if unsafe { (*scan).scan.scanrelid } != result_relation {
        return false;
    }
    // whole files are chosen among the committed ones: the transaction's own
    // changes to the table need the rows read
    // SAFETY: `result_relation` is a range-table index of `root`'s query, whose
    // simple_rte_array holds its entry.
    let relid = unsafe {
        let rte = *(*root).simple_rte_array.add(result_relation as usize);
        (*rte).relid
    };
    if super::xact::changed(relid) {
        return false;
    }
    // SAFETY: `result_relation` is a base relation of `root` scanned by this source: its
    // fdw_private was set by get_foreign_rel_size of the same source and lives for the
    // planner run.
    let state = unsafe {
        let baserel = pg_sys::find_base_rel(root, result_relation as c_int);
        &*((*baserel).fdw_private as *mut PlanningState<S>)
    };
    // a row policy is checked on rows read: a restricted role deletes through them
    if state.policy.is_some() {
        return false;
    }
    // SAFETY: `scan` is a ForeignScan (its tag was checked above).
    let clauses = unsafe { (*scan).scan.plan.qual };
    // SAFETY: `clauses` is NIL or the scan's List of clauses of `result_relation`.
    let extracted = unsafe { extract(root, result_relation, clauses, &state.table.columns) };
    // SAFETY: as above.
    if extracted.len() != unsafe { list_ptrs(clauses) }.len() {
        return false;
    }
    let shapes: Vec<(String, Op)> = extracted.iter().map(|q| (q.column.clone(), q.op)).collect();
    if !state.source.deletes_without_reading(&shapes) {
        return false;
    }
    // SAFETY: a ForeignScan of a relation of this source was planned by ODP.
    let NodePlan::Scan(mut direct) = (unsafe { NodePlan::of(scan) }) else {
        return false;
    };
    // SAFETY: the extracted quals' expressions are the planner's, of this run.
    let (quals, fdw_exprs) = unsafe { plan_quals(root, result_relation, &extracted) };
    direct.quals = quals;
    // SAFETY: `plan` is the planner's ModifyTable.
    let set_processed = unsafe { (*plan).canSetTag };
    let delete = DirectDelete {
        set_processed,
        description: state.source.direct_delete_description().to_string(),
    };
    let private = NodePlan::DirectModify {
        scan: direct,
        delete,
    }
    .to_private();
    // SAFETY: `scan` is the ForeignScan subplan, which PlanDirectModify may change.
    unsafe {
        (*scan).fdw_private = private;
        (*scan).fdw_exprs = fdw_exprs;
        (*scan).scan.plan.qual = std::ptr::null_mut();
        (*scan).operation = pg_sys::CmdType::CMD_DELETE;
        (*scan).resultRelation = result_relation;
    }
    true
}

/// `BeginDirectModify`: prepares the qual values; nothing touches the source yet.
#[pg_guard]
pub unsafe extern "C-unwind" fn begin_direct_modify(
    node: *mut pg_sys::ForeignScanState,
    _eflags: c_int,
) {
    // SAFETY: `node` is the executor's state of a ForeignScan.
    let plan = unsafe { (*node).ss.ps.plan } as *mut pg_sys::ForeignScan;
    // SAFETY: the node's ForeignScan holds NIL or a List of expressions in fdw_exprs.
    let exprs = unsafe { list_ptrs((*plan).fdw_exprs) }
        .into_iter()
        .map(|e| {
            // SAFETY: `e` is a planned expression of this node; ExecInitExpr allocates
            // in the query's context.
            unsafe { pg_sys::ExecInitExpr(e as *mut pg_sys::Expr, node as *mut pg_sys::PlanState) }
        })
        .collect();
    // SAFETY: the node's ForeignScan was planned by ODP (as a direct DELETE).
    let NodePlan::DirectModify { scan, delete } = (unsafe { NodePlan::of(plan) }) else {
        OdpError::not_supported("a scan run as a direct modification").report()
    };
    // SAFETY: the node's current relation is the result relation, opened by the
    // executor.
    let relid = unsafe { (*(*node).ss.ss_currentRelation).rd_id };
    let state = DirectState {
        relid,
        plan: scan,
        delete,
        exprs,
        deleted: None,
    };
    let state = in_current_context(state);
    // SAFETY: `node` is the executor's state; fdw_state is the wrapper's.
    unsafe { (*node).fdw_state = state as *mut _ };
}

/// `IterateDirectModify`: deletes the matching rows through the transaction's writer
/// (committed with the transaction) and adds them to the statement's row count.
#[pg_guard]
pub unsafe extern "C-unwind" fn iterate_direct_modify<S: Source>(
    node: *mut pg_sys::ForeignScanState,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: fdw_state was set by begin_direct_modify and lives in the query's context;
    // nothing else refers to it during this call.
    let state = unsafe { &mut *((*node).fdw_state as *mut DirectState) };
    // SAFETY: `node` is the executor's state.
    let slot = unsafe { (*node).ss.ss_ScanTupleSlot };
    if state.deleted.is_some() {
        // SAFETY: clears the node's own slot.
        return unsafe { pg_sys::ExecClearTuple(slot) };
    }
    ensure_unchanged(state.relid).or_report();
    // SAFETY: `node` is the executor's state.
    let econtext = unsafe { (*node).ss.ps.ps_ExprContext };
    // A qual dropped here would delete more rows than asked: every value must be
    // exact.
    // SAFETY: the exprs are this node's initialised fdw_exprs; econtext is its context.
    let quals = unsafe { evaluate_quals(&state.plan.quals, &state.exprs, econtext) }
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .unwrap_or_else(|| {
            OdpError::Unsupported("a DELETE value without an exact representation".into()).report()
        });
    let table = table_context(state.relid);
    super::resources::check(&S::resources(&table), Action::Write);
    S::check_local_write(&table).or_report();
    let source = S::open(&table).or_report();
    let mut deleted = 0;
    with_writer(
        state.relid,
        || source.open_writer(&table),
        |writer| {
            deleted = writer.delete_where(&quals)?;
            Ok(())
        },
    )
    .or_report();
    state.deleted = Some(deleted);
    if state.delete.set_processed {
        // SAFETY: the node's estate is the running query's.
        unsafe { (*(*node).ss.ps.state).es_processed += deleted };
    }
    odp_fdw::metrics::increment("direct_deletes");
    // SAFETY: clears the node's own slot.
    unsafe { pg_sys::ExecClearTuple(slot) }
}

/// `EndDirectModify`: nothing to release (the state lives in the query's context).
#[pg_guard]
pub unsafe extern "C-unwind" fn end_direct_modify(_node: *mut pg_sys::ForeignScanState) {}

/// `ExplainDirectModify`: says how the source deletes, and how many rows.
#[pg_guard]
pub unsafe extern "C-unwind" fn explain_direct_modify(
    node: *mut pg_sys::ForeignScanState,
    es: *mut pg_sys::ExplainState,
) {
    // SAFETY: fdw_state was set by begin_direct_modify.
    let state = unsafe { &*((*node).fdw_state as *mut DirectState) };
    // SAFETY: `es` is the running EXPLAIN's state.
    unsafe { explain_text(es, "Direct Delete", &state.delete.description) };
    if !state.plan.quals.is_empty() {
        let quals = state.plan.quals_display();
        // SAFETY: as above.
        unsafe { explain_text(es, "Pushed Quals", &quals) };
    }
    // SAFETY: as above.
    if let (true, Some(rows)) = (unsafe { (*es).analyze }, state.deleted) {
        let rows = rows.to_string();
        // SAFETY: as above.
        unsafe { explain_text(es, "Rows Deleted", &rows) };
    }
}
