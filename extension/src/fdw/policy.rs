//! Row policies over foreign tables. Postgres refuses `CREATE POLICY` on foreign tables,
//! so ODP keeps them in `odp.row_policies` (`odp.create_row_policy`) and every ODP scan
//! applies them itself:
//!
//! - a policy is stored as its condition's text with its table's name (dumped and
//!   restored by name); each backend analyses it as `odp.create_row_policy` did, under
//!   `search_path = pg_catalog, pg_temp`, `TimeZone` UTC and `DateStyle` ISO, so no
//!   caller's settings change what it means;
//! - at planning, the policy's comparisons are pushed to the source like any qual (a
//!   Delta partition filter, a Redis key, a Cypher `WHERE`), and every plan over a table
//!   with policies depends on the current role (a cached plan is replanned after
//!   `SET ROLE`, also for roles the policies do not restrict);
//! - at execution, every row the source returns is checked against the policy inside
//!   the scan, before any other qual, join, function or error can see it: a restricted
//!   role never receives a forbidden row.
//!
//! The semantics are Postgres's own row security: superusers, roles with BYPASSRLS and
//! the table's owner are not restricted; for any other role the policies naming it (or
//! `public`) are ORed, and a table with policies but none for the role shows no rows.
//!
//! Each backend reads a table's policies once and keeps them until a relcache
//! invalidation of that table (sent by every change of `odp.row_policies`, see the
//! `row_policies_changed` trigger) drops them: planning a query costs no catalog query.

use super::catalog::{has_privs_of_role_named, AsSuperuser, PinnedSearchPath};
use crate::error::OdpError;
use pgrx::prelude::*;
use pgrx::spi::Spi;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::ptr;
use std::rc::Rc;

/// One stored policy: its name, analysed condition and the roles it names.
struct StoredPolicy {
    name: String,
    tree: String,
    roles: Vec<String>,
}

thread_local! {
    /// The policies of each table this backend has planned over, until invalidated.
    static POLICIES: RefCell<HashMap<pg_sys::Oid, Rc<Vec<StoredPolicy>>>> =
        RefCell::new(HashMap::new());
    /// Bumped by every relcache invalidation: a read that saw one start meanwhile is
    /// not cached.
    static INVALIDATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Registers the relcache callback that keeps the policy cache current (at load).
pub fn init() {
    // SAFETY: registers a function pointer that lives as long as the library.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(forget_policies), pg_sys::Datum::from(0)) };
}

/// Relcache callback: drops the cached policies of `relid` (of every table for
/// `InvalidOid`).
#[pg_guard]
unsafe extern "C-unwind" fn forget_policies(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    INVALIDATIONS.with(|n| n.set(n.get() + 1));
    POLICIES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if relid == pg_sys::InvalidOid {
            cache.clear();
        } else {
            cache.remove(&relid);
        }
    });
}

/// The policy that restricts the current role on one foreign table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationPolicy {
    /// names of the policies that apply (empty: none applies, every row is hidden)
    pub names: Vec<String>,
    /// their analysed conditions (`nodeToString` text): a visible row meets one
    pub trees: Vec<String>,
}

/// What the policies of a table mean for the current role.
pub struct Decision {
    /// the table has policies: plans over it depend on the role
    pub has_policies: bool,
    /// the restriction for the current role (`None`: it sees every row)
    pub policy: Option<RelationPolicy>,
}

/// The policies of `relid` for the current role.
pub fn for_relation(relid: pg_sys::Oid) -> Decision {
    let policies = policies_of(relid);
    if policies.is_empty() {
        return Decision {
            has_policies: false,
            policy: None,
        };
    }
    // SAFETY: reads the current role's catalog entries.
    let exempt = unsafe {
        let role = pg_sys::GetUserId();
        pg_sys::superuser()
            || pg_sys::has_bypassrls_privilege(role)
            || pg_sys::pg_class_ownercheck(relid, role)
    };
    let policy = (!exempt).then(|| {
        let (names, trees) = policies
            .iter()
            .filter(|p| p.roles.iter().any(|r| applies_to_current_role(r)))
            .map(|p| (p.name.clone(), p.tree.clone()))
            .unzip();
        RelationPolicy { names, trees }
    });
    Decision {
        has_policies: true,
        policy,
    }
}

/// The policies on `relid`: cached, or read and cached unless an invalidation came in
/// while reading.
fn policies_of(relid: pg_sys::Oid) -> Rc<Vec<StoredPolicy>> {
    if let Some(found) = POLICIES.with(|cache| cache.borrow().get(&relid).cloned()) {
        return found;
    }
    let before = INVALIDATIONS.with(Cell::get);
    // SAFETY: the pushed snapshot is popped below; an error pops it with the
    // (sub)transaction.
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetLatestSnapshot()) };
    let read = Rc::new(read_policies(relid));
    // SAFETY: pops the snapshot pushed above.
    unsafe { pg_sys::PopActiveSnapshot() };
    if INVALIDATIONS.with(Cell::get) == before && read_the_latest() {
        POLICIES.with(|cache| cache.borrow_mut().insert(relid, read.clone()));
    }
    read
}

/// Whether SPI read under the snapshot pushed by [`policies_of`] (the newest one, taken
/// after every invalidation this backend has processed), so what it read may be kept
/// until the next invalidation. SPI takes a snapshot of its own once the transaction
/// has written; under REPEATABLE READ that one is the transaction's, possibly older
/// than a policy change already processed.
fn read_the_latest() -> bool {
    // SAFETY: reads backend-global transaction state.
    unsafe {
        pg_sys::GetCurrentTransactionIdIfAny() == pg_sys::InvalidTransactionId
            || pg_sys::XactIsoLevel < pg_sys::XACT_REPEATABLE_READ as i32
    }
}

/// Reads the policies on `relid` from `odp.row_policies` and analyses their conditions
/// under the pinned `search_path` (as `odp.create_row_policy` did), so that no
/// `search_path` of the caller takes part. The statement names every operator, cast and
/// table with its schema.
fn read_policies(relid: pg_sys::Oid) -> Vec<StoredPolicy> {
    read_stored(relid)
        .into_iter()
        .map(|(name, condition, roles)| StoredPolicy {
            // SAFETY: runs in the planner's transaction on an existing relation.
            tree: unsafe { analyse_stored(relid, &condition) },
            name,
            roles,
        })
        .collect()
}

/// Analyses a policy condition as every backend reads it: as the bootstrap superuser
/// (so that no querying role needs USAGE on the schemas it names), under the pinned
/// `search_path` and with the settings that read constants fixed (`TimeZone` UTC,
/// `DateStyle` ISO), whoever created the policy or plans over the table.
///
/// # Safety
/// Must run in a transaction.
pub unsafe fn analyse_stored(relid: pg_sys::Oid, condition: &str) -> String {
    let _superuser = AsSuperuser::start();
    let _settings = PinnedSearchPath::for_expressions();
    // SAFETY: the caller's promise.
    unsafe { analyse(relid, condition) }
}

/// (name, condition, roles) of the policies stored for `relid`.
fn read_stored(relid: pg_sys::Oid) -> Vec<(String, String, Vec<String>)> {
    let _superuser = AsSuperuser::start();
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT p.name, p.using_expr, p.roles::pg_catalog.text[] FROM odp.row_policies p \
             WHERE p.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1 \
             ORDER BY p.name COLLATE \"C\"",
            None,
            &[relid.into()],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let name: Option<String> = row.get(1)?;
            let condition: Option<String> = row.get(2)?;
            let roles: Option<Vec<Option<String>>> = row.get(3)?;
            if let (Some(name), Some(condition)) = (name, condition) {
                let roles = roles.unwrap_or_default().into_iter().flatten().collect();
                out.push((name, condition, roles));
            }
        }
        Ok::<_, pgrx::spi::SpiError>(out)
    })
    .unwrap_or_else(|e| OdpError::Policy(format!("reading odp.row_policies: {e}")).report())
}

/// Whether a policy naming role `name` applies to the current role.
fn applies_to_current_role(name: &str) -> bool {
    name.eq_ignore_ascii_case("public") || has_privs_of_role_named(name)
}

/// The condition a row must meet under `policy`, ready to execute: its stored trees
/// ORed (`false` when none applies), planned (default arguments filled in); Vars of
/// range-table entry 1.
///
/// # Safety
/// Must run in a transaction; the result lives in the current memory context.
pub unsafe fn condition(policy: &RelationPolicy) -> *mut pg_sys::Node {
    // SAFETY: the trees were written by `analyse` from checked expressions.
    unsafe {
        let mut parsed: *mut pg_sys::List = ptr::null_mut();
        for tree in &policy.trees {
            let text = CString::new(tree.as_str())
                .unwrap_or_else(|_| OdpError::Policy("a stored tree holds a NUL".into()).report());
            parsed = pg_sys::lappend(parsed, pg_sys::stringToNode(text.as_ptr()));
        }
        let combined = match policy.trees.len() {
            0 => pg_sys::makeBoolConst(false, false),
            1 => super::catalog::list_ptrs(parsed)[0] as *mut pg_sys::Node,
            _ => {
                pg_sys::makeBoolExpr(pg_sys::BoolExprType::OR_EXPR, parsed, -1) as *mut pg_sys::Node
            }
        };
        pg_sys::expression_planner(combined as *mut pg_sys::Expr) as *mut pg_sys::Node
    }
}

/// Analyses a policy condition on `relid` with the current settings: one boolean
/// expression over the table's columns (no statement around it, no subqueries, no
/// set-returning functions, no whole-row references). Returns its tree as text.
///
/// # Safety
/// Must run in a transaction.
unsafe fn analyse(relid: pg_sys::Oid, condition: &str) -> String {
    let refuse = |why: &str| -> ! { OdpError::Policy(format!("the condition {why}")).report() };
    let sql = CString::new(format!("SELECT ({condition})"))
        .unwrap_or_else(|_| refuse("contains a NUL character"));
    // The parser and analyzer run in guarded calls: an ERROR becomes a Rust panic and
    // unwinds to the caller.
    // SAFETY: raw_parser reads a NUL-terminated statement text and returns a List of
    // RawStmt.
    let statements = unsafe {
        super::catalog::list_ptrs(pg_sys::raw_parser(
            sql.as_ptr(),
            pg_sys::RawParseMode::RAW_PARSE_DEFAULT,
        ))
    };
    let [raw] = statements.as_slice() else {
        refuse("must be one expression");
    };
    // SAFETY: the parser's RawStmt; its stmt is NULL or a parse node.
    let stmt = unsafe { (*(*raw as *mut pg_sys::RawStmt)).stmt };
    // SAFETY: a non-null `stmt` is a parse node.
    if stmt.is_null() || unsafe { (*stmt).type_ } != pg_sys::NodeTag::T_SelectStmt {
        refuse("must be one expression");
    }
    // SAFETY: the tag says `stmt` is a SelectStmt, made by the parser and not changed
    // while it is read here.
    let select = unsafe { &*(stmt as *mut pg_sys::SelectStmt) };
    // SAFETY: a SelectStmt's targetList is NIL or a List (of ResTarget).
    let targets = unsafe { super::catalog::list_ptrs(select.targetList) };
    let plain = select.op == pg_sys::SetOperation::SETOP_NONE
        && select.fromClause.is_null()
        && select.whereClause.is_null()
        && select.groupClause.is_null()
        && select.havingClause.is_null()
        && select.windowClause.is_null()
        && select.withClause.is_null()
        && select.sortClause.is_null()
        && select.limitCount.is_null()
        && select.limitOffset.is_null()
        && select.distinctClause.is_null()
        && select.intoClause.is_null()
        && select.lockingClause.is_null()
        && select.valuesLists.is_null()
        && targets.len() == 1;
    if !plain {
        refuse("must be one expression");
    }
    // SAFETY: the one target of a plain SELECT is a ResTarget.
    let raw_expr = unsafe { (*(targets[0] as *mut pg_sys::ResTarget)).val };
    // SAFETY: a new parse state whose one range-table entry is `relid`, an existing
    // relation, opened (and locked until the transaction ends) for the analysis.
    let (pstate, relation) = unsafe {
        let pstate = pg_sys::make_parsestate(ptr::null_mut());
        let relation = pg_sys::relation_open(relid, pg_sys::AccessShareLock as i32);
        let item = pg_sys::addRangeTableEntryForRelation(
            pstate,
            relation,
            pg_sys::AccessShareLock as i32,
            ptr::null_mut(),
            false,
            false,
        );
        pg_sys::addNSItemToQuery(pstate, item, false, true, true);
        (pstate, relation)
    };
    // SAFETY: `raw_expr` is the parsed expression and `pstate` the parse state over
    // `relid` made above.
    let expr = unsafe {
        let expr = pg_sys::transformExpr(pstate, raw_expr, pg_sys::ParseExprKind::EXPR_KIND_POLICY);
        let expr = pg_sys::coerce_to_boolean(pstate, expr, c"POLICY".as_ptr());
        pg_sys::assign_expr_collations(pstate, expr);
        expr
    };
    // SAFETY: `pstate` and `relation` were made above and are not used after this.
    let has_sublinks = unsafe {
        let has_sublinks = (*pstate).p_hasSubLinks;
        pg_sys::relation_close(relation, pg_sys::NoLock as i32);
        pg_sys::free_parsestate(pstate);
        has_sublinks
    };
    if has_sublinks {
        refuse("cannot contain subqueries");
    }
    // SAFETY: `expr` is the analysed expression tree.
    if unsafe { pg_sys::expression_returns_set(expr) } {
        refuse("cannot return a set");
    }
    let mut attrs: *mut pg_sys::Bitmapset = ptr::null_mut();
    // SAFETY: pull_varattnos walks the expression tree and adds the attributes of
    // range-table entry 1 to `attrs` (NULL: the empty set).
    let whole_row = unsafe {
        pg_sys::pull_varattnos(expr, 1, &mut attrs);
        pg_sys::bms_is_member(-pg_sys::FirstLowInvalidHeapAttributeNumber, attrs)
    };
    if whole_row {
        refuse("cannot reference the whole row");
    }
    // SAFETY: nodeToString returns the tree's text as a palloc'd NUL-terminated string.
    let text = unsafe { CStr::from_ptr(pg_sys::nodeToString(expr as *const std::ffi::c_void)) };
    text.to_string_lossy().into_owned()
}
