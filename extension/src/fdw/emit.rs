//! Rows out of a node: each batch's Arrow columns become Datums of the node's column
//! types (in a memory context reset per batch), stored one row at a time in the node's
//! slot. Shared by the scan and aggregate executors.

use super::datum::{fits_length, BatchColumn, TypedColumn};
use super::pgtype::pg_type_of;
use crate::error::OdpError;
use odp_fdw::batch::ScanBatch;
use odp_fdw::source::SourceError;
use odp_fdw::types::PgType;
use pgrx::{pg_sys, PgMemoryContexts};

/// The rows of the current batch of one node, and how to convert the next.
pub(super) struct Emitter {
    /// the node's output columns (name, attribute number in the node's tuple)
    columns: Vec<(String, i16)>,
    targets: Vec<PgType>,
    /// the length limit of each `varchar(n)` column, checked on every value read
    length_limits: Vec<Option<usize>>,
    batch_context: PgMemoryContexts,
    batch: Option<(usize, Vec<BatchColumn>, Option<Vec<u64>>)>,
    row: usize,
}

impl Emitter {
    /// The emitter of `columns` of the node's scan tuple.
    ///
    /// # Safety
    /// `node` must be the executor's state of a ForeignScan whose scan tuple has the
    /// attributes `columns` name.
    pub(super) unsafe fn new(
        node: *mut pg_sys::ForeignScanState,
        columns: &[(String, i16)],
    ) -> Emitter {
        // SAFETY: the node's scan slot has its descriptor (the scanned relation's
        // columns, or an aggregate scan's fdw_scan_tlist) with natts attributes.
        let attributes = unsafe {
            let descriptor = (*(*node).ss.ss_ScanTupleSlot).tts_tupleDescriptor;
            (*descriptor).attrs.as_slice((*descriptor).natts as usize)
        };
        let attribute = |attnum: i16| &attributes[(attnum - 1) as usize];
        let length_limits = columns
            .iter()
            .map(|(_, attnum)| {
                let attribute = attribute(*attnum);
                (attribute.atttypid == pg_sys::VARCHAROID
                    && attribute.atttypmod >= pg_sys::VARHDRSZ as i32)
                    .then(|| (attribute.atttypmod - pg_sys::VARHDRSZ as i32) as usize)
            })
            .collect();
        let targets = columns
            .iter()
            .map(|(name, attnum)| {
                let type_oid = attribute(*attnum).atttypid;
                pg_type_of(type_oid).unwrap_or_else(|| {
                    let pg_type = super::catalog::type_name(type_oid);
                    OdpError::from(SourceError::column_type(name, &pg_type, "unsupported")).report()
                })
            })
            .collect();
        // A child of the query context: deleted with it, so it is never freed twice.
        // SAFETY: creates a memory context under the current one (the query's).
        let batch_context = PgMemoryContexts::For(unsafe {
            pg_sys::AllocSetContextCreateInternal(
                pg_sys::CurrentMemoryContext,
                c"odp scan batch".as_ptr(),
                0,
                8 * 1024,
                8 * 1024 * 1024,
            )
        });
        Emitter {
            columns: columns.to_vec(),
            targets,
            length_limits,
            batch_context,
            batch: None,
            row: 0,
        }
    }

    /// Converts the rows of `batch`, replacing the previous batch. Under a row policy
    /// (`restricted`) lengths are checked per returned row instead
    /// ([`Emitter::check_lengths`]), and errors withhold their details: an error about
    /// a row the role may not see would tell of it.
    pub(super) fn load(&mut self, batch: ScanBatch, restricted: bool) {
        self.batch = None;
        // SAFETY: the context holds only the previous batch's Datums, dropped above; the
        // slot may still hold the last row stored from them, but it is not read before
        // the next `store_next` (which clears it first) or the node's ExecClearTuple.
        unsafe { self.batch_context.reset() };
        let too_long = batch
            .columns
            .iter()
            .zip(&self.length_limits)
            .zip(&self.columns)
            .find_map(|((column, limit), (name, _))| {
                limit
                    .filter(|l| !fits_length(column, *l))
                    .map(|limit| OdpError::TooLong {
                        column: name.clone(),
                        limit,
                    })
            })
            .filter(|_| !restricted);
        if let Some(e) = too_long {
            e.report();
        }
        let targets = &self.targets;
        let rows = batch.num_rows;
        // SAFETY: the batch's Datums are allocated in the batch context, which lives
        // until the next batch (or the query's end).
        let columns = unsafe {
            self.batch_context.switch_to(|_| {
                batch
                    .columns
                    .iter()
                    .zip(targets)
                    .map(|(c, t)| TypedColumn::prepare(c, t)?.materialize(rows))
                    .collect::<Result<Vec<_>, _>>()
            })
        };
        let columns = columns
            .unwrap_or_else(|e| withheld_if(restricted, OdpError::Unsupported(e.0)).report());
        self.batch = Some((rows, columns, batch.row_ids));
        self.row = 0;
    }

    /// Stores the next row of the batch in `slot` (with its identity in `ctid` when the
    /// batch has them); false when the batch has no more rows.
    ///
    /// # Safety
    /// `slot` must be the node's scan slot.
    pub(super) unsafe fn store_next(&mut self, slot: *mut pg_sys::TupleTableSlot) -> bool {
        let Some((rows, columns, row_ids)) = &self.batch else {
            return false;
        };
        if self.row >= *rows {
            return false;
        }
        // SAFETY: the caller guarantees the node's slot, whose descriptor the columns
        // were converted for.
        unsafe {
            fill_slot(slot, &self.columns, columns, self.row);
            if let Some(ids) = row_ids {
                (*slot).tts_tid = item_pointer(ids[self.row]);
            }
        }
        self.row += 1;
        true
    }

    /// Forgets the current batch (the scan ended or starts again).
    pub(super) fn clear(&mut self) {
        self.batch = None;
    }

    /// Fails when a `varchar(n)` column of the row in `slot` holds more than `n`
    /// characters.
    ///
    /// # Safety
    /// `slot` must hold a row stored by [`Emitter::store_next`].
    pub(super) unsafe fn check_lengths(&self, slot: *mut pg_sys::TupleTableSlot) {
        for ((name, attnum), limit) in self.columns.iter().zip(&self.length_limits) {
            let Some(limit) = *limit else { continue };
            let index = (*attnum - 1) as usize;
            // SAFETY: the caller guarantees a filled slot; varchar values are text datums.
            let text = unsafe {
                if *(*slot).tts_isnull.add(index) {
                    continue;
                }
                <&str as pgrx::FromDatum>::from_datum(*(*slot).tts_values.add(index), false)
            };
            if text.is_some_and(|t| t.len() > limit && t.chars().count() > limit) {
                OdpError::TooLong {
                    column: name.clone(),
                    limit,
                }
                .report();
            }
        }
    }
}

/// `error` as it may be shown: under a row policy only its SQLSTATE, since its message
/// may quote values of rows the role may not see.
pub(super) fn withheld_if(restricted: bool, error: impl Into<OdpError>) -> OdpError {
    let error = error.into();
    if restricted {
        OdpError::Withheld(error.class())
    } else {
        error
    }
}

/// Unwraps a result of reading the source, withholding the error's details under a
/// row policy ([`withheld_if`]).
pub(super) fn or_withheld<T>(result: odp_fdw::source::Result<T>, restricted: bool) -> T {
    result.unwrap_or_else(|e| withheld_if(restricted, e).report())
}

/// A row identity (48 bits) as the `ctid` of a tuple.
pub fn item_pointer(id: u64) -> pg_sys::ItemPointerData {
    let block = (id >> 16) as u32;
    pg_sys::ItemPointerData {
        ip_blkid: pg_sys::BlockIdData {
            bi_hi: (block >> 16) as u16,
            bi_lo: block as u16,
        },
        ip_posid: id as u16,
    }
}

/// The row identity a `ctid` holds.
pub fn row_id(tid: &pg_sys::ItemPointerData) -> u64 {
    let block = ((tid.ip_blkid.bi_hi as u64) << 16) | tid.ip_blkid.bi_lo as u64;
    (block << 16) | tid.ip_posid as u64
}

/// Stores row `row` of the batch in `slot`: one guarded call per row
/// (`ExecStoreAllNullTuple` clears the slot and marks every column NULL), then the
/// non-NULL Datums are copied in place.
///
/// # Safety
/// `slot` must have a descriptor with the attributes `columns` name.
unsafe fn fill_slot(
    slot: *mut pg_sys::TupleTableSlot,
    columns: &[(String, i16)],
    data: &[BatchColumn],
    row: usize,
) {
    // SAFETY: the slot has the node's descriptor, so natts values and nulls; a stored
    // virtual tuple reads them when the executor asks, after we return.
    unsafe {
        pg_sys::ExecStoreAllNullTuple(slot);
        let natts = (*(*slot).tts_tupleDescriptor).natts as usize;
        let values = std::slice::from_raw_parts_mut((*slot).tts_values, natts);
        let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, natts);
        for ((_, attnum), column) in columns.iter().zip(data) {
            if let Some(datum) = column.datum(row) {
                let i = (*attnum - 1) as usize;
                values[i] = datum;
                nulls[i] = false;
            }
        }
    }
}
