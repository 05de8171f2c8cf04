//! Planning of scans, generic over a [`Source`]: relation size and the scan's plan
//! (pushed quals, needed columns, LIMIT; [`NodePlan::Scan`]) for the executor; the
//! paths and their costs are in [`super::paths`], aggregates in [`super::upper`].

use super::catalog::{list_ptrs, table_context};
use super::exact::applied_exactly;
use super::memory::in_current_context;
use super::node::{plan_quals, NodePlan, ScanPlan};
use super::policy::RelationPolicy;
use super::quals::{extract, ExtractedQual};
use super::{Estimate, Source, TableContext};
use crate::error::OrReport;
use odp_fdw::request::{Qual, ScanRequest};
use odp_fdw::security::resource::Action;
use odp_fdw::value::Value;
use pgrx::{pg_guard, pg_sys};
use std::ptr;

/// What the planner keeps between its three callbacks (and `PlanDirectModify`).
pub(super) struct PlanningState<S: Source> {
    pub(super) table: TableContext,
    pub(super) source: S,
    pub(super) estimate: Estimate,
    pub(super) limit: Option<u64>,
    /// the row policy restricting the current role, and its condition (Vars of 1)
    pub(super) policy: Option<(RelationPolicy, *mut pg_sys::Node)>,
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn get_foreign_rel_size<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    foreigntableid: pg_sys::Oid,
) {
    let table = table_context(foreigntableid);
    super::resources::check(&S::resources(&table), Action::Read);
    let source = S::open(&table).or_report();
    // SAFETY: `baserel` is the planner's RelOptInfo, valid for this call.
    let relid = unsafe { (*baserel).relid };
    let decision = super::policy::for_relation(foreigntableid);
    if decision.has_policies {
        // which rows a role sees decides the plan: replan after SET ROLE
        // SAFETY: `root` is the planner's PlannerInfo; its `glob` is the planner run's
        // PlannerGlobal.
        unsafe { (*(*root).glob).dependsOnRole = true };
    }
    let policy = decision.policy.map(|p| {
        // SAFETY: planning runs in a transaction; the condition is allocated in the
        // planner's current memory context.
        let condition = unsafe { super::policy::condition(&p) };
        (p, condition)
    });
    // SAFETY: `root` and `baserel` are the planner's; baserestrictinfo is NIL or a List
    // of RestrictInfo of relation `relid`.
    let mut quals = unsafe { extract(root, relid, (*baserel).baserestrictinfo, &table.columns) };
    if let Some((_, condition)) = &policy {
        // SAFETY: `condition` is the policy condition parsed above, in this planner run.
        quals.extend(unsafe { policy_quals(root, *condition, &table) });
    }
    // SAFETY: `baserel` is the planner's; baserestrictinfo is NIL or a List.
    let restrictions = unsafe { list_ptrs((*baserel).baserestrictinfo) };
    let exact = restrictions.into_iter().all(|clause| {
        // SAFETY: each clause is a RestrictInfo of relation `relid` in this planner run.
        unsafe { applied_exactly(root, relid, clause, &source, &table.columns) }
    });
    // SAFETY: `root` and `baserel` are the planner's, valid for this call.
    let limit = unsafe { pushable_limit(root, baserel, exact) }.filter(|_| policy.is_none());
    let request = ScanRequest {
        columns: Vec::new(),
        quals: constant_quals(&quals),
        limit,
        row_ids: false,
        runtime_quals: quals
            .iter()
            .filter(|q| q.constant.is_none())
            .map(|q| (q.column.clone(), q.op))
            .collect(),
        group_columns: Vec::new(),
    };
    // Under a row policy the plan may not depend on the data: the source's sizes,
    // pruning and statistics describe rows the role may not see (EXPLAIN would show
    // them as row counts and costs), so a fixed estimate stands in.
    let (estimate, selectivity) = if policy.is_some() {
        (Estimate::under_policy(), 1.0)
    } else {
        // SAFETY: `root` and `baserel` are the planner's; baserestrictinfo is NIL or a
        // List of RestrictInfo of this query.
        let selectivity = unsafe {
            pg_sys::clauselist_selectivity(
                root,
                (*baserel).baserestrictinfo,
                0,
                pg_sys::JoinType::JOIN_INNER,
                ptr::null_mut(),
            )
        };
        (source.estimate(&request).or_report(), selectivity)
    };
    let mut rows = estimate.rows.min(estimate.total_rows * selectivity);
    if let Some(n) = limit {
        rows = rows.min(n as f64);
    }
    // SAFETY: `baserel` is the planner's RelOptInfo, ours to size in this callback.
    unsafe {
        (*baserel).rows = rows.max(1.0);
        (*baserel).tuples = estimate.total_rows.max(1.0);
    }
    let state = in_current_context(PlanningState {
        table,
        source,
        estimate,
        limit,
        policy,
    });
    // SAFETY: `baserel` is the planner's RelOptInfo; fdw_private is the wrapper's.
    unsafe { (*baserel).fdw_private = state as *mut _ };
}

/// The pushable comparisons of a policy condition (its Vars are of range-table entry 1).
///
/// # Safety
/// `condition` must be a parsed policy condition of this planner run.
unsafe fn policy_quals(
    root: *mut pg_sys::PlannerInfo,
    condition: *mut pg_sys::Node,
    table: &TableContext,
) -> Vec<ExtractedQual> {
    // SAFETY: the condition is a valid expression; make_ands_implicit splits its ANDs.
    unsafe {
        let conjuncts = pg_sys::make_ands_implicit(condition as *mut pg_sys::Expr);
        extract(root, 1, conjuncts, &table.columns)
    }
}

fn constant_quals(quals: &[ExtractedQual]) -> Vec<Qual> {
    quals
        .iter()
        .filter_map(|q| {
            q.constant.clone().map(|value| Qual {
                column: q.column.clone(),
                op: q.op,
                value,
            })
        })
        .collect()
}

/// A LIMIT the scan may stop at: only when this relation is the whole query, every
/// qual is applied exactly by the source (`exact`), and nothing (sort, aggregate,
/// DISTINCT...) needs more rows.
///
/// # Safety
/// `root` and `baserel` must be the planner's, of the current planner run.
unsafe fn pushable_limit(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    exact: bool,
) -> Option<u64> {
    // SAFETY: `root` is the planner's PlannerInfo and its parse the query being planned;
    // nothing changes the query while this function reads it.
    let parse = unsafe { &*(*root).parse };
    let count = parse.limitCount;
    // SAFETY: a non-null limitCount is a valid expression node.
    if count.is_null() || unsafe { (*count).type_ } != pg_sys::NodeTag::T_Const || !exact {
        return None;
    }
    let simple = parse.limitOption == pg_sys::LimitOption::LIMIT_OPTION_COUNT
        && !parse.hasAggs
        && !parse.hasWindowFuncs
        && !parse.hasTargetSRFs
        && parse.groupClause.is_null()
        && parse.groupingSets.is_null()
        && parse.distinctClause.is_null()
        && parse.sortClause.is_null()
        && parse.havingQual.is_null()
        && parse.setOperations.is_null()
        && parse.rowMarks.is_null()
        // SAFETY: all_baserels is the planner's set of base relations (NULL: empty).
        && unsafe { pg_sys::bms_membership((*root).all_baserels) }
            == pg_sys::BMS_Membership::BMS_SINGLETON
        // SAFETY: `baserel` is the planner's RelOptInfo.
        && unsafe { (*baserel).reloptkind } == pg_sys::RelOptKind::RELOPT_BASEREL;
    if !simple {
        return None;
    }
    // SAFETY: the node is a Const (its tag was checked above).
    let count = unsafe { &*(count as *const pg_sys::Const) };
    if count.constisnull {
        return None;
    }
    let mut total = datum_i64(count.constvalue);
    let offset = parse.limitOffset;
    if !offset.is_null() {
        // SAFETY: a non-null limitOffset is a valid expression node.
        if unsafe { (*offset).type_ } != pg_sys::NodeTag::T_Const {
            return None;
        }
        // SAFETY: the node is a Const (its tag was checked above).
        let offset = unsafe { &*(offset as *const pg_sys::Const) };
        if offset.constisnull {
            return None;
        }
        total = total.saturating_add(datum_i64(offset.constvalue));
    }
    u64::try_from(total).ok()
}

/// The int8 value of a by-value Datum (LIMIT and OFFSET constants are int8).
fn datum_i64(d: pg_sys::Datum) -> i64 {
    d.value() as i64
}

/// The ForeignScan of a scan path (`GetForeignPlan` on a base relation).
///
/// # Safety
/// `baserel` must be a base relation whose `fdw_private` is the [`PlanningState`]
/// stored by [`get_foreign_rel_size`] of the same source; the lists are the planner's.
pub(super) unsafe fn scan_plan<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    tlist: *mut pg_sys::List,
    scan_clauses: *mut pg_sys::List,
    outer_plan: *mut pg_sys::Plan,
) -> *mut pg_sys::ForeignScan {
    // SAFETY: guaranteed by the caller: `baserel`'s fdw_private is this source's
    // PlanningState, alive for the whole planner run.
    let (state, relid) = unsafe {
        (
            &*((*baserel).fdw_private as *mut PlanningState<S>),
            (*baserel).relid,
        )
    };
    // SAFETY: `root` and `scan_clauses` are the planner's, clauses of relation `relid`.
    let mut extracted = unsafe { extract(root, relid, scan_clauses, &state.table.columns) };
    // SAFETY: `baserel` is the planner's RelOptInfo.
    let row_ids = unsafe { wants_row_ids(baserel) };
    // Clauses the source applies exactly are not checked again, except under an
    // UPDATE or DELETE, whose direct form reads the whole WHERE clause from them.
    let mut rechecked: *mut pg_sys::List = ptr::null_mut();
    // SAFETY: `scan_clauses` is NIL or the planner's List of RestrictInfo.
    for clause in unsafe { list_ptrs(scan_clauses) } {
        if row_ids
            // SAFETY: each clause is a RestrictInfo of relation `relid` in this planner run.
            || !unsafe { applied_exactly(root, relid, clause, &state.source, &state.table.columns) }
        {
            // SAFETY: appends to NIL or the List built here, in the planner's context.
            rechecked = unsafe { pg_sys::lappend(rechecked, clause) };
        }
    }
    // SAFETY: `rechecked` is NIL or a List of the planner's RestrictInfos.
    let local_quals = unsafe { pg_sys::extract_actual_clauses(rechecked, false) };
    if let Some((_, condition)) = &state.policy {
        // SAFETY: the condition was parsed by get_foreign_rel_size in this planner run.
        extracted.extend(unsafe { policy_quals(root, *condition, &state.table) });
    }
    // SAFETY: the extracted quals' expressions are the planner's, of this run.
    let (quals, fdw_exprs) = unsafe { plan_quals(root, relid, &extracted) };

    // SAFETY: `baserel` is the planner's; `local_quals` a List of its clauses.
    let mut columns = unsafe { needed_columns(baserel, local_quals, &state.table) };
    if let Some((_, condition)) = &state.policy {
        // SAFETY: the condition is a parsed policy condition (Vars of entry 1).
        unsafe { add_condition_columns(&mut columns, *condition, &state.table) };
    }
    let limit = if rechecked.is_null() {
        state.limit
    } else {
        None
    };
    // What the source will send, for EXPLAIN: the final columns, constant quals with
    // their values and run-time ones as NULL placeholders.
    let described = ScanRequest {
        columns: columns.iter().map(|(name, _)| name.clone()).collect(),
        quals: extracted
            .iter()
            .map(|q| Qual {
                column: q.column.clone(),
                op: q.op,
                value: q.constant.clone().unwrap_or(Value::Null),
            })
            .collect(),
        limit,
        ..Default::default()
    };
    let mut explain = state.estimate.explain.clone();
    explain.extend(state.source.describe_plan(&described));
    if let Some((policy, _)) = &state.policy {
        let names = if policy.names.is_empty() {
            "none for this role: no rows".to_string()
        } else {
            policy.names.join(", ")
        };
        explain.push(("Row Policies".into(), names));
    }
    if let Some(q) = quals.iter().find(|q| q.outer.is_some()) {
        explain.push((
            "Batched Lookup".into(),
            format!(
                "{} from the outer scan's rows, odp.lookup_batch_size keys per request",
                q.column
            ),
        ));
    }
    let plan = NodePlan::Scan(ScanPlan {
        columns,
        quals,
        limit,
        explain,
        row_ids,
        planned_relid: relid,
        policy: state.policy.as_ref().map(|(p, _)| p.clone()),
        relation: state.table.relid,
    });
    let private = plan.to_private();
    // SAFETY: the lists are the planner's (tlist, local_quals, fdw_exprs) or new
    // (private); make_foreignscan builds a new ForeignScan node of them.
    unsafe {
        pg_sys::make_foreignscan(
            tlist,
            local_quals,
            relid,
            fdw_exprs,
            private,
            ptr::null_mut(),
            ptr::null_mut(),
            outer_plan,
        )
    }
}

/// Whether the scan's output includes `ctid`: the row identity an UPDATE or DELETE asks
/// for (see `modify::add_foreign_update_targets`).
///
/// # Safety
/// `baserel` must be the planner's RelOptInfo, of the current planner run.
unsafe fn wants_row_ids(baserel: *mut pg_sys::RelOptInfo) -> bool {
    let mut attrs: *mut pg_sys::Bitmapset = ptr::null_mut();
    // SAFETY: `baserel`'s reltarget is a valid planner expression list; pull_varattnos
    // adds the attributes it reads to `attrs` (a new set).
    unsafe {
        pg_sys::pull_varattnos(
            (*(*baserel).reltarget).exprs as *mut pg_sys::Node,
            (*baserel).relid as pg_sys::Index,
            &mut attrs,
        )
    };
    // SAFETY: `attrs` is NULL (empty) or the Bitmapset pull_varattnos made.
    unsafe {
        pg_sys::bms_is_member(
            pg_sys::SelfItemPointerAttributeNumber - pg_sys::FirstLowInvalidHeapAttributeNumber,
            attrs,
        )
    }
}

/// Adds the columns a policy condition reads to the scan's columns (in table order).
///
/// # Safety
/// `condition` must be a parsed policy condition (Vars of range-table entry 1).
unsafe fn add_condition_columns(
    columns: &mut Vec<(String, i16)>,
    condition: *mut pg_sys::Node,
    table: &TableContext,
) {
    let mut attrs: *mut pg_sys::Bitmapset = ptr::null_mut();
    // SAFETY: guaranteed by the caller: the condition is a valid expression tree;
    // pull_varattnos adds the attributes it reads to `attrs` (a new set).
    unsafe { pg_sys::pull_varattnos(condition, 1, &mut attrs) };
    let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
    for column in &table.columns {
        // SAFETY: `attrs` is NULL (empty) or the Bitmapset pull_varattnos made.
        let read = unsafe { pg_sys::bms_is_member(column.attnum as i32 - offset, attrs) };
        if read && !columns.iter().any(|(_, a)| *a == column.attnum) {
            columns.push((column.name.clone(), column.attnum));
        }
    }
    columns.sort_by_key(|(_, attnum)| *attnum);
}

/// Columns referenced by the target list or by quals evaluated on the scan.
///
/// # Safety
/// `baserel` must be the planner's RelOptInfo and `local_quals` NIL or a List of its
/// clauses, of the current planner run.
unsafe fn needed_columns(
    baserel: *mut pg_sys::RelOptInfo,
    local_quals: *mut pg_sys::List,
    table: &TableContext,
) -> Vec<(String, i16)> {
    let mut attrs: *mut pg_sys::Bitmapset = ptr::null_mut();
    // SAFETY: guaranteed by the caller: reltarget and quals are valid planner
    // expressions; pull_varattnos adds the attributes they read to `attrs`.
    unsafe {
        let relid = (*baserel).relid as pg_sys::Index;
        pg_sys::pull_varattnos(
            (*(*baserel).reltarget).exprs as *mut pg_sys::Node,
            relid,
            &mut attrs,
        );
        pg_sys::pull_varattnos(local_quals as *mut pg_sys::Node, relid, &mut attrs);
    }
    let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
    // SAFETY: `attrs` is NULL (empty) or the Bitmapset pull_varattnos made.
    let whole_row = unsafe { pg_sys::bms_is_member(-offset, attrs) };
    table
        .columns
        .iter()
        .filter(|c| {
            // SAFETY: as above.
            whole_row || unsafe { pg_sys::bms_is_member(c.attnum as i32 - offset, attrs) }
        })
        .map(|c| (c.name.clone(), c.attnum))
        .collect()
}
