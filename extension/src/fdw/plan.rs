//! Planning callbacks, generic over a [`Source`]: relation size and the plan (pushed
//! quals, needed columns, LIMIT) serialized into `fdw_private` for the executor; the
//! paths and their costs are in [`super::paths`].

use super::catalog::{list_ptrs, table_context};
use super::lookahead::OuterColumn;
use super::pgtype::pg_type_of;
use super::policy::RelationPolicy;
use super::quals::{datum_to_value, extract, strip_relabel, ExtractedQual};
use super::routine::in_current_context;
use super::{Estimate, Source, TableContext};
use crate::error::{OdpError, OrReport};
use odp_fdw::request::{Op, Qual, ScanRequest};
use odp_fdw::security::resource::Action;
use odp_fdw::types::Family;
use odp_fdw::value::Value;
use pgrx::{pg_guard, pg_sys};
use serde::{Deserialize, Serialize};
use std::ffi::{CStr, CString};
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

/// A pushed qual as stored in the plan: the value comes from `fdw_exprs[expr_index]`
/// at run time, or is the constant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PlannedQual {
    pub(super) column: String,
    pub(super) op: Op,
    expr_index: Option<usize>,
    /// the type of the value expression (0 for `IS [NOT] NULL`)
    pub(super) expr_type: u32,
    constant: Option<Value>,
    /// for `column = outer.column` in a parameterized path over another foreign
    /// table: where the value comes from, so the scan can batch its lookups
    #[serde(default)]
    pub(super) outer: Option<OuterColumn>,
}

impl PlannedQual {
    /// How EXPLAIN shows the qual (values known only at run time as `$runtime`).
    pub(super) fn display(&self) -> String {
        match &self.constant {
            Some(v) => Qual {
                column: self.column.clone(),
                op: self.op,
                value: v.clone(),
            }
            .display(),
            None => format!("{} {} $runtime", self.column, self.op.sql()),
        }
    }
}

/// The quals as the plan stores them, and the list of value expressions they index
/// (the plan's `fdw_exprs`); `relid` is the scanned relation.
///
/// # Safety
/// The quals' expressions must be valid planner expressions of `root`.
pub(super) unsafe fn plan_quals(
    root: *mut pg_sys::PlannerInfo,
    relid: u32,
    extracted: &[ExtractedQual],
) -> (Vec<PlannedQual>, *mut pg_sys::List) {
    let mut fdw_exprs: *mut pg_sys::List = ptr::null_mut();
    let mut quals = Vec::with_capacity(extracted.len());
    // SAFETY: the caller guarantees the expressions are valid nodes.
    unsafe {
        for q in extracted {
            let expr_index = if q.expr.is_null() || q.constant.is_some() {
                None
            } else {
                fdw_exprs = pg_sys::lappend(fdw_exprs, q.expr as *mut std::ffi::c_void);
                Some((*fdw_exprs).length as usize - 1)
            };
            let expr_type = if q.expr.is_null() {
                0
            } else {
                pg_sys::exprType(q.expr as *mut pg_sys::Node).to_u32()
            };
            quals.push(PlannedQual {
                column: q.column.clone(),
                op: q.op,
                expr_index,
                expr_type,
                constant: q.constant.clone(),
                outer: batchable_outer_column(root, relid, q),
            });
        }
        // Batching serves a batch of outer rows from one answer, so every other value
        // must be the same for all of them: with a second outer column, scan per row.
        let outer_values = extracted
            .iter()
            .filter(|q| {
                q.constant.is_none()
                    && !q.expr.is_null()
                    && !pg_sys::bms_is_empty(pg_sys::pull_varnos(root, q.expr as *mut pg_sys::Node))
            })
            .count();
        if outer_values > 1 {
            quals.iter_mut().for_each(|q| q.outer = None);
        }
    }
    (quals, fdw_exprs)
}

/// The outer column of `column = outer.column` when its lookups can be batched: an
/// equality on integers or text (exact equality, see [`super::lookahead`]) whose value
/// is a plain column of another foreign table of the same query level.
pub(super) unsafe fn batchable_outer_column(
    root: *mut pg_sys::PlannerInfo,
    relid: u32,
    qual: &ExtractedQual,
) -> Option<OuterColumn> {
    if qual.op != Op::Eq || qual.constant.is_some() || qual.expr.is_null() {
        return None;
    }
    // SAFETY: the expression and the planner's range table are valid during planning.
    unsafe {
        let node = strip_relabel(qual.expr as *mut pg_sys::Node);
        if (*node).type_ != pg_sys::NodeTag::T_Var {
            return None;
        }
        let var = node as *mut pg_sys::Var;
        let varno = (*var).varno as u32;
        if varno == relid
            || (*var).varlevelsup != 0
            || (*var).varattno <= 0
            || varno as i32 >= (*root).simple_rel_array_size
        {
            return None;
        }
        let rte = *(*root).simple_rte_array.add(varno as usize);
        let exact = matches!(
            pg_type_of((*var).vartype).and_then(|t| t.family()),
            Some(Family::Integer | Family::Text)
        );
        (exact
            && !rte.is_null()
            && (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION
            && (*rte).relkind as u8 == pg_sys::RELKIND_FOREIGN_TABLE)
            .then_some(OuterColumn {
                varno,
                attnum: (*var).varattno,
            })
    }
}

/// Evaluates the plan's qual values (constants, parameters, outer columns) in
/// `econtext`; an entry is `None` when its value has no exact [`Value`].
///
/// # Safety
/// `exprs` must be the initialised `fdw_exprs` of the node `econtext` belongs to.
pub(super) unsafe fn evaluate_quals(
    quals: &[PlannedQual],
    exprs: &[*mut pg_sys::ExprState],
    econtext: *mut pg_sys::ExprContext,
) -> Vec<Option<Qual>> {
    quals
        .iter()
        .map(|q| {
            let value = match (q.expr_index, &q.constant) {
                (_, Some(v)) => v.clone(),
                (Some(i), None) => {
                    let mut is_null = false;
                    // SAFETY: exprs were initialised for this node and econtext is its
                    // context; a Postgres error raised while evaluating becomes a Rust
                    // panic in the guarded call and unwinds cleanly.
                    unsafe {
                        let datum =
                            pg_sys::ExecEvalExprSwitchContext(exprs[i], econtext, &mut is_null);
                        datum_to_value(datum, is_null, pg_sys::Oid::from(q.expr_type))?
                    }
                }
                (None, None) => return None,
            };
            Some(Qual {
                column: q.column.clone(),
                op: q.op,
                value,
            })
        })
        .collect()
}

/// The part of the plan ODP needs at execution, serialized into `fdw_private` so it
/// survives plan copying and caching.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ScanPlan {
    /// the columns the scan returns, with their attribute numbers
    pub(super) columns: Vec<(String, i16)>,
    pub(super) quals: Vec<PlannedQual>,
    pub(super) limit: Option<u64>,
    /// EXPLAIN lines decided at plan time
    pub(super) explain: Vec<(String, String)>,
    /// rows must carry their identity in `ctid` (the scan feeds an UPDATE or DELETE)
    pub(super) row_ids: bool,
    /// the node runs a direct DELETE instead of a scan (see [`super::direct`])
    pub(super) direct_delete: Option<super::direct::DirectDelete>,
    /// the scanned relation's range-table index at planning time (the final plan's
    /// `scanrelid` may be offset from it)
    #[serde(default)]
    pub(super) planned_relid: u32,
    /// the row policy every returned row is checked against (see [`super::policy`])
    #[serde(default)]
    pub(super) policy: Option<RelationPolicy>,
    /// the foreign table's OID (an aggregate scan has no scanned relation of its own)
    #[serde(default)]
    pub(super) relation: u32,
    /// the scan returns grouped rows of a pushed aggregate (see [`super::upper`])
    #[serde(default)]
    pub(super) aggregate: Option<super::upper::AggregatePlan>,
}

impl ScanPlan {
    /// The plan stored in a ForeignScan's `fdw_private`.
    ///
    /// # Safety
    /// `plan` must be a ForeignScan planned by ODP.
    pub(super) unsafe fn of(plan: *const pg_sys::ForeignScan) -> ScanPlan {
        // SAFETY: our plans hold one String node with the plan's JSON.
        let json = unsafe {
            let private = list_ptrs((*plan).fdw_private);
            CStr::from_ptr((*(private[0] as *mut pg_sys::String)).sval).to_string_lossy()
        };
        serde_json::from_str(&json)
            .unwrap_or_else(|_| OdpError::NotSupported("a plan from another ODP version").report())
    }

    /// The plan as a `fdw_private` list, allocated in the current memory context.
    pub(super) fn to_private(&self) -> *mut pg_sys::List {
        let json = serde_json::to_string(self)
            .ok()
            .and_then(|json| CString::new(json).ok())
            .unwrap_or_else(|| OdpError::Unsupported("a plan value".into()).report());
        // SAFETY: pstrdup copies the string into the current context; makeString and
        // lappend allocate there too.
        unsafe {
            pg_sys::lappend(
                ptr::null_mut(),
                pg_sys::makeString(pg_sys::pstrdup(json.as_ptr())) as *mut _,
            )
        }
    }

    /// The pushed quals as EXPLAIN shows them.
    pub(super) fn quals_display(&self) -> String {
        let quals: Vec<String> = self.quals.iter().map(PlannedQual::display).collect();
        quals.join(" AND ")
    }
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
    // SAFETY: root and baserel are the planner's, valid for this call.
    unsafe {
        let relid = (*baserel).relid;
        let decision = super::policy::for_relation(foreigntableid);
        if decision.has_policies {
            // which rows a role sees decides the plan: replan after SET ROLE
            (*(*root).glob).dependsOnRole = true;
        }
        let policy = decision.policy.map(|p| {
            let condition = super::policy::condition(&p);
            (p, condition)
        });
        let mut quals = extract(root, relid, (*baserel).baserestrictinfo, &table.columns);
        if let Some((_, condition)) = &policy {
            quals.extend(policy_quals(root, *condition, &table));
        }
        let exact = list_ptrs((*baserel).baserestrictinfo)
            .into_iter()
            .all(|clause| {
                super::upper::applied_exactly(root, relid, clause, &source, &table.columns)
            });
        let limit = pushable_limit(root, baserel, exact).filter(|_| policy.is_none());
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
            let selectivity = pg_sys::clauselist_selectivity(
                root,
                (*baserel).baserestrictinfo,
                0,
                pg_sys::JoinType::JOIN_INNER,
                ptr::null_mut(),
            );
            (source.estimate(&request).or_report(), selectivity)
        };
        let mut rows = estimate.rows.min(estimate.total_rows * selectivity);
        if let Some(n) = limit {
            rows = rows.min(n as f64);
        }
        (*baserel).rows = rows.max(1.0);
        (*baserel).tuples = estimate.total_rows.max(1.0);
        (*baserel).fdw_private = in_current_context(PlanningState {
            table,
            source,
            estimate,
            limit,
            policy,
        }) as *mut _;
    }
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
unsafe fn pushable_limit(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    exact: bool,
) -> Option<u64> {
    // SAFETY: root, its parse tree and baserel are valid during planning.
    unsafe {
        let parse = (*root).parse;
        let count = (*parse).limitCount;
        if count.is_null() || (*count).type_ != pg_sys::NodeTag::T_Const || !exact {
            return None;
        }
        let simple = (*parse).limitOption == pg_sys::LimitOption::LIMIT_OPTION_COUNT
            && !(*parse).hasAggs
            && !(*parse).hasWindowFuncs
            && !(*parse).hasTargetSRFs
            && (*parse).groupClause.is_null()
            && (*parse).groupingSets.is_null()
            && (*parse).distinctClause.is_null()
            && (*parse).sortClause.is_null()
            && (*parse).havingQual.is_null()
            && (*parse).setOperations.is_null()
            && (*parse).rowMarks.is_null()
            && pg_sys::bms_membership((*root).all_baserels)
                == pg_sys::BMS_Membership::BMS_SINGLETON
            && (*baserel).reloptkind == pg_sys::RelOptKind::RELOPT_BASEREL;
        if !simple {
            return None;
        }
        let count = count as *mut pg_sys::Const;
        if (*count).constisnull {
            return None;
        }
        let mut total = datum_i64((*count).constvalue);
        let offset = (*parse).limitOffset;
        if !offset.is_null() {
            if (*offset).type_ != pg_sys::NodeTag::T_Const
                || (*(offset as *mut pg_sys::Const)).constisnull
            {
                return None;
            }
            total = total.saturating_add(datum_i64((*(offset as *mut pg_sys::Const)).constvalue));
        }
        u64::try_from(total).ok()
    }
}

/// The int8 value of a by-value Datum (LIMIT and OFFSET constants are int8).
fn datum_i64(d: pg_sys::Datum) -> i64 {
    d.value() as i64
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn get_foreign_plan<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    _foreigntableid: pg_sys::Oid,
    _best_path: *mut pg_sys::ForeignPath,
    tlist: *mut pg_sys::List,
    scan_clauses: *mut pg_sys::List,
    outer_plan: *mut pg_sys::Plan,
) -> *mut pg_sys::ForeignScan {
    // SAFETY: fdw_private was set by get_foreign_rel_size (or get_foreign_upper_paths
    // for a grouped relation); lists are the planner's.
    unsafe {
        if (*baserel).reloptkind == pg_sys::RelOptKind::RELOPT_UPPER_REL {
            return super::upper::aggregate_scan::<S>(root, baserel, tlist, outer_plan);
        }
        let state = &*((*baserel).fdw_private as *mut PlanningState<S>);
        let relid = (*baserel).relid;
        let mut extracted = extract(root, relid, scan_clauses, &state.table.columns);
        let row_ids = wants_row_ids(baserel);
        // Clauses the source applies exactly are not checked again, except under an
        // UPDATE or DELETE, whose direct form reads the whole WHERE clause from them.
        let mut rechecked: *mut pg_sys::List = ptr::null_mut();
        for clause in list_ptrs(scan_clauses) {
            if row_ids
                || !super::upper::applied_exactly(
                    root,
                    relid,
                    clause,
                    &state.source,
                    &state.table.columns,
                )
            {
                rechecked = pg_sys::lappend(rechecked, clause);
            }
        }
        let local_quals = pg_sys::extract_actual_clauses(rechecked, false);
        if let Some((_, condition)) = &state.policy {
            extracted.extend(policy_quals(root, *condition, &state.table));
        }
        let (quals, fdw_exprs) = plan_quals(root, relid, &extracted);

        let mut columns = needed_columns(baserel, local_quals, &state.table);
        if let Some((_, condition)) = &state.policy {
            add_condition_columns(&mut columns, *condition, &state.table);
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
        let plan = ScanPlan {
            columns,
            quals,
            limit,
            explain,
            row_ids,
            direct_delete: None,
            planned_relid: relid,
            policy: state.policy.as_ref().map(|(p, _)| p.clone()),
            relation: state.table.relid,
            aggregate: None,
        };
        pg_sys::make_foreignscan(
            tlist,
            local_quals,
            relid,
            fdw_exprs,
            plan.to_private(),
            ptr::null_mut(),
            ptr::null_mut(),
            outer_plan,
        )
    }
}

/// Whether the scan's output includes `ctid`: the row identity an UPDATE or DELETE asks
/// for (see `modify::add_foreign_update_targets`).
unsafe fn wants_row_ids(baserel: *mut pg_sys::RelOptInfo) -> bool {
    // SAFETY: reltarget is a valid planner expression list.
    unsafe {
        let mut attrs: *mut pg_sys::Bitmapset = ptr::null_mut();
        pg_sys::pull_varattnos(
            (*(*baserel).reltarget).exprs as *mut pg_sys::Node,
            (*baserel).relid as pg_sys::Index,
            &mut attrs,
        );
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
    // SAFETY: the condition is a valid expression tree.
    unsafe {
        let mut attrs: *mut pg_sys::Bitmapset = ptr::null_mut();
        pg_sys::pull_varattnos(condition, 1, &mut attrs);
        let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
        for column in &table.columns {
            let read = pg_sys::bms_is_member(column.attnum as i32 - offset, attrs);
            if read && !columns.iter().any(|(_, a)| *a == column.attnum) {
                columns.push((column.name.clone(), column.attnum));
            }
        }
        columns.sort_by_key(|(_, attnum)| *attnum);
    }
}

/// Columns referenced by the target list or by quals evaluated on the scan.
unsafe fn needed_columns(
    baserel: *mut pg_sys::RelOptInfo,
    local_quals: *mut pg_sys::List,
    table: &TableContext,
) -> Vec<(String, i16)> {
    // SAFETY: reltarget and quals are valid planner expressions.
    unsafe {
        let relid = (*baserel).relid as pg_sys::Index;
        let mut attrs: *mut pg_sys::Bitmapset = ptr::null_mut();
        pg_sys::pull_varattnos(
            (*(*baserel).reltarget).exprs as *mut pg_sys::Node,
            relid,
            &mut attrs,
        );
        pg_sys::pull_varattnos(local_quals as *mut pg_sys::Node, relid, &mut attrs);
        let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
        let whole_row = pg_sys::bms_is_member(-offset, attrs);
        table
            .columns
            .iter()
            .filter(|c| whole_row || pg_sys::bms_is_member(c.attnum as i32 - offset, attrs))
            .map(|c| (c.name.clone(), c.attnum))
            .collect()
    }
}
