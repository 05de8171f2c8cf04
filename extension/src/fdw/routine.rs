//! The `FdwRoutine` of a [`Source`]: planning callbacks in [`super::plan`], scan
//! callbacks in [`super::scan`], writes in [`super::modify`] and [`super::direct`].
//! Together they are the only large unsafe surface of ODP: they translate between
//! planner/executor structures and the safe [`Source`] API.
//!
//! Rust state lives in boxes whose lifetime is tied to a Postgres memory context by a
//! reset callback, so it is freed on errors and aborts as well as on success.

use super::paths::get_foreign_paths;
use super::plan::{get_foreign_plan, get_foreign_rel_size};
use super::scan::{
    begin_foreign_scan, end_foreign_scan, explain_foreign_scan, iterate_foreign_scan,
    rescan_foreign_scan,
};
use super::Source;
use pgrx::{pg_sys, PgBox, PgMemoryContexts};

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
    routine.EstimateDSMForeignScan = Some(super::scan::estimate_dsm_foreign_scan::<S>);
    routine.InitializeDSMForeignScan = Some(super::scan::initialize_dsm_foreign_scan::<S>);
    routine.ReInitializeDSMForeignScan = Some(super::scan::reinitialize_dsm_foreign_scan);
    routine.InitializeWorkerForeignScan = Some(super::scan::initialize_worker_foreign_scan::<S>);
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

/// Moves `value` into a box freed when the current memory context is reset or deleted.
pub(super) fn in_current_context<T>(value: T) -> *mut T {
    PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(value)
}
