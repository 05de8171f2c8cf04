//! No file (by its statistics) and no row group or page (by a Parquet file's own
//! statistics, bloom filters and page index) is skipped while it holds a matching row.

use super::*;

/// The statistics of a Parquet writer: exact bounds and counts, each maybe absent.
fn stats(case: &Case, omit: [bool; 3]) -> FileStats {
    let mut stats = FileStats::default();
    if !omit[0] {
        stats.num_records = Some(case.rows.len() as u64);
    }
    if !omit[1] {
        let nulls = case.rows.iter().filter(|r| r.is_none()).count() as u64;
        stats.null_count.insert("c".into(), nulls);
    }
    if let (Some((min, max)), false) = (case.bounds(&case.rows), omit[2]) {
        stats.min.insert("c".into(), min.value());
        stats.max.insert("c".into(), max.value());
    }
    stats
}

/// The rows written to a Parquet file of row groups of `group_rows` rows and pages of
/// two, with page statistics and bloom filters.
fn parquet(case: &Case, group_rows: usize) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter([("c", arrow_column(case))]).expect("one column");
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .set_data_page_row_count_limit(2)
        .set_write_batch_size(2)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_bloom_filter_enabled(true)
        .build();
    let mut file = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut file, batch.schema(), Some(properties)).expect("a writer");
    writer.write(&batch).expect("rows are written");
    writer.close().expect("the file is finished");
    file
}

/// A file whose statistics (exact bounds without NaN, null and row counts, any of
/// them missing) cover a row matching every qual is never skipped.
#[test]
fn statistics_never_skip_a_matching_file() {
    check(512, (case(), any::<[bool; 3]>()), |(case, omit)| {
        let matching = case.some_row_matches(&case.rows);
        prop_assume!(matching.is_some(), "Postgres refuses the qual");
        if matching == Some(true) {
            let pruner = Pruner::new(&schema(case.kind, false), &case.quals(), WriterZone::Utc);
            prop_assert!(
                pruner.stats_may_match(&stats(&case, omit)),
                "{:?}",
                stats(&case, omit)
            );
        }
        Ok(())
    });
}

/// In a Parquet file, no row group is skipped by its statistics or bloom filters,
/// and no page by the page index, while it holds a row matching every qual.
#[test]
fn parquet_skipping_never_drops_a_matching_row() {
    check(256, (case(), 1usize..5), |(case, group_rows)| {
        prop_assume!(
            case.some_row_matches(&case.rows).is_some(),
            "Postgres refuses the qual"
        );
        let schema = schema(case.kind, false);
        let pruner = Pruner::new(&schema, &case.quals(), WriterZone::Utc);
        let file = parquet(&case, group_rows);
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let result = crate::runtime::block_on(async {
            let mut builder = ParquetRecordBatchStreamBuilder::new_with_options(
                std::io::Cursor::new(file),
                options,
            )
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let metadata = builder.metadata().clone();
            let mut first = 0;
            for group in 0..metadata.num_row_groups() {
                let rows = metadata.row_group(group).num_rows() as usize;
                let in_group = &case.rows[first..first + rows];
                let matching: Vec<usize> = (0..rows)
                    .filter(|&i| case.some_row_matches(&in_group[i..=i]) == Some(true))
                    .collect();
                first += rows;
                if matching.is_empty() {
                    continue;
                }
                let stats = row_group_stats(metadata.row_group(group), &schema, &pruner);
                prop_assert!(
                    pruner.stats_may_match(&stats),
                    "group {} skipped by {:?}",
                    group,
                    stats
                );
                prop_assert!(
                    bloom_may_match(&mut builder, group, &schema, &pruner).await,
                    "group {} skipped by its bloom filter",
                    group
                );
                if let Some(ranges) = page_ranges(&metadata, group, &schema, &pruner) {
                    for i in matching {
                        prop_assert!(
                            ranges.rows.iter().any(|r| r.contains(&i)),
                            "row {} of group {} is on a skipped page: {:?}",
                            i,
                            group,
                            ranges
                        );
                    }
                }
            }
            Ok(())
        });
        result.map_err(TestCaseError::fail)??;
        Ok(())
    });
}
