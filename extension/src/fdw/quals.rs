//! Planner expressions → pushable quals `column op value`.
//!
//! The value side may be any stable expression that does not reference the scanned
//! relation: a constant, an external parameter (`$1`), or an outer relation's column in
//! a parameterized path (the planner turns it into a `PARAM_EXEC`). Those expressions go
//! into the plan's `fdw_exprs` and are evaluated when the scan (re)starts.

use super::catalog::list_ptrs;
use super::PgColumn;
use odp_fdw::request::Op;
use odp_fdw::value::Value;
use pgrx::{pg_sys, AnyNumeric, FromDatum};
use std::ffi::CStr;

/// A qual found in a clause list.
#[derive(Debug, Clone)]
pub struct ExtractedQual {
    /// column name
    pub column: String,
    /// comparison
    pub op: Op,
    /// expression producing the value (an array for `IN`); null for `IS [NOT] NULL`
    pub expr: *mut pg_sys::Expr,
    /// a constant value known at plan time
    pub constant: Option<Value>,
}

/// Types whose values can be compared with each other without session settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Bool,
    Number,
    Text,
    Date,
    Timestamp,
    TimestampTz,
}

fn category(oid: pg_sys::Oid) -> Option<Category> {
    Some(match oid {
        pg_sys::BOOLOID => Category::Bool,
        pg_sys::INT2OID
        | pg_sys::INT4OID
        | pg_sys::INT8OID
        | pg_sys::FLOAT4OID
        | pg_sys::FLOAT8OID
        | pg_sys::NUMERICOID => Category::Number,
        pg_sys::TEXTOID | pg_sys::VARCHAROID => Category::Text,
        pg_sys::DATEOID => Category::Date,
        pg_sys::TIMESTAMPOID => Category::Timestamp,
        pg_sys::TIMESTAMPTZOID => Category::TimestampTz,
        _ => return None,
    })
}

/// Microseconds between the Unix and Postgres epochs.
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;
/// Days between the Unix and Postgres epochs.
pub const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

/// Converts a Datum of a supported scalar or array type into a [`Value`].
///
/// # Safety
/// `datum` must be a valid Datum of type `type_oid` (or null).
pub unsafe fn datum_to_value(
    datum: pg_sys::Datum,
    is_null: bool,
    type_oid: pg_sys::Oid,
) -> Option<Value> {
    if is_null {
        return Some(Value::Null);
    }
    // SAFETY: the caller guarantees the datum has this type.
    unsafe {
        Some(match type_oid {
            pg_sys::BOOLOID => Value::Bool(bool::from_datum(datum, false)?),
            pg_sys::INT2OID => Value::Int(i16::from_datum(datum, false)? as i64),
            pg_sys::INT4OID => Value::Int(i32::from_datum(datum, false)? as i64),
            pg_sys::INT8OID => Value::Int(i64::from_datum(datum, false)?),
            pg_sys::FLOAT4OID => Value::Float(f32::from_datum(datum, false)? as f64),
            pg_sys::FLOAT8OID => Value::Float(f64::from_datum(datum, false)?),
            pg_sys::NUMERICOID => {
                Value::Float(f64::try_from(AnyNumeric::from_datum(datum, false)?).ok()?)
            }
            pg_sys::TEXTOID | pg_sys::VARCHAROID => Value::Text(String::from_datum(datum, false)?),
            pg_sys::DATEOID => {
                let days = i32::from_datum(datum, false)?;
                if days == i32::MIN || days == i32::MAX {
                    return None;
                }
                Value::Date(days.checked_add(PG_EPOCH_OFFSET_DAYS)?)
            }
            pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => {
                let micros = i64::from_datum(datum, false)?;
                if micros == i64::MIN || micros == i64::MAX {
                    return None;
                }
                Value::Timestamp(micros.checked_add(PG_EPOCH_OFFSET_MICROS)?)
            }
            other => {
                let element = pg_sys::get_element_type(other);
                if element == pg_sys::InvalidOid || category(element).is_none() {
                    return None;
                }
                let array =
                    pgrx::Array::<pg_sys::Datum>::from_polymorphic_datum(datum, false, other)?;
                let mut items = Vec::with_capacity(array.len());
                for item in array.iter() {
                    match item {
                        Some(d) => items.push(datum_to_value(d, false, element)?),
                        None => items.push(Value::Null),
                    }
                }
                Value::List(items)
            }
        })
    }
}

fn op_from_name(name: &str) -> Option<Op> {
    Some(match name {
        "=" => Op::Eq,
        "<>" => Op::Ne,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "~~" => Op::Like,
        _ => return None,
    })
}

/// Strips binary-compatible casts (`varchar` → `text`).
unsafe fn strip_relabel(mut node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    // SAFETY: node is a valid expression node; RelabelType's arg is one too.
    unsafe {
        while !node.is_null() && (*node).type_ == pg_sys::NodeTag::T_RelabelType {
            node = (*(node as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
    }
    node
}

/// The column a node refers to, if it is a plain column of relation `relid`.
unsafe fn own_column(
    node: *mut pg_sys::Node,
    relid: u32,
    columns: &[PgColumn],
) -> Option<&PgColumn> {
    // SAFETY: node is a valid expression node.
    unsafe {
        let node = strip_relabel(node);
        if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_Var {
            return None;
        }
        let var = node as *mut pg_sys::Var;
        if (*var).varno as u32 != relid || (*var).varlevelsup != 0 || (*var).varattno <= 0 {
            return None;
        }
        columns.iter().find(|c| c.attnum == (*var).varattno)
    }
}

/// Whether `node` can be evaluated before the scan: no reference to `relid`,
/// nothing volatile, no sub-plans.
unsafe fn is_outside_value(
    root: *mut pg_sys::PlannerInfo,
    node: *mut pg_sys::Node,
    relid: u32,
) -> bool {
    // SAFETY: node is a valid expression tree of this planner run.
    unsafe {
        !pg_sys::contain_volatile_functions(node)
            && !pg_sys::contain_subplans(node)
            && !pg_sys::bms_is_member(relid as i32, pg_sys::pull_varnos(root, node))
    }
}

unsafe fn constant_of(node: *mut pg_sys::Node) -> Option<Value> {
    // SAFETY: node is a valid expression node; a Const carries its own type.
    unsafe {
        let node = strip_relabel(node);
        if (*node).type_ != pg_sys::NodeTag::T_Const {
            return None;
        }
        let c = node as *mut pg_sys::Const;
        datum_to_value((*c).constvalue, (*c).constisnull, (*c).consttype)
    }
}

/// Whether a text comparison is safe to push: equality always, ranges only under
/// a byte-ordered collation (the order Delta statistics use).
fn collation_allows(op: Op, cat: Category, collation: pg_sys::Oid) -> bool {
    if cat != Category::Text || matches!(op, Op::Eq | Op::Ne | Op::Like) {
        return true;
    }
    match collation {
        pg_sys::C_COLLATION_OID | pg_sys::POSIX_COLLATION_OID => true,
        pg_sys::DEFAULT_COLLATION_OID => database_collation_is_bytewise(),
        _ => false,
    }
}

/// Whether the database's default collation orders text by bytes (C, POSIX, C.UTF-8).
fn database_collation_is_bytewise() -> bool {
    // SAFETY: GetConfigOption returns a pointer to the GUC's current string (or NULL
    // with missing_ok), valid until the setting changes; we copy it at once.
    let setting = unsafe { pg_sys::GetConfigOption(c"lc_collate".as_ptr(), true, false) };
    if setting.is_null() {
        return false;
    }
    // SAFETY: non-null GUC strings are NUL-terminated.
    let name = unsafe { CStr::from_ptr(setting) }.to_string_lossy();
    matches!(name.as_ref(), "C" | "POSIX" | "C.UTF-8" | "C.utf8")
}

/// Extracts the pushable quals from a list of `RestrictInfo` (or bare clauses).
///
/// # Safety
/// `root` and `clauses` must come from the current planner invocation.
pub unsafe fn extract(
    root: *mut pg_sys::PlannerInfo,
    relid: u32,
    clauses: *mut pg_sys::List,
    columns: &[PgColumn],
) -> Vec<ExtractedQual> {
    let mut out = Vec::new();
    // SAFETY: the list holds valid clause nodes.
    for ptr in unsafe { list_ptrs(clauses) } {
        let mut node = ptr as *mut pg_sys::Node;
        // SAFETY: node is a valid node of the list.
        unsafe {
            if (*node).type_ == pg_sys::NodeTag::T_RestrictInfo {
                let rinfo = node as *mut pg_sys::RestrictInfo;
                if (*rinfo).pseudoconstant {
                    continue;
                }
                node = (*rinfo).clause as *mut pg_sys::Node;
            }
            if let Some(q) = extract_one(root, relid, node, columns) {
                out.push(q);
            }
        }
    }
    out
}

unsafe fn extract_one(
    root: *mut pg_sys::PlannerInfo,
    relid: u32,
    node: *mut pg_sys::Node,
    columns: &[PgColumn],
) -> Option<ExtractedQual> {
    // SAFETY: node is a valid expression node; each cast follows its node tag.
    unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_OpExpr => {
                let opexpr = node as *mut pg_sys::OpExpr;
                let args = list_ptrs((*opexpr).args);
                if args.len() != 2 {
                    return None;
                }
                let name = CStr::from_ptr(pg_sys::get_opname((*opexpr).opno))
                    .to_str()
                    .ok()?;
                let base = op_from_name(name)?;
                let (a, b) = (args[0] as *mut pg_sys::Node, args[1] as *mut pg_sys::Node);
                let (column, value, op) =
                    match (own_column(a, relid, columns), own_column(b, relid, columns)) {
                        (Some(c), None) => (c, b, base),
                        (None, Some(c)) if base != Op::Like => (c, a, base.commuted()),
                        _ => return None,
                    };
                let cat = category(column.type_oid)?;
                let value_cat = category(pg_sys::exprType(value))?;
                let comparable = cat == value_cat && (op != Op::Like || cat == Category::Text);
                if !comparable
                    || !collation_allows(op, cat, (*opexpr).inputcollid)
                    || !is_outside_value(root, value, relid)
                {
                    return None;
                }
                Some(ExtractedQual {
                    column: column.name.clone(),
                    op,
                    expr: value as _,
                    constant: constant_of(value),
                })
            }
            pg_sys::NodeTag::T_ScalarArrayOpExpr => {
                let sa = node as *mut pg_sys::ScalarArrayOpExpr;
                let args = list_ptrs((*sa).args);
                let name = CStr::from_ptr(pg_sys::get_opname((*sa).opno))
                    .to_str()
                    .ok()?;
                if !(*sa).useOr || name != "=" || args.len() != 2 {
                    return None;
                }
                let column = own_column(args[0] as _, relid, columns)?;
                let value = args[1] as *mut pg_sys::Node;
                let element = pg_sys::get_element_type(pg_sys::exprType(value));
                if category(column.type_oid)? != category(element)?
                    || !is_outside_value(root, value, relid)
                {
                    return None;
                }
                Some(ExtractedQual {
                    column: column.name.clone(),
                    op: Op::In,
                    expr: value as _,
                    constant: constant_of(value),
                })
            }
            pg_sys::NodeTag::T_NullTest => {
                let nt = node as *mut pg_sys::NullTest;
                if (*nt).argisrow {
                    return None;
                }
                let column = own_column((*nt).arg as _, relid, columns)?;
                let op = if (*nt).nulltesttype == pg_sys::NullTestType::IS_NULL {
                    Op::IsNull
                } else {
                    Op::IsNotNull
                };
                Some(ExtractedQual {
                    column: column.name.clone(),
                    op,
                    expr: std::ptr::null_mut(),
                    constant: Some(Value::Null),
                })
            }
            pg_sys::NodeTag::T_Var => {
                let column =
                    own_column(node, relid, columns).filter(|c| c.type_oid == pg_sys::BOOLOID)?;
                Some(ExtractedQual {
                    column: column.name.clone(),
                    op: Op::Eq,
                    expr: std::ptr::null_mut(),
                    constant: Some(Value::Bool(true)),
                })
            }
            pg_sys::NodeTag::T_BoolExpr => {
                let be = node as *mut pg_sys::BoolExpr;
                let args = list_ptrs((*be).args);
                if (*be).boolop != pg_sys::BoolExprType::NOT_EXPR || args.len() != 1 {
                    return None;
                }
                let column = own_column(args[0] as _, relid, columns)
                    .filter(|c| c.type_oid == pg_sys::BOOLOID)?;
                Some(ExtractedQual {
                    column: column.name.clone(),
                    op: Op::Eq,
                    expr: std::ptr::null_mut(),
                    constant: Some(Value::Bool(false)),
                })
            }
            _ => None,
        }
    }
}
