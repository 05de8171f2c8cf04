//! Aggregate pushdown, planning side: `GetForeignUpperPaths` offers a ForeignScan that
//! returns the grouped rows of `GROUP BY` and aggregates over one ODP foreign table
//! ([`NodePlan::Aggregate`], run by [`super::grouped`], which computes them with the
//! aggregation kernel (`odp_fdw::aggregate`) over the source's batches, or takes them
//! from the source's statistics, before any row becomes a tuple).
//!
//! The path is offered only when its result provably equals Postgres's own:
//! - every WHERE clause is a constant qual the source applies exactly;
//! - no row policy, HAVING or grouping sets;
//! - grouping columns of types whose equality is byte equality (text under a
//!   deterministic collation), compared with their built-in equality;
//! - aggregates the kernel computes with Postgres's result types, NULL rules and
//!   overflow errors: `count`, `sum`, `avg`, `min`, `max` (text extremes only under a
//!   byte-wise collation), without DISTINCT, ORDER BY or FILTER.
//!
//! The averages of integers and numerics are divided by Postgres's own `numeric_div`,
//! as `avg` does.

use super::catalog::list_ptrs;
use super::collation::{text_order, TextOrder};
use super::exact::applied_exactly;
use super::memory::in_current_context;
use super::node::{plan_quals, AggregatePlan, NodePlan, Output, ScanPlan};
use super::paths::STARTUP_COST;
use super::pgtype::pg_type_of;
use super::plan::PlanningState;
use super::quals::{extract, strip_relabel};
use super::Source;
use odp_fdw::aggregate::{groupable, Aggregate, AggregateSpec, Function};
use odp_fdw::types::{Family, PgType};
use pgrx::{pg_guard, pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CStr;
use std::ptr;

/// `odp.aggregate_pushdown`: whether aggregates over ODP tables may be computed below
/// Postgres.
pub static AGGREGATE_PUSHDOWN: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Registers the GUCs of this module.
pub fn init_gucs() {
    GucRegistry::define_bool_guc(
        c"odp.aggregate_pushdown",
        c"Computes GROUP BY and aggregates over ODP foreign tables below Postgres",
        c"When off, ODP scans return rows and Postgres aggregates them.",
        &AGGREGATE_PUSHDOWN,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// What `GetForeignPlan` needs of an offered aggregate path.
pub(super) struct UpperState {
    /// the scanned relation's planner entry
    pub(super) input: *mut pg_sys::RelOptInfo,
    pub(super) plan: AggregatePlan,
    /// the expressions the scan returns (grouping columns and aggregates)
    pub(super) scan_tlist: *mut pg_sys::List,
}

#[pg_guard]
pub(super) unsafe extern "C-unwind" fn get_foreign_upper_paths<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    stage: pg_sys::UpperRelationKind::Type,
    input_rel: *mut pg_sys::RelOptInfo,
    output_rel: *mut pg_sys::RelOptInfo,
    _extra: *mut std::ffi::c_void,
) {
    if stage != pg_sys::UpperRelationKind::UPPERREL_GROUP_AGG
        || !AGGREGATE_PUSHDOWN.get()
        // SAFETY: the planner passes valid relations of this query.
        || unsafe {
            (*input_rel).reloptkind != pg_sys::RelOptKind::RELOPT_BASEREL
                || (*input_rel).fdw_private.is_null()
                || !(*output_rel).fdw_private.is_null()
        }
    {
        return;
    }
    // SAFETY: a base relation of an ODP wrapper carries the PlanningState its
    // get_foreign_rel_size stored, alive for the whole planner run.
    let state = unsafe { &*((*input_rel).fdw_private as *mut PlanningState<S>) };
    // SAFETY: `root` is the planner's PlannerInfo.
    let parse = unsafe { (*root).parse };
    if state.policy.is_some()
        // SAFETY: `parse` is the query being planned.
        || unsafe { !(*parse).groupingSets.is_null() || !(*parse).havingQual.is_null() }
        // SAFETY: `input_rel` is the planner's base relation of `state`.
        || unsafe { !all_exact(root, input_rel, state) }
    {
        return;
    }
    // SAFETY: the relations are the planner's, of this query; `state` is the input's.
    let Some((plan, scan_tlist)) = (unsafe { aggregate_plan(root, input_rel, output_rel, state) })
    else {
        return;
    };
    if !state.source.aggregates(&plan.columns) {
        return;
    }
    // SAFETY: `input_rel` is the planner's RelOptInfo.
    let input_rows = unsafe { (*input_rel).rows };
    // SAFETY: `parse` is the query being planned.
    let rows = if unsafe { (*parse).groupClause }.is_null() {
        1.0
    } else {
        // SAFETY: the query's GROUP BY clauses and target list are its valid Lists;
        // estimate_num_groups reads the planner's statistics of them.
        unsafe {
            let exprs = pg_sys::get_sortgrouplist_exprs((*parse).groupClause, (*parse).targetList);
            pg_sys::estimate_num_groups(root, exprs, input_rows, ptr::null_mut(), ptr::null_mut())
        }
    };
    // cheaper than the scan alone: no row becomes a tuple, and the kernel's work per
    // row is a fraction of an operator call; below the scan's startup too, so a tiny
    // table's sorted local aggregate does not win on fuzzily equal costs
    let startup_cost = STARTUP_COST / 2.0;
    // SAFETY: reads a setting (GUC) on the backend's thread.
    let operator_cost = unsafe { pg_sys::cpu_operator_cost };
    let total_cost = startup_cost + input_rows * operator_cost / 10.0;
    // SAFETY: `root` and `output_rel` are the planner's; create_foreign_upper_path makes
    // a new ForeignPath of `output_rel`, which add_path takes.
    unsafe {
        let path = pg_sys::create_foreign_upper_path(
            root,
            output_rel,
            (*output_rel).reltarget,
            rows,
            startup_cost,
            total_cost,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        // computed in one process: never inside a parallel worker
        (*path).path.parallel_safe = false;
        pg_sys::add_path(output_rel, path as *mut pg_sys::Path);
    }
    let upper = in_current_context(UpperState {
        input: input_rel,
        plan,
        scan_tlist,
    });
    // SAFETY: `output_rel` is the planner's RelOptInfo; fdw_private is the wrapper's.
    unsafe { (*output_rel).fdw_private = upper as *mut _ };
}

/// Whether every restriction of the relation is a constant qual the source applies
/// exactly.
///
/// # Safety
/// `rel` must be the planner's RelOptInfo of `state`'s table, of the current planner
/// run.
unsafe fn all_exact<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    state: &PlanningState<S>,
) -> bool {
    // SAFETY: guaranteed by the caller; baserestrictinfo is NIL or a List.
    let (clauses, relid) = unsafe { (list_ptrs((*rel).baserestrictinfo), (*rel).relid) };
    clauses.into_iter().all(|clause| {
        // SAFETY: the relation's restrictions are valid RestrictInfos of this planner run.
        unsafe { applied_exactly(root, relid, clause, &state.source, &state.table.columns) }
    })
}

/// Collects the columns, spec and outputs of a pushed aggregate while the scan's
/// target list is built.
struct Builder<'a> {
    relid: u32,
    table: &'a super::TableContext,
    plan: AggregatePlan,
    tlist: *mut pg_sys::List,
}

impl Builder<'_> {
    /// The index of a source column among the kernel's columns, added when new.
    fn column(&mut self, name: &str) -> usize {
        match self.plan.columns.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.plan.columns.push(name.to_string());
                self.plan.columns.len() - 1
            }
        }
    }

    /// The own column a Var (under binary-compatible casts) refers to, and its type.
    ///
    /// # Safety
    /// `node` must be a valid expression node of this planner run.
    unsafe fn own_column(&self, node: *mut pg_sys::Node) -> Option<(String, PgType, pg_sys::Oid)> {
        let original = node;
        // SAFETY: guaranteed by the caller.
        let node = unsafe { strip_relabel(node) };
        // SAFETY: a non-null node under the casts is a valid node.
        if node.is_null() || unsafe { (*node).type_ } != pg_sys::NodeTag::T_Var {
            return None;
        }
        // SAFETY: the node is a Var (its tag was checked above).
        let var = unsafe { &*(node as *const pg_sys::Var) };
        if var.varno as u32 != self.relid || var.varlevelsup != 0 || var.varattno <= 0 {
            return None;
        }
        // a binary-compatible cast (`oid`, `bpchar`) changes what Postgres computes:
        // not pushed; a COLLATE is kept, its collation is what Postgres compares with
        // SAFETY: `original` is a valid expression node (the caller's).
        if unsafe { pg_sys::exprType(original) } != var.vartype {
            return None;
        }
        let column = self
            .table
            .columns
            .iter()
            .find(|c| c.attnum == var.varattno)?;
        let pg = pg_type_of(var.vartype)?;
        // SAFETY: `original` is a valid expression node (the caller's).
        let collation = unsafe { pg_sys::exprCollation(original) };
        Some((column.name.clone(), pg, collation))
    }

    /// Adds `expr` to the scan's target list unless it is there; true when added.
    ///
    /// # Safety
    /// `expr` must be a valid expression of this planner run.
    unsafe fn add_target(&mut self, expr: *mut pg_sys::Expr) -> bool {
        // SAFETY: `expr` is a valid expression; the target list is NIL or the one built
        // here.
        if !unsafe { pg_sys::tlist_member(expr, self.tlist) }.is_null() {
            return false;
        }
        // SAFETY: as above; the list functions allocate in the planner's context.
        self.tlist = unsafe {
            pg_sys::add_to_flat_tlist(
                self.tlist,
                pg_sys::lappend(ptr::null_mut(), expr as *mut std::ffi::c_void),
            )
        };
        true
    }

    /// A grouping expression: a plain own column of a groupable type.
    ///
    /// # Safety
    /// `expr` must be a valid grouping expression of this query.
    unsafe fn group(&mut self, expr: *mut pg_sys::Expr, eqop: pg_sys::Oid) -> Option<()> {
        // SAFETY: guaranteed by the caller.
        let (name, pg, collation) = unsafe { self.own_column(expr as *mut pg_sys::Node) }?;
        let text = pg.family() == Some(Family::Text);
        if !groupable(&pg)
            || eqop.to_u32() >= pg_sys::FirstNormalObjectId
            || (text && text_order(collation) < TextOrder::Deterministic)
        {
            return None;
        }
        // SAFETY: guaranteed by the caller.
        if unsafe { self.add_target(expr) } {
            let index = self.column(&name);
            self.plan
                .outputs
                .push(Output::Kernel(self.plan.spec.group_by.len()));
            self.plan.spec.group_by.push((index, pg));
            self.plan.group_display.push(name);
        }
        Some(())
    }

    /// An aggregate the kernel computes exactly.
    ///
    /// # Safety
    /// `aggref` must be a valid Aggref of this query.
    unsafe fn aggregate(&mut self, aggref: *mut pg_sys::Aggref) -> Option<()> {
        // SAFETY: guaranteed by the caller; nothing changes the Aggref while it is read.
        let a = unsafe { &*aggref };
        let simple = a.aggorder.is_null()
            && a.aggdistinct.is_null()
            && a.aggfilter.is_null()
            && !a.aggvariadic
            && a.aggkind as u8 == b'n' // AGGKIND_NORMAL
            && a.aggsplit == pg_sys::AggSplit::AGGSPLIT_SIMPLE
            && a.agglevelsup == 0
            && a.aggfnoid.to_u32() < pg_sys::FirstNormalObjectId;
        if !simple {
            return None;
        }
        // SAFETY: get_func_name looks up any function OID (NULL when there is none).
        let name = unsafe { pg_sys::get_func_name(a.aggfnoid) };
        if name.is_null() {
            return None;
        }
        // SAFETY: a non-null name is a NUL-terminated string palloc'd by the lookup.
        let name = unsafe { CStr::from_ptr(name) }.to_str().ok()?.to_string();
        let input = if a.aggstar {
            None
        } else {
            // SAFETY: the Aggref's args is NIL or a List of TargetEntry.
            let args = unsafe { list_ptrs(a.args) };
            let [arg] = args.as_slice() else {
                return None;
            };
            let entry = *arg as *mut pg_sys::TargetEntry;
            // SAFETY: `entry` is the Aggref's TargetEntry, whose expr is a valid
            // expression of this query.
            Some(unsafe { self.own_column((*entry).expr as *mut pg_sys::Node) }?)
        };
        let pg = input.as_ref().map(|(_, pg, _)| pg.clone());
        let functions = Function::for_sql_aggregate(&name, pg.as_ref())?;
        let text = pg.as_ref().and_then(PgType::family) == Some(Family::Text);
        let extreme = matches!(functions[0], Function::Min | Function::Max);
        if text && extreme && text_order(a.inputcollid) < TextOrder::Bytewise {
            return None;
        }
        // SAFETY: guaranteed by the caller: an Aggref is an expression.
        if !unsafe { self.add_target(aggref as *mut pg_sys::Expr) } {
            return Some(());
        }
        let input = input.map(|(column, pg, _)| (self.column(&column), pg));
        let first = self.plan.spec.group_by.len() + self.plan.spec.aggregates.len();
        for function in &functions {
            self.plan.spec.aggregates.push(Aggregate {
                function: *function,
                input: input.clone(),
            });
        }
        self.plan.outputs.push(if functions.len() == 2 {
            Output::Average {
                sum: first,
                count: first + 1,
            }
        } else {
            Output::Kernel(first)
        });
        let argument = match &input {
            None => "*".to_string(),
            Some((i, _)) => self.plan.columns[*i].clone(),
        };
        self.plan
            .aggregates_display
            .push(format!("{name}({argument})"));
        Some(())
    }
}

/// The pushed aggregate of the grouped relation's target, and the scan's target list;
/// `None` when some expression cannot be computed exactly below Postgres.
///
/// # Safety
/// `root`, `input_rel` (the scanned base relation of `state`) and `output_rel` (its
/// grouped relation) must be the planner's, of the current planner run.
unsafe fn aggregate_plan<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    input_rel: *mut pg_sys::RelOptInfo,
    output_rel: *mut pg_sys::RelOptInfo,
    state: &PlanningState<S>,
) -> Option<(AggregatePlan, *mut pg_sys::List)> {
    // SAFETY: guaranteed by the caller.
    let (parse, target, relid) =
        unsafe { ((*root).parse, (*output_rel).reltarget, (*input_rel).relid) };
    let mut builder = Builder {
        relid,
        table: &state.table,
        plan: AggregatePlan {
            columns: Vec::new(),
            spec: AggregateSpec::default(),
            outputs: Vec::new(),
            aggregates_display: Vec::new(),
            group_display: Vec::new(),
        },
        tlist: ptr::null_mut(),
    };
    // SAFETY: the grouped relation's target holds NIL or a List of expressions.
    let exprs = unsafe { list_ptrs((*target).exprs) };
    let group_clause = |i: usize| {
        // SAFETY: `target` is the grouped relation's PathTarget.
        let sortgrouprefs = unsafe { (*target).sortgrouprefs };
        let sortgroupref = if sortgrouprefs.is_null() {
            0
        } else {
            // SAFETY: a set sortgrouprefs has one entry per expression of the target;
            // `i` indexes them.
            unsafe { *sortgrouprefs.add(i) }
        };
        if sortgroupref == 0 {
            ptr::null_mut()
        } else {
            // SAFETY: the query's groupClause is NIL or a List of SortGroupClause.
            unsafe { pg_sys::get_sortgroupref_clause_noerr(sortgroupref, (*parse).groupClause) }
        }
    };
    // the grouping columns first, so expressions over them find them
    let mut grouped = 0;
    for (i, expr) in exprs.iter().enumerate() {
        let clause = group_clause(i);
        if !clause.is_null() {
            // SAFETY: `clause` is a SortGroupClause of the query.
            let eqop = unsafe { (*clause).eqop };
            // SAFETY: `expr` is the grouped target's expression of that clause.
            unsafe { builder.group(*expr as *mut pg_sys::Expr, eqop) }?;
            grouped += 1;
        }
    }
    for (i, expr) in exprs.iter().enumerate() {
        if !group_clause(i).is_null() {
            continue;
        }
        // an expression over aggregates and grouping columns: Postgres computes it
        // from the scan's columns
        // SAFETY: `expr` is a valid expression of the grouped target; pull_var_clause
        // makes a new List of its Vars and Aggrefs.
        let parts = unsafe {
            pg_sys::pull_var_clause(
                *expr as *mut pg_sys::Node,
                pg_sys::PVC_INCLUDE_AGGREGATES as i32,
            )
        };
        // SAFETY: `parts` is NIL or a List of nodes.
        for part in unsafe { list_ptrs(parts) } {
            let node = part as *mut pg_sys::Node;
            // SAFETY: `node` is a valid node of the list.
            if unsafe { (*node).type_ } == pg_sys::NodeTag::T_Aggref {
                // SAFETY: the node is an Aggref of this query (its tag was checked).
                unsafe { builder.aggregate(node as *mut pg_sys::Aggref) }?;
            } else {
                // SAFETY: `node` is a valid expression; the target list is NIL or the one
                // built here.
                let entry =
                    unsafe { pg_sys::tlist_member(node as *mut pg_sys::Expr, builder.tlist) };
                if entry.is_null() {
                    // a column outside GROUP BY (functionally dependent): not pushed
                    return None;
                }
            }
        }
    }
    // SAFETY: the query's groupClause is NIL or a List.
    if grouped != unsafe { list_ptrs((*parse).groupClause) }.len() {
        return None;
    }
    // SAFETY: the target list was built from `target`'s expressions; the labelling
    // sets its entries' sort/group references.
    unsafe { pg_sys::apply_pathtarget_labeling_to_tlist(builder.tlist, target) };
    Some((builder.plan, builder.tlist))
}

/// The ForeignScan of an offered aggregate path (`GetForeignPlan` on the grouped
/// relation).
///
/// # Safety
/// `rel` must be a grouped relation whose `fdw_private` is the [`UpperState`] stored by
/// [`get_foreign_upper_paths`] of the same source.
pub(super) unsafe fn aggregate_scan<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    tlist: *mut pg_sys::List,
    outer_plan: *mut pg_sys::Plan,
) -> *mut pg_sys::ForeignScan {
    // SAFETY: guaranteed by the caller; the UpperState lives as long as the planner run.
    let upper = unsafe { &*((*rel).fdw_private as *mut UpperState) };
    let input = upper.input;
    // SAFETY: the input relation is the planner's base relation whose PlanningState
    // (of the same source) is alive for the whole planner run.
    let (state, relid) = unsafe {
        (
            &*((*input).fdw_private as *mut PlanningState<S>),
            (*input).relid,
        )
    };
    // SAFETY: the input's baserestrictinfo is NIL or a List of its RestrictInfos.
    let extracted =
        unsafe { extract(root, relid, (*input).baserestrictinfo, &state.table.columns) };
    // SAFETY: the extracted quals' expressions are the planner's, of this run.
    let (quals, fdw_exprs) = unsafe { plan_quals(root, relid, &extracted) };
    let mut explain = vec![(
        "Relations".to_string(),
        format!(
            "Aggregate on {}",
            relation_name(pg_sys::Oid::from(state.table.relid))
        ),
    )];
    explain.extend(state.estimate.explain.iter().cloned());
    explain.push((
        "Pushed Aggregates".into(),
        upper.plan.aggregates_display.join(", "),
    ));
    if !upper.plan.group_display.is_empty() {
        explain.push((
            "Pushed Group By".into(),
            upper.plan.group_display.join(", "),
        ));
    }
    let scan = ScanPlan {
        columns: upper
            .plan
            .outputs
            .iter()
            .enumerate()
            .map(|(i, _)| (format!("aggregate {}", i + 1), i as i16 + 1))
            .collect(),
        quals,
        limit: None,
        explain,
        row_ids: false,
        planned_relid: relid,
        policy: None,
        relation: state.table.relid,
    };
    let plan = NodePlan::Aggregate {
        scan,
        aggregate: upper.plan.clone(),
    };
    let private = plan.to_private();
    // SAFETY: the lists are the planner's (tlist, fdw_exprs), built for this path
    // (scan_tlist) or new (private); make_foreignscan builds a new ForeignScan of them.
    unsafe {
        pg_sys::make_foreignscan(
            tlist,
            ptr::null_mut(),
            0,
            fdw_exprs,
            private,
            upper.scan_tlist,
            ptr::null_mut(),
            outer_plan,
        )
    }
}

/// `schema.table` of a relation, quoted as needed (`pg_temp.table` for temporary ones).
fn relation_name(relid: pg_sys::Oid) -> String {
    // SAFETY: catalog lookups of any OID: a palloc'd name or NULL for a dropped
    // relation, InvalidOid for no namespace.
    let (name, namespace) = unsafe {
        (
            pg_sys::get_rel_name(relid),
            pg_sys::get_rel_namespace(relid),
        )
    };
    // a session's temporary schema is named `pg_temp` as queries name it
    // SAFETY: isAnyTempNamespace takes any OID.
    let schema = if unsafe { pg_sys::isAnyTempNamespace(namespace) } {
        c"pg_temp".as_ptr() as *mut std::ffi::c_char
    } else {
        // SAFETY: a catalog lookup of any OID: a palloc'd name or NULL.
        unsafe { pg_sys::get_namespace_name(namespace) }
    };
    if name.is_null() || schema.is_null() {
        return relid.to_u32().to_string();
    }
    // SAFETY: both names are NUL-terminated; quote_qualified_identifier copies them
    // into a new NUL-terminated string.
    unsafe { CStr::from_ptr(pg_sys::quote_qualified_identifier(schema, name)) }
        .to_string_lossy()
        .into_owned()
}
