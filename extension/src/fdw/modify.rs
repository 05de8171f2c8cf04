//! `FdwRoutine` write callbacks, generic over a [`Source`]: INSERT (row by row and in
//! batches), `COPY ... FROM`, UPDATE and DELETE. Rows are collected into Arrow batches
//! and handed to the transaction's [`super::SourceWriter`] (see [`super::xact`]), which
//! commits at pre-commit. UPDATE and DELETE name rows by the identity the scan put in
//! `ctid`; an UPDATE deletes the old row and writes the new one.

use super::catalog::table_context;
use super::memory::in_current_context;
use super::rows::{BufferColumn, RowBuffer, WriteError};
use super::xact::with_writer;
use super::{Source, TableContext};
use crate::error::{OdpError, OrReport, Result};
use odp_fdw::security::resource::Action;
use pgrx::{pg_guard, pg_sys};
use std::os::raw::c_int;

/// Rows collected before they are handed to the source.
const ROWS_PER_BATCH: usize = 8192;
/// Rows Postgres collects per `ExecForeignBatchInsert` call unless `batch_size` says.
/// ODP batches rows itself, and Postgres copies every row into a batch slot, so one
/// row per call is the fastest default (measured: about 15% faster INSERT ... SELECT).
const DEFAULT_INSERT_BATCH_SIZE: u64 = 1;

/// The state of one INSERT (or COPY) into a foreign table.
struct ModifyState<S: Source> {
    table: TableContext,
    source: S,
    buffer: RowBuffer,
    batch_size: c_int,
    /// the `ctid` junk column of the subplan (UPDATE, DELETE)
    ctid_column: pg_sys::AttrNumber,
    /// identities of rows to delete, not yet handed to the writer
    deleted: Vec<u64>,
    /// identities of the rows an UPDATE replaces, one per buffered row
    updated: Vec<u64>,
    /// identities of every row this statement updated or deleted: a join that returns
    /// a row twice (`UPDATE ... FROM` with two matching rows) changes it once, as Postgres
    /// does for a heap table (compressed: a few bits per row)
    changed: roaring::RoaringTreemap,
}

impl<S: Source> ModifyState<S> {
    fn open(relid: pg_sys::Oid) -> Result<ModifyState<S>> {
        let table = table_context(relid);
        super::resources::check(&S::resources(&table), Action::Write);
        S::check_local_write(&table)?;
        let source = S::open(&table)?;
        let writer_types = {
            let mut types = Vec::with_capacity(table.columns.len());
            with_writer(
                relid,
                || source.open_writer(&table),
                |writer| {
                    for column in &table.columns {
                        types.push(writer.input_type(column)?);
                    }
                    Ok(())
                },
            )?;
            types
        };
        let columns = table
            .columns
            .iter()
            .zip(writer_types)
            .map(|(column, arrow)| {
                let pg_type = column.pg_type("unsupported")?;
                Ok(BufferColumn {
                    name: column.name.clone(),
                    attnum: column.attnum,
                    pg_type,
                    type_oid: pg_sys::Oid::from(column.type_oid),
                    arrow,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let buffer = RowBuffer::new(columns).map_err(write_error)?;
        let batch_size = table
            .table
            .uint("batch_size")
            .unwrap_or(DEFAULT_INSERT_BATCH_SIZE)
            .clamp(1, 65_535) as c_int;
        Ok(ModifyState {
            table,
            source,
            buffer,
            batch_size,
            ctid_column: 0,
            deleted: Vec::new(),
            updated: Vec::new(),
            changed: roaring::RoaringTreemap::new(),
        })
    }

    /// Appends one row, handing a full batch to the writer.
    unsafe fn push(&mut self, slot: *mut pg_sys::TupleTableSlot) -> Result<()> {
        // SAFETY: the executor passes a slot of this relation's row type.
        unsafe { self.buffer.push(slot) }.map_err(write_error)?;
        if self.buffer.len() >= ROWS_PER_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// The identity of the row in `plan_slot`'s `ctid`.
    unsafe fn row_identity(&self, plan_slot: *mut pg_sys::TupleTableSlot) -> Result<u64> {
        let mut is_null = false;
        // SAFETY: ctid_column is the subplan's ctid junk column; its datum points to an
        // ItemPointerData in the plan slot.
        let id = unsafe {
            let datum = pg_sys::ExecGetJunkAttribute(plan_slot, self.ctid_column, &mut is_null);
            if is_null {
                return Err(OdpError::Unsupported("a row without identity".into()));
            }
            super::emit::row_id(&*(datum.cast_mut_ptr::<pg_sys::ItemPointerData>()))
        };
        Ok(id)
    }

    /// Records the deletion of the row whose identity is in `plan_slot`'s `ctid` (a
    /// DELETE, or the old row of an UPDATE that moves it to another partition).
    /// Returns `false` when the statement already changed that row (nothing is done).
    unsafe fn delete(&mut self, plan_slot: *mut pg_sys::TupleTableSlot) -> Result<bool> {
        // SAFETY: the caller passes the subplan's slot.
        let id = unsafe { self.row_identity(plan_slot) }?;
        if !self.changed.insert(id) {
            return Ok(false);
        }
        self.deleted.push(id);
        if self.deleted.len() >= ROWS_PER_BATCH {
            self.flush()?;
        }
        Ok(true)
    }

    /// Records an UPDATE: the row named in `plan_slot` is replaced by the row in `slot`.
    /// Returns `false` when the statement already changed that row (nothing is done).
    unsafe fn update(
        &mut self,
        plan_slot: *mut pg_sys::TupleTableSlot,
        slot: *mut pg_sys::TupleTableSlot,
    ) -> Result<bool> {
        // SAFETY: the caller passes the subplan's slot and a slot of the new row.
        unsafe {
            let id = self.row_identity(plan_slot)?;
            if !self.changed.insert(id) {
                return Ok(false);
            }
            self.updated.push(id);
            self.push(slot).map(|()| true)
        }
    }

    /// Hands the collected rows and deletions to the transaction's writer.
    fn flush(&mut self) -> Result<()> {
        let (source, table) = (&self.source, &self.table);
        if !self.deleted.is_empty() {
            let deleted = std::mem::take(&mut self.deleted);
            with_writer(
                pg_sys::Oid::from(table.relid),
                || source.open_writer(table),
                |w| w.delete(&deleted),
            )?;
        }
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = self.buffer.finish().map_err(write_error)?;
        let updated = std::mem::take(&mut self.updated);
        with_writer(
            pg_sys::Oid::from(table.relid),
            || source.open_writer(table),
            |w| {
                if updated.is_empty() {
                    w.write(&batch, false)
                } else {
                    w.update(&updated, &batch)
                }
            },
        )
    }
}

/// The SQL error of a row that could not be collected.
fn write_error(e: WriteError) -> OdpError {
    match e {
        WriteError::Type(m) => OdpError::Unsupported(m),
        WriteError::OutOfRange(m) => OdpError::OutOfRange(m),
        WriteError::Datetime(m) => OdpError::DatetimeOutOfRange(m),
    }
}

/// The state stored in a result relation, or `None` (EXPLAIN only).
///
/// # Safety
/// `rinfo` must be a result relation whose `ri_FdwState` is null or ours.
unsafe fn state<'a, S: Source>(
    rinfo: *mut pg_sys::ResultRelInfo,
) -> Option<&'a mut ModifyState<S>> {
    // SAFETY: ri_FdwState was set by begin_* to a ModifyState<S> or left null.
    unsafe { ((*rinfo).ri_FdwState as *mut ModifyState<S>).as_mut() }
}

/// `IsForeignRelUpdatable`: which commands the source accepts.
#[pg_guard]
pub unsafe extern "C-unwind" fn is_foreign_rel_updatable<S: Source>(
    rel: pg_sys::Relation,
) -> c_int {
    // SAFETY: Postgres passes an open foreign table.
    let relid = unsafe { (*rel).rd_id };
    let capabilities = S::capabilities(&super::catalog::foreign_table_options(relid));
    let mut commands = 0;
    if capabilities.insert {
        commands |= 1 << pg_sys::CmdType::CMD_INSERT;
    }
    if capabilities.update {
        commands |= (1 << pg_sys::CmdType::CMD_UPDATE) | (1 << pg_sys::CmdType::CMD_DELETE);
    }
    commands
}

/// `AddForeignUpdateTargets`: UPDATE and DELETE name rows by `ctid`, which the scan
/// fills with the source's row identity.
#[pg_guard]
pub unsafe extern "C-unwind" fn add_foreign_update_targets(
    root: *mut pg_sys::PlannerInfo,
    rtindex: pg_sys::Index,
    _target_rte: *mut pg_sys::RangeTblEntry,
    _target_relation: pg_sys::Relation,
) {
    // SAFETY: builds a Var of the target relation and registers it with the planner.
    unsafe {
        let var = pg_sys::makeVar(
            rtindex as _,
            pg_sys::SelfItemPointerAttributeNumber as pg_sys::AttrNumber,
            pg_sys::TIDOID,
            -1,
            pg_sys::InvalidOid,
            0,
        );
        pg_sys::add_row_identity_var(root, var, rtindex, c"ctid".as_ptr());
    }
}

/// `PlanForeignModify`: nothing to plan; every column is written.
#[pg_guard]
pub unsafe extern "C-unwind" fn plan_foreign_modify(
    _root: *mut pg_sys::PlannerInfo,
    _plan: *mut pg_sys::ModifyTable,
    _result_relation: pg_sys::Index,
    _subplan_index: c_int,
) -> *mut pg_sys::List {
    std::ptr::null_mut()
}

/// `BeginForeignModify`: opens the source and the transaction's writer, and finds the
/// `ctid` column UPDATE and DELETE take row identities from.
#[pg_guard]
pub unsafe extern "C-unwind" fn begin_foreign_modify<S: Source>(
    mtstate: *mut pg_sys::ModifyTableState,
    rinfo: *mut pg_sys::ResultRelInfo,
    _fdw_private: *mut pg_sys::List,
    _subplan_index: c_int,
    eflags: c_int,
) {
    if eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as c_int != 0 {
        return;
    }
    // SAFETY: rinfo is the executor's result relation; mtstate's outer plan is the
    // subplan producing the rows to modify.
    unsafe {
        begin::<S>(rinfo);
        if (*mtstate).operation != pg_sys::CmdType::CMD_INSERT {
            let subplan = (*(*mtstate).ps.lefttree).plan;
            let ctid =
                pg_sys::ExecFindJunkAttributeInTlist((*subplan).targetlist, c"ctid".as_ptr());
            if let Some(state) = state::<S>(rinfo) {
                state.ctid_column = ctid;
            }
        }
    }
}

/// `BeginForeignInsert` (COPY FROM, partition routing).
#[pg_guard]
pub unsafe extern "C-unwind" fn begin_foreign_insert<S: Source>(
    _mtstate: *mut pg_sys::ModifyTableState,
    rinfo: *mut pg_sys::ResultRelInfo,
) {
    // SAFETY: rinfo is the executor's result relation, open for this statement.
    unsafe { begin::<S>(rinfo) }
}

unsafe fn begin<S: Source>(rinfo: *mut pg_sys::ResultRelInfo) {
    // SAFETY: rinfo and its relation descriptor are valid for the statement.
    unsafe {
        let relid = (*(*rinfo).ri_RelationDesc).rd_id;
        let state = ModifyState::<S>::open(relid).or_report();
        (*rinfo).ri_FdwState = in_current_context(state) as *mut _;
    }
}

/// `ExecForeignInsert`: one row.
#[pg_guard]
pub unsafe extern "C-unwind" fn exec_foreign_insert<S: Source>(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    _plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: the state was set by begin; the slot holds the new row.
    unsafe {
        if let Some(state) = state::<S>(rinfo) {
            state.push(slot).or_report();
        }
    }
    slot
}

/// `ExecForeignBatchInsert`: `*num_slots` rows.
#[pg_guard]
pub unsafe extern "C-unwind" fn exec_foreign_batch_insert<S: Source>(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slots: *mut *mut pg_sys::TupleTableSlot,
    _plan_slots: *mut *mut pg_sys::TupleTableSlot,
    num_slots: *mut c_int,
) -> *mut *mut pg_sys::TupleTableSlot {
    // SAFETY: slots holds *num_slots rows of this relation; the state was set by begin.
    unsafe {
        if let Some(state) = state::<S>(rinfo) {
            for i in 0..(*num_slots).max(0) as usize {
                state.push(*slots.add(i)).or_report();
            }
        }
    }
    slots
}

/// `ExecForeignUpdate`: deletes the old row and writes the new one.
#[pg_guard]
pub unsafe extern "C-unwind" fn exec_foreign_update<S: Source>(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: the state was set by begin; slot holds the whole new row, plan_slot the
    // old row's ctid.
    unsafe {
        if let Some(state) = state::<S>(rinfo) {
            if !state.update(plan_slot, slot).or_report() {
                // already updated by this statement: not counted, not returned
                return std::ptr::null_mut();
            }
        }
    }
    slot
}

/// `ExecForeignDelete`: deletes the row.
#[pg_guard]
pub unsafe extern "C-unwind" fn exec_foreign_delete<S: Source>(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: the state was set by begin; plan_slot holds the row's ctid.
    unsafe {
        if let Some(state) = state::<S>(rinfo) {
            if !state.delete(plan_slot).or_report() {
                // already deleted by this statement: not counted, not returned
                return std::ptr::null_mut();
            }
        }
    }
    slot
}

/// `GetForeignModifyBatchSize`: the table's `batch_size` option.
#[pg_guard]
pub unsafe extern "C-unwind" fn get_foreign_modify_batch_size<S: Source>(
    rinfo: *mut pg_sys::ResultRelInfo,
) -> c_int {
    // SAFETY: the state is ours or absent (then rows come one at a time).
    unsafe { state::<S>(rinfo).map(|s| s.batch_size).unwrap_or(1) }
}

/// `EndForeignModify` / `EndForeignInsert`: hands the last rows to the writer; they are
/// committed with the transaction.
#[pg_guard]
pub unsafe extern "C-unwind" fn end_foreign_modify<S: Source>(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
) {
    // SAFETY: the state is ours or absent (EXPLAIN only).
    unsafe {
        if let Some(state) = state::<S>(rinfo) {
            state.flush().or_report();
        }
    }
}
