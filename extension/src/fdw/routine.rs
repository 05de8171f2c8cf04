//! `FdwRoutine` callbacks, generic over a [`Source`]. This is the only large unsafe
//! surface of ODP: everything here translates between planner/executor structures and
//! the safe [`Source`] API.
//!
//! Rust state lives in boxes whose lifetime is tied to a Postgres memory context by a
//! reset callback, so it is freed on errors and aborts as well as on success.

use super::catalog::{list_ptrs, table_context};
use super::datum::{BatchColumn, TypedColumn};
use super::pgtype::pg_type_of;
use super::quals::{datum_to_value, extract, ExtractedQual};
use super::{Estimate, Source, SourceScan, TableContext};
use crate::error::{OdpError, OrReport};
use odp_fdw::request::{Op, Qual, ScanRequest};
use odp_fdw::types::PgType;
use odp_fdw::value::Value;
use pgrx::{pg_guard, pg_sys, PgBox, PgMemoryContexts};
use serde::{Deserialize, Serialize};
use std::ffi::{CStr, CString};
use std::os::raw::c_int;
use std::ptr;

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
fn in_current_context<T>(value: T) -> *mut T {
    PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(value)
}

/// What the planner keeps between its three callbacks (and `PlanDirectModify`).
pub(super) struct PlanningState<S: Source> {
    pub(super) table: TableContext,
    pub(super) source: S,
    estimate: Estimate,
    limit: Option<u64>,
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
}

impl PlannedQual {
    /// How EXPLAIN shows the qual (values known only at run time as `$runtime`).
    fn display(&self) -> String {
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
/// (the plan's `fdw_exprs`).
///
/// # Safety
/// The quals' expressions must be valid planner expressions.
pub(super) unsafe fn plan_quals(
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
            });
        }
    }
    (quals, fdw_exprs)
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
    columns: Vec<(String, i16)>,
    pub(super) quals: Vec<PlannedQual>,
    limit: Option<u64>,
    explain: Vec<(String, String)>,
    /// rows must carry their identity in `ctid` (the scan feeds an UPDATE or DELETE)
    row_ids: bool,
    /// the node runs a direct DELETE instead of a scan (see [`super::direct`])
    pub(super) direct_delete: Option<super::direct::DirectDelete>,
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
unsafe extern "C-unwind" fn get_foreign_rel_size<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    foreigntableid: pg_sys::Oid,
) {
    let table = table_context(foreigntableid);
    let source = S::open(&table).or_report();
    // SAFETY: root and baserel are the planner's, valid for this call.
    unsafe {
        let relid = (*baserel).relid;
        let quals = extract(root, relid, (*baserel).baserestrictinfo, &table.columns);
        let limit = pushable_limit(root, baserel);
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
        };
        let estimate = source.estimate(&request).or_report();
        let selectivity = pg_sys::clauselist_selectivity(
            root,
            (*baserel).baserestrictinfo,
            0,
            pg_sys::JoinType::JOIN_INNER,
            ptr::null_mut(),
        );
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
        }) as *mut _;
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
/// qual is gone, and nothing (sort, aggregate, DISTINCT...) needs more rows.
unsafe fn pushable_limit(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
) -> Option<u64> {
    // SAFETY: root, its parse tree and baserel are valid during planning.
    unsafe {
        let parse = (*root).parse;
        let count = (*parse).limitCount;
        if count.is_null()
            || (*count).type_ != pg_sys::NodeTag::T_Const
            || !(*baserel).baserestrictinfo.is_null()
        {
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

/// Cost of starting a remote scan, in planner units.
const STARTUP_COST: f64 = 10.0;

#[pg_guard]
unsafe extern "C-unwind" fn get_foreign_paths<S: Source>(
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
        let path = pg_sys::create_foreignscan_path(
            root,
            baserel,
            ptr::null_mut(),
            (*baserel).rows,
            STARTUP_COST,
            total_cost,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        pg_sys::add_path(baserel, path as *mut pg_sys::Path);
        add_parameterized_paths::<S>(root, baserel, state);
    }
}

/// Adds one path per set of outer relations whose values can be pushed as quals:
/// the inner side of a nested loop then scans with the outer row's value.
unsafe fn add_parameterized_paths<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    state: &PlanningState<S>,
) {
    // SAFETY: planner structures are valid during get_foreign_paths.
    unsafe {
        let relid = (*baserel).relid;
        let mut clauses: Vec<*mut pg_sys::RestrictInfo> = Vec::new();
        for ptr in list_ptrs((*baserel).joininfo) {
            clauses.push(ptr as *mut pg_sys::RestrictInfo);
        }
        if (*baserel).has_eclass_joins {
            let implied = pg_sys::generate_implied_equalities_for_column(
                root,
                baserel,
                Some(ec_member_is_own_column),
                ptr::null_mut(),
                (*baserel).lateral_referencers,
            );
            for ptr in list_ptrs(implied) {
                clauses.push(ptr as *mut pg_sys::RestrictInfo);
            }
        }
        let mut seen: Vec<*mut pg_sys::Bitmapset> = Vec::new();
        for rinfo in clauses {
            let single = pg_sys::lappend(ptr::null_mut(), rinfo as *mut std::ffi::c_void);
            let Some(qual) = extract(root, relid, single, &state.table.columns).pop() else {
                continue;
            };
            let mut required = pg_sys::bms_union((*rinfo).clause_relids, (*baserel).lateral_relids);
            required = pg_sys::bms_del_member(required, relid as i32);
            if pg_sys::bms_is_empty(required)
                || seen.iter().any(|s| pg_sys::bms_equal(*s, required))
            {
                continue;
            }
            seen.push(required);
            let param_info = pg_sys::get_baserel_parampathinfo(root, baserel, required);
            let rows = (*param_info).ppi_rows.max(1.0);
            let fetched = state
                .source
                .lookup_rows(&qual.column, state.estimate.total_rows)
                .max(rows);
            let total_cost =
                STARTUP_COST + fetched * pg_sys::cpu_tuple_cost + rows * pg_sys::cpu_operator_cost;
            let path = pg_sys::create_foreignscan_path(
                root,
                baserel,
                ptr::null_mut(),
                rows,
                STARTUP_COST,
                total_cost,
                ptr::null_mut(),
                required,
                ptr::null_mut(),
                ptr::null_mut(),
            );
            pg_sys::add_path(baserel, path as *mut pg_sys::Path);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn ec_member_is_own_column(
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

#[pg_guard]
unsafe extern "C-unwind" fn get_foreign_plan<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    _foreigntableid: pg_sys::Oid,
    _best_path: *mut pg_sys::ForeignPath,
    tlist: *mut pg_sys::List,
    scan_clauses: *mut pg_sys::List,
    outer_plan: *mut pg_sys::Plan,
) -> *mut pg_sys::ForeignScan {
    // SAFETY: fdw_private was set by get_foreign_rel_size; lists are the planner's.
    unsafe {
        let state = &*((*baserel).fdw_private as *mut PlanningState<S>);
        let relid = (*baserel).relid;
        let extracted = extract(root, relid, scan_clauses, &state.table.columns);
        let local_quals = pg_sys::extract_actual_clauses(scan_clauses, false);
        let (quals, fdw_exprs) = plan_quals(&extracted);

        let columns = needed_columns(baserel, local_quals, &state.table);
        let limit = if scan_clauses.is_null() {
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
        let plan = ScanPlan {
            columns,
            quals,
            limit,
            explain,
            row_ids: wants_row_ids(baserel),
            direct_delete: None,
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

/// The executor's state of one foreign scan node.
struct ScanState<S: Source> {
    relid: pg_sys::Oid,
    /// opened at the first row, so a plain `EXPLAIN` never touches the source
    source: Option<S>,
    plan: ScanPlan,
    exprs: Vec<*mut pg_sys::ExprState>,
    targets: Vec<PgType>,
    scan: Option<S::Scan>,
    batch: Option<(usize, Vec<BatchColumn>, Option<Vec<u64>>)>,
    row: usize,
    /// the scan returned its last row; only a rescan starts another
    done: bool,
    batch_context: PgMemoryContexts,
    totals: Vec<(String, String)>,
}

#[pg_guard]
unsafe extern "C-unwind" fn begin_foreign_scan<S: Source>(
    node: *mut pg_sys::ForeignScanState,
    _eflags: c_int,
) {
    // SAFETY: node is the executor's scan state; its plan is our ForeignScan.
    unsafe {
        let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
        let plan_data = ScanPlan::of(plan);
        let relation = (*node).ss.ss_currentRelation;
        let descriptor = (*relation).rd_att;
        let exprs = list_ptrs((*plan).fdw_exprs)
            .into_iter()
            .map(|e| pg_sys::ExecInitExpr(e as *mut pg_sys::Expr, node as *mut pg_sys::PlanState))
            .collect();
        let targets = plan_data
            .columns
            .iter()
            .map(|(name, attnum)| {
                let attribute = (*descriptor).attrs.as_slice((*descriptor).natts as usize)
                    [(*attnum - 1) as usize];
                pg_type_of(attribute.atttypid).unwrap_or_else(|| {
                    OdpError::ColumnType {
                        column: name.clone(),
                        pg_type: super::catalog::type_name(attribute.atttypid),
                        source_type: "unsupported".into(),
                    }
                    .report()
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
        let state = ScanState::<S> {
            relid: (*relation).rd_id,
            source: None,
            plan: plan_data,
            exprs,
            targets,
            scan: None,
            batch: None,
            row: 0,
            done: false,
            batch_context,
            totals: Vec::new(),
        };
        (*node).fdw_state = in_current_context(state) as *mut _;
    }
}

impl<S: Source> ScanState<S> {
    /// Evaluates the qual values (constants, parameters, outer columns) for this (re)scan.
    unsafe fn request(&self, node: *mut pg_sys::ForeignScanState) -> ScanRequest {
        // SAFETY: exprs are this node's initialised fdw_exprs; econtext is its context.
        let quals =
            unsafe { evaluate_quals(&self.plan.quals, &self.exprs, (*node).ss.ps.ps_ExprContext) }
                .into_iter()
                .flatten()
                .collect();
        ScanRequest {
            columns: self.plan.columns.iter().map(|(n, _)| n.clone()).collect(),
            quals,
            limit: self.plan.limit,
            row_ids: self.plan.row_ids,
            runtime_quals: Vec::new(),
        }
    }

    /// The source, opened on first use.
    fn source(&mut self) -> &S {
        let relid = self.relid;
        self.source
            .get_or_insert_with(|| S::open(&table_context(relid)).or_report())
    }

    fn finish_scan(&mut self) {
        if let Some(scan) = self.scan.take() {
            let lines = scan.explain();
            crate::api::metrics::record(&lines);
            crate::api::metrics::increment("scans");
            merge_totals(&mut self.totals, lines);
        }
        self.batch = None;
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
unsafe extern "C-unwind" fn iterate_foreign_scan<S: Source>(
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
            super::xact::ensure_unchanged(state.relid).or_report();
            let request = state.request(node);
            let scan = state.source().begin_scan(&request).or_report();
            state.scan = Some(scan);
        }
        loop {
            if let Some((rows, columns, row_ids)) = &state.batch {
                if state.row < *rows {
                    fill_slot(slot, &state.plan.columns, columns, state.row);
                    if let Some(ids) = row_ids {
                        (*slot).tts_tid = item_pointer(ids[state.row]);
                    }
                    state.row += 1;
                    return slot;
                }
            }
            let scan = state.scan.as_mut().expect("started above");
            match scan.next_batch().or_report() {
                None => {
                    state.finish_scan();
                    state.done = true;
                    return pg_sys::ExecClearTuple(slot);
                }
                Some(batch) => {
                    state.batch = None;
                    state.batch_context.reset();
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
                    let columns = columns.unwrap_or_else(|e| OdpError::Unsupported(e.0).report());
                    state.batch = Some((rows, columns, batch.row_ids));
                    state.row = 0;
                }
            }
        }
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
unsafe extern "C-unwind" fn rescan_foreign_scan<S: Source>(node: *mut pg_sys::ForeignScanState) {
    // SAFETY: fdw_state was set by begin_foreign_scan.
    unsafe {
        let state = &mut *((*node).fdw_state as *mut ScanState<S>);
        state.finish_scan();
        state.done = false;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn end_foreign_scan<S: Source>(node: *mut pg_sys::ForeignScanState) {
    // SAFETY: fdw_state is ours or null (EXPLAIN without ANALYZE still begins the scan).
    unsafe {
        let state = (*node).fdw_state as *mut ScanState<S>;
        if !state.is_null() {
            (*state).finish_scan();
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn explain_foreign_scan<S: Source>(
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
        if verbose {
            let names: Vec<&str> = state.plan.columns.iter().map(|(n, _)| n.as_str()).collect();
            explain_text(es, "Source Columns", &names.join(", "));
        }
        for (key, value) in &state.plan.explain {
            explain_text(es, key, value);
        }
        if (*es).analyze {
            let mut totals = state.totals.clone();
            if let Some(scan) = &state.scan {
                merge_totals(&mut totals, scan.explain());
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
