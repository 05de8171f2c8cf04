//! The registry of foreign data wrappers. A source is its folder in `odp_fdw` plus one
//! line in [`SOURCES`]; from that line the extension creates the wrapper, its handler
//! and validator (at CREATE EXTENSION), registers the settings the source declares and
//! calls its transaction participant.

use crate::fdw::options::validate_for;
use crate::fdw::routine::fdw_routine;
use odp_fdw::health::Target;
use odp_fdw::options::Options;
use odp_fdw::source::{Host, Setting, Source, TransactionParticipant};
use pgrx::prelude::*;
use std::ffi::CStr;

/// What the extension knows of one wrapper.
pub struct Registered {
    /// the wrapper's name in `CREATE FOREIGN DATA WRAPPER`
    pub wrapper: &'static str,
    routine: fn() -> pg_sys::Datum,
    validate: fn(Vec<Option<String>>, Option<pg_sys::Oid>),
    /// the settings the source declares
    pub settings: fn() -> &'static [Setting],
    /// what the source shares across tables
    pub participant: fn() -> Option<&'static dyn TransactionParticipant>,
    /// what `odp.health()` probes for one of the wrapper's servers
    pub probe: fn(&Options, &'static dyn Host) -> Option<Target>,
}

/// The registry entry of source `S` served as `wrapper`.
const fn source<S: Source>(wrapper: &'static str) -> Registered {
    Registered {
        wrapper,
        routine: fdw_routine::<S>,
        validate: validate_for::<S>,
        settings: S::settings,
        participant: S::participant,
        probe: S::probe,
    }
}

/// Every wrapper the extension serves.
pub static SOURCES: &[Registered] = &[
    source::<odp_fdw::delta::DeltaSource>("delta_fdw"),
    source::<odp_fdw::objects::ObjectSource>("object_fdw"),
    source::<odp_fdw::redis::RedisSource>("redis_fdw"),
    source::<odp_fdw::graph::GraphSource>("neo4j_fdw"),
    #[cfg(any(test, feature = "pg_test"))]
    source::<odp_fdw::test_source::TestSource>("odp_test_fdw"),
];

/// The transaction participants of every source.
pub fn participants() -> impl Iterator<Item = &'static dyn TransactionParticipant> {
    SOURCES.iter().filter_map(|source| (source.participant)())
}

/// Registers the sources' settings and the catalog callbacks that tell participants a
/// foreign server or user mapping changed (at load).
pub fn init() {
    crate::host::define_settings(SOURCES.iter().flat_map(|source| (source.settings)()));
    for cache in [
        pg_sys::SysCacheIdentifier::FOREIGNSERVEROID,
        pg_sys::SysCacheIdentifier::USERMAPPINGOID,
    ] {
        // SAFETY: registers a function pointer that lives as long as the library.
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(
                cache as i32,
                Some(servers_changed),
                pg_sys::Datum::from(0),
            )
        };
    }
}

/// Syscache callback: a server or user mapping changed. The next statement connects
/// again (connections in use by a running scan stay until it ends).
#[pg_guard]
unsafe extern "C-unwind" fn servers_changed(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    participants().for_each(|participant| participant.servers_changed());
}

/// The wrapper whose SQL function (`odp.<wrapper><suffix>`) Postgres is calling.
fn called_wrapper(fcinfo: pg_sys::FunctionCallInfo, suffix: &str) -> &'static Registered {
    // SAFETY: Postgres calls handlers and validators through fmgr, which fills
    // `flinfo`.
    let function = unsafe { (*(*fcinfo).flinfo).fn_oid };
    // SAFETY: the catalog lookups return palloc'd copies of the names, or NULL.
    let (schema, name) = unsafe {
        let text = |name: *mut std::ffi::c_char| {
            (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned())
        };
        (
            text(pg_sys::get_namespace_name(pg_sys::get_func_namespace(
                function,
            ))),
            text(pg_sys::get_func_name(function)),
        )
    };
    // only the extension's own functions (schema `odp`) name a wrapper
    let wrapper = name
        .as_deref()
        .filter(|_| schema.as_deref() == Some("odp"))
        .and_then(|n| n.strip_suffix(suffix));
    SOURCES
        .iter()
        .find(|source| Some(source.wrapper) == wrapper)
        .unwrap_or_else(|| {
            crate::error::OdpError::UndefinedObject(format!(
                "ODP source for function \"{}\"",
                name.unwrap_or_default()
            ))
            .report()
        })
}

/// The handler of every wrapper: returns the `FdwRoutine` of the wrapper whose
/// `odp.<wrapper>_handler` function is called.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn odp_fdw_handler(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    (called_wrapper(fcinfo, "_handler").routine)()
}

/// Version-1 calling convention marker of [`odp_fdw_handler`].
#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_odp_fdw_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// The validator of every wrapper: checks options at CREATE/ALTER time for the wrapper
/// whose `odp.<wrapper>_validator(text[], oid)` function is called.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn odp_fdw_validator(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let source = called_wrapper(fcinfo, "_validator");
    // SAFETY: the function is declared (text[], oid) below, and Postgres passes both.
    let (options, catalog) = unsafe {
        (
            pgrx::fcinfo::pg_getarg::<Vec<Option<String>>>(fcinfo, 0),
            pgrx::fcinfo::pg_getarg::<pg_sys::Oid>(fcinfo, 1),
        )
    };
    (source.validate)(options.unwrap_or_default(), catalog);
    pg_sys::Datum::from(0)
}

/// Version-1 calling convention marker of [`odp_fdw_validator`].
#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_odp_fdw_validator() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// The foreign data wrappers ODP serves.
#[pg_extern(immutable, parallel_safe)]
fn wrappers() -> Vec<String> {
    SOURCES.iter().map(|s| s.wrapper.to_string()).collect()
}

pgrx::extension_sql!(
    r#"
-- One handler, one validator and one wrapper per registered source.
DO $$
DECLARE
    wrapper text;
    handler text;
    validator text;
BEGIN
    FOREACH wrapper IN ARRAY odp.wrappers() LOOP
        handler := pg_catalog.format('%s_handler', wrapper);
        validator := pg_catalog.format('%s_validator', wrapper);
        EXECUTE pg_catalog.format(
            'CREATE FUNCTION odp.%I() RETURNS fdw_handler AS %L, %L LANGUAGE C STRICT',
            handler, 'MODULE_PATHNAME', 'odp_fdw_handler');
        EXECUTE pg_catalog.format(
            'CREATE FUNCTION odp.%I(text[], oid) RETURNS void AS %L, %L LANGUAGE C STRICT',
            validator, 'MODULE_PATHNAME', 'odp_fdw_validator');
        EXECUTE pg_catalog.format(
            'CREATE FOREIGN DATA WRAPPER %I HANDLER odp.%I VALIDATOR odp.%I',
            wrapper, handler, validator);
    END LOOP;
END
$$;"#,
    name = "wrappers",
    requires = [wrappers]
);
