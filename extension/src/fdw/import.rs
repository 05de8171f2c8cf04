//! `IMPORT FOREIGN SCHEMA`: the source lists tables, the core writes the DDL with
//! Postgres's own quoting and honours `LIMIT TO` / `EXCEPT`.

use super::catalog::{list_ptrs, options_from_list};
use super::options::path_privilege;
use super::{ImportedTable, Source, TableContext};
use crate::error::OrReport;
use odp_fdw::options::Options;
use odp_fdw::security::resource::Action;
use pgrx::{pg_guard, pg_sys, PgTryBuilder};
use std::ffi::{CStr, CString};

fn quote_ident(name: &str) -> String {
    let c = CString::new(name).unwrap_or_default();
    // SAFETY: quote_identifier returns its argument or a palloc'd quoted copy.
    unsafe { CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())) }
        .to_string_lossy()
        .into_owned()
}

fn quote_literal(value: &str) -> String {
    let c = CString::new(value).unwrap_or_default();
    // SAFETY: quote_literal_cstr returns a palloc'd quoted copy.
    unsafe { CStr::from_ptr(pg_sys::quote_literal_cstr(c.as_ptr())) }
        .to_string_lossy()
        .into_owned()
}

/// Whether the current role may read the resource `table` would name: a table a
/// resource policy keeps from the role is not imported (its name and columns would
/// describe data the role may not read).
fn readable<S: Source>(server: &Options, user: &Options, table: &ImportedTable) -> bool {
    let context = TableContext {
        relid: pg_sys::InvalidOid.to_u32(),
        server: server.clone(),
        user: user.clone(),
        table: Options::new(table.options.iter().cloned()),
        columns: Vec::new(),
        host: &crate::host::HOST,
    };
    super::resources::first_denied(&S::resources(&context), Action::Read).is_none()
}

/// `ImportForeignSchema` callback.
#[pg_guard]
pub unsafe extern "C-unwind" fn import_foreign_schema<S: Source>(
    stmt: *mut pg_sys::ImportForeignSchemaStmt,
    server_oid: pg_sys::Oid,
) -> *mut pg_sys::List {
    // SAFETY: the server of the statement exists (Postgres looked it up by name).
    let server = unsafe { pg_sys::GetForeignServer(server_oid) };
    // SAFETY: a ForeignServer's options are NIL or a List of DefElem.
    let server_options = unsafe { options_from_list((*server).options) };
    let user = PgTryBuilder::new(|| {
        // SAFETY: GetUserMapping returns a valid mapping (options: NIL or a List of
        // DefElem) or raises an ERROR, caught here.
        unsafe {
            options_from_list((*pg_sys::GetUserMapping(pg_sys::GetUserId(), server_oid)).options)
        }
    })
    .catch_others(|_| Options::default())
    .execute();
    // SAFETY: `stmt` is the parsed statement, valid for this call; its schema names are
    // NUL-terminated strings.
    let (remote, local) = unsafe {
        (
            CStr::from_ptr((*stmt).remote_schema),
            CStr::from_ptr((*stmt).local_schema),
        )
    };
    let remote = remote.to_string_lossy().into_owned();
    let local = local.to_string_lossy().into_owned();
    // SAFETY: the server's name is a NUL-terminated string.
    let server_name = unsafe { CStr::from_ptr((*server).servername) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: `stmt` is valid; its table_list is NIL or a List of RangeVar nodes.
    let (table_list, list_type) = unsafe { (list_ptrs((*stmt).table_list), (*stmt).list_type) };
    let listed: Vec<String> = table_list
        .into_iter()
        .map(|rv| {
            // SAFETY: each RangeVar of the list has a NUL-terminated relname.
            unsafe { CStr::from_ptr((*(rv as *mut pg_sys::RangeVar)).relname) }
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let keep = |name: &str| match list_type {
        pg_sys::ImportForeignSchemaType::FDW_IMPORT_SCHEMA_LIMIT_TO => {
            listed.iter().any(|l| l == name)
        }
        pg_sys::ImportForeignSchemaType::FDW_IMPORT_SCHEMA_EXCEPT => {
            !listed.iter().any(|l| l == name)
        }
        _ => true,
    };
    let mut commands: *mut pg_sys::List = std::ptr::null_mut();
    for table in S::import_schema(
        &server_options,
        &user,
        &remote,
        path_privilege(),
        &crate::host::HOST,
    )
    .or_report()
    {
        if !keep(&table.name) || !readable::<S>(&server_options, &user, &table) {
            continue;
        }
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|(n, t)| format!("{} {t}", quote_ident(n)))
            .collect();
        let options: Vec<String> = table
            .options
            .iter()
            .map(|(k, v)| format!("{} {}", quote_ident(k), quote_literal(v)))
            .collect();
        let sql = format!(
            "CREATE FOREIGN TABLE {}.{} ({}) SERVER {} OPTIONS ({})",
            quote_ident(&local),
            quote_ident(&table.name),
            columns.join(", "),
            quote_ident(&server_name),
            options.join(", ")
        );
        let sql = CString::new(sql).unwrap_or_default();
        // SAFETY: pstrdup copies the NUL-terminated text into the current memory
        // context; `commands` is NIL or the List built so far.
        commands = unsafe { pg_sys::lappend(commands, pg_sys::pstrdup(sql.as_ptr()) as *mut _) };
    }
    commands
}
