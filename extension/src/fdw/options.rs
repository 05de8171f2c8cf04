//! Validation of FDW options at CREATE/ALTER time.

use super::{LocationChooser, Source, TableContext};
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

/// Raises 42501 unless the roles that chose where `table` keeps its data on this
/// server's file system may write there: superusers or members of
/// `pg_write_server_files` (the rule `COPY ... TO` a file applies). Reading such a
/// location needs only `pg_read_server_files`, checked when the server or table was
/// created; writing (DML, maintenance, creating the table) is checked here, every time,
/// so that a revoked membership takes effect.
pub fn check_local_write<S: Source>(table: &TableContext) {
    let Some(chooser) = S::local_storage(table) else {
        return;
    };
    // SAFETY: reads the catalog entries of an existing foreign table and its server.
    let (server_owner, table_owner) = unsafe {
        let foreign = pg_sys::GetForeignTable(table.relid);
        let server = pg_sys::GetForeignServer((*foreign).serverid);
        let relation = pgrx::PgRelation::open(table.relid);
        ((*server).owner, (*relation.rd_rel).relowner)
    };
    let mut choosers = vec![server_owner];
    if chooser == LocationChooser::ServerAndTableOwners {
        choosers.push(table_owner);
    }
    // SAFETY: superuser_arg and has_privs_of_role read the roles' catalog entries.
    let allowed = choosers.iter().all(|&role| unsafe {
        pg_sys::superuser_arg(role)
            || pg_sys::has_privs_of_role(
                role,
                pg_sys::Oid::from(pg_sys::ROLE_PG_WRITE_SERVER_FILES),
            )
    });
    if !allowed {
        OdpError::Privilege(
            "pg_write_server_files for the owner of the server (and of the table, for an absolute path) to write to the server's file system",
        )
        .report();
    }
}
