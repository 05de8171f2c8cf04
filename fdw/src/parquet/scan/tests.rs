use super::file::without_hidden;
use super::*;
use crate::value::Value;
use deltalake::arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Field, Int64Type, Schema};

/// A refused file fails the scan when the scan reaches it, not before: a scan that
/// ends first (a limit met) reads the files before it.
#[test]
fn a_refused_file_fails_the_scan_only_when_reached() {
    let store = FileStore {
        store: Arc::new(object_store::memory::InMemory::new()),
        url: "memory:///".into(),
        scope: 0,
        local_root: None,
    };
    let file = ParquetFile {
        path: Path::from("part-0.parquet"),
        size: 1,
        modified: 0,
        partition_values: HashMap::new(),
        refused: Some("deletion vectors (file \"part-0.parquet\")".into()),
    };
    let schema = LakeSchema {
        columns: Vec::new(),
    };
    let scan = |limit| {
        let request = ScanRequest {
            limit,
            ..Default::default()
        };
        ParquetScan::new(
            store.clone(),
            &schema,
            vec![file.clone()],
            &request,
            Pruner::default(),
            ScanCounters::default(),
            WriterZone::Utc,
        )
        .expect("planning a scan opens no file")
    };
    assert!(matches!(scan(Some(0)).next_batch(), Ok(None)));
    match scan(None).next_batch() {
        Err(ReadError::Unsupported(reason)) => assert!(reason.contains("deletion vectors")),
        other => panic!("expected the refusal, got {:?}", other.map(|b| b.is_some())),
    }
}

/// One Parquet file of a column `v` holding `values`.
fn parquet_bytes(values: Vec<i64>) -> bytes::Bytes {
    use deltalake::parquet::arrow::ArrowWriter;
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))]).unwrap();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out.into()
}

/// Two stores (two servers, or one server under two roles' credentials) holding a
/// different file under the same URL, size and time: a read in one scope is never
/// answered from the footer another scope's read cached (its statistics would skip
/// the row).
#[test]
fn files_of_two_storage_scopes_are_cached_apart() {
    use object_store::ObjectStoreExt;
    let (a, b) = (parquet_bytes(vec![1, 2, 3]), parquet_bytes(vec![7, 8, 9]));
    assert_eq!(a.len(), b.len());
    let read = |bytes: &bytes::Bytes, scope: u64, wanted: i64| {
        let store = Arc::new(object_store::memory::InMemory::new());
        let path = Path::from("part-0.parquet");
        crate::runtime::block_on(store.put(&path, bytes.clone().into()))
            .unwrap()
            .unwrap();
        let file = ParquetFile {
            path,
            size: bytes.len() as u64,
            modified: 0,
            partition_values: HashMap::new(),
            refused: None,
        };
        let schema = LakeSchema {
            columns: vec![LakeColumn {
                name: "v".into(),
                physical_name: "v".into(),
                data_type: crate::parquet::schema::LakeType::Long,
                nullable: false,
                generation_expression: None,
                type_widened: false,
                is_partition: false,
            }],
        };
        let request = ScanRequest {
            columns: vec!["v".into()],
            quals: vec![crate::request::Qual::new(
                "v",
                crate::request::Op::Eq,
                Value::Int(wanted),
            )],
            ..Default::default()
        };
        let store = FileStore {
            store,
            url: "memory:///scoped/".into(),
            scope,
            local_root: None,
        };
        let pruner = Pruner::new(&schema, &request.quals, WriterZone::Utc);
        let mut scan = ParquetScan::new(
            store,
            &schema,
            vec![file],
            &request,
            pruner,
            ScanCounters::default(),
            WriterZone::Utc,
        )
        .unwrap();
        let mut rows = 0;
        while let Some(batch) = scan.next_batch().unwrap() {
            rows += batch.num_rows;
        }
        rows
    };
    assert_eq!(read(&a, 0x5c0e_0001, 2), 1);
    assert_eq!(
        read(&b, 0x5c0e_0002, 8),
        1,
        "read with the other scope's footer"
    );
}

#[test]
fn hidden_positions_are_dropped_with_their_identities() {
    let file = crate::parquet::rowid::file_number("file:///t/hidden.parquet").unwrap();
    let ids: Vec<u64> = (10..15)
        .map(|p| crate::parquet::rowid::row_id(file, p).unwrap())
        .collect();
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from(vec![10, 11, 12, 13, 14]))],
    )
    .unwrap();
    let hidden: HashSet<u64> = [11, 14].into_iter().collect();
    let (kept, kept_ids) = without_hidden(batch, ids.clone(), &hidden).unwrap();
    let values: Vec<i64> = kept.column(0).as_primitive::<Int64Type>().values().to_vec();
    assert_eq!(values, vec![10, 12, 13]);
    assert_eq!(kept_ids, vec![ids[0], ids[2], ids[3]]);
    assert_eq!(kept.column(0).len(), 3);
}
