//! Aggregates answered from the Delta log alone: the row counts, null counts, bounds
//! and partition values of the selected files, without opening a data file.
//!
//! Only what the log states exactly is used: `numRecords`, `nullCount`, minima and
//! maxima of integer and date columns (timestamps are truncated to milliseconds in
//! statistics, strings may be truncated), partition values. Any file without what an
//! aggregate needs, and any qual not decided by partition values alone, sends the
//! aggregate to the data files instead.

use crate::aggregate::{
    AggregateError, AggregateSpec, Aggregator, Function, InputSummary, Summary,
};
use crate::batch::ScanBatch;
use crate::delta::log::table::{DataFile, TableSnapshot};
use crate::parquet::filter::constant_matches;
use crate::parquet::prune::{parse_partition_value, WriterZone};
use crate::parquet::schema::{LakeColumn, LakeType};
use crate::parquet::types::mapping;
use crate::request::ScanRequest;
use crate::runtime::check_interrupts;
use crate::types::PgType;
use crate::value::Value;

/// Files examined between two interrupt checks.
const FILES_PER_INTERRUPT_CHECK: usize = 4096;

/// The aggregate of `spec` over the rows `request` selects, from the log alone; `None`
/// when the log does not state what it needs.
pub fn summarize(
    snapshot: &TableSnapshot,
    request: &ScanRequest,
    spec: &AggregateSpec,
    zone: WriterZone,
) -> Result<Option<ScanBatch>, AggregateError> {
    let Some(columns) = request
        .columns
        .iter()
        .map(|name| snapshot.schema.column(name))
        .collect::<Option<Vec<&LakeColumn>>>()
    else {
        return Ok(None);
    };
    let Some(quals) = request
        .quals
        .iter()
        .map(|q| {
            let column = snapshot
                .schema
                .column(&q.column)
                .filter(|c| c.is_partition)?;
            Some((column, mapping(&column.data_type).arrow?, q))
        })
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    if spec.group_by.iter().any(|(i, _)| !columns[*i].is_partition) {
        return Ok(None);
    }
    let mut aggregator = Aggregator::new(spec.clone())?;
    for (i, file) in snapshot.files.iter().enumerate() {
        if i % FILES_PER_INTERRUPT_CHECK == 0 {
            check_interrupts();
        }
        if file.has_deletion_vector {
            return Ok(None);
        }
        let mut selected = true;
        for (column, data_type, qual) in &quals {
            let Some(value) = partition_value(file, column, zone) else {
                return Ok(None);
            };
            match constant_matches(data_type, &value, qual) {
                Some(matches) => selected &= matches,
                None => return Ok(None),
            }
        }
        if !selected {
            continue;
        }
        let Some(summary) = file_summary(file, &columns, spec, zone) else {
            return Ok(None);
        };
        let Some(keys) = spec
            .group_by
            .iter()
            .map(|(i, _)| partition_value(file, columns[*i], zone))
            .collect::<Option<Vec<Value>>>()
        else {
            return Ok(None);
        };
        aggregator.update_summary(&keys, &summary)?;
    }
    Ok(Some(aggregator.finish()?))
}

/// The value of a partition column in a file (NULL when absent or empty).
fn partition_value(file: &DataFile, column: &LakeColumn, zone: WriterZone) -> Option<Value> {
    let raw = file
        .partition_values
        .get(&column.physical_name)
        .cloned()
        .flatten();
    match raw.filter(|s| !s.is_empty()) {
        None => Some(Value::Null),
        Some(text) => parse_partition_value(&text, &column.data_type, zone),
    }
}

/// What one file's log entry states for each aggregate.
fn file_summary(
    file: &DataFile,
    columns: &[&LakeColumn],
    spec: &AggregateSpec,
    zone: WriterZone,
) -> Option<Summary> {
    let stats = file.stats.as_ref()?;
    let rows = stats.num_records?;
    let inputs = spec
        .aggregates
        .iter()
        .map(|aggregate| {
            let Some((index, pg)) = &aggregate.input else {
                return Some(InputSummary::default());
            };
            let column = columns[*index];
            let integer_or_date = matches!(
                pg,
                PgType::Int2 | PgType::Int4 | PgType::Int8 | PgType::Date
            );
            if matches!(aggregate.function, Function::Min | Function::Max) && !integer_or_date {
                return None;
            }
            if column.is_partition {
                let value = partition_value(file, column, zone)?;
                let exact_bound =
                    matches!(value, Value::Int(_) | Value::Date(_) | Value::Timestamp(_));
                return match (aggregate.function, value) {
                    (Function::Count, Value::Null) => Some(InputSummary::default()),
                    (Function::Count, _) => Some(InputSummary {
                        non_null: rows,
                        ..Default::default()
                    }),
                    (Function::Min | Function::Max, Value::Null) => Some(InputSummary::default()),
                    (Function::Min | Function::Max, v) if exact_bound => Some(InputSummary {
                        non_null: rows,
                        min: Some(v.clone()),
                        max: Some(v),
                    }),
                    _ => None,
                };
            }
            let nulls = *stats.null_count.get(&column.physical_name)?;
            let non_null = rows.checked_sub(nulls)?;
            match aggregate.function {
                Function::Count => Some(InputSummary {
                    non_null,
                    ..Default::default()
                }),
                Function::Min | Function::Max if non_null == 0 => Some(InputSummary::default()),
                Function::Min | Function::Max if exact_statistics(column) => Some(InputSummary {
                    non_null,
                    min: Some(stats.min.get(&column.physical_name)?.clone()),
                    max: Some(stats.max.get(&column.physical_name)?.clone()),
                }),
                _ => None,
            }
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Summary { rows, inputs })
}

/// Whether a column's log statistics are its exact least and greatest values.
fn exact_statistics(column: &LakeColumn) -> bool {
    !column.type_widened
        && matches!(
            column.data_type,
            LakeType::Long | LakeType::Integer | LakeType::Short | LakeType::Byte | LakeType::Date
        )
}
