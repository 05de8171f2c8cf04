//! SQL functions of schema `odp`, grouped by concern.

pub mod api_keys;
pub mod feature_stream;
pub mod features;
pub mod graph;
pub mod health;
pub mod metrics;
pub mod presign;
pub mod security;
pub mod storage;

use pgrx::prelude::*;

/// The ODP version (the extension's crate version).
#[pg_extern(immutable, parallel_safe)]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

pgrx::extension_sql!(
    r#"
-- Every SQL and PL/pgSQL function of the extension runs under a fixed search_path, so
-- that nothing a caller creates in its own schemas (an operator, a function, a cast)
-- is found before the system catalog's. (Rust functions run their statements under
-- the same pinned path: fdw::catalog::PinnedSearchPath.) Table names given to them as
-- text must therefore be schema-qualified.
DO $pin$
DECLARE
    f pg_catalog.regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang
         WHERE p.pronamespace OPERATOR(pg_catalog.=) 'odp'::pg_catalog.regnamespace
           AND l.lanname OPERATOR(pg_catalog.<>) 'c' AND p.proconfig IS NULL
    LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$pin$;
"#,
    name = "pin_search_path",
    finalize
);
