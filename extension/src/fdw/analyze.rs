//! `ANALYZE` on foreign tables: a reservoir sample of rows from a full source scan, so
//! the planner has column statistics (distinct values, histograms) for joins.

use super::catalog::table_context;
use super::datum::TypedColumn;
use super::Source;
use super::SourceScan;
use crate::error::{OdpError, OrReport};
use odp_fdw::request::ScanRequest;
use pgrx::{pg_guard, pg_sys, PgMemoryContexts};
use std::os::raw::c_int;

/// `AnalyzeForeignTable` callback: offers the sampler, except for tables with row
/// policies (their statistics, readable in `pg_stats` by every role with SELECT, would
/// show values of rows the policies hide; Postgres then skips the table with a warning)
/// and tables whose resource the role may not read.
#[pg_guard]
pub unsafe extern "C-unwind" fn analyze_foreign_table<S: Source>(
    relation: pg_sys::Relation,
    func: *mut pg_sys::AcquireSampleRowsFunc,
    totalpages: *mut pg_sys::BlockNumber,
) -> bool {
    // SAFETY: Postgres passes an open relation and valid out-pointers.
    unsafe {
        let relid = (*relation).rd_id;
        if super::policy::for_relation(relid).has_policies {
            return false;
        }
        super::resources::check(
            &S::resources(&table_context(relid)),
            odp_fdw::security::resource::Action::Read,
        );
        *func = Some(acquire_sample_rows::<S>);
        *totalpages = 1;
    }
    true
}

/// A small deterministic generator (xorshift64*), enough for reservoir sampling.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn acquire_sample_rows<S: Source>(
    relation: pg_sys::Relation,
    _elevel: c_int,
    rows: *mut pg_sys::HeapTuple,
    targrows: c_int,
    totalrows: *mut f64,
    totaldeadrows: *mut f64,
) -> c_int {
    // SAFETY: ANALYZE passes an open relation, with its tuple descriptor.
    let (relid, tupdesc) = unsafe { ((*relation).rd_id, (*relation).rd_att) };
    // SAFETY: the tuple descriptor of an open relation is valid.
    let natts = unsafe { (*tupdesc).natts } as usize;
    let table = table_context(relid);
    let source = S::open(&table).or_report();
    let columns: Vec<_> = table
        .columns
        .iter()
        .filter_map(|c| c.pg_type.clone().map(|t| (c, t)))
        .collect();
    let request = ScanRequest {
        columns: columns.iter().map(|(c, _)| c.name.clone()).collect(),
        quals: Vec::new(),
        ..Default::default()
    };
    let mut scan = source.begin_scan(&request).or_report();
    // Per-row Datums live in a scratch context, a child of the caller's, while the
    // sampled tuples are formed in the caller's.
    // SAFETY: CurrentMemoryContext is the backend's current context (ANALYZE's, valid
    // for this call); the new child context is deleted before returning.
    let scratch = unsafe {
        pg_sys::AllocSetContextCreateInternal(
            pg_sys::CurrentMemoryContext,
            c"odp analyze".as_ptr(),
            0,
            8 * 1024,
            8 * 1024 * 1024,
        )
    };
    let mut scratch = PgMemoryContexts::For(scratch);
    let target = targrows.max(0) as usize;
    let mut kept = 0usize;
    let mut seen = 0u64;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut values = vec![pg_sys::Datum::from(0); natts];
    let mut nulls = vec![true; natts];
    while let Some(batch) = scan.next_batch().or_report() {
        pgrx::check_for_interrupts!();
        // SAFETY: nothing allocated in `scratch` is used any more: the previous batch's
        // Datums were copied into tuples by heap_form_tuple.
        unsafe { scratch.reset() };
        let prepare = |_: &mut PgMemoryContexts| {
            batch
                .columns
                .iter()
                .zip(&columns)
                .map(|(c, (_, t))| TypedColumn::prepare(c, t))
                .collect::<Result<Vec<_>, _>>()
        };
        // SAFETY: `scratch` is the context created above; what `prepare` allocates in
        // it is used only until the next reset.
        let typed = unsafe { scratch.switch_to(prepare) };
        let typed = typed.unwrap_or_else(|e| OdpError::Unsupported(e.0).report());
        for row in 0..batch.num_rows {
            seen += 1;
            let slot = if kept < target {
                kept += 1;
                kept - 1
            } else {
                let r = rng.below(seen) as usize;
                if r >= target {
                    continue;
                }
                // SAFETY: r < target <= targrows, and every slot below `kept` (== target
                // here) holds a tuple formed below.
                unsafe { pg_sys::heap_freetuple(*rows.add(r)) };
                r
            };
            nulls.fill(true);
            let fill = |_: &mut PgMemoryContexts| {
                for ((column, _), data) in columns.iter().zip(&typed) {
                    let i = (column.attnum - 1) as usize;
                    if let Some(d) = data.datum(row)? {
                        values[i] = d;
                        nulls[i] = false;
                    }
                }
                Ok(())
            };
            // SAFETY: `scratch` is the context created above; the Datums allocated in it
            // are copied into a tuple below, before the next reset.
            let filled = unsafe { scratch.switch_to(fill) };
            filled
                .unwrap_or_else(|e: super::datum::Unsupported| OdpError::Unsupported(e.0).report());
            // SAFETY: slot < target <= targrows, within `rows`; `values` and `nulls` hold
            // one entry per attribute of `tupdesc`.
            unsafe {
                *rows.add(slot) =
                    pg_sys::heap_form_tuple(tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
            }
        }
    }
    // SAFETY: nothing allocated in the scratch context is used any more.
    unsafe { pg_sys::MemoryContextDelete(scratch.value()) };
    // SAFETY: ANALYZE passes valid out-pointers.
    unsafe {
        *totalrows = seen as f64;
        *totaldeadrows = 0.0;
    }
    kept as c_int
}
