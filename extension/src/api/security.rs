//! Security helpers: the role set PostgREST switches into, the claims of the current
//! request or session, row policies over foreign tables (applied by every ODP scan, see
//! `fdw::policy`) and column grants.

use pgrx::prelude::*;
use pgrx::JsonB;
use std::ffi::CString;

/// The role every PostgREST connection logs in as; only sessions of it (and
/// superusers) may state request claims through `request.jwt.claims`.
const AUTHENTICATOR: &str = "odp_authenticator";

/// The claims of the current request: what PostgREST verified and set in
/// `request.jwt.claims`, trusted only in sessions of `odp_authenticator` (PostgREST's
/// login role) or of a superuser; `{}` otherwise. A psql or BI session cannot claim to
/// be someone by setting the GUC itself.
#[pg_extern(stable, parallel_safe)]
fn current_claims() -> JsonB {
    if !session_may_state_claims() {
        return JsonB(serde_json::json!({}));
    }
    let text = Spi::get_one::<String>("SELECT current_setting('request.jwt.claims', true)")
        .ok()
        .flatten()
        .unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(value @ serde_json::Value::Object(_)) => JsonB(value),
        _ => JsonB(serde_json::json!({})),
    }
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
-- apply them. Readable by everyone, like pg_policies; changed through the functions.
CREATE TABLE odp.row_policies (
    table_oid oid NOT NULL,
    name text NOT NULL,
    using_expr text NOT NULL,
    roles name[] NOT NULL DEFAULT '{public}',
    created_by name NOT NULL DEFAULT current_user,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_oid, name)
);
GRANT SELECT ON odp.row_policies TO PUBLIC;

-- Restricts the rows `roles` see in `tbl` to those where `using_expr` holds. On a
-- foreign table ODP's scans apply it (pushed to the source where possible, checked on
-- every row inside the scan); on a table or partitioned table it enables native row
-- level security and creates the same policy. Only the table's owner may call it.
CREATE FUNCTION odp.create_row_policy(tbl regclass, name text, using_expr text,
                                      roles name[] DEFAULT '{public}')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kind "char";
    owner oid;
BEGIN
    SELECT relkind, relowner INTO kind, owner FROM pg_class WHERE oid = tbl;
    IF NOT pg_has_role(odp.invoking_role(), owner, 'USAGE') THEN
        RAISE EXCEPTION 'must be the owner of % to create a row policy on it', tbl
            USING ERRCODE = '42501';
    END IF;
    IF name IS NULL OR using_expr IS NULL OR roles IS NULL OR cardinality(roles) = 0 THEN
        RAISE EXCEPTION 'name, using_expr and roles are required' USING ERRCODE = '22023';
    END IF;
    IF kind IN ('r', 'p') THEN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
        EXECUTE format('CREATE POLICY %I ON %s TO %s USING (%s)', name, tbl,
            (SELECT string_agg(CASE WHEN lower(r) = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ')
               FROM unnest(roles) r), using_expr);
    ELSIF kind = 'f' THEN
        PERFORM odp.check_row_policy(tbl, using_expr);
        INSERT INTO odp.row_policies (table_oid, name, using_expr, roles, created_by)
            VALUES (tbl, name, using_expr, roles, odp.invoking_role()::regrole::name);
        PERFORM odp.invalidate_row_policies(tbl);
    ELSE
        RAISE EXCEPTION '% is not a table or foreign table', tbl USING ERRCODE = '42809';
    END IF;
END $$;

-- Removes a row policy created by odp.create_row_policy.
CREATE FUNCTION odp.drop_row_policy(tbl regclass, name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kind "char";
    owner oid;
BEGIN
    SELECT relkind, relowner INTO kind, owner FROM pg_class WHERE oid = tbl;
    IF NOT pg_has_role(odp.invoking_role(), owner, 'USAGE') THEN
        RAISE EXCEPTION 'must be the owner of % to drop its row policies', tbl
            USING ERRCODE = '42501';
    END IF;
    IF kind = 'f' THEN
        DELETE FROM odp.row_policies p WHERE p.table_oid = tbl AND p.name = drop_row_policy.name;
        PERFORM odp.invalidate_row_policies(tbl);
    ELSE
        EXECUTE format('DROP POLICY %I ON %s', name, tbl);
    END IF;
END $$;

-- Grants SELECT on some columns of a table or foreign table to a role (native column
-- privileges: SELECT * is then refused, the listed columns allowed).
CREATE FUNCTION odp.grant_columns(role name, tbl regclass, columns text[])
RETURNS void LANGUAGE plpgsql AS $$
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
RETURNS void LANGUAGE plpgsql AS $$
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
END $$;
"#,
    name = "security",
    requires = [
        current_claims,
        invalidate_row_policies,
        check_row_policy,
        invoking_role
    ]
);

/// Drops cached plans of queries over `table` (its policies changed).
#[pg_extern(volatile)]
fn invalidate_row_policies(table: pg_sys::Oid) {
    // SAFETY: registers a relcache invalidation for this relation at command end.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(table) };
}

/// Checks that `condition` is a valid row-policy condition on `table` (one boolean
/// expression over its columns, no subqueries); raises the parser's error otherwise.
#[pg_extern(volatile)]
fn check_row_policy(table: pg_sys::Oid, condition: &str) {
    // SAFETY: parses against an existing relation inside this transaction.
    unsafe {
        crate::fdw::policy::parse(table, condition);
    }
}

/// The role that called the current SECURITY DEFINER function: the role of the last
/// SET ROLE (Postgres's outer user), which a definer function does not change.
#[pg_extern(volatile)]
fn invoking_role() -> pg_sys::Oid {
    // SAFETY: reads a backend global set by SET ROLE and session start.
    unsafe { pg_sys::GetOuterUserId() }
}
