//! Validation of FDW options at CREATE/ALTER time.

use super::Source;
use crate::error::{OdpError, OrReport};
use odp_fdw::options::{validate, Catalog, Options, PathPrivilege};
use pgrx::pg_sys;

/// Maps the catalog OID Postgres passes to a validator.
pub fn catalog_of(oid: pg_sys::Oid) -> Option<Catalog> {
    match oid {
        pg_sys::ForeignDataWrapperRelationId => Some(Catalog::Wrapper),
        pg_sys::ForeignServerRelationId => Some(Catalog::Server),
        pg_sys::UserMappingRelationId => Some(Catalog::UserMapping),
        pg_sys::ForeignTableRelationId => Some(Catalog::Table),
        pg_sys::AttributeRelationId => Some(Catalog::Column),
        _ => None,
    }
}

/// Splits `name=value` entries as Postgres hands them to validators.
pub fn split_options(entries: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    entries
        .into_iter()
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (entry, String::new()),
        })
        .collect()
}

/// The body of every wrapper's validator function.
pub fn validate_for<S: Source>(entries: Vec<Option<String>>, catalog: Option<pg_sys::Oid>) {
    let Some(catalog) = catalog.and_then(catalog_of) else {
        return;
    };
    let pairs = split_options(entries.into_iter().flatten());
    validate(catalog, S::option_specs(catalog), &pairs)
        .map_err(OdpError::from)
        .or_report();
    S::validate(catalog, &Options::new(pairs), path_privilege()).or_report();
}

/// Whether the current role may name locations outside a server root: superusers and
/// members of `pg_read_server_files`, the rule `file_fdw` applies to file names.
pub fn path_privilege() -> PathPrivilege {
    // SAFETY: superuser and has_privs_of_role read the current role's catalog entries.
    let privileged = unsafe {
        pg_sys::superuser()
            || pg_sys::has_privs_of_role(
                pg_sys::GetUserId(),
                pg_sys::Oid::from(pg_sys::ROLE_PG_READ_SERVER_FILES),
            )
    };
    if privileged {
        PathPrivilege::AnyLocation
    } else {
        PathPrivilege::ServerRootOnly
    }
}
