//! `odp.metrics()`: counters in the Prometheus text format.
//!
//! Counters are per backend (each connection counts its own work) and are fed by the
//! FDW core from the numeric EXPLAIN counters every scan reports, so a new source gets
//! metrics without extra code ([`odp_fdw::metrics`] keeps them).

use pgrx::prelude::*;

/// All counters of this backend in the Prometheus text exposition format.
#[pg_extern(volatile, parallel_safe)]
fn metrics() -> String {
    let mut counters = odp_fdw::metrics::counters();
    let cache = odp_fdw::delta::log::table::cache_counters();
    let footers = odp_fdw::parquet::footer::counters();
    let (decoded, decoded_too_large) = odp_fdw::parquet::hot_files::counters();
    for (name, value) in [
        ("delta_snapshot_requests", cache.snapshot_requests),
        ("delta_version_checks", cache.version_checks),
        ("delta_log_loads", cache.log_loads),
        ("parquet_footer_cache_hits", footers.hits),
        ("parquet_footer_cache_misses", footers.misses),
        ("parquet_footer_cache_evictions", footers.evictions),
        ("decoded_file_cache_hits", decoded.hits),
        ("decoded_file_cache_misses", decoded.misses),
        ("decoded_file_cache_evictions", decoded.evictions),
        ("decoded_file_cache_too_large", decoded_too_large),
    ] {
        counters.insert(format!("odp_{name}_total"), value);
    }
    let mut out = String::new();
    for (name, value) in counters {
        out.push_str(&format!("# TYPE {name} counter\n{name} {value}\n"));
    }
    for (name, value) in [
        ("odp_parquet_footer_cache_bytes", footers.bytes),
        ("odp_parquet_footer_cache_entries", footers.entries),
        ("odp_decoded_file_cache_bytes", decoded.bytes),
        ("odp_decoded_file_cache_entries", decoded.entries),
    ] {
        out.push_str(&format!("# TYPE {name} gauge\n{name} {value}\n"));
    }
    out
}

pgrx::extension_sql!(
    r#"
-- Counters describe what every scan of the backend read: monitoring roles only, like
-- pg_stat_statements' texts and other sessions' activity.
REVOKE EXECUTE ON FUNCTION odp.metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION odp.metrics() TO pg_monitor;
"#,
    name = "metrics_privileges",
    requires = [metrics]
);
