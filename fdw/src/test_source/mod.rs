//! `odp_test_fdw` (test builds only, feature `test-source`): a generated table
//! `(id int8, label text)` that answers `id = v` / `id IN (...)` by returning only
//! those ids, and records every request it receives so tests can see what the planner
//! pushed down. It is also the worked example of adding a source (docs/architecture.md).

use crate::batch::{ColumnData, ScanBatch};
use crate::options::{Catalog, Kind, OptionSpec};
use crate::request::{Op, ScanRequest};
use crate::security::resource::Resource;
use crate::source::{Estimate, Result, Source, SourceScan, TableContext};
use crate::value::Value;
use deltalake::arrow::array::{ArrayRef, Int64Array, StringArray};
use std::sync::{Arc, Mutex};

static REQUESTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
const TABLE_OPTIONS: &[OptionSpec] = &[OptionSpec::required("rows", Kind::UpTo(1_000_000_000))];

/// The generated table.
pub struct TestSource {
    rows: i64,
}

impl Source for TestSource {
    type Scan = TestScan;

    fn resources(table: &TableContext) -> Vec<Resource> {
        vec![Resource::Name(format!("test:{}", table.relid))]
    }

    fn option_specs(catalog: Catalog) -> &'static [OptionSpec] {
        if catalog == Catalog::Table {
            TABLE_OPTIONS
        } else {
            &[]
        }
    }

    fn open(table: &TableContext) -> Result<Self> {
        let rows = table.table.uint("rows").unwrap_or(0) as i64;
        Ok(TestSource { rows })
    }

    fn estimate(&self, _request: &ScanRequest) -> Result<Estimate> {
        Ok(Estimate {
            rows: self.rows as f64,
            total_rows: self.rows as f64,
            explain: Vec::new(),
            ..Default::default()
        })
    }

    fn lookup_rows(&self, column: &str, total_rows: f64) -> f64 {
        if column == "id" {
            1.0
        } else {
            total_rows
        }
    }

    fn begin_scan(&self, request: &ScanRequest) -> Result<TestScan> {
        let quals: Vec<String> = request.quals.iter().map(|q| q.display()).collect();
        REQUESTS
            .lock()
            .expect("test mutex")
            .push(quals.join(" AND "));
        let mut ids: Vec<i64> = (1..=self.rows).collect();
        for q in request.quals.iter().filter(|q| q.column == "id") {
            let wanted: Vec<i64> = match (&q.op, &q.value) {
                (Op::Eq, Value::Int(v)) => vec![*v],
                (Op::In, Value::List(items)) => items
                    .iter()
                    .filter_map(|i| {
                        if let Value::Int(v) = i {
                            Some(*v)
                        } else {
                            None
                        }
                    })
                    .collect(),
                _ => continue,
            };
            ids.retain(|id| wanted.contains(id));
        }
        Ok(TestScan {
            ids: Some(ids),
            columns: request.columns.clone(),
        })
    }
}

/// One pass over the generated ids.
pub struct TestScan {
    ids: Option<Vec<i64>>,
    columns: Vec<String>,
}

impl SourceScan for TestScan {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        let Some(ids) = self.ids.take() else {
            return Ok(None);
        };
        let columns = self
            .columns
            .iter()
            .map(|c| {
                let array: ArrayRef = if c == "id" {
                    Arc::new(Int64Array::from(ids.clone()))
                } else {
                    Arc::new(StringArray::from(
                        ids.iter().map(|i| format!("row {i}")).collect::<Vec<_>>(),
                    ))
                };
                ColumnData::Array(array)
            })
            .collect();
        Ok(Some(ScanBatch {
            num_rows: ids.len(),
            columns,
            row_ids: None,
        }))
    }

    fn explain(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Requests the test source received, oldest first.
pub fn requests() -> Vec<String> {
    REQUESTS.lock().expect("test mutex").clone()
}
