//! Writes tied to Postgres transactions: one [`SourceWriter`] per foreign table and
//! transaction, committed at pre-commit (an error there aborts the transaction), dropped
//! on abort, and rolled back to a mark when a subtransaction (savepoint) aborts.
//!
//! Marks follow subtransactions: the first write in subtransaction `s` records the
//! writer's mark under `s`; aborting `s` returns to the earliest mark recorded at `s` or
//! deeper; committing `s` hands its marks to the parent.

use super::SourceWriter;
use crate::error::{OdpError, OrReport, Result};
use pgrx::{pg_guard, pg_sys};
use std::cell::RefCell;

/// The subtransaction id of the top level.
const TOP_SUBTRANSACTION: pg_sys::SubTransactionId = 1;

/// One foreign table's writes in the current transaction.
struct Pending {
    relid: pg_sys::Oid,
    writer: Box<dyn SourceWriter>,
    /// (subtransaction, mark) in increasing subtransaction order
    marks: Vec<(pg_sys::SubTransactionId, usize)>,
}

thread_local! {
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

/// Registers the transaction callbacks (once, when the library is loaded).
pub fn init() {
    // SAFETY: registers static functions with null arguments; done once per backend.
    unsafe {
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
    }
}

/// Runs `write` on the transaction's writer for `relid`, opening it with `open` on the
/// first write, and marking it when a savepoint is newer than its last mark.
pub fn with_writer(
    relid: pg_sys::Oid,
    open: impl FnOnce() -> Result<Box<dyn SourceWriter>>,
    write: impl FnOnce(&mut dyn SourceWriter) -> Result<()>,
) -> Result<()> {
    // SAFETY: reads the current subtransaction id of this backend.
    let current = unsafe { pg_sys::GetCurrentSubTransactionId() };
    let index = PENDING.with_borrow(|pending| pending.iter().position(|p| p.relid == relid));
    let index = match index {
        Some(i) => i,
        None => {
            let writer = open()?;
            PENDING.with_borrow_mut(|pending| {
                pending.push(Pending {
                    relid,
                    writer,
                    marks: Vec::new(),
                });
                pending.len() - 1
            })
        }
    };
    PENDING.with_borrow_mut(|pending| {
        let entry = &mut pending[index];
        let newest = entry
            .marks
            .last()
            .map(|m| m.0)
            .unwrap_or(TOP_SUBTRANSACTION);
        if current > newest {
            let mark = entry.writer.savepoint()?;
            entry.marks.push((current, mark));
        }
        write(entry.writer.as_mut())
    })
}

/// Fails when the current transaction already changed the foreign table `relid`: its
/// scans do not see the transaction's own uncommitted changes yet, so reading the table
/// again before COMMIT could return (and an UPDATE rewrite) rows it already changed.
pub fn ensure_unchanged(relid: pg_sys::Oid) -> Result<()> {
    let changed = PENDING.with_borrow(|pending| {
        pending
            .iter()
            .any(|p| p.relid == relid && !p.writer.is_empty())
    });
    if changed {
        return Err(OdpError::NotSupported(
            "reading a foreign table again in the transaction that changed it (COMMIT first)",
        ));
    }
    Ok(())
}

/// Commits every pending writer; the first failure raises an ERROR, which aborts the
/// transaction (writers not committed yet are dropped with it).
fn commit_all() {
    let mut writers = PENDING.with_borrow_mut(std::mem::take);
    writers.sort_by_key(|pending| pending.writer.commits_last());
    for mut pending in writers {
        if let Some(done) = pending.writer.commit().or_report() {
            pgrx::debug1!("odp: {done}");
        }
    }
    crate::sources::commit_shared().or_report();
}

#[pg_guard]
unsafe extern "C-unwind" fn xact_callback(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_COMMIT => commit_all(),
        pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE
            if PENDING.with_borrow(|pending| !pending.is_empty()) =>
        {
            OdpError::NotSupported("PREPARE TRANSACTION after writing to a foreign table").report();
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT
        | pg_sys::XactEvent::XACT_EVENT_COMMIT
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT => {
            // Dropping a writer aborts its open uploads; written files stay unreferenced.
            PENDING.with_borrow_mut(Vec::clear);
            odp_fdw::rowid::forget_all();
            super::lookahead::forget_all();
            crate::sources::abandon_shared();
        }
        _ => {}
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    subxact: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    PENDING.with_borrow_mut(|pending| {
        for entry in pending.iter_mut() {
            let first = entry.marks.iter().position(|m| m.0 >= subxact);
            match (event, first) {
                (pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB, Some(i)) => {
                    entry.writer.rollback_to(entry.marks[i].1);
                    entry.marks.truncate(i);
                }
                (pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB, Some(i)) => {
                    // The earliest mark of the committed subtree now belongs to the parent.
                    let mark = entry.marks[i].1;
                    entry.marks.truncate(i);
                    if entry.marks.last().map(|m| m.0) != Some(parent)
                        && parent > TOP_SUBTRANSACTION
                    {
                        entry.marks.push((parent, mark));
                    }
                }
                _ => {}
            }
        }
    });
}
