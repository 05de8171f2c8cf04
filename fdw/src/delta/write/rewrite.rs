//! Copy-on-write of the files holding rows a transaction deleted or replaced: at
//! prepare, each is read at the newest version and written again without those rows
//! (files the transaction wrote itself included, which need no remove action).

use super::*;

impl TableWriter {
    /// Rewrites the files holding deleted rows, at the newest version: their remaining
    /// rows go to new files; returns the removes of the old files and of the files
    /// deleted whole. A file that another writer removed since the rows were read is a
    /// conflict.
    pub(super) fn rewrite_deleted(&mut self) -> Result<Vec<Remove>> {
        if self.deleted.is_empty() && self.dropped.is_empty() {
            return Ok(Vec::new());
        }
        // Positions deleted per file; `None`: the whole file.
        let mut by_file: HashMap<String, Option<HashSet<u64>>> = HashMap::new();
        for id in &self.deleted {
            let (url, position) = locate(*id)?;
            if let Some(positions) = by_file.entry(url).or_insert_with(|| Some(HashSet::new())) {
                positions.insert(position);
            }
        }
        for url in &self.dropped {
            by_file.insert(url.clone(), None);
        }
        // The newest version: its files are the ones a commit may remove. The files
        // this transaction wrote are read from the same list: rows of them it deleted
        // are dropped by writing the file again, with no remove action.
        self.table = open_for_write(&self.location)?;
        let newest = snapshot(&self.location, None)?;
        let own = PendingView {
            added: self.staged.clone(),
            ..PendingView::default()
        };
        let latest = Arc::new(own.apply(&newest)?);
        let first_own = newest.files.len();
        let mut rewritten_own: HashSet<String> = HashSet::new();
        let now = chrono::Utc::now().timestamp_millis();
        let mut removes = Vec::with_capacity(by_file.len());
        let mut urls: Vec<_> = by_file.into_iter().collect();
        urls.sort_by(|a, b| a.0.cmp(&b.0));
        for (url, positions) in urls {
            crate::runtime::check_interrupts();
            let index = (0..latest.files.len())
                .find(|&i| latest.file_url(i) == url)
                .ok_or_else(|| {
                    DeltaError::WriteConflict(
                        "a data file holding updated or deleted rows was changed by another writer"
                            .into(),
                    )
                })?;
            let file = &latest.files[index];
            let kept_rows = positions.filter(|positions| {
                file.stats
                    .as_ref()
                    .and_then(|s| s.num_records)
                    .is_none_or(|n| n != positions.len() as u64)
            });
            if let Some(positions) = kept_rows {
                let mut scan = DeltaScan::of_files(latest.clone(), vec![index], self.zone);
                while let Some(batch) = scan.next_batch()? {
                    let kept = self.without_positions(batch, &positions)?;
                    let rows = self.rows;
                    self.write(&kept, false)?;
                    // Rewritten rows are not new rows of the transaction.
                    self.rows = rows;
                }
            }
            if index >= first_own {
                rewritten_own.insert(file.log_path.clone());
            } else {
                removes.push(file.remove(true, now));
            }
        }
        self.staged.retain(|add| !rewritten_own.contains(&add.path));
        self.deleted.clear();
        self.dropped.clear();
        Ok(removes)
    }

    /// The rows of a whole-file scan batch whose positions are not in `deleted`, as a
    /// batch of the table's columns.
    pub(super) fn without_positions(
        &self,
        batch: ScanBatch,
        deleted: &HashSet<u64>,
    ) -> Result<RecordBatch> {
        let ids = batch.row_ids.clone().unwrap_or_default();
        let keep: BooleanArray = ids
            .iter()
            .map(|id| locate(*id).map(|(_, p)| Some(!deleted.contains(&p))))
            .collect::<std::result::Result<_, crate::parquet::error::ReadError>>()?;
        let mut columns = Vec::with_capacity(batch.columns.len());
        let mut fields = Vec::with_capacity(batch.columns.len());
        for (data, column) in batch.columns.into_iter().zip(&self.schema.columns) {
            let array = match data {
                ColumnData::Array(array) => array,
                ColumnData::Constant(value) => {
                    let target = mapping(&column.data_type)
                        .arrow
                        .ok_or_else(|| DeltaError::UnsupportedType(column.data_type.name()))?;
                    constant_array(&value, &target, batch.num_rows).map_err(|reason| {
                        DeltaError::InvalidValue {
                            column: column.name.clone(),
                            reason,
                        }
                    })?
                }
            };
            let kept = filter(&array, &keep).map_err(|e| DeltaError::InvalidValue {
                column: column.name.clone(),
                reason: e.to_string(),
            })?;
            fields.push(Field::new(&column.name, kept.data_type().clone(), true));
            columns.push(kept);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| {
            DeltaError::InvalidValue {
                column: String::new(),
                reason: e.to_string(),
            }
        })
    }
}
