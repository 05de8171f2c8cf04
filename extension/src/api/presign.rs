//! `odp.presign`: URLs a browser or HTTP client can use on one object without
//! credentials.

use crate::error::{OdpError, OrReport};
use crate::fdw::catalog::server_options;
use odp_fdw::objects::keys::check_key;
use odp_fdw::objects::options::{Format, TableOptions};
use odp_fdw::objects::source::server_config;
use odp_fdw::objects::store::Store;
use odp_fdw::objects::ObjectError;
use odp_fdw::options::Options;
use odp_fdw::security::resource::Action;
use pgrx::prelude::*;
use std::time::Duration;

/// The longest a presigned URL may live (S3's limit for signature version 4).
const MAX_PRESIGN_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// A presigned URL for `key` on the object server `server`: whoever holds it may run
/// `method` (GET, PUT, HEAD or DELETE) on that one object until `expires` has passed,
/// without credentials. Signed with the caller's user mapping; allowed only as the
/// object tables of the server allow it ([`table_allows`]) and the resource policies of
/// the key.
#[pg_extern(volatile, parallel_unsafe)]
fn presign(
    server: &str,
    key: &str,
    expires: default!(pgrx::datum::Interval, "'1 hour'"),
    method: default!(&str, "'GET'"),
) -> String {
    let (server_opts, user) = object_server(server);
    check_key(key).map_err(OdpError::from).or_report();
    let action = match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => Action::Read,
        _ => Action::Write,
    };
    crate::fdw::resources::check_name(&format!("objects:{key}"), action);
    let method_upper = method.to_ascii_uppercase();
    if !matches!(method_upper.as_str(), "GET" | "HEAD" | "PUT" | "DELETE") {
        OdpError::from(ObjectError::Unsupported(
            "method must be GET, PUT, HEAD or DELETE".into(),
        ))
        .report();
    }
    if !object_tables_of(server)
        .into_iter()
        .any(|table| table_allows(table, key, &method_upper))
    {
        OdpError::privilege(
            "an object table of the server's owner whose prefix holds the key, with SELECT (GET, HEAD), INSERT and overwrite 'true' (PUT) or DELETE (DELETE), and no row policy restricting the role",
        )
        .report();
    }
    let micros = expires.as_micros() as f64;
    let seconds = micros / 1e6;
    if !(1.0..=MAX_PRESIGN_SECONDS).contains(&seconds) {
        OdpError::from(ObjectError::BadValue {
            key: key.to_string(),
            column: "expires",
            reason: "must be between 1 second and 7 days".into(),
        })
        .report();
    }
    let config = server_config(&server_opts, &user, &crate::host::HOST).or_report();
    let store = Store::open(&config).map_err(OdpError::from).or_report();
    odp_fdw::runtime::block_on(store.presign(method, key, Duration::from_secs_f64(seconds)))
        .map_err(ObjectError::Runtime)
        .or_report()
        .map_err(OdpError::from)
        .or_report()
}

/// The foreign tables of the server `name` that its owner (or a superuser) owns: the
/// tables its administrator defined. A table a role made itself with USAGE on the server
/// does not widen what it may presign.
fn object_tables_of(name: &str) -> Vec<pg_sys::Oid> {
    let _path = crate::fdw::catalog::PinnedSearchPath::start();
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(
            "SELECT t.ftrelid FROM pg_catalog.pg_foreign_table t \
             JOIN pg_catalog.pg_foreign_server s ON s.oid OPERATOR(pg_catalog.=) t.ftserver \
             JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.ftrelid \
             JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) c.relowner \
             WHERE s.srvname OPERATOR(pg_catalog.=) $1 \
               AND (c.relowner OPERATOR(pg_catalog.=) s.srvowner OR r.rolsuper)",
            None,
            &[name.into()],
        )? {
            if let Some(oid) = row.get::<pg_sys::Oid>(1)? {
                out.push(oid);
            }
        }
        Ok::<_, pgrx::spi::SpiError>(out)
    })
    .unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report())
}

/// Whether the object table `relid` lets the current role presign `method` for `key`:
/// the key is under its prefix, it is an `objects` table, no row policy restricts the
/// role on it (a URL bypasses every row check), and the role holds the privilege the
/// method needs: SELECT for GET and HEAD, DELETE for DELETE, INSERT for PUT on a table
/// with `overwrite 'true'` (a presigned PUT cannot be create-only).
fn table_allows(relid: pg_sys::Oid, key: &str, method: &str) -> bool {
    let options = crate::fdw::catalog::foreign_table_options(relid);
    let Ok(table) = TableOptions::from_options(&options) else {
        return false;
    };
    if table.format != Format::Objects || !key.starts_with(&table.prefix) {
        return false;
    }
    let privilege = match method {
        "GET" | "HEAD" => pg_sys::ACL_SELECT,
        "DELETE" => pg_sys::ACL_DELETE,
        "PUT" if table.overwrite => pg_sys::ACL_INSERT,
        _ => return false,
    };
    // SAFETY: an ACL check of the current role on an existing relation.
    let granted = unsafe {
        pg_sys::pg_class_aclcheck(relid, pg_sys::GetUserId(), privilege as pg_sys::AclMode)
            == pg_sys::AclResult::ACLCHECK_OK
    };
    granted && crate::fdw::policy::for_relation(relid).policy.is_none()
}

/// The options of the object server `name`, after checking that it is one and that
/// the caller has USAGE on it.
fn object_server(name: &str) -> (Options, Options) {
    match crate::fdw::catalog::server_wrapper_with_usage(name).as_deref() {
        Some("object_fdw") => {}
        Some(_) => OdpError::UndefinedObject(format!("object_fdw server \"{name}\"")).report(),
        None => OdpError::UndefinedObject(format!("foreign server \"{name}\"")).report(),
    }
    server_options(name)
        .unwrap_or_else(|| OdpError::UndefinedObject(format!("foreign server \"{name}\"")).report())
}
