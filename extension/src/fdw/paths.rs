//! The paths of a foreign scan and their costs: the plain path, a parallel-aware
//! partial path, and one parameterized path per set of outer relations whose values
//! can be pushed as quals (costed as batched when they come from another ODP scan).

use super::catalog::list_ptrs;
use super::node::batchable_outer_column;
use super::plan::PlanningState;
use super::quals::extract;
use super::Source;
use pgrx::{pg_guard, pg_sys};
use std::ptr;

/// Cost of starting a remote scan, in planner units.
pub(super) const STARTUP_COST: f64 = 10.0;

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn get_foreign_paths<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    _foreigntableid: pg_sys::Oid,
) {
    // SAFETY: fdw_private was set by get_foreign_rel_size for this relation.
    unsafe {
        let state = &*((*baserel).fdw_private as *mut PlanningState<S>);
        let fetched = state.estimate.rows.max((*baserel).rows);
        let total_cost = STARTUP_COST
            + fetched * pg_sys::cpu_tuple_cost
            + (*baserel).rows * pg_sys::cpu_operator_cost;
        let path = scan_path(root, baserel, (*baserel).rows, total_cost, ptr::null_mut());
        pg_sys::add_path(baserel, path as *mut pg_sys::Path);
        add_parameterized_paths::<S>(root, baserel, state);
        add_partial_path(root, baserel, state, fetched);
    }
}

/// A foreign scan path of `baserel` (parameterized by `required` when not null), safe
/// to run in a parallel worker only when it is parallel-aware: a whole scan per worker
/// would not share the leader's snapshot or see the transaction's writes.
unsafe fn scan_path(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    rows: f64,
    total_cost: f64,
    required: *mut pg_sys::Bitmapset,
) -> *mut pg_sys::ForeignPath {
    // SAFETY: planner structures are valid while paths are added.
    unsafe {
        let path = pg_sys::create_foreignscan_path(
            root,
            baserel,
            ptr::null_mut(),
            rows,
            STARTUP_COST.min(total_cost),
            total_cost,
            ptr::null_mut(),
            required,
            ptr::null_mut(),
            ptr::null_mut(),
        );
        (*path).path.parallel_safe = false;
        path
    }
}

/// Rows below which a scan is not split among workers.
const PARALLEL_MIN_ROWS: f64 = 10_000.0;

/// Adds a parallel-aware path: Postgres's workers and the leader each read the files
/// a shared counter hands out (see `scan::SharedScan`).
unsafe fn add_partial_path<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    state: &PlanningState<S>,
    fetched: f64,
) {
    // SAFETY: `baserel` is the planner's RelOptInfo, valid during get_foreign_paths.
    let (consider_parallel, no_lateral) = unsafe {
        (
            (*baserel).consider_parallel,
            (*baserel).lateral_relids.is_null(),
        )
    };
    let allowed = consider_parallel
        && S::capabilities(&state.table.table).parallel
        && state.policy.is_none()
        && state.limit.is_none()
        && fetched >= PARALLEL_MIN_ROWS
        && no_lateral;
    // SAFETY: reads a setting (GUC) on the backend's thread.
    let max_workers = unsafe { pg_sys::max_parallel_workers_per_gather };
    let workers = (max_workers as usize).min(state.estimate.parallel_units.saturating_sub(1));
    if !allowed || workers == 0 {
        return;
    }
    // Postgres's own share of the leader: it also runs the plan above the Gather
    // SAFETY: reads a setting (GUC) on the backend's thread.
    let leader = if unsafe { pg_sys::parallel_leader_participation } {
        (1.0 - 0.3 * workers as f64).max(0.0)
    } else {
        0.0
    };
    let divisor = workers as f64 + leader;
    // SAFETY: `baserel` is the planner's RelOptInfo.
    let rows = (unsafe { (*baserel).rows } / divisor).max(1.0);
    // SAFETY: reads the cost settings (GUCs) on the backend's thread.
    let (tuple_cost, operator_cost) =
        unsafe { (pg_sys::cpu_tuple_cost, pg_sys::cpu_operator_cost) };
    let total_cost = STARTUP_COST + fetched / divisor * tuple_cost + rows * operator_cost;
    // SAFETY: `root` and `baserel` are the planner's; scan_path makes a new ForeignPath
    // of `baserel`, which add_partial_path takes.
    unsafe {
        let path = scan_path(root, baserel, rows, total_cost, ptr::null_mut());
        (*path).path.parallel_aware = true;
        (*path).path.parallel_safe = true;
        (*path).path.parallel_workers = workers as i32;
        pg_sys::add_partial_path(baserel, path as *mut pg_sys::Path);
    }
}

/// Adds one path per set of outer relations whose values can be pushed as quals:
/// the inner side of a nested loop then scans with the outer row's value.
unsafe fn add_parameterized_paths<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    state: &PlanningState<S>,
) {
    // SAFETY: `baserel` is the planner's RelOptInfo, valid during get_foreign_paths;
    // its joininfo is NIL or a List of RestrictInfo.
    let (relid, joininfo, has_eclass_joins) = unsafe {
        (
            (*baserel).relid,
            list_ptrs((*baserel).joininfo),
            (*baserel).has_eclass_joins,
        )
    };
    let mut clauses: Vec<*mut pg_sys::RestrictInfo> = Vec::new();
    for ptr in joininfo {
        clauses.push(ptr as *mut pg_sys::RestrictInfo);
    }
    if has_eclass_joins {
        // SAFETY: `root` and `baserel` are the planner's; the callback only reads the
        // members it is given; the result is NIL or a List of RestrictInfo.
        let implied = unsafe {
            list_ptrs(pg_sys::generate_implied_equalities_for_column(
                root,
                baserel,
                Some(ec_member_is_own_column),
                ptr::null_mut(),
                (*baserel).lateral_referencers,
            ))
        };
        for ptr in implied {
            clauses.push(ptr as *mut pg_sys::RestrictInfo);
        }
    }
    let mut seen: Vec<*mut pg_sys::Bitmapset> = Vec::new();
    for rinfo in clauses {
        // SAFETY: makes a new one-cell List (in the planner's memory context).
        let single = unsafe { pg_sys::lappend(ptr::null_mut(), rinfo as *mut std::ffi::c_void) };
        // SAFETY: `root` is the planner's and `single` a List of one of its clauses.
        let Some(qual) = unsafe { extract(root, relid, single, &state.table.columns) }.pop() else {
            continue;
        };
        // SAFETY: `rinfo` is a valid RestrictInfo and `baserel` the planner's; bms_union
        // returns a new set, which bms_del_member may change.
        let required = unsafe {
            let required = pg_sys::bms_union((*rinfo).clause_relids, (*baserel).lateral_relids);
            pg_sys::bms_del_member(required, relid as i32)
        };
        // SAFETY: `required` and the sets in `seen` are valid Bitmapsets (NULL: empty).
        let known = unsafe {
            pg_sys::bms_is_empty(required) || seen.iter().any(|s| pg_sys::bms_equal(*s, required))
        };
        if known {
            continue;
        }
        seen.push(required);
        // SAFETY: `root` and `baserel` are the planner's; `required` names relations of
        // its query.
        let param_info = unsafe { pg_sys::get_baserel_parampathinfo(root, baserel, required) };
        // (under a row policy, as fixed as the unparameterized estimate)
        let (rows, fetched) = if state.policy.is_some() {
            (state.estimate.rows, state.estimate.rows)
        } else {
            // SAFETY: get_baserel_parampathinfo returns a valid ParamPathInfo.
            let rows = unsafe { (*param_info).ppi_rows }.max(1.0);
            let fetched = state
                .source
                .lookup_rows(&qual.column, state.estimate.total_rows)
                .max(rows);
            (rows, fetched)
        };
        // From another ODP scan the lookups are batched (`lookahead`): one request
        // per `odp.lookup_batch_size` outer keys, not one per rescan.
        // SAFETY: `root` is the planner's (its parse tree too); `required` names base
        // relations of its query.
        let batched = unsafe {
            batchable_outer_column(root, relid, &qual).is_some()
                && (*(*root).parse).resultRelation != relid as i32
                && outer_scans_are_odp(root, required)
        };
        let startup = if batched {
            STARTUP_COST / f64::from(super::lookahead::LOOKUP_BATCH_SIZE.get().max(1))
        } else {
            STARTUP_COST
        };
        // SAFETY: reads the cost settings (GUCs) on the backend's thread.
        let (tuple_cost, operator_cost) =
            unsafe { (pg_sys::cpu_tuple_cost, pg_sys::cpu_operator_cost) };
        let total_cost = startup + fetched * tuple_cost + rows * operator_cost;
        // SAFETY: `root` and `baserel` are the planner's; scan_path makes a new
        // ForeignPath of `baserel`, which add_path takes.
        unsafe {
            let path = scan_path(root, baserel, rows, total_cost, required);
            pg_sys::add_path(baserel, path as *mut pg_sys::Path);
        }
    }
}

/// Whether every relation in `relids` is read by an ODP foreign scan (whose batches a
/// parameterized inner scan looks its keys up in, see `lookahead`).
///
/// # Safety
/// `root` must be the planner's, with `relids` naming its base relations.
unsafe fn outer_scans_are_odp(
    root: *mut pg_sys::PlannerInfo,
    relids: *mut pg_sys::Bitmapset,
) -> bool {
    // every ODP FdwRoutine shares this one (non-generic) callback
    let shared: unsafe extern "C-unwind" fn(
        *mut pg_sys::PlannerInfo,
        *mut pg_sys::ModifyTable,
        pg_sys::Index,
        std::ffi::c_int,
    ) -> *mut pg_sys::List = super::modify::plan_foreign_modify;
    let marker = shared as usize;
    let mut member = -1;
    // SAFETY: the caller guarantees the planner structures; members index
    // simple_rel_array, whose entries are null or valid RelOptInfos.
    unsafe {
        loop {
            member = pg_sys::bms_next_member(relids, member);
            if member < 0 {
                return true;
            }
            if member as usize >= (*root).simple_rel_array_size as usize {
                return false;
            }
            let rel = *(*root).simple_rel_array.add(member as usize);
            if rel.is_null() || (*rel).fdwroutine.is_null() {
                return false;
            }
            if (*(*rel).fdwroutine).PlanForeignModify.map(|f| f as usize) != Some(marker) {
                return false;
            }
        }
    }
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn ec_member_is_own_column(
    _root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    _ec: *mut pg_sys::EquivalenceClass,
    em: *mut pg_sys::EquivalenceMember,
    _arg: *mut std::ffi::c_void,
) -> bool {
    // SAFETY: the planner passes valid members of an equivalence class of `rel`.
    unsafe {
        let expr = (*em).em_expr as *mut pg_sys::Node;
        if expr.is_null() || (*expr).type_ != pg_sys::NodeTag::T_Var {
            return false;
        }
        let var = expr as *mut pg_sys::Var;
        (*var).varno as u32 == (*rel).relid && (*var).varattno > 0 && (*var).varlevelsup == 0
    }
}
