//! Which clauses a source applies exactly: Postgres then need not check them again,
//! and an aggregate over the scan may be computed below Postgres.

use super::quals::extract;
use super::Source;
use odp_fdw::request::Qual;
use pgrx::pg_sys;
use std::ptr;

/// Whether one clause (a RestrictInfo) is a constant qual the source applies exactly.
///
/// # Safety
/// `clause` must be a valid clause of relation `relid` in this planner run.
pub(super) unsafe fn applied_exactly<S: Source>(
    root: *mut pg_sys::PlannerInfo,
    relid: u32,
    clause: *mut std::ffi::c_void,
    source: &S,
    columns: &[super::PgColumn],
) -> bool {
    // SAFETY: the caller guarantees the clause is valid; lappend allocates a new list.
    let quals = unsafe {
        let single = pg_sys::lappend(ptr::null_mut(), clause);
        extract(root, relid, single, columns)
    };
    match quals.as_slice() {
        [q] => q.constant.as_ref().is_some_and(|value| {
            source.applies_exactly(&Qual::new(&q.column, q.op, value.clone()))
        }),
        _ => false,
    }
}
