//! The plan each of ODP's ForeignScan nodes carries in `fdw_private` (serialized, so it
//! survives plan copying and caching): one kind per executor.
//!
//! - [`NodePlan::Scan`]: rows of the source, run by [`super::scan`];
//! - [`NodePlan::Aggregate`]: grouped rows of a pushed aggregate, run by
//!   [`super::grouped`];
//! - [`NodePlan::DirectModify`]: a DELETE the source does without reading rows, run by
//!   [`super::direct`].
//!
//! Also the pushed quals as plans store them, and their evaluation at run time.

use super::catalog::list_ptrs;
use super::lookahead::OuterColumn;
use super::pgtype::pg_type_of;
use super::policy::RelationPolicy;
use super::quals::{datum_to_value, strip_relabel, ExtractedQual};
use crate::error::{OdpError, Result};
use odp_fdw::aggregate::AggregateSpec;
use odp_fdw::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use odp_fdw::arrow::datatypes::{Decimal128Type, Int64Type};
use odp_fdw::batch::{ColumnData, ScanBatch};
use odp_fdw::request::{Op, Qual};
use odp_fdw::types::Family;
use odp_fdw::value::Value;
use pgrx::{pg_sys, AnyNumeric};
use serde::{Deserialize, Serialize};
use std::ffi::{CStr, CString};
use std::ptr;
use std::sync::Arc;

/// What a ForeignScan node of ODP runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum NodePlan {
    /// rows of the source
    Scan(ScanPlan),
    /// grouped rows of a pushed aggregate: `scan` names the quals and the node's
    /// columns (one per output of `aggregate`)
    Aggregate {
        scan: ScanPlan,
        aggregate: AggregatePlan,
    },
    /// a DELETE whose whole WHERE clause is `scan`'s quals
    DirectModify {
        scan: ScanPlan,
        delete: DirectDelete,
    },
}

impl NodePlan {
    /// The plan stored in a ForeignScan's `fdw_private`.
    ///
    /// # Safety
    /// `plan` must be a ForeignScan planned by ODP.
    pub(super) unsafe fn of(plan: *const pg_sys::ForeignScan) -> NodePlan {
        // SAFETY: our plans hold one String node with the plan's JSON.
        let json = unsafe {
            let private = list_ptrs((*plan).fdw_private);
            CStr::from_ptr((*(private[0] as *mut pg_sys::String)).sval).to_string_lossy()
        };
        serde_json::from_str(&json)
            .unwrap_or_else(|_| OdpError::not_supported("a plan from another ODP version").report())
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
    for q in extracted {
        let expr_index = if q.expr.is_null() || q.constant.is_some() {
            None
        } else {
            // SAFETY: the caller guarantees the expression is a valid node; lappend
            // appends to NIL or the List built here and returns a non-NIL List.
            let length = unsafe {
                fdw_exprs = pg_sys::lappend(fdw_exprs, q.expr as *mut std::ffi::c_void);
                (*fdw_exprs).length
            };
            Some(length as usize - 1)
        };
        let expr_type = if q.expr.is_null() {
            0
        } else {
            // SAFETY: the caller guarantees the expression is a valid node.
            unsafe { pg_sys::exprType(q.expr as *mut pg_sys::Node) }.to_u32()
        };
        // SAFETY: the caller guarantees the expression is a planner expression of `root`.
        let outer = unsafe { batchable_outer_column(root, relid, q) };
        quals.push(PlannedQual {
            column: q.column.clone(),
            op: q.op,
            expr_index,
            expr_type,
            constant: q.constant.clone(),
            outer,
        });
    }
    // Batching serves a batch of outer rows from one answer, so every other value
    // must be the same for all of them: with a second outer column, scan per row.
    let outer_values = extracted
        .iter()
        .filter(|q| {
            q.constant.is_none()
                && !q.expr.is_null()
                // SAFETY: the caller guarantees the expression is a planner expression
                // of `root`; pull_varnos returns a new set (NULL: empty).
                && !unsafe {
                    pg_sys::bms_is_empty(pg_sys::pull_varnos(root, q.expr as *mut pg_sys::Node))
                }
        })
        .count();
    if outer_values > 1 {
        quals.iter_mut().for_each(|q| q.outer = None);
    }
    (quals, fdw_exprs)
}

/// The outer column of `column = outer.column` when its lookups can be batched: an
/// equality on integers or text (exact equality, see [`super::lookahead`]) whose value
/// is a plain column of another foreign table of the same query level.
///
/// # Safety
/// `qual`'s expression must be a valid planner expression of `root`, of the current
/// planner run.
pub(super) unsafe fn batchable_outer_column(
    root: *mut pg_sys::PlannerInfo,
    relid: u32,
    qual: &ExtractedQual,
) -> Option<OuterColumn> {
    if qual.op != Op::Eq || qual.constant.is_some() || qual.expr.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    let node = unsafe { strip_relabel(qual.expr as *mut pg_sys::Node) };
    // SAFETY: the expression under its casts is a valid node.
    if unsafe { (*node).type_ } != pg_sys::NodeTag::T_Var {
        return None;
    }
    // SAFETY: the node is a Var (its tag was checked above).
    let var = unsafe { &*(node as *const pg_sys::Var) };
    let varno = var.varno as u32;
    if varno == relid
        || var.varlevelsup != 0
        || var.varattno <= 0
        // SAFETY: `root` is the planner's PlannerInfo.
        || varno as i32 >= unsafe { (*root).simple_rel_array_size }
    {
        return None;
    }
    // SAFETY: simple_rte_array has simple_rel_array_size entries, more than `varno`.
    let rte = unsafe { *(*root).simple_rte_array.add(varno as usize) };
    let exact = matches!(
        pg_type_of(var.vartype).and_then(|t| t.family()),
        Some(Family::Integer | Family::Text)
    );
    (exact
        && !rte.is_null()
        // SAFETY: a non-null entry of the range table is a valid RangeTblEntry.
        && unsafe {
            (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION
                && (*rte).relkind as u8 == pg_sys::RELKIND_FOREIGN_TABLE
        })
    .then_some(OuterColumn {
        varno,
        attnum: var.varattno,
    })
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
                    let datum = unsafe {
                        pg_sys::ExecEvalExprSwitchContext(exprs[i], econtext, &mut is_null)
                    };
                    // SAFETY: the datum is a value of the expression's type, `expr_type`.
                    unsafe { datum_to_value(datum, is_null, pg_sys::Oid::from(q.expr_type)) }?
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

/// The plan of a scan of the source: what it reads and returns.
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
}

impl ScanPlan {
    /// The pushed quals as EXPLAIN shows them.
    pub(super) fn quals_display(&self) -> String {
        let quals: Vec<String> = self.quals.iter().map(PlannedQual::display).collect();
        quals.join(" AND ")
    }
}

/// Where one column of a pushed aggregate's rows comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum Output {
    /// a column of the kernel's result (grouping columns, then aggregates)
    Kernel(usize),
    /// `avg` of integers or numerics: the kernel's exact sum over its count
    Average { sum: usize, count: usize },
}

/// A pushed aggregate as the plan stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AggregatePlan {
    /// the source columns the kernel reads; the spec's indexes point into it
    pub(super) columns: Vec<String>,
    pub(super) spec: AggregateSpec,
    /// one per column of the scan's rows (its `fdw_scan_tlist`)
    pub(super) outputs: Vec<Output>,
    /// EXPLAIN's `Pushed Aggregates` and `Pushed Group By`
    pub(super) aggregates_display: Vec<String>,
    pub(super) group_display: Vec<String>,
}

impl AggregatePlan {
    /// The names of the grouping columns.
    pub(super) fn group_columns(&self) -> Vec<String> {
        self.spec
            .group_by
            .iter()
            .map(|(i, _)| self.columns[*i].clone())
            .collect()
    }

    /// The kernel's result as the scan's rows: one column per output.
    pub(super) fn rows(&self, result: ScanBatch) -> Result<ScanBatch> {
        let columns = self
            .outputs
            .iter()
            .map(|output| match output {
                Output::Kernel(i) => Ok(result.columns[*i].clone()),
                Output::Average { sum, count } => {
                    average(&result.columns[*sum], &result.columns[*count]).map(ColumnData::Array)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ScanBatch {
            num_rows: result.num_rows,
            columns,
            row_ids: None,
        })
    }
}

/// `numeric_div(sum, count)` per group, as numeric text (NULL for no values).
fn average(sums: &ColumnData, counts: &ColumnData) -> Result<ArrayRef> {
    let (ColumnData::Array(sums), ColumnData::Array(counts)) = (sums, counts) else {
        return Err(OdpError::Unsupported("a constant aggregate".into()));
    };
    let sums = sums.as_primitive::<Decimal128Type>();
    let counts = counts.as_primitive::<Int64Type>();
    let mut texts = Vec::with_capacity(sums.len());
    for row in 0..sums.len() {
        if sums.is_null(row) || counts.value(row) == 0 {
            texts.push(None);
            continue;
        }
        let sum = AnyNumeric::try_from(sums.value_as_string(row).as_str())
            .map_err(|e| OdpError::Unsupported(e.to_string()))?;
        texts.push(Some(
            (sum / AnyNumeric::from(counts.value(row))).to_string(),
        ));
    }
    Ok(Arc::new(StringArray::from(texts)))
}

/// What a direct DELETE adds to the scan it replaces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectDelete {
    /// the statement's row count is this node's (the ModifyTable's `canSetTag`)
    pub(super) set_processed: bool,
    /// what EXPLAIN says the source does
    pub(super) description: String,
}
