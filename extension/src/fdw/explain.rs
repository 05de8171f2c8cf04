//! EXPLAIN output of ODP's nodes.

use pgrx::pg_sys;
use std::ffi::CString;

/// Adds the property `label: value` to the EXPLAIN output.
///
/// # Safety
/// `es` must be the ExplainState of the running EXPLAIN.
pub(super) unsafe fn explain_text(es: *mut pg_sys::ExplainState, label: &str, value: &str) {
    let label = CString::new(label).unwrap_or_default();
    let value = CString::new(value).unwrap_or_default();
    // SAFETY: ExplainPropertyText copies both strings into the explain output.
    unsafe { pg_sys::ExplainPropertyText(label.as_ptr(), value.as_ptr(), es) }
}

/// Adds counters of one (re)scan to the running totals; non-numeric values are replaced.
pub(super) fn merge_totals(totals: &mut Vec<(String, String)>, lines: Vec<(String, String)>) {
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
