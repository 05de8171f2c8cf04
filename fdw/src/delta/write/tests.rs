//! Unit tests of the Delta writer (real tables in a temporary directory); the commit tests reuse its helpers.

use super::*;
use crate::delta::log::table::{create_table, NewColumn};
use crate::delta::options::TimeTravel;
use crate::options::Options;
use deltalake::arrow::compute::cast;

/// A Delta table (`id bigint not null`, `name text`, optionally partitioned by
/// `name`) in a directory of its own, removed when dropped.
pub(in crate::delta) struct Scratch {
    pub(in crate::delta) dir: std::path::PathBuf,
    pub(in crate::delta) location: TableLocation,
}

impl Scratch {
    pub(in crate::delta) fn new(partitioned: bool) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("odp-delta-write-{}", crate::runtime::unique_name()));
        std::fs::create_dir_all(&dir).unwrap();
        let location = TableLocation {
            url: url::Url::from_directory_path(&dir).unwrap(),
            storage_options: HashMap::new(),
            time_travel: TimeTravel::Latest,
        };
        let column = |name: &str, data_type, nullable| NewColumn {
            name: name.into(),
            data_type,
            nullable,
            generation_expression: None,
        };
        let partition_by = match partitioned {
            true => vec!["name".to_string()],
            false => Vec::new(),
        };
        create_table(
            &location,
            &[
                column("id", LakeType::Long, false),
                column("name", LakeType::String, true),
            ],
            &partition_by,
        )
        .unwrap();
        Scratch { dir, location }
    }

    pub(in crate::delta) fn writer_with(&self, options: &[(&str, &str)]) -> TableWriter {
        let options = Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let options = WriteOptions::from_options(&options).unwrap();
        TableWriter::open(&self.location, WriterZone::Utc, &options).unwrap()
    }

    pub(in crate::delta) fn writer(&self) -> TableWriter {
        self.writer_with(&[])
    }

    /// The newest version and its rows (id, name, row identity), by id.
    pub(in crate::delta) fn read(&self) -> (u64, Vec<(i64, Option<String>, u64)>) {
        let snapshot = snapshot(&self.location, None).unwrap();
        let version = snapshot.version;
        let files = (0..snapshot.files.len()).collect();
        let mut scan = DeltaScan::of_files(snapshot, files, WriterZone::Utc);
        let mut rows = Vec::new();
        while let Some(batch) = scan.next_batch().unwrap() {
            let ids = values(&batch.columns[0], batch.num_rows, &DataType::Int64);
            let names = values(&batch.columns[1], batch.num_rows, &DataType::Utf8);
            let ids = ids.as_primitive::<deltalake::arrow::datatypes::Int64Type>();
            let names = names.as_string::<i32>();
            let row_ids = batch.row_ids.clone().unwrap();
            for (row, row_id) in row_ids.into_iter().enumerate() {
                let name = names.is_valid(row).then(|| names.value(row).to_string());
                rows.push((ids.value(row), name, row_id));
            }
        }
        rows.sort();
        (version, rows)
    }

    /// The ids and names of the newest version, by id.
    pub(in crate::delta) fn contents(&self) -> (u64, Vec<(i64, Option<String>)>) {
        let (version, rows) = self.read();
        let rows = rows.into_iter().map(|(id, name, _)| (id, name)).collect();
        (version, rows)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A column of a scan batch as an array of `rows` values of type `to`.
fn values(column: &ColumnData, rows: usize, to: &DataType) -> ArrayRef {
    let array = match column {
        ColumnData::Array(array) => array.clone(),
        ColumnData::Constant(value) => constant_array(value, to, rows).unwrap(),
    };
    cast(&array, to).unwrap()
}

pub(in crate::delta) fn batch(ids: &[i64], names: &[Option<&str>]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(names.to_vec())) as ArrayRef,
        ),
    ])
    .unwrap()
}

pub(in crate::delta) fn ids(ids: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
    )])
    .unwrap()
}

pub(in crate::delta) fn commit(writer: &mut TableWriter) -> Option<u64> {
    writer
        .prepare_commit()
        .unwrap()
        .map(|mut pending| pending.land().unwrap())
}

pub(in crate::delta) fn named(rows: &[(i64, Option<&str>)]) -> Vec<(i64, Option<String>)> {
    rows.iter()
        .map(|(id, name)| (*id, name.map(str::to_string)))
        .collect()
}

#[test]
fn committed_rows_are_read_back_by_a_new_snapshot() {
    let table = Scratch::new(false);
    let mut writer = table.writer();
    writer
        .write(&batch(&[2, 1], &[Some("b"), Some("a")]), false)
        .unwrap();
    // columns the batch leaves out are NULL
    writer.write(&ids(&[3]), false).unwrap();
    writer.write(&ids(&[]), false).unwrap();
    assert_eq!(writer.rows(), 3);
    assert!(!writer.is_empty());
    let mut pending = writer.prepare_commit().unwrap().expect("rows to commit");
    assert_eq!(
        table.contents(),
        (0, vec![]),
        "nothing visible before landing"
    );
    assert_eq!(pending.land().unwrap(), 1);
    assert_eq!(
        table.contents(),
        (1, named(&[(1, Some("a")), (2, Some("b")), (3, None)]))
    );
}

#[test]
fn rows_that_break_the_schema_are_refused_and_not_counted() {
    let table = Scratch::new(false);
    let mut writer = table.writer();
    let names_only = RecordBatch::try_from_iter(vec![(
        "name",
        Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
    )])
    .unwrap();
    assert!(matches!(
        writer.write(&names_only, false),
        Err(DeltaError::NullValue(c)) if c == "id"
    ));
    // the new version of an updated row must carry every column
    assert!(matches!(
        writer.write(&ids(&[1]), true),
        Err(DeltaError::UnsupportedFeature(_))
    ));
    let text_ids = RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(StringArray::from(vec!["one"])) as ArrayRef,
    )])
    .unwrap();
    assert!(matches!(
        writer.write(&text_ids, false),
        Err(DeltaError::InvalidValue { column, .. }) if column == "id"
    ));
    assert_eq!(writer.rows(), 0);
    assert!(writer.is_empty());
    assert!(writer.prepare_commit().unwrap().is_none());
}

#[test]
fn rollback_to_a_savepoint_drops_only_the_rows_after_it() {
    let table = Scratch::new(false);
    let mut writer = table.writer();
    writer.write(&ids(&[1]), false).unwrap();
    let outer = writer.savepoint().unwrap();
    writer.write(&ids(&[2]), false).unwrap();
    let inner = writer.savepoint().unwrap();
    writer.write(&ids(&[3]), false).unwrap();
    writer.rollback_to(inner);
    assert_eq!(writer.rows(), 2);
    writer.write(&ids(&[4]), false).unwrap();
    writer.rollback_to(outer);
    assert_eq!(writer.rows(), 1);
    writer.write(&ids(&[5]), false).unwrap();
    // a released savepoint's rows stay
    let released = writer.savepoint().unwrap();
    writer.write(&ids(&[6]), false).unwrap();
    writer.release(released);
    assert_eq!(writer.rows(), 3);
    assert_eq!(commit(&mut writer), Some(1));
    let (version, rows) = table.contents();
    assert_eq!(version, 1);
    assert_eq!(rows, named(&[(1, None), (5, None), (6, None)]));
}

#[test]
fn rollback_drops_rows_already_sealed_into_files_of_their_savepoint() {
    let table = Scratch::new(false);
    let mut writer = table.writer();
    writer.write(&ids(&[1]), false).unwrap();
    let first = writer.savepoint().unwrap();
    writer.write(&ids(&[2]), false).unwrap();
    // a scan of the writing transaction seals every row written so far, the rows
    // of each savepoint level into files of their own
    let view = writer.pending_view().unwrap();
    assert_eq!(view.added.len(), 2);
    let second = writer.savepoint().unwrap();
    writer.write(&ids(&[3]), false).unwrap();
    assert_eq!(writer.pending_view().unwrap().added.len(), 3);
    writer.rollback_to(second);
    assert_eq!(writer.pending_view().unwrap().added.len(), 2);
    writer.rollback_to(first);
    let view = writer.pending_view().unwrap();
    assert_eq!(view.added.len(), 1);
    assert_eq!(writer.rows(), 1);
    writer.write(&ids(&[4]), false).unwrap();
    assert_eq!(commit(&mut writer), Some(1));
    assert_eq!(table.contents().1, named(&[(1, None), (4, None)]));
}

#[test]
fn a_writer_without_changes_commits_nothing() {
    let table = Scratch::new(false);
    let mut untouched = table.writer();
    assert!(untouched.is_empty());
    assert!(untouched.prepare_commit().unwrap().is_none());
    let mut rolled_back = table.writer();
    let mark = rolled_back.savepoint().unwrap();
    rolled_back.write(&ids(&[1, 2]), false).unwrap();
    rolled_back.pending_view().unwrap();
    rolled_back.rollback_to(mark);
    assert!(rolled_back.is_empty());
    assert!(rolled_back.prepare_commit().unwrap().is_none());
    assert_eq!(table.contents(), (0, vec![]));
}

#[test]
fn deleted_rows_are_gone_after_the_commit_and_others_stay() {
    let table = Scratch::new(false);
    let mut writer = table.writer();
    writer.write(&ids(&[1, 2, 3, 4]), false).unwrap();
    assert_eq!(commit(&mut writer), Some(1));
    let (_, rows) = table.read();
    let id_of = |wanted: i64| rows.iter().find(|r| r.0 == wanted).unwrap().2;

    // DELETE of rows 2 and 4: their file is written again without them
    let mut deleting = table.writer();
    deleting.delete(&[id_of(2), id_of(4)]).unwrap();
    assert!(!deleting.is_empty());
    assert_eq!(commit(&mut deleting), Some(2));
    assert_eq!(table.contents(), (2, named(&[(1, None), (3, None)])));

    // UPDATE of row 3: its old version deleted, the new one written
    let (_, rows) = table.read();
    let three = rows.iter().find(|r| r.0 == 3).unwrap().2;
    let mut updating = table.writer();
    updating.delete(&[three]).unwrap();
    updating
        .write(&batch(&[3], &[Some("three")]), true)
        .unwrap();
    assert_eq!(commit(&mut updating), Some(3));
    assert_eq!(
        table.contents(),
        (3, named(&[(1, None), (3, Some("three"))]))
    );

    // deleting every row leaves no data file
    let (_, rows) = table.read();
    let all: Vec<u64> = rows.iter().map(|r| r.2).collect();
    let mut emptying = table.writer();
    emptying.delete(&all).unwrap();
    assert_eq!(commit(&mut emptying), Some(4));
    assert_eq!(table.contents(), (4, vec![]));
    assert!(snapshot(&table.location, None).unwrap().files.is_empty());
}

#[test]
fn deleting_rows_this_transaction_wrote_needs_no_remove() {
    let table = Scratch::new(false);
    let mut writer = table.writer();
    writer.write(&ids(&[1, 2, 3]), false).unwrap();
    // the transaction's own rows, as its scans see them
    let view = writer.pending_view().unwrap();
    let own = Arc::new(
        view.apply(&snapshot(&table.location, None).unwrap())
            .unwrap(),
    );
    let mut scan = DeltaScan::of_files(own, vec![0], WriterZone::Utc);
    let batch = scan.next_batch().unwrap().unwrap();
    let row_ids = batch.row_ids.unwrap();
    let two = values(&batch.columns[0], batch.num_rows, &DataType::Int64)
        .as_primitive::<deltalake::arrow::datatypes::Int64Type>()
        .iter()
        .position(|v| v == Some(2))
        .unwrap();
    writer.delete(&[row_ids[two]]).unwrap();
    assert_eq!(commit(&mut writer), Some(1));
    assert_eq!(table.contents().1, named(&[(1, None), (3, None)]));
    assert_eq!(
        snapshot(&table.location, None).unwrap().files.len(),
        1,
        "the rewritten file replaces the transaction's own, which never lands"
    );
}

#[test]
fn sort_by_orders_the_rows_of_each_file() {
    let table = Scratch::new(false);
    let mut writer = table.writer_with(&[("sort_by", "id")]);
    writer.write(&ids(&[3, 1]), false).unwrap();
    writer.write(&ids(&[2, 5, 4]), false).unwrap();
    assert_eq!(commit(&mut writer), Some(1));
    let snapshot = snapshot(&table.location, None).unwrap();
    assert_eq!(snapshot.files.len(), 1);
    let mut scan = DeltaScan::of_files(snapshot, vec![0], WriterZone::Utc);
    let mut in_file = Vec::new();
    while let Some(batch) = scan.next_batch().unwrap() {
        let ids = values(&batch.columns[0], batch.num_rows, &DataType::Int64);
        in_file.extend(
            ids.as_primitive::<deltalake::arrow::datatypes::Int64Type>()
                .iter()
                .flatten(),
        );
    }
    assert_eq!(in_file, vec![1, 2, 3, 4, 5]);
}

#[test]
fn partitioned_rows_land_in_a_file_per_partition() {
    let table = Scratch::new(true);
    let mut writer = table.writer();
    writer
        .write(
            &batch(&[1, 2, 3], &[Some("x"), Some("y"), Some("x")]),
            false,
        )
        .unwrap();
    writer.write(&ids(&[4]), false).unwrap();
    // Delta stores '' as NULL: refused rather than changed
    assert!(matches!(
        writer.write(&batch(&[5], &[Some("")]), false),
        Err(DeltaError::InvalidValue { column, .. }) if column == "name"
    ));
    assert_eq!(commit(&mut writer), Some(1));
    let snapshot = snapshot(&table.location, None).unwrap();
    let mut partitions: Vec<Option<String>> = snapshot
        .files
        .iter()
        .map(|f| f.partition_values["name"].clone())
        .collect();
    partitions.sort();
    assert_eq!(
        partitions,
        vec![None, Some("x".to_string()), Some("y".to_string())]
    );
    assert_eq!(
        table.contents().1,
        named(&[(1, Some("x")), (2, Some("y")), (3, Some("x")), (4, None)])
    );
}
