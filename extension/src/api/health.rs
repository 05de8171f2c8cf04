//! `odp.health()`: one row per configured service, probed with a short timeout.
//!
//! Services are the endpoints set in the GUCs `odp.redis_url` and `odp.bolt_url`
//! (feature store and graph), then every foreign server of ODP's wrappers: its source
//! names what to probe (`Source::probe`: the Redis URL, the Bolt URI, the S3 endpoint
//! or local root directory its tables use).

use crate::fdw::options::split_options;
use crate::host::HOST;
use crate::sources::SOURCES;
use odp_fdw::health::{check, network, Protocol, Target};
use odp_fdw::options::Options;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;
use std::time::Duration;

/// `odp.redis_url`: the Redis feature store, e.g. `redis://127.0.0.1:6379`.
pub static REDIS_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `odp.bolt_url`: the graph server, e.g. `bolt://127.0.0.1:7687`.
pub static BOLT_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `odp.health_timeout_ms`: how long one probe may take.
pub static HEALTH_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// Registers the GUCs of this module. The service URLs are superuser settings: they
/// name the hosts `odp.health()` connects to, which no other role may choose.
pub fn init_gucs() {
    GucRegistry::define_string_guc(
        c"odp.redis_url",
        c"Redis feature store URL (redis://host:port)",
        c"Probed by odp.health().",
        &REDIS_URL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"odp.bolt_url",
        c"Bolt graph server URL (bolt://host:port)",
        c"Probed by odp.health().",
        &BOLT_URL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"odp.health_timeout_ms",
        c"Timeout of one odp.health() probe in milliseconds",
        c"A service that does not answer in time is reported unreachable.",
        &HEALTH_TIMEOUT_MS,
        10,
        60_000,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// A service endpoint to probe.
struct Service {
    name: String,
    kind: String,
    target: Target,
}

/// The services to probe: the endpoints of the settings `odp.redis_url` and
/// `odp.bolt_url`, then every foreign server of ODP's wrappers the caller may use
/// (USAGE), as its source names the endpoint its tables use.
fn configured_services() -> Vec<Service> {
    let mut services = Vec::new();
    if let Some(url) = REDIS_URL.get() {
        services.push(Service {
            name: "redis".into(),
            kind: "redis".into(),
            target: network(&url.to_string_lossy(), 6379, Protocol::Redis),
        });
    }
    if let Some(url) = BOLT_URL.get() {
        services.push(Service {
            name: "graph".into(),
            kind: "bolt".into(),
            target: network(&url.to_string_lossy(), 7687, Protocol::Bolt),
        });
    }
    let wrappers: Vec<String> = SOURCES.iter().map(|s| s.wrapper.to_string()).collect();
    let _path = crate::fdw::catalog::PinnedSearchPath::start();
    let servers = Spi::connect(|client| {
        let rows = client.select(
            "SELECT s.srvname::pg_catalog.text, w.fdwname::pg_catalog.text,
                    COALESCE(s.srvoptions, '{}'::pg_catalog.text[])
               FROM pg_catalog.pg_foreign_server s JOIN pg_catalog.pg_foreign_data_wrapper w
                 ON w.oid OPERATOR(pg_catalog.=) s.srvfdw
              WHERE w.fdwname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)
                AND pg_catalog.has_server_privilege(s.oid, 'USAGE')
              ORDER BY 1, 2",
            None,
            &[wrappers.into()],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let name: Option<String> = row.get(1)?;
            let wrapper: Option<String> = row.get(2)?;
            let options: Option<Vec<Option<String>>> = row.get(3)?;
            out.push((
                name.unwrap_or_default(),
                wrapper.unwrap_or_default(),
                options.unwrap_or_default(),
            ));
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .unwrap_or_default();
    for (name, wrapper, options) in servers {
        let Some(source) = SOURCES.iter().find(|s| s.wrapper == wrapper) else {
            continue;
        };
        let options = Options::new(split_options(options.into_iter().flatten()));
        if let Some(target) = (source.probe)(&options, &HOST) {
            services.push(Service {
                name,
                kind: wrapper.trim_end_matches("_fdw").to_string(),
                target,
            });
        }
    }
    services
}

/// One row per configured service: is it reachable, how fast, and if not, why.
#[pg_extern(volatile)]
fn health() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(kind, String),
        name!(reachable, bool),
        name!(latency_ms, f64),
        name!(error, Option<String>),
    ),
> {
    let timeout = Duration::from_millis(HEALTH_TIMEOUT_MS.get().max(10) as u64);
    let rows: Vec<_> = configured_services()
        .into_iter()
        .map(|s| {
            pgrx::check_for_interrupts!();
            let p = check(&s.target, timeout);
            (
                s.name,
                s.kind,
                p.reachable,
                (p.latency_ms * 1000.0).round() / 1000.0,
                p.error,
            )
        })
        .collect();
    TableIterator::new(rows)
}
