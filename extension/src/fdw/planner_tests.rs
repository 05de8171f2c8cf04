//! Tests of the FDW core against `odp_test_fdw` (the generated table of
//! [`odp_fdw::test_source`]): what the planner pushes down and how scans end.

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
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
        let requests = odp_fdw::test_source::requests();
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
        let requests = odp_fdw::test_source::requests();
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
    ///
    /// # Safety
    /// Must run inside a transaction with an active snapshot (a `pg_test`), on one
    /// statement that rewrites to one query.
    unsafe fn rows_then_one_more(sql: &str) -> (usize, bool) {
        use pgrx::pg_sys;
        use std::ptr::null_mut;
        let is_empty = |slot: *mut pg_sys::TupleTableSlot| {
            // SAFETY: a non-null slot returned by the executor is valid until the next call.
            slot.is_null() || unsafe { (*slot).tts_flags } & pg_sys::TTS_FLAG_EMPTY as u16 != 0
        };
        let text = std::ffi::CString::new(sql).unwrap();
        // SAFETY: parses the NUL-terminated statement; one statement gives a List of one
        // RawStmt.
        let raw = unsafe { *(*pg_sys::pg_parse_query(text.as_ptr())).elements };
        // SAFETY: analyses and rewrites the parsed statement inside the test's
        // transaction; a SELECT gives a List of one Query.
        let queries = unsafe {
            pg_sys::pg_analyze_and_rewrite_fixedparams(
                raw.ptr_value as *mut pg_sys::RawStmt,
                text.as_ptr(),
                null_mut(),
                0,
                null_mut(),
            )
        };
        // SAFETY: `queries` is a non-empty List (see above).
        let query = unsafe { (*(*queries).elements).ptr_value } as *mut pg_sys::Query;
        // SAFETY: `query` is the analysed statement of `text`.
        let plan = unsafe { pg_sys::pg_plan_query(query, text.as_ptr(), 0, null_mut()) };
        // SAFETY: runs the plan with the calling query's snapshot; None_Receiver discards
        // the rows.
        let desc = unsafe {
            pg_sys::CreateQueryDesc(
                plan,
                text.as_ptr(),
                pg_sys::GetActiveSnapshot(),
                null_mut(),
                pg_sys::None_Receiver,
                null_mut(),
                null_mut(),
                0,
            )
        };
        // SAFETY: `desc` is the new QueryDesc, started once.
        unsafe { pg_sys::ExecutorStart(desc, 0) };
        let mut rows = 0;
        // SAFETY: the executor is started; its planstate is the top node.
        while !is_empty(unsafe { pg_sys::ExecProcNode((*desc).planstate) }) {
            rows += 1;
        }
        // SAFETY: as above; the node is asked once more after its end.
        let still_empty = is_empty(unsafe { pg_sys::ExecProcNode((*desc).planstate) });
        // SAFETY: shuts down the executor started above, then frees its QueryDesc.
        unsafe {
            pg_sys::ExecutorFinish(desc);
            pg_sys::ExecutorEnd(desc);
            pg_sys::FreeQueryDesc(desc);
        }
        (rows, still_empty)
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
