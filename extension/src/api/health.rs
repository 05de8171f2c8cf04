//! `odp.health()`: one row per configured service, probed with a short timeout.
//!
//! Services are the foreign servers of ODP's wrappers plus the endpoints set in the
//! GUCs `odp.redis_url` and `odp.bolt_url` (feature store and graph).

use odp_fdw::health::{probe, Probe, Protocol};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;
use std::time::{Duration, Instant};

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
    kind: &'static str,
    target: Target,
}

enum Target {
    Network {
        host: String,
        port: u16,
        protocol: Protocol,
    },
    Directory(String),
    Invalid(String),
}

/// Parses `scheme://host:port[/...]`, with `default_port` when none is given.
fn network(url: &str, default_port: u16, protocol: Protocol) -> Target {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => match p.parse() {
            Ok(port) => (h.to_string(), port),
            Err(_) => return Target::Invalid(format!("invalid port in \"{authority}\"")),
        },
        None => (authority.to_string(), default_port),
    };
    if host.is_empty() {
        return Target::Invalid("no host".into());
    }
    Target::Network {
        host,
        port,
        protocol,
    }
}

fn configured_services() -> Vec<Service> {
    let mut services = Vec::new();
    if let Some(url) = REDIS_URL.get() {
        services.push(Service {
            name: "redis".into(),
            kind: "redis",
            target: network(&url.to_string_lossy(), 6379, Protocol::Redis),
        });
    }
    if let Some(url) = BOLT_URL.get() {
        services.push(Service {
            name: "graph".into(),
            kind: "bolt",
            target: network(&url.to_string_lossy(), 7687, Protocol::Bolt),
        });
    }
    let _path = crate::fdw::catalog::PinnedSearchPath::start();
    let servers = Spi::connect(|client| {
        let rows = client.select(
            "SELECT s.srvname::pg_catalog.text, w.fdwname::pg_catalog.text,
                    (SELECT o.option_value FROM pg_catalog.pg_options_to_table(s.srvoptions) o
                      WHERE o.option_name OPERATOR(pg_catalog.=) 'endpoint'),
                    (SELECT o.option_value FROM pg_catalog.pg_options_to_table(s.srvoptions) o
                      WHERE o.option_name OPERATOR(pg_catalog.=) 'root')
               FROM pg_catalog.pg_foreign_server s JOIN pg_catalog.pg_foreign_data_wrapper w
                 ON w.oid OPERATOR(pg_catalog.=) s.srvfdw
              WHERE w.fdwname OPERATOR(pg_catalog.=) 'delta_fdw' ORDER BY 1",
            None,
            &[],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let name: Option<String> = row.get(1)?;
            let endpoint: Option<String> = row.get(3)?;
            let root: Option<String> = row.get(4)?;
            out.push((name.unwrap_or_default(), endpoint, root));
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .unwrap_or_default();
    for (name, endpoint, root) in servers {
        let target = match (endpoint, root) {
            (Some(e), _) => network(&e, 80, Protocol::Http),
            (None, Some(r)) if r.starts_with('/') || r.starts_with("file://") => {
                Target::Directory(r.trim_start_matches("file://").to_string())
            }
            (None, Some(r)) => network(
                &format!(
                    "https://{}",
                    r.split_once("://").map(|(_, x)| x).unwrap_or(&r)
                ),
                443,
                Protocol::Tcp,
            ),
            (None, None) => Target::Invalid("server has neither \"endpoint\" nor \"root\"".into()),
        };
        services.push(Service {
            name,
            kind: "delta",
            target,
        });
    }
    services
}

fn check(target: &Target, timeout: Duration) -> Probe {
    match target {
        Target::Network {
            host,
            port,
            protocol,
        } => probe(host, *port, *protocol, timeout),
        Target::Directory(path) => {
            let start = Instant::now();
            let ok = std::path::Path::new(path).is_dir();
            Probe {
                reachable: ok,
                latency_ms: start.elapsed().as_secs_f64() * 1000.0,
                error: (!ok).then(|| format!("directory \"{path}\" does not exist")),
            }
        }
        Target::Invalid(why) => Probe {
            reachable: false,
            latency_ms: 0.0,
            error: Some(why.clone()),
        },
    }
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
            let p = check(&s.target, timeout);
            (
                s.name,
                s.kind.to_string(),
                p.reachable,
                (p.latency_ms * 1000.0).round() / 1000.0,
                p.error,
            )
        })
        .collect();
    TableIterator::new(rows)
}
