//! The `FdwRoutine` of a [`Source`]: planning callbacks in [`super::plan`],
//! [`super::paths`] and [`super::upper`], node callbacks in [`super::executor`], writes
//! in [`super::modify`] and [`super::direct`].
//! Together they are the only large unsafe surface of ODP: they translate between
//! planner/executor structures and the safe [`Source`] API.
//!
//! Rust state lives in boxes whose lifetime is tied to a Postgres memory context by a
//! reset callback, so it is freed on errors and aborts as well as on success.

use super::executor::{
    begin_foreign_scan, end_foreign_scan, estimate_dsm_foreign_scan, explain_foreign_scan,
    initialize_dsm_foreign_scan, initialize_worker_foreign_scan, iterate_foreign_scan,
    reinitialize_dsm_foreign_scan, rescan_foreign_scan,
};
use super::paths::get_foreign_paths;
use super::plan::get_foreign_rel_size;
use super::Source;
use pgrx::{pg_guard, pg_sys, PgBox};

/// Builds the `FdwRoutine` of source `S`.
pub fn fdw_routine<S: Source>() -> pg_sys::Datum {
    let mut routine = unsafe {
        // SAFETY: alloc_node zero-fills a node of the right size and sets its tag.
        PgBox::<pg_sys::FdwRoutine>::alloc_node(pg_sys::NodeTag::T_FdwRoutine)
    };
    routine.GetForeignRelSize = Some(get_foreign_rel_size::<S>);
    routine.GetForeignPaths = Some(get_foreign_paths::<S>);
    routine.GetForeignPlan = Some(get_foreign_plan::<S>);
    routine.BeginForeignScan = Some(begin_foreign_scan::<S>);
    routine.IterateForeignScan = Some(iterate_foreign_scan::<S>);
    routine.ReScanForeignScan = Some(rescan_foreign_scan::<S>);
    routine.EndForeignScan = Some(end_foreign_scan::<S>);
    routine.ExplainForeignScan = Some(explain_foreign_scan::<S>);
    routine.GetForeignUpperPaths = Some(super::upper::get_foreign_upper_paths::<S>);
    routine.IsForeignScanParallelSafe = Some(super::scan::is_foreign_scan_parallel_safe::<S>);
    routine.EstimateDSMForeignScan = Some(estimate_dsm_foreign_scan::<S>);
    routine.InitializeDSMForeignScan = Some(initialize_dsm_foreign_scan::<S>);
    routine.ReInitializeDSMForeignScan = Some(reinitialize_dsm_foreign_scan);
    routine.InitializeWorkerForeignScan = Some(initialize_worker_foreign_scan::<S>);
    routine.AnalyzeForeignTable = Some(super::analyze::analyze_foreign_table::<S>);
    routine.ImportForeignSchema = Some(super::import::import_foreign_schema::<S>);
    routine.IsForeignRelUpdatable = Some(super::modify::is_foreign_rel_updatable::<S>);
    routine.PlanForeignModify = Some(super::modify::plan_foreign_modify);
    routine.BeginForeignModify = Some(super::modify::begin_foreign_modify::<S>);
    routine.ExecForeignInsert = Some(super::modify::exec_foreign_insert::<S>);
    routine.ExecForeignBatchInsert = Some(super::modify::exec_foreign_batch_insert::<S>);
    routine.GetForeignModifyBatchSize = Some(super::modify::get_foreign_modify_batch_size::<S>);
    routine.EndForeignModify = Some(super::modify::end_foreign_modify::<S>);
    routine.AddForeignUpdateTargets = Some(super::modify::add_foreign_update_targets);
    routine.ExecForeignUpdate = Some(super::modify::exec_foreign_update::<S>);
    routine.ExecForeignDelete = Some(super::modify::exec_foreign_delete::<S>);
    routine.BeginForeignInsert = Some(super::modify::begin_foreign_insert::<S>);
    routine.PlanDirectModify = Some(super::direct::plan_direct_modify::<S>);
    routine.BeginDirectModify = Some(super::direct::begin_direct_modify);
    routine.IterateDirectModify = Some(super::direct::iterate_direct_modify::<S>);
    routine.EndDirectModify = Some(super::direct::end_direct_modify);
    routine.ExplainDirectModify = Some(super::direct::explain_direct_modify);
    routine.EndForeignInsert = Some(super::modify::end_foreign_modify::<S>);
    pg_sys::Datum::from(routine.into_pg())
}

/// `GetForeignPlan`: the plan of an aggregate path ([`super::upper`]) on a grouped
/// relation, of a scan ([`super::plan`]) on a base relation.
#[pg_guard]
unsafe extern "C-unwind" fn get_foreign_plan<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    _foreigntableid: pg_sys::Oid,
    _best_path: *mut pg_sys::ForeignPath,
    tlist: *mut pg_sys::List,
    scan_clauses: *mut pg_sys::List,
    outer_plan: *mut pg_sys::Plan,
) -> *mut pg_sys::ForeignScan {
    // SAFETY: the planner passes a relation of ODP's paths: a grouped relation carries
    // the state get_foreign_upper_paths stored, a base relation get_foreign_rel_size's.
    unsafe {
        if (*rel).reloptkind == pg_sys::RelOptKind::RELOPT_UPPER_REL {
            super::upper::aggregate_scan::<S>(root, rel, tlist, outer_plan)
        } else {
            super::plan::scan_plan::<S>(root, rel, tlist, scan_clauses, outer_plan)
        }
    }
}
