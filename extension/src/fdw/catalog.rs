//! Reading foreign table, server and user mapping definitions from the catalogs.

use super::{PgColumn, TableContext};
use odp_fdw::options::Options;
use pgrx::{pg_sys, PgRelation};
use std::ffi::CStr;

/// Converts a `List` of `DefElem` into options.
///
/// # Safety
/// `list` must be NIL or a valid `List` of `DefElem` nodes.
pub unsafe fn options_from_list(list: *mut pg_sys::List) -> Options {
    let mut pairs = Vec::new();
    // SAFETY: the caller promises `list` is NIL or a valid List (of DefElem nodes).
    let ptrs = unsafe { list_ptrs(list) };
    for ptr in ptrs {
        let def = ptr as *mut pg_sys::DefElem;
        // SAFETY: the caller promises DefElem nodes; defGetString reads their argument.
        let (name, value) = unsafe {
            (
                CStr::from_ptr((*def).defname),
                CStr::from_ptr(pg_sys::defGetString(def)),
            )
        };
        pairs.push((
            name.to_string_lossy().into_owned(),
            value.to_string_lossy().into_owned(),
        ));
    }
    Options::new(pairs)
}

/// The pointers stored in a `List` (empty for NIL).
///
/// # Safety
/// `list` must be NIL or a valid pointer `List`.
pub unsafe fn list_ptrs(list: *mut pg_sys::List) -> Vec<*mut std::ffi::c_void> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: a valid List has `length` initialised cells in `elements`.
    unsafe {
        (0..(*list).length as usize)
            .map(|i| (*(*list).elements.add(i)).ptr_value)
            .collect()
    }
}

/// The options of the foreign table `relid` (an existing foreign table).
pub fn foreign_table_options(relid: pg_sys::Oid) -> Options {
    // SAFETY: GetForeignTable returns the catalog entry of an existing foreign table;
    // its options are a DefElem list.
    unsafe { options_from_list((*pg_sys::GetForeignTable(relid)).options) }
}

/// Builds the context of a foreign table for the current user.
pub fn table_context(relid: pg_sys::Oid) -> TableContext {
    // SAFETY: relid is a foreign table the planner or executor is working on.
    let (server_id, table) = unsafe {
        let ft = pg_sys::GetForeignTable(relid);
        ((*ft).serverid, options_from_list((*ft).options))
    };
    // SAFETY: the server of an existing foreign table exists.
    let server = unsafe { options_from_list((*pg_sys::GetForeignServer(server_id)).options) };
    let user = user_mapping_options(server_id);
    // SAFETY: relid names an existing relation the caller is planning or scanning.
    let rel = unsafe { PgRelation::with_lock(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    let columns = rel
        .tuple_desc()
        .iter()
        .filter(|att| !att.is_dropped())
        .map(|att| PgColumn {
            attnum: att.attnum,
            name: att.name().to_string(),
            type_oid: att.type_oid().value().to_u32(),
            pg_type: super::pgtype::pg_type_of(att.type_oid().value()),
            type_mod: att.type_mod(),
            type_name: type_name(att.type_oid().value()),
            // SAFETY: the attribute belongs to this foreign table.
            options: unsafe {
                options_from_list(pg_sys::GetForeignColumnOptions(relid, att.attnum))
            },
        })
        .collect();
    TableContext {
        relid: relid.to_u32(),
        server,
        user,
        table,
        columns,
        host: &crate::host::HOST,
    }
}

/// The options of the foreign server `name` and of the current user's mapping to it;
/// `None` when there is no such server.
pub fn server_options(name: &str) -> Option<(Options, Options)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: GetForeignServerByName with missing_ok returns NULL or a valid server.
    unsafe {
        let server = pg_sys::GetForeignServerByName(name.as_ptr(), true);
        if server.is_null() {
            return None;
        }
        Some((
            options_from_list((*server).options),
            user_mapping_options((*server).serverid),
        ))
    }
}

/// Options of the current user's mapping to `server_id` (or the PUBLIC one), or none.
fn user_mapping_options(server_id: pg_sys::Oid) -> Options {
    // SAFETY: syscache probes by (user, server); GetUserMapping finds the same entry (or
    // the PUBLIC one) and only raises an ERROR when neither exists, checked first.
    unsafe {
        let user = pg_sys::GetUserId();
        let exists = |role: pg_sys::Oid| {
            pg_sys::SearchSysCacheExists(
                pg_sys::SysCacheIdentifier::USERMAPPINGUSERSERVER as i32,
                pg_sys::Datum::from(role),
                pg_sys::Datum::from(server_id),
                pg_sys::Datum::from(0),
                pg_sys::Datum::from(0),
            )
        };
        if exists(user) || exists(pg_sys::InvalidOid) {
            options_from_list((*pg_sys::GetUserMapping(user, server_id)).options)
        } else {
            Options::default()
        }
    }
}

/// `format_type_be` of a type OID.
pub fn type_name(oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be returns a palloc'd C string for any OID.
    unsafe {
        CStr::from_ptr(pg_sys::format_type_be(oid))
            .to_string_lossy()
            .into_owned()
    }
}

/// The wrapper of the foreign server `name` (`None` when there is no such server), after
/// checking that the current role has USAGE on it (42501 otherwise). Uses the catalog
/// functions directly: no query, so no `search_path` takes part.
pub fn server_wrapper_with_usage(name: &str) -> Option<String> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: GetForeignServerByName with missing_ok returns NULL or a valid server.
    let server = unsafe { pg_sys::GetForeignServerByName(name.as_ptr(), true) };
    if server.is_null() {
        return None;
    }
    // SAFETY: `server` is a valid ForeignServer; the ACL check reads catalogs.
    let usage = unsafe {
        pg_sys::pg_foreign_server_aclcheck(
            (*server).serverid,
            pg_sys::GetUserId(),
            pg_sys::ACL_USAGE as pg_sys::AclMode,
        )
    };
    if usage != pg_sys::AclResult::ACLCHECK_OK {
        crate::error::OdpError::privilege("USAGE on the foreign server").report();
    }
    // SAFETY: the wrapper of an existing server exists; its name is a NUL-terminated
    // string.
    let wrapper =
        unsafe { CStr::from_ptr((*pg_sys::GetForeignDataWrapper((*server).fdwid)).fdwname) };
    Some(wrapper.to_string_lossy().into_owned())
}

/// The `search_path` every statement ODP runs itself (through SPI) is planned under:
/// nothing a session can create in its own schemas (operators, functions, casts,
/// tables) is found before the system catalog's.
const INTERNAL_SEARCH_PATH: &CStr = c"pg_catalog, pg_temp";

/// Pins `search_path` to [`INTERNAL_SEARCH_PATH`] until dropped (or until the
/// transaction or subtransaction aborts), at a GUC nest level of its own, as
/// `SET search_path` on a function does. Every SPI statement of the extension runs
/// under one, as the caller ([`PinnedSearchPath::start`]) or as a superuser
/// ([`AsSuperuser`]); `tests/lint_internal_sql.py` checks that each names its
/// operators and functions with their schema too.
pub(crate) struct PinnedSearchPath {
    nest_level: i32,
}

/// The settings besides `search_path` that decide how an expression's text is read
/// (its constants: times, dates, intervals, string escapes), pinned while a stored row
/// policy is analysed so that every backend reads it the same way, whatever the session.
const EXPRESSION_SETTINGS: [(&CStr, &CStr); 4] = [
    (c"TimeZone", c"UTC"),
    (c"DateStyle", c"ISO, YMD"),
    (c"IntervalStyle", c"postgres"),
    (c"standard_conforming_strings", c"on"),
];

impl PinnedSearchPath {
    pub(crate) fn start() -> PinnedSearchPath {
        Self::with(&[(c"search_path", INTERNAL_SEARCH_PATH)])
    }

    /// [`PinnedSearchPath::start`], and the settings that decide how constants in an
    /// expression are read fixed too.
    pub(crate) fn for_expressions() -> PinnedSearchPath {
        let mut settings = vec![(c"search_path", INTERNAL_SEARCH_PATH)];
        settings.extend(EXPRESSION_SETTINGS);
        Self::with(&settings)
    }

    fn with(settings: &[(&CStr, &CStr)]) -> PinnedSearchPath {
        // SAFETY: opens a GUC nest level and sets GUCs in it, as fmgr does for a
        // function with `SET` clauses; `drop` pops the level (an abort pops it too).
        let nest_level = unsafe {
            let level = pg_sys::NewGUCNestLevel();
            for (name, value) in settings {
                pg_sys::set_config_option(
                    name.as_ptr(),
                    value.as_ptr(),
                    pg_sys::GucContext::PGC_USERSET,
                    pg_sys::GucSource::PGC_S_SESSION,
                    pg_sys::GucAction::GUC_ACTION_SAVE,
                    true,
                    pg_sys::PGERROR as i32,
                    false,
                );
            }
            level
        };
        PinnedSearchPath { nest_level }
    }
}

impl Drop for PinnedSearchPath {
    fn drop(&mut self) {
        // SAFETY: pops the nest level `start` opened, restoring the caller's settings.
        unsafe { pg_sys::AtEOXact_GUC(true, self.nest_level) };
    }
}

/// Runs the extension's own statements as the bootstrap superuser until dropped, to
/// read and write its catalog tables (policies, keys) whatever the current role may do
/// there. Like Postgres's own maintenance commands, it is a security-restricted
/// operation (no SET ROLE, no temporary objects) under a pinned `search_path`; only
/// constant, schema-qualified statements run under it, and an ERROR's abort restores
/// the user and the settings too.
pub(crate) struct AsSuperuser {
    user: pg_sys::Oid,
    context: i32,
    // restored after the user (fields drop in declaration order after `drop`)
    _search_path: PinnedSearchPath,
}

impl AsSuperuser {
    pub(crate) fn start() -> AsSuperuser {
        let search_path = PinnedSearchPath::start();
        let (mut user, mut context) = (pg_sys::InvalidOid, 0);
        // SAFETY: reads and sets the backend's current user, as Postgres's own
        // catalog-maintenance code does around internal queries.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            pg_sys::SetUserIdAndSecContext(
                pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID),
                context
                    | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                    | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
            );
        }
        AsSuperuser {
            user,
            context,
            _search_path: search_path,
        }
    }
}

impl Drop for AsSuperuser {
    fn drop(&mut self) {
        // SAFETY: restores the user and context saved by `start`.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
    }
}

/// Whether the current role has the privileges of the role `name` (false for an
/// unknown role).
pub fn has_privs_of_role_named(name: &str) -> bool {
    let Ok(name) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: get_role_oid with missing_ok returns InvalidOid for an unknown role;
    // has_privs_of_role reads the role graph.
    unsafe {
        let role = pg_sys::get_role_oid(name.as_ptr(), true);
        role != pg_sys::InvalidOid && pg_sys::has_privs_of_role(pg_sys::GetUserId(), role)
    }
}
