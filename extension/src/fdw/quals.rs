//! Planner expressions → pushable quals `column op value`.
//!
//! The value side may be any stable expression that does not reference the scanned
//! relation: a constant, an external parameter (`$1`), or an outer relation's column in
//! a parameterized path (the planner turns it into a `PARAM_EXEC`). Those expressions go
//! into the plan's `fdw_exprs` and are evaluated when the scan (re)starts.

use super::catalog::list_ptrs;
use super::collation::{text_order, TextOrder};
use super::pgtype::pg_type_of;
use super::PgColumn;
use odp_fdw::numeric::Numeric;
use odp_fdw::request::Op;
use odp_fdw::temporal::{POSTGRES_EPOCH_DAYS, POSTGRES_EPOCH_MICROS};
use odp_fdw::types::{Family, PgType};
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

/// The comparison family of a type OID, for types ODP pushes comparisons on.
fn family(oid: pg_sys::Oid) -> Option<Family> {
    pg_type_of(oid)?.family()
}

/// Converts a Datum of a supported scalar or array type into a [`Value`]; `None` when
/// it has no exact [`Value`] (then the qual is not pushed).
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
    // In every arm the caller's guarantee makes `datum` a non-null Datum of `type_oid`,
    // whose type is the one the arm matched.
    Some(match pg_type_of(type_oid)? {
        // SAFETY: a bool Datum.
        PgType::Bool => Value::Bool(unsafe { bool::from_datum(datum, false) }?),
        // SAFETY: an int2 Datum.
        PgType::Int2 => Value::Int(unsafe { i16::from_datum(datum, false) }? as i64),
        // SAFETY: an int4 Datum.
        PgType::Int4 => Value::Int(unsafe { i32::from_datum(datum, false) }? as i64),
        // SAFETY: an int8 Datum.
        PgType::Int8 => Value::Int(unsafe { i64::from_datum(datum, false) }?),
        // SAFETY: a float4 Datum.
        PgType::Float4 => Value::Float4(unsafe { f32::from_datum(datum, false) }?),
        // SAFETY: a float8 Datum.
        PgType::Float8 => Value::Float(unsafe { f64::from_datum(datum, false) }?),
        PgType::Numeric => {
            // SAFETY: a numeric Datum.
            let text = unsafe { AnyNumeric::from_datum(datum, false) }?.to_string();
            Value::Numeric(Numeric::parse(&text)?)
        }
        // SAFETY: a text or varchar Datum.
        PgType::Text | PgType::Varchar => Value::Text(unsafe { String::from_datum(datum, false) }?),
        PgType::Date => {
            // SAFETY: a date Datum (an int4 count of days).
            let days = unsafe { i32::from_datum(datum, false) }?;
            if days == i32::MIN || days == i32::MAX {
                return None;
            }
            Value::Date(days.checked_add(POSTGRES_EPOCH_DAYS)?)
        }
        PgType::Timestamp | PgType::TimestampTz => {
            // SAFETY: a timestamp or timestamptz Datum (an int8 count of microseconds).
            let micros = unsafe { i64::from_datum(datum, false) }?;
            if micros == i64::MIN || micros == i64::MAX {
                return None;
            }
            Value::Timestamp(micros.checked_add(POSTGRES_EPOCH_MICROS)?)
        }
        PgType::Array(element) => {
            element.family()?;
            // SAFETY: get_element_type looks any type OID up in the syscache.
            let element_oid = unsafe { pg_sys::get_element_type(type_oid) };
            // SAFETY: an array Datum of type `type_oid`.
            let array = unsafe {
                pgrx::Array::<pg_sys::Datum>::from_polymorphic_datum(datum, false, type_oid)
            }?;
            let mut items = Vec::with_capacity(array.len());
            for item in array.iter() {
                match item {
                    // SAFETY: the elements of an array of `type_oid` are non-null Datums
                    // of its element type.
                    Some(d) => items.push(unsafe { datum_to_value(d, false, element_oid) }?),
                    None => items.push(Value::Null),
                }
            }
            Value::List(items)
        }
        PgType::Bytea | PgType::Jsonb | PgType::Interval => return None,
    })
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
pub(super) unsafe fn strip_relabel(mut node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    // SAFETY: node is a valid expression node; RelabelType's arg is one too.
    unsafe {
        while !node.is_null() && (*node).type_ == pg_sys::NodeTag::T_RelabelType {
            node = (*(node as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
    }
    node
}

/// `column = value` for a boolean column tested alone (`WHERE flag`, `WHERE NOT flag`).
fn bool_qual(column: Option<&PgColumn>, value: bool) -> Option<ExtractedQual> {
    let column = column.filter(|c| pg_sys::Oid::from(c.type_oid) == pg_sys::BOOLOID)?;
    Some(ExtractedQual {
        column: column.name.clone(),
        op: Op::Eq,
        expr: std::ptr::null_mut(),
        constant: Some(Value::Bool(value)),
    })
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

/// Whether a comparison on a column of `family` under `collation` gives the answer a
/// source's byte-wise statistics and filters give: equality needs a deterministic
/// collation, ranges a byte-ordered one.
fn collation_allows(op: Op, family: Family, collation: pg_sys::Oid) -> bool {
    if family != Family::Text {
        return true;
    }
    let needed = match op {
        Op::Lt | Op::Le | Op::Gt | Op::Ge => TextOrder::Bytewise,
        _ => TextOrder::Deterministic,
    };
    text_order(collation) >= needed
}

/// The operator of a clause, if it is one of Postgres's built-in operators that ODP
/// knows: a user-defined operator named `=` may mean anything.
fn builtin_op(opno: pg_sys::Oid) -> Option<Op> {
    if opno.to_u32() >= pg_sys::FirstNormalObjectId {
        return None;
    }
    // SAFETY: get_opname returns a palloc'd copy of the name, or NULL.
    let name = unsafe { pg_sys::get_opname(opno) };
    if name.is_null() {
        return None;
    }
    // SAFETY: non-null names are NUL-terminated.
    op_from_name(unsafe { CStr::from_ptr(name) }.to_str().ok()?)
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

/// The pushable qual of one clause, if it is one.
///
/// # Safety
/// `root` must be the current planner invocation's and `node` a valid expression node
/// of one of its clauses.
unsafe fn extract_one(
    root: *mut pg_sys::PlannerInfo,
    relid: u32,
    node: *mut pg_sys::Node,
    columns: &[PgColumn],
) -> Option<ExtractedQual> {
    // SAFETY: the caller passes a valid node.
    let tag = unsafe { (*node).type_ };
    match tag {
        pg_sys::NodeTag::T_OpExpr => {
            let opexpr = node as *mut pg_sys::OpExpr;
            // SAFETY: the tag says `node` is an OpExpr, whose args are a List of
            // expression nodes.
            let (args, opno, collation) = unsafe {
                (
                    list_ptrs((*opexpr).args),
                    (*opexpr).opno,
                    (*opexpr).inputcollid,
                )
            };
            if args.len() != 2 {
                return None;
            }
            let base = builtin_op(opno)?;
            let (a, b) = (args[0] as *mut pg_sys::Node, args[1] as *mut pg_sys::Node);
            // SAFETY: both arguments of the OpExpr are valid expression nodes.
            let sides = unsafe { (own_column(a, relid, columns), own_column(b, relid, columns)) };
            let (column, value, op) = match sides {
                (Some(c), None) => (c, b, base),
                (None, Some(c)) if base != Op::Like => (c, a, base.commuted()),
                _ => return None,
            };
            let column_family = family(pg_sys::Oid::from(column.type_oid))?;
            // SAFETY: `value` is an argument of the OpExpr, a valid expression node.
            let value_type = unsafe { pg_sys::exprType(value) };
            let comparable = family(value_type) == Some(column_family)
                && (op != Op::Like || column_family == Family::Text);
            if !comparable || !collation_allows(op, column_family, collation) {
                return None;
            }
            // SAFETY: `root` is the caller's planner run and `value` an expression node
            // of one of its clauses.
            if !unsafe { is_outside_value(root, value, relid) } {
                return None;
            }
            Some(ExtractedQual {
                column: column.name.clone(),
                op,
                expr: value as _,
                // SAFETY: `value` is a valid expression node.
                constant: unsafe { constant_of(value) },
            })
        }
        pg_sys::NodeTag::T_ScalarArrayOpExpr => {
            let sa = node as *mut pg_sys::ScalarArrayOpExpr;
            // SAFETY: the tag says `node` is a ScalarArrayOpExpr, whose args are a List
            // of expression nodes.
            let (args, use_or, opno, collation) = unsafe {
                (
                    list_ptrs((*sa).args),
                    (*sa).useOr,
                    (*sa).opno,
                    (*sa).inputcollid,
                )
            };
            if !use_or || builtin_op(opno)? != Op::Eq || args.len() != 2 {
                return None;
            }
            // SAFETY: the first argument is a valid expression node.
            let column = unsafe { own_column(args[0] as _, relid, columns) }?;
            let value = args[1] as *mut pg_sys::Node;
            // SAFETY: `value` is a valid expression node; get_element_type takes any
            // type OID.
            let element = unsafe { pg_sys::get_element_type(pg_sys::exprType(value)) };
            let column_family = family(pg_sys::Oid::from(column.type_oid))?;
            if family(element) != Some(column_family)
                || !collation_allows(Op::In, column_family, collation)
            {
                return None;
            }
            // SAFETY: `root` is the caller's planner run and `value` an expression node
            // of one of its clauses.
            if !unsafe { is_outside_value(root, value, relid) } {
                return None;
            }
            Some(ExtractedQual {
                column: column.name.clone(),
                op: Op::In,
                expr: value as _,
                // SAFETY: `value` is a valid expression node.
                constant: unsafe { constant_of(value) },
            })
        }
        pg_sys::NodeTag::T_NullTest => {
            let nt = node as *mut pg_sys::NullTest;
            // SAFETY: the tag says `node` is a NullTest.
            let (argisrow, arg, test) = unsafe { ((*nt).argisrow, (*nt).arg, (*nt).nulltesttype) };
            if argisrow {
                return None;
            }
            // SAFETY: the argument of a NullTest is a valid expression node.
            let column = unsafe { own_column(arg as _, relid, columns) }?;
            let op = if test == pg_sys::NullTestType::IS_NULL {
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
            // SAFETY: the caller passes a valid node.
            bool_qual(unsafe { own_column(node, relid, columns) }, true)
        }
        pg_sys::NodeTag::T_BoolExpr => {
            let be = node as *mut pg_sys::BoolExpr;
            // SAFETY: the tag says `node` is a BoolExpr, whose args are a List of
            // expression nodes.
            let (args, boolop) = unsafe { (list_ptrs((*be).args), (*be).boolop) };
            if boolop != pg_sys::BoolExprType::NOT_EXPR || args.len() != 1 {
                return None;
            }
            // SAFETY: the argument is a valid expression node.
            bool_qual(unsafe { own_column(args[0] as _, relid, columns) }, false)
        }
        _ => None,
    }
}
