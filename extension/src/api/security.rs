//! Security helpers: the role set PostgREST switches into, the claims of the current
//! request or session, row policies over foreign tables (applied by every ODP scan, see
//! `fdw::policy`) and column grants.

use crate::error::{OdpError, OrReport};
use crate::fdw::catalog::AsSuperuser;
use odp_fdw::security::jwt::{self, Expectations, JwtKey};
use odp_fdw::security::secret::Secret;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, JsonB};
use std::ffi::CString;
use std::sync::OnceLock;

/// The role every PostgREST connection logs in as; only sessions of it (and
/// superusers) may state request claims through `request.jwt.claims`.
const AUTHENTICATOR: &str = "odp_authenticator";

/// Claims a session proved (`odp.verify_jwt`, `odp.authenticate`): what, until when,
/// and for which session user (they do not survive SET SESSION AUTHORIZATION).
struct SessionClaims {
    claims: serde_json::Value,
    expires: i64,
    session_user: pg_sys::Oid,
}

thread_local! {
    static SESSION_CLAIMS: std::cell::RefCell<Option<SessionClaims>> =
        const { std::cell::RefCell::new(None) };
}

/// `odp.jwt_audience`: the `aud` every token must carry (unset: not checked).
static JWT_AUDIENCE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `odp.jwt_issuer`: the `iss` every token must carry (unset: not checked).
static JWT_ISSUER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `odp.jwt_leeway_seconds`: clock skew allowed on exp, nbf and iat.
static JWT_LEEWAY_SECONDS: GucSetting<i32> = GucSetting::<i32>::new(30);

/// Registers the GUCs of this module: superuser-only, so a session cannot loosen the
/// checks of the tokens it presents.
pub fn init_gucs() {
    GucRegistry::define_string_guc(
        c"odp.jwt_audience",
        c"The aud claim odp.verify_jwt requires",
        c"Unset: tokens are not checked for an audience.",
        &JWT_AUDIENCE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"odp.jwt_issuer",
        c"The iss claim odp.verify_jwt requires",
        c"Unset: tokens are not checked for an issuer.",
        &JWT_ISSUER,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"odp.jwt_leeway_seconds",
        c"Clock skew odp.verify_jwt allows on exp, nbf and iat",
        c"At most 300 seconds.",
        &JWT_LEEWAY_SECONDS,
        0,
        300,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// The claims of the current request or session: what PostgREST verified and set in
/// `request.jwt.claims` (trusted only in sessions of `odp_authenticator`, PostgREST's
/// login role, or of a superuser), else those of the token `odp.verify_jwt` verified in
/// this session until it expires; `{}` otherwise. A psql or BI session cannot claim to be
/// someone by setting the GUC itself.
#[pg_extern(stable, parallel_restricted)]
fn current_claims() -> JsonB {
    JsonB(claims_now())
}

/// What `odp.current_claims()` returns, as JSON.
pub(crate) fn claims_now() -> serde_json::Value {
    if session_may_state_claims() {
        // SAFETY: reads a GUC by name (NULL when unset); no catalog access.
        let text = unsafe {
            let value = pg_sys::GetConfigOption(c"request.jwt.claims".as_ptr(), true, false);
            (!value.is_null()).then(|| {
                std::ffi::CStr::from_ptr(value)
                    .to_string_lossy()
                    .into_owned()
            })
        };
        if let Some(Ok(value @ serde_json::Value::Object(_))) =
            text.map(|t| serde_json::from_str::<serde_json::Value>(&t))
        {
            return value;
        }
    }
    let now = now_seconds();
    // SAFETY: reads a backend global.
    let session_user = unsafe { pg_sys::GetSessionUserId() };
    let verified = SESSION_CLAIMS.with_borrow(|c| {
        c.as_ref()
            .filter(|c| c.expires > now && c.session_user == session_user)
            .map(|c| c.claims.clone())
    });
    verified.unwrap_or_else(|| serde_json::json!({}))
}

/// The current time in Unix seconds.
pub(crate) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Verifies a JSON Web Token against the active keys of `odp.jwt_keys` (HS256/384/512,
/// RS/PS, ES256/384, EdDSA; the header's `kid` picks the key, else every key of the
/// algorithm is tried), checks `exp` (required), `nbf` and `iat` with
/// `odp.jwt_leeway_seconds`, and requires the `aud`/`iss` of `odp.jwt_audience` and
/// `odp.jwt_issuer` when those are set (superuser settings: the session presenting the
/// token cannot loosen them). Any earlier session claims are dropped first. Refuses `alg: none`, a key of another algorithm, bad
/// signatures and expired tokens with distinct messages (28000). The claims become this
/// session's `odp.current_claims()` until the token expires, and are returned.
#[pg_extern(volatile, parallel_unsafe)]
fn verify_jwt(token: &str) -> JsonB {
    clear_session_claims();
    let keys = active_jwt_keys();
    let setting = |s: &GucSetting<Option<CString>>| {
        s.get()
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    };
    let expect = Expectations {
        audience: setting(&JWT_AUDIENCE),
        issuer: setting(&JWT_ISSUER),
        leeway_seconds: JWT_LEEWAY_SECONDS.get().clamp(0, 300) as u64,
    };
    let claims = jwt::verify(token, &keys, &expect, now_seconds())
        .map_err(OdpError::from)
        .or_report();
    let exp = claims
        .get("exp")
        .and_then(|e| e.as_i64())
        .unwrap_or_default();
    set_session_claims(claims.clone(), exp);
    JsonB(claims)
}

/// Makes `claims` this session's `odp.current_claims()` until `exp` (Unix seconds), for
/// the current session user only.
pub(crate) fn set_session_claims(claims: serde_json::Value, exp: i64) {
    // SAFETY: reads a backend global.
    let session_user = unsafe { pg_sys::GetSessionUserId() };
    SESSION_CLAIMS.with_borrow_mut(|c| {
        *c = Some(SessionClaims {
            claims,
            expires: exp,
            session_user,
        })
    });
}

/// Drops the session's claims.
pub(crate) fn clear_session_claims() {
    SESSION_CLAIMS.with_borrow_mut(|c| *c = None);
}

/// Forgets the claims `odp.verify_jwt` set for this session.
#[pg_extern(volatile, parallel_unsafe)]
fn reset_claims() {
    clear_session_claims();
}

/// Forgets everything ODP keeps for the session's identity (the claims of
/// `odp.verify_jwt` and `odp.authenticate`), for a pooler's reset query; `DISCARD ALL`
/// and `RESET ALL` do the same.
#[pg_extern(volatile, parallel_unsafe)]
fn reset_session() {
    clear_session_claims();
}

/// The `ProcessUtility` hook installed before ODP's, called after it.
static PREVIOUS_PROCESS_UTILITY: OnceLock<pg_sys::ProcessUtility_hook_type> = OnceLock::new();

/// Installs the hook that drops the session's claims at `DISCARD ALL` and `RESET ALL`
/// (what connection poolers run between clients), so that the next client of a pooled
/// connection does not inherit them (at load).
pub fn init_session_reset() {
    // SAFETY: _PG_init runs once per process, before any statement; the previous hook
    // is kept and called from ours.
    unsafe {
        let _ = PREVIOUS_PROCESS_UTILITY.set(pg_sys::ProcessUtility_hook);
        pg_sys::ProcessUtility_hook = Some(reset_session_on_discard);
    }
}

// (the hook's signature is Postgres's)
#[allow(clippy::too_many_arguments)]
#[pg_guard]
unsafe extern "C-unwind" fn reset_session_on_discard(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: Postgres passes the planned utility statement it is about to run.
    if unsafe { resets_session((*pstmt).utilityStmt) } {
        clear_session_claims();
    }
    let previous = PREVIOUS_PROCESS_UTILITY.get().copied().flatten();
    match previous {
        // SAFETY: passes Postgres's own arguments on to the previous hook, as every
        // ProcessUtility hook must.
        Some(hook) => unsafe {
            hook(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            )
        },
        // SAFETY: passes Postgres's own arguments on to the standard implementation,
        // as a ProcessUtility hook without a previous one must.
        None => unsafe {
            pg_sys::standard_ProcessUtility(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            )
        },
    }
}

/// Whether a utility statement is `DISCARD ALL` or `RESET ALL`.
///
/// # Safety
/// `node` must be NULL or a valid parse node.
unsafe fn resets_session(node: *mut pg_sys::Node) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: the tag says which statement struct the node is.
    unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_DiscardStmt => {
                (*(node as *mut pg_sys::DiscardStmt)).target == pg_sys::DiscardMode::DISCARD_ALL
            }
            pg_sys::NodeTag::T_VariableSetStmt => {
                (*(node as *mut pg_sys::VariableSetStmt)).kind
                    == pg_sys::VariableSetKind::VAR_RESET_ALL
            }
            _ => false,
        }
    }
}

/// Registers a verification key (the caller needs INSERT on `odp.jwt_keys`): an HMAC
/// secret of at least 32 bytes, or a PEM public key of the algorithm.
#[pg_extern(volatile)]
fn add_jwt_key(kid: &str, algorithm: &str, key: &str) {
    let candidate = JwtKey {
        kid: kid.to_string(),
        algorithm: algorithm.to_string(),
        key: Secret::new(key),
    };
    jwt::decoding_key(&candidate)
        .map_err(OdpError::from)
        .or_report();
    Spi::run_with_args(
        "INSERT INTO odp.jwt_keys (kid, algorithm, key) VALUES ($1, $2, $3)",
        &[kid.into(), algorithm.into(), key.into()],
    )
    .unwrap_or_else(|e| OdpError::Policy(e.to_string()).report());
}

/// The active keys, read whatever the caller may read (the secrets never leave Rust).
fn active_jwt_keys() -> Vec<JwtKey> {
    let _superuser = AsSuperuser::start();
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT k.kid, k.algorithm, k.key FROM odp.jwt_keys k WHERE k.active ORDER BY k.kid COLLATE \"C\"",
            None,
            &[],
        )?;
        let mut keys = Vec::new();
        for row in rows {
            if let (Some(kid), Some(algorithm), Some(key)) =
                (row.get::<String>(1)?, row.get::<String>(2)?, row.get::<String>(3)?)
            {
                keys.push(JwtKey {
                    kid,
                    algorithm,
                    key: Secret::new(key),
                });
            }
        }
        Ok::<_, pgrx::spi::SpiError>(keys)
    })
    .unwrap_or_else(|e| OdpError::Policy(format!("reading odp.jwt_keys: {e}")).report())
}

/// Whether the session's login role is a superuser or PostgREST's authenticator.
fn session_may_state_claims() -> bool {
    let name = CString::new(AUTHENTICATOR).expect("no NUL in a constant");
    // SAFETY: reads the session user and the role graph from the catalogs.
    unsafe {
        let session = pg_sys::GetSessionUserId();
        let authenticator = pg_sys::get_role_oid(name.as_ptr(), true);
        pg_sys::superuser_arg(session)
            || (authenticator != pg_sys::InvalidOid && session == authenticator)
    }
}

pgrx::extension_sql!(
    r#"
-- Row policies of foreign tables (Postgres refuses CREATE POLICY on them); ODP scans
-- apply them. Readable by everyone, like pg_policies; written only through
-- odp.create_row_policy / odp.drop_row_policy, which check table ownership. The table
-- is a regclass and the condition its text, both dumped and restored by name (pg_dump,
-- pg_upgrade): each backend analyses the condition when it first plans over the table,
-- with search_path = pg_catalog, pg_temp, as it was analysed when created.
CREATE TABLE odp.row_policies (
    table_name regclass NOT NULL,
    name text NOT NULL,
    using_expr text NOT NULL,
    roles name[] NOT NULL DEFAULT '{public}',
    created_by name NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, name)
);
GRANT SELECT ON odp.row_policies TO PUBLIC;
CREATE TRIGGER row_policies_changed AFTER INSERT OR UPDATE OR DELETE ON odp.row_policies
    FOR EACH ROW EXECUTE FUNCTION odp.row_policies_changed();
CREATE TRIGGER row_policies_truncated AFTER TRUNCATE ON odp.row_policies
    FOR EACH STATEMENT EXECUTE FUNCTION odp.row_policies_changed();
-- also for replicated and restored changes (session_replication_role = replica)
ALTER TABLE odp.row_policies ENABLE ALWAYS TRIGGER row_policies_changed;
ALTER TABLE odp.row_policies ENABLE ALWAYS TRIGGER row_policies_truncated;

-- Keys that verify JSON Web Tokens (odp.verify_jwt): HMAC secrets or PEM public keys;
-- several may be active at once (rotation). Readable by nobody but their owner and
-- superusers; odp_admin may add keys (odp.add_jwt_key) and switch them off.
CREATE TABLE odp.jwt_keys (
    kid text PRIMARY KEY,
    algorithm text NOT NULL,
    key text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON odp.jwt_keys FROM PUBLIC;
-- Policies and keys are the database's own data: pg_dump includes them.
SELECT pg_catalog.pg_extension_config_dump('odp.row_policies', '');
SELECT pg_catalog.pg_extension_config_dump('odp.jwt_keys', '');

-- Resource-based policies, checked by every ODP foreign table before it touches its
-- source (and by the maintenance functions): a resource a pattern matches for an action
-- is allowed only to the principals of the matching rows: a role, public, or a claim
-- `claim:<name>=<value>`. Patterns use * for any run of characters.
CREATE TABLE odp.resource_policies (
    resource text NOT NULL,
    action text NOT NULL CHECK (action IN ('read', 'write', 'admin')),
    principal text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (resource, action, principal)
);
GRANT SELECT ON odp.resource_policies TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('odp.resource_policies', '');

-- Allows `principal` to do `action` on the resources `resource` matches.
CREATE FUNCTION odp.allow_resource(resource text, action text, principal text)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO odp.resource_policies (resource, action, principal) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING
$$;

-- Removes a resource policy.
CREATE FUNCTION odp.disallow_resource(resource text, action text, principal text)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM odp.resource_policies r
     WHERE r.resource = $1 AND r.action = $2 AND r.principal = $3
$$;

-- Restricts the rows `roles` see in `tbl` to those where `using_expr` holds. On a
-- foreign table ODP's scans apply it (pushed to the source where possible, checked on
-- every row inside the scan); on a table or partitioned table it enables native row
-- level security and creates the same policy. Runs with the caller's rights: only the
-- table's owner may add policies.
CREATE FUNCTION odp.create_row_policy(tbl regclass, name text, using_expr text,
                                      roles name[] DEFAULT '{public}')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kind "char";
BEGIN
    IF name IS NULL OR using_expr IS NULL OR roles IS NULL OR cardinality(roles) = 0 THEN
        RAISE EXCEPTION 'name, using_expr and roles are required' USING ERRCODE = '22023';
    END IF;
    SELECT relkind INTO kind FROM pg_catalog.pg_class WHERE oid = tbl;
    IF kind IN ('r', 'p') THEN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
        EXECUTE format('CREATE POLICY %I ON %s TO %s USING (%s)', name, tbl,
            (SELECT string_agg(CASE WHEN lower(r) = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ')
               FROM unnest(roles) r), using_expr);
    ELSE
        PERFORM odp.store_row_policy(tbl, name, using_expr, roles);
    END IF;
END $$;

-- Removes a row policy created by odp.create_row_policy (the table's owner only).
CREATE FUNCTION odp.drop_row_policy(tbl regclass, name text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = tbl) IN ('r', 'p') THEN
        EXECUTE format('DROP POLICY %I ON %s', name, tbl);
    ELSE
        PERFORM odp.remove_row_policy(tbl, name);
    END IF;
END $$;

-- Policies go with their table: a dropped table's policies are removed, so a later
-- table reusing its OID starts without them.
CREATE FUNCTION odp.forget_dropped_row_policies() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM odp.row_policies p USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = p.table_name::oid;
END $$;
CREATE EVENT TRIGGER odp_forget_dropped_row_policies ON sql_drop
    EXECUTE FUNCTION odp.forget_dropped_row_policies();

-- Grants SELECT on some columns of a table or foreign table to a role (native column
-- privileges: SELECT * is then refused, the listed columns allowed).
CREATE FUNCTION odp.grant_columns(role name, tbl regclass, columns text[])
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT SELECT (%s) ON %s TO %I',
        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(columns) c), tbl, role);
END $$;

-- The role set PostgREST works with: odp_anon (requests without a token),
-- odp_authenticated (a valid token), odp_analyst (reads for BI), odp_admin (manages
-- policies), and odp_authenticator, the login role PostgREST connects as, which can do
-- nothing itself but switch into the others. They get USAGE on schema api (created if
-- missing) and on the odp helpers a policy calls; nothing else by default.
CREATE FUNCTION odp.install_roles(authenticator_password text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['odp_anon', 'odp_authenticated', 'odp_analyst', 'odp_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'odp_authenticator') THEN
        CREATE ROLE odp_authenticator LOGIN NOINHERIT;
    END IF;
    IF authenticator_password IS NOT NULL THEN
        EXECUTE format('ALTER ROLE odp_authenticator PASSWORD %L', authenticator_password);
    END IF;
    GRANT odp_anon, odp_authenticated, odp_analyst, odp_admin TO odp_authenticator;
    CREATE SCHEMA IF NOT EXISTS api;
    GRANT USAGE ON SCHEMA api TO odp_anon, odp_authenticated, odp_analyst, odp_admin;
    GRANT USAGE ON SCHEMA odp TO odp_anon, odp_authenticated, odp_analyst, odp_admin;
    GRANT INSERT, SELECT (kid, algorithm, active, created_at), UPDATE (active) ON odp.jwt_keys TO odp_admin;
    GRANT INSERT, DELETE ON odp.resource_policies TO odp_admin;
END $$;
"#,
    name = "security",
    requires = [
        current_claims,
        store_row_policy,
        remove_row_policy,
        row_policies_changed
    ]
);

/// Stores a row policy of the foreign table `table` (called by `odp.create_row_policy`):
/// only the table's owner may; the condition is checked here as scans will read it
/// (`search_path = pg_catalog, pg_temp`: functions of other schemas are named with their
/// schema; constants read with `TimeZone` UTC and `DateStyle` ISO) and kept as text.
#[pg_extern(volatile)]
fn store_row_policy(table: pg_sys::Oid, name: &str, using_expr: &str, roles: Vec<String>) {
    check_owner(table);
    // SAFETY: reads the relation kind from the syscache.
    if unsafe { pg_sys::get_rel_relkind(table) } as u8 != pg_sys::RELKIND_FOREIGN_TABLE {
        OdpError::Policy("row policies are for tables and foreign tables".into()).report();
    }
    // SAFETY: analyses the condition against the existing relation (scans analyse it
    // again, under the same pinned search_path): an invalid one is refused here.
    unsafe { crate::fdw::policy::analyse_stored(table, using_expr) };
    let creator = current_role_name();
    {
        let _superuser = AsSuperuser::start();
        Spi::run_with_args(
            "INSERT INTO odp.row_policies (table_name, name, using_expr, roles, created_by) \
             VALUES ($1::pg_catalog.regclass, $2, $3, $4::pg_catalog.name[], $5)",
            &[
                table.into(),
                name.into(),
                using_expr.into(),
                roles.into(),
                creator.into(),
            ],
        )
        .unwrap_or_else(|e| OdpError::Policy(e.to_string()).report());
        // Statistics gathered before the table had policies describe the rows they now
        // hide (pg_stats shows them to every role with SELECT, pg_class.reltuples to
        // everyone): dropped here, and ANALYZE gathers none while policies exist.
        Spi::run_with_args(
            "DELETE FROM pg_catalog.pg_statistic s WHERE s.starelid OPERATOR(pg_catalog.=) $1",
            &[table.into()],
        )
        .unwrap_or_else(|e| OdpError::Policy(e.to_string()).report());
        Spi::run_with_args(
            "UPDATE pg_catalog.pg_class c SET reltuples = '-1'::pg_catalog.float4, relpages = 0 \
             WHERE c.oid OPERATOR(pg_catalog.=) $1",
            &[table.into()],
        )
        .unwrap_or_else(|e| OdpError::Policy(e.to_string()).report());
    }
}

/// Removes a row policy of the foreign table `table` (the table's owner only).
#[pg_extern(volatile)]
fn remove_row_policy(table: pg_sys::Oid, name: &str) {
    check_owner(table);
    {
        let _superuser = AsSuperuser::start();
        Spi::run_with_args(
            "DELETE FROM odp.row_policies p WHERE p.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1 \
             AND p.name OPERATOR(pg_catalog.=) $2",
            &[table.into(), name.into()],
        )
        .unwrap_or_else(|e| OdpError::Policy(e.to_string()).report());
    }
}

/// Trigger on `odp.row_policies`: every change of a table's policies reaches the policy
/// cache of every backend, and the cached plans over the table, as a relcache
/// invalidation of that table (sent at commit); TRUNCATE invalidates every table.
#[pg_trigger]
fn row_policies_changed<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::datum::TryFromDatumError> {
    let rows = [trigger.old(), trigger.new()];
    if rows.iter().all(Option::is_none) {
        // SAFETY: queues an invalidation of every relcache entry, sent at commit.
        unsafe { pg_sys::CacheInvalidateRelcacheAll() };
    }
    for row in rows.iter().flatten() {
        let Some(table) = row.get_by_name::<pg_sys::Oid>("table_name")? else {
            continue;
        };
        // A dropped table (its policies are deleted by the sql_drop event trigger) has
        // no relcache entry left to invalidate; its drop invalidated it already.
        // SAFETY: reads pg_class through the syscache; queues an invalidation sent at
        // commit.
        unsafe {
            if pg_sys::get_rel_relkind(table) != 0 {
                pg_sys::CacheInvalidateRelcacheByRelid(table);
            }
        }
    }
    Ok(None)
}

/// Raises 42501 unless the current role owns `table`.
fn check_owner(table: pg_sys::Oid) {
    // SAFETY: reads the relation's owner and the role graph.
    if !unsafe { pg_sys::pg_class_ownercheck(table, pg_sys::GetUserId()) } {
        OdpError::privilege("ownership of the table").report();
    }
}

/// The current role's name.
pub(crate) fn current_role_name() -> String {
    // SAFETY: GetUserNameFromId returns a palloc'd copy of an existing role's name.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false);
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
}
