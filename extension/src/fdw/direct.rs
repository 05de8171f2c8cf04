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
    // SAFETY: plan and root are the planner's; the subplan is checked to be a
    // ForeignScan of the result relation before it is cast, and that relation's
    // fdw_private was set by get_foreign_rel_size of the same source.
    unsafe {
        if (*plan).operation != pg_sys::CmdType::CMD_DELETE || !(*plan).returningLists.is_null() {
            return false;
        }
        let subplan = (*plan).plan.lefttree;
        if subplan.is_null() || (*subplan).type_ != pg_sys::NodeTag::T_ForeignScan {
            return false;
        }
        let scan = subplan as *mut pg_sys::ForeignScan;
        if (*scan).scan.scanrelid != result_relation {
            return false;
        }
        // whole files are chosen among the committed ones: the transaction's own
        // changes to the table need the rows read
        let rte = *(*root).simple_rte_array.add(result_relation as usize);
        if super::xact::changed((*rte).relid) {
            return false;
        }
        let baserel = pg_sys::find_base_rel(root, result_relation as c_int);
        let state = &*((*baserel).fdw_private as *mut PlanningState<S>);
        // a row policy is checked on rows read: a restricted role deletes through them
        if state.policy.is_some() {
            return false;
        }
        let clauses = (*scan).scan.plan.qual;
        let extracted = extract(root, result_relation, clauses, &state.table.columns);
        if extracted.len() != list_ptrs(clauses).len() {
            return false;
        }
        let shapes: Vec<(String, Op)> =
            extracted.iter().map(|q| (q.column.clone(), q.op)).collect();
        if !state.source.deletes_without_reading(&shapes) {
            return false;
        }
        let NodePlan::Scan(mut direct) = NodePlan::of(scan) else {
            return false;
        };
        let (quals, fdw_exprs) = plan_quals(root, result_relation, &extracted);
        direct.quals = quals;
        let delete = DirectDelete {
            set_processed: (*plan).canSetTag,
            description: state.source.direct_delete_description().to_string(),
        };
        (*scan).fdw_private = NodePlan::DirectModify {
            scan: direct,
            delete,
        }
        .to_private();
        (*scan).fdw_exprs = fdw_exprs;
        (*scan).scan.plan.qual = std::ptr::null_mut();
        (*scan).operation = pg_sys::CmdType::CMD_DELETE;
        (*scan).resultRelation = result_relation;
        true
    }
}

/// `BeginDirectModify`: prepares the qual values; nothing touches the source yet.
#[pg_guard]
pub unsafe extern "C-unwind" fn begin_direct_modify(
    node: *mut pg_sys::ForeignScanState,
    _eflags: c_int,
) {
    // SAFETY: node is the executor's state of a ForeignScan planned as a direct DELETE.
    unsafe {
        let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
        let exprs = list_ptrs((*plan).fdw_exprs)
            .into_iter()
            .map(|e| pg_sys::ExecInitExpr(e as *mut pg_sys::Expr, node as *mut pg_sys::PlanState))
            .collect();
        let NodePlan::DirectModify { scan, delete } = NodePlan::of(plan) else {
            OdpError::not_supported("a scan run as a direct modification").report()
        };
        let state = DirectState {
            relid: (*(*node).ss.ss_currentRelation).rd_id,
            plan: scan,
            delete,
            exprs,
            deleted: None,
        };
        (*node).fdw_state = in_current_context(state) as *mut _;
    }
}

/// `IterateDirectModify`: deletes the matching rows through the transaction's writer
/// (committed with the transaction) and adds them to the statement's row count.
#[pg_guard]
pub unsafe extern "C-unwind" fn iterate_direct_modify<S: Source>(
    node: *mut pg_sys::ForeignScanState,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: fdw_state was set by begin_direct_modify; the slot and estate are this
    // node's.
    unsafe {
        let state = &mut *((*node).fdw_state as *mut DirectState);
        let slot = (*node).ss.ss_ScanTupleSlot;
        if state.deleted.is_some() {
            return pg_sys::ExecClearTuple(slot);
        }
        ensure_unchanged(state.relid).or_report();
        let econtext = (*node).ss.ps.ps_ExprContext;
        // A qual dropped here would delete more rows than asked: every value must be
        // exact.
        let quals = evaluate_quals(&state.plan.quals, &state.exprs, econtext)
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .unwrap_or_else(|| {
                OdpError::Unsupported("a DELETE value without an exact representation".into())
                    .report()
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
            (*(*node).ss.ps.state).es_processed += deleted;
        }
        odp_fdw::metrics::increment("direct_deletes");
        pg_sys::ExecClearTuple(slot)
    }
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
    // SAFETY: fdw_state was set by begin_direct_modify; es is the executor's.
    unsafe {
        let state = &*((*node).fdw_state as *mut DirectState);
        explain_text(es, "Direct Delete", &state.delete.description);
        if !state.plan.quals.is_empty() {
            explain_text(es, "Pushed Quals", &state.plan.quals_display());
        }
        if let (true, Some(rows)) = ((*es).analyze, state.deleted) {
            explain_text(es, "Rows Deleted", &rows.to_string());
        }
    }
}
