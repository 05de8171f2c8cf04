//! `odp_test_fdw` (test builds only): a generated table `(id int8, label text)` that
//! answers `id = v` / `id IN (...)` by returning only those ids, and records every
//! request it receives so tests can see what the planner pushed down.

use crate::error::Result;
use crate::fdw::options::validate_for;
use crate::fdw::{Estimate, Source, SourceScan, TableContext};
use odp_fdw::arrow::array::{ArrayRef, Int64Array, StringArray};
use odp_fdw::batch::{ColumnData, ScanBatch};
use odp_fdw::options::{Catalog, Kind, OptionSpec};
use odp_fdw::request::{Op, ScanRequest};
use odp_fdw::value::Value;
use pgrx::prelude::*;
use std::sync::{Arc, Mutex};

static REQUESTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
const TABLE_OPTIONS: &[OptionSpec] = &[OptionSpec::required("rows", Kind::UpTo(1_000_000_000))];

/// The generated table.
pub struct TestSource {
    rows: i64,
}

impl Source for TestSource {
    type Scan = TestScan;

    fn resources(table: &TableContext) -> Vec<odp_fdw::security::resource::Resource> {
        vec![odp_fdw::security::resource::Resource::Name(format!(
            "test:{}",
            table.relid.to_u32()
        ))]
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

/// Requests `odp_test_fdw` received, oldest first.
#[pg_extern]
fn test_requests() -> Vec<String> {
    REQUESTS.lock().expect("test mutex").clone()
}

crate::fdw_handler!(
    odp_test_fdw_handler,
    pg_finfo_odp_test_fdw_handler,
    TestSource
);

/// Validates `odp_test_fdw` options.
#[pg_extern]
fn test_fdw_validator(options: Vec<Option<String>>, catalog: Option<pg_sys::Oid>) {
    validate_for::<TestSource>(options, catalog);
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION odp.test_fdw_handler() RETURNS fdw_handler
    AS 'MODULE_PATHNAME', 'odp_test_fdw_handler' LANGUAGE C STRICT;
CREATE FOREIGN DATA WRAPPER odp_test_fdw HANDLER odp.test_fdw_handler VALIDATOR odp.test_fdw_validator;
"#,
    name = "odp_test_fdw",
    requires = [test_fdw_validator]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn explain(query: &str) -> String {
        Spi::connect(|client| {
            let rows = client.select(&format!("EXPLAIN (COSTS OFF) {query}"), None, &[])?;
            let mut lines = Vec::new();
            for row in rows {
                lines.push(row.get::<String>(1)?.unwrap_or_default());
            }
            Ok::<_, pgrx::spi::Error>(lines.join("\n"))
        })
        .unwrap()
    }

    fn setup() {
        Spi::run("CREATE SERVER gen FOREIGN DATA WRAPPER odp_test_fdw").unwrap();
        Spi::run(
            "CREATE FOREIGN TABLE gen_t (id int8, label text) SERVER gen OPTIONS (rows '100000')",
        )
        .unwrap();
        Spi::run("CREATE TABLE outer_ids (id int8); INSERT INTO outer_ids VALUES (5), (17), (42); ANALYZE outer_ids").unwrap();
    }

    #[pg_test]
    fn nested_loop_uses_a_parameterized_scan_that_sees_outer_values() {
        setup();
        let plan = explain("SELECT o.id, g.label FROM outer_ids o JOIN gen_t g ON g.id = o.id");
        assert!(plan.contains("Nested Loop"), "plan was:\n{plan}");
        assert!(
            plan.contains("Pushed Quals: id = $runtime"),
            "plan was:\n{plan}"
        );
        let labels = Spi::get_one::<String>(
            "SELECT string_agg(g.label, ',' ORDER BY o.id) FROM outer_ids o JOIN gen_t g ON g.id = o.id",
        )
        .unwrap()
        .unwrap();
        assert_eq!(labels, "row 5,row 17,row 42");
        let requests = Spi::get_one::<Vec<String>>("SELECT odp.test_requests()")
            .unwrap()
            .unwrap();
        for id in [5, 17, 42] {
            assert!(
                requests.contains(&format!("id = {id}")),
                "requests: {requests:?}"
            );
        }
    }

    #[pg_test]
    fn constants_and_in_lists_are_pushed() {
        setup();
        let n = Spi::get_one::<i64>("SELECT count(*) FROM gen_t WHERE id IN (3, 4, 99999999)")
            .unwrap()
            .unwrap();
        assert_eq!(n, 2);
        let requests = Spi::get_one::<Vec<String>>("SELECT odp.test_requests()")
            .unwrap()
            .unwrap();
        assert!(
            requests.iter().any(|r| r == "id IN (3, 4, 99999999)"),
            "requests: {requests:?}"
        );
    }

    #[pg_test]
    fn limit_is_pushed_only_without_filters() {
        setup();
        let plan = explain("SELECT * FROM gen_t LIMIT 7");
        assert!(plan.contains("Pushed Limit: 7"), "plan was:\n{plan}");
        let plan = explain("SELECT * FROM gen_t WHERE label LIKE '%9' LIMIT 7");
        assert!(!plan.contains("Pushed Limit"), "plan was:\n{plan}");
    }

    /// Runs `sql` through the executor by hand: the rows its top node returns, and
    /// whether asking once more after the end still returns nothing.
    unsafe fn rows_then_one_more(sql: &str) -> (usize, bool) {
        use pgrx::pg_sys;
        use std::ptr::null_mut;
        let is_empty = |slot: *mut pg_sys::TupleTableSlot| {
            // SAFETY: a non-null slot returned by the executor is valid until the next call.
            slot.is_null() || unsafe { (*slot).tts_flags } & pg_sys::TTS_FLAG_EMPTY as u16 != 0
        };
        let text = std::ffi::CString::new(sql).unwrap();
        // SAFETY: parse, analyze, plan and execute one statement inside the test's
        // transaction, with the calling query's snapshot, then shut the executor down.
        unsafe {
            let raw = *(*pg_sys::pg_parse_query(text.as_ptr())).elements;
            let queries = pg_sys::pg_analyze_and_rewrite_fixedparams(
                raw.ptr_value as *mut pg_sys::RawStmt,
                text.as_ptr(),
                null_mut(),
                0,
                null_mut(),
            );
            let query = (*(*queries).elements).ptr_value as *mut pg_sys::Query;
            let plan = pg_sys::pg_plan_query(query, text.as_ptr(), 0, null_mut());
            let desc = pg_sys::CreateQueryDesc(
                plan,
                text.as_ptr(),
                pg_sys::GetActiveSnapshot(),
                null_mut(),
                pg_sys::None_Receiver,
                null_mut(),
                null_mut(),
                0,
            );
            pg_sys::ExecutorStart(desc, 0);
            let mut rows = 0;
            while !is_empty(pg_sys::ExecProcNode((*desc).planstate)) {
                rows += 1;
            }
            let still_empty = is_empty(pg_sys::ExecProcNode((*desc).planstate));
            pg_sys::ExecutorFinish(desc);
            pg_sys::ExecutorEnd(desc);
            pg_sys::FreeQueryDesc(desc);
            (rows, still_empty)
        }
    }

    #[pg_test]
    fn a_finished_scan_stays_finished() {
        setup();
        // SAFETY: a plain SELECT on a table the test created.
        let (rows, still_empty) =
            unsafe { rows_then_one_more("SELECT id FROM gen_t WHERE id IN (1, 2)") };
        assert_eq!(rows, 2);
        assert!(still_empty, "a call after the end started the scan again");
    }

    #[pg_test(error = "invalid option \"rowz\" for foreign table; valid options: rows")]
    fn unknown_table_option_is_refused_at_create() {
        Spi::run("CREATE SERVER gen2 FOREIGN DATA WRAPPER odp_test_fdw").unwrap();
        Spi::run("CREATE FOREIGN TABLE bad_t (id int8) SERVER gen2 OPTIONS (rowz '1')").unwrap();
    }

    #[pg_test(
        error = "invalid value for option \"rows\": expected an integer from 0 to 1000000000"
    )]
    fn malformed_option_value_is_refused_at_create() {
        Spi::run("CREATE SERVER gen3 FOREIGN DATA WRAPPER odp_test_fdw").unwrap();
        Spi::run("CREATE FOREIGN TABLE bad_t (id int8) SERVER gen3 OPTIONS (rows 'many')").unwrap();
    }
}
