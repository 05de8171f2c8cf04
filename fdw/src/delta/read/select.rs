//! Which data files of a snapshot a scan reads: partition pruning and statistics
//! skipping over the log's add actions, with what that skipped, and the lookup-cost
//! estimate built on it.

use crate::delta::log::table::{Selection, TableSnapshot};
use crate::parquet::batches::BATCH_ROWS;
use crate::parquet::counters::ScanCounters;
use crate::parquet::prune::{parse_partition_value, Pruner, WriterZone};
use crate::runtime::check_interrupts;
use crate::value::Value;

/// Files examined between two interrupt checks while selecting files.
const FILES_PER_INTERRUPT_CHECK: usize = 4096;

/// The files of a snapshot that may hold matching rows. The snapshot remembers its last
/// answer: planning and execution of a statement ask the same question.
pub fn select_files(snapshot: &TableSnapshot, pruner: &Pruner) -> Selection {
    if let Ok(last) = snapshot.last_selection.lock() {
        if let Some((_, selection)) = last.as_ref().filter(|(asked, _)| asked == pruner) {
            return selection.clone();
        }
    }
    let selection = scan_statistics(snapshot, pruner);
    if let Ok(mut last) = snapshot.last_selection.lock() {
        *last = Some((pruner.clone(), selection.clone()));
    }
    selection
}

/// [`select_files`] without the memo: every file's partition values and statistics
/// against the pruner.
fn scan_statistics(snapshot: &TableSnapshot, pruner: &Pruner) -> Selection {
    let mut counters = ScanCounters {
        files_total: snapshot.files.len() as u64,
        ..Default::default()
    };
    let mut selected = Vec::new();
    for (i, file) in snapshot.files.iter().enumerate() {
        if i % FILES_PER_INTERRUPT_CHECK == 0 {
            check_interrupts();
        }
        if !pruner.partition_may_match(&file.partition_values) {
            counters.files_pruned_by_partition += 1;
        } else if file
            .stats
            .as_ref()
            .is_some_and(|s| !pruner.stats_may_match(s))
        {
            counters.files_skipped_by_stats += 1;
        } else {
            counters.rows_estimated += file
                .stats
                .as_ref()
                .and_then(|s| s.num_records)
                .unwrap_or(BATCH_ROWS as u64);
            selected.push(i);
        }
    }
    (selected, counters)
}

/// Files probed to estimate a lookup's cost.
const LOOKUP_PROBES: usize = 8;

/// Average rows read for `column = v` over values `v` taken from the table itself
/// (partition values or per-file minima of evenly spaced files); `None` when the
/// column has no values to probe with.
pub fn lookup_rows(snapshot: &TableSnapshot, column: &str, zone: WriterZone) -> Option<f64> {
    let delta_column = snapshot.schema.column(column)?;
    let step = (snapshot.files.len() / LOOKUP_PROBES).max(1);
    let probes: Vec<Value> = snapshot
        .files
        .iter()
        .step_by(step)
        .filter_map(|f| {
            if delta_column.is_partition {
                let raw = f
                    .partition_values
                    .get(&delta_column.physical_name)?
                    .as_deref()?;
                parse_partition_value(raw, &delta_column.data_type, zone)
            } else {
                f.stats
                    .as_ref()?
                    .min
                    .get(&delta_column.physical_name)
                    .cloned()
            }
        })
        .take(LOOKUP_PROBES)
        .collect();
    if probes.is_empty() {
        return None;
    }
    let total: u64 = probes
        .iter()
        .map(|v| {
            let qual = crate::request::Qual::new(column, crate::request::Op::Eq, v.clone());
            scan_statistics(snapshot, &Pruner::new(&snapshot.schema, &[qual], zone))
                .1
                .rows_estimated
        })
        .sum();
    Some(total as f64 / probes.len() as f64)
}
