//! Writes tied to Postgres transactions: one [`SourceWriter`] per foreign table and
//! transaction, committed at pre-commit, dropped on abort, and rolled back to a mark
//! when a subtransaction (savepoint) aborts.
//!
//! The commit protocol (docs/transactions.md): at pre-commit every writer first
//! prepares (all that can fail while nothing is visible; an error aborts the whole
//! transaction), then Postgres's own serialization check runs early, then interrupts are
//! held and each writer takes its one atomic step, in [`CommitOrder`]. A failed step
//! before any other landed aborts the transaction; after one landed, the COMMIT goes on
//! and the failure is a WARNING (the client must not retry what already landed).
//! Interrupts stay held until the transaction ends, and a cancel that arrived meanwhile
//! is dropped: it came too late to stop the commit.
//!
//! Marks follow subtransactions: the first write in subtransaction `s` records the
//! writer's mark under `s`; aborting `s` returns to the earliest mark recorded at `s` or
//! deeper; committing `s` hands its marks to the parent.

use super::SourceWriter;
use crate::error::{OdpError, OrReport, Result};
use odp_fdw::source::TransactionParticipant;
use pgrx::{pg_guard, pg_sys};
use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;

/// The subtransaction id of the top level.
const TOP_SUBTRANSACTION: pg_sys::SubTransactionId = 1;

/// One foreign table's writes in the current transaction.
struct Pending {
    relid: pg_sys::Oid,
    writer: Box<dyn SourceWriter>,
    /// (subtransaction, mark) in increasing subtransaction order
    marks: Vec<(pg_sys::SubTransactionId, usize)>,
}

/// A table's changes as the scans of one command see them (`None`: none), taken at
/// the command's first scan of it: every scan of a statement sees the changes of the
/// statements before it, never its own, however late it starts.
struct View {
    relid: pg_sys::Oid,
    command: pg_sys::CommandId,
    changes: Option<Rc<dyn Any>>,
}

thread_local! {
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    /// Whether pre-commit holds interrupts that the end of the transaction releases.
    static HOLDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Writers whose after-commit work waits for Postgres's own commit.
    static AFTER_COMMIT: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    /// The views of the transaction's changes taken by the current commands' scans.
    static VIEWS: RefCell<Vec<View>> = const { RefCell::new(Vec::new()) };
}

/// Test-only fault points of the commit path (see `odp_fdw::fault`), superuser-only.
static TEST_FAULT: pgrx::GucSetting<Option<std::ffi::CString>> =
    pgrx::GucSetting::<Option<std::ffi::CString>>::new(None);

unsafe extern "C-unwind" {
    /// Postgres's commit-time serialization check (storage/predicate.h), not in pgrx's
    /// bindings; it runs again, harmlessly, when CommitTransaction calls it after the
    /// pre-commit callbacks. May raise ERROR: call it through the FFI guard.
    fn PreCommit_CheckForSerializationFailure();
}

/// The participants of every transaction (sources' and the extension's own).
static PARTICIPANTS: OnceLock<Vec<&'static dyn TransactionParticipant>> = OnceLock::new();

/// Registers the transaction callbacks and the participants they call (once, at load).
pub fn init(participants: Vec<&'static dyn TransactionParticipant>) {
    let _ = PARTICIPANTS.set(participants);
    pgrx::GucRegistry::define_string_guc(
        c"odp.test_fault",
        c"Test only: fault points of the commit path (point:sleep=MS or point:error, comma-separated).",
        c"Used by ODP's tests to cancel, kill or fail a COMMIT at a chosen step; leave empty.",
        &TEST_FAULT,
        pgrx::GucContext::Suset,
        pgrx::GucFlags::NO_SHOW_ALL,
    );
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
    open: impl FnOnce() -> odp_fdw::source::Result<Box<dyn SourceWriter>>,
    write: impl FnOnce(&mut dyn SourceWriter) -> odp_fdw::source::Result<()>,
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
        // SAFETY: marks this command as one that wrote, as a heap write does, so the
        // next statement gets a new command id (and a new view of the changes).
        unsafe { pg_sys::GetCurrentCommandId(true) };
        Ok(write(entry.writer.as_mut())?)
    })
}

/// The current transaction's changes to the foreign table `relid` as a scan of this
/// statement must see them (`None`: it changed nothing), from the source's writer (see
/// [`SourceWriter::pending_view`]); a source that cannot show them fails (`0A000`).
pub fn pending_view(relid: pg_sys::Oid) -> Result<Option<Rc<dyn Any>>> {
    // SAFETY: reads the current command id; writes mark it used (see `with_writer`), so
    // a statement after a write has a new one.
    let command = unsafe { pg_sys::GetCurrentCommandId(false) };
    let taken = VIEWS.with_borrow(|views| {
        views
            .iter()
            .find(|v| v.relid == relid && v.command == command)
            .map(|v| v.changes.clone())
    });
    if let Some(changes) = taken {
        return Ok(changes);
    }
    let changes = PENDING.with_borrow_mut(|pending| {
        let Some(entry) = pending
            .iter_mut()
            .find(|p| p.relid == relid && !p.writer.is_empty())
        else {
            return Ok(None);
        };
        match entry.writer.pending_view()? {
            Some(view) => Ok(Some(Rc::<dyn Any>::from(view))),
            None => Err(unchanged_error()),
        }
    })?;
    VIEWS.with_borrow_mut(|views| {
        views.retain(|v| v.relid != relid);
        views.push(View {
            relid,
            command,
            changes: changes.clone(),
        });
    });
    Ok(changes)
}

fn unchanged_error() -> OdpError {
    OdpError::not_supported(
        "reading this foreign table again in the transaction that changed it (COMMIT first)",
    )
}

/// Whether the current transaction changed the foreign table `relid`.
pub fn changed(relid: pg_sys::Oid) -> bool {
    PENDING.with_borrow(|pending| {
        pending
            .iter()
            .any(|p| p.relid == relid && !p.writer.is_empty())
    })
}

/// Fails when the current transaction already changed the foreign table `relid`: for
/// paths that cannot merge the transaction's own changes (parallel workers, direct
/// deletes planned before the change).
pub fn ensure_unchanged(relid: pg_sys::Oid) -> Result<()> {
    let changed = PENDING.with_borrow(|pending| {
        pending
            .iter()
            .any(|p| p.relid == relid && !p.writer.is_empty())
    });
    if changed {
        return Err(unchanged_error());
    }
    Ok(())
}

/// The current value of `odp.test_fault` (empty when unset).
pub fn fault_setting() -> String {
    TEST_FAULT
        .get()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Passes a fault point of the core's commit path.
fn fault_point(name: &str) -> Result<()> {
    Ok(odp_fdw::fault::point(name)?)
}

/// The registered participants.
fn participants() -> impl Iterator<Item = &'static dyn TransactionParticipant> {
    PARTICIPANTS.get().into_iter().flatten().copied()
}

/// Commits every pending writer by the protocol in the module comment.
fn commit_all() {
    let mut writers = PENDING.with_borrow_mut(std::mem::take);
    // (shared transactions can be opened outside table writers: odp.cypher writes)
    if writers.is_empty() && !participants().any(|p| p.has_pending()) {
        return;
    }
    writers.sort_by_key(|pending| pending.writer.commit_order());
    // 1. Prepare: an error aborts the transaction with nothing visible anywhere.
    for pending in &mut writers {
        fault_point("commit.prepare").or_report();
        pending.writer.prepare().or_report();
    }
    // 2. Postgres's own serialization failure (40001) must come before any atomic
    //    step, not after the callbacks as CommitTransaction checks it.
    // SAFETY: reads the backend's isolation level.
    if unsafe { pg_sys::XactIsoLevel } == pg_sys::XACT_SERIALIZABLE as i32 {
        // SAFETY: called at pre-commit of a serializable transaction, as
        // CommitTransaction itself does; its ERROR is caught by the FFI guard.
        unsafe { pg_sys::ffi::pg_guard_ffi_boundary(|| PreCommit_CheckForSerializationFailure()) };
    }
    // 3. The atomic steps, interrupts held until the transaction ends.
    hold_interrupts();
    let mut landed: Vec<String> = Vec::new();
    for (index, pending) in writers.iter_mut().enumerate() {
        let fault = match index {
            0 => Ok(()),
            _ => fault_point("commit.between_writers"),
        };
        record_step(
            fault.and_then(|()| Ok(pending.writer.commit()?)),
            &mut landed,
        );
    }
    // (the fault point stands in for a failed shared commit: nothing shared lands)
    match fault_point("commit.before_shared") {
        Err(e) => record_step(Err(e), &mut landed),
        Ok(()) => {
            for participant in participants() {
                record_step(participant.commit().map_err(OdpError::from), &mut landed);
            }
        }
    }
    if let Err(e) = fault_point("commit.done") {
        pgrx::warning!("odp: after COMMIT: {e}");
    }
    // 4. After Postgres's own commit, best effort (see `xact_callback`).
    AFTER_COMMIT.set(writers);
}

/// Takes the outcome of one atomic step: a failure before any step landed aborts the
/// transaction; after one landed it is a WARNING, since a client retrying the COMMIT
/// would write the landed part twice.
fn record_step(outcome: Result<Option<String>>, landed: &mut Vec<String>) {
    match outcome {
        Ok(Some(done)) => {
            pgrx::debug1!("odp: {done}");
            landed.push(done);
        }
        Ok(None) => {}
        Err(e) if landed.is_empty() && !e.partly_landed() => e.report(),
        Err(e) => {
            pgrx::warning!(
                "odp: COMMIT went ahead because changes already landed ({}), \
                 but a later part failed and its changes are lost: {e}",
                match landed.is_empty() {
                    true => "part of the failed step".to_string(),
                    false => landed.join("; "),
                }
            );
            landed.push(e.to_string());
        }
    }
}

/// Holds interrupts from the first atomic step to the end of the transaction.
fn hold_interrupts() {
    crate::hold_interrupts();
    HOLDING.set(true);
}

/// Ends the hold of [`hold_interrupts`] at the end of a committed transaction; a
/// cancel that arrived during the commit is dropped (the commit went ahead).
fn release_interrupts(committed: bool) {
    if !HOLDING.replace(false) {
        return;
    }
    // An ERROR resets the holdoff counter (errfinish): after an abort there is
    // nothing left to release.
    if committed {
        // SAFETY: clears the backend's pending-cancel flag, as Postgres does when it
        // ignores a cancel that arrived too late.
        unsafe { pg_sys::QueryCancelPending = 0 };
        crate::resume_interrupts();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn xact_callback(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_COMMIT => {
            participants().for_each(|p| p.before_commit());
            commit_all()
        }
        pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE
            if PENDING.with_borrow(|pending| !pending.is_empty()) =>
        {
            OdpError::not_supported("PREPARE TRANSACTION after writing to a foreign table")
                .report();
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT
        | pg_sys::XactEvent::XACT_EVENT_COMMIT
        | pg_sys::XactEvent::XACT_EVENT_PREPARE
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT => {
            let committed = event == pg_sys::XactEvent::XACT_EVENT_COMMIT;
            // After-commit work (a Delta checkpoint) runs once Postgres's commit record
            // is written; its failures are warnings. Interrupts are still held.
            for mut pending in AFTER_COMMIT.take() {
                if committed {
                    pending.writer.after_commit();
                }
            }
            release_interrupts(committed);
            // Dropping a writer aborts its open uploads; written files stay unreferenced.
            PENDING.with_borrow_mut(Vec::clear);
            VIEWS.with_borrow_mut(Vec::clear);
            odp_fdw::rowid::forget_all();
            super::lookahead::forget_all();
            participants().for_each(|p| p.transaction_ended());
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
                    VIEWS.with_borrow_mut(|views| views.retain(|v| v.relid != entry.relid));
                }
                (pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB, Some(i)) => {
                    // The earliest mark of the committed subtree now belongs to the parent.
                    let mark = entry.marks[i].1;
                    entry.marks.truncate(i);
                    if entry.marks.last().map(|m| m.0) != Some(parent)
                        && parent > TOP_SUBTRANSACTION
                    {
                        entry.marks.push((parent, mark));
                        entry.writer.release(mark + 1);
                    } else {
                        entry.writer.release(mark);
                    }
                }
                _ => {}
            }
        }
    });
}
