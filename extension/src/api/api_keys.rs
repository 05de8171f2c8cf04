//! API keys: `odp.create_api_key` hands a secret out once and keeps a salted hash;
//! `odp.pre_request` (PostgREST's `db-pre-request`) and `odp.authenticate` (psql, BI)
//! turn a key into its role and claims, refusing revoked and expired keys.

use super::security::{clear_session_claims, current_role_name, now_seconds, set_session_claims};
use crate::error::OdpError;
use crate::fdw::catalog::{has_privs_of_role_named, AsSuperuser};
use odp_fdw::security::api_key;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::JsonB;
use std::ffi::CString;

pgrx::extension_sql!(
    r#"
-- API keys: only a salted hash of each secret is kept. Readable by nobody but their
-- owner and superusers; managed through the functions (members of odp_admin).
CREATE TABLE odp.api_keys (
    name text PRIMARY KEY,
    prefix text NOT NULL UNIQUE,
    salt bytea NOT NULL,
    hash bytea NOT NULL,
    role name NOT NULL,
    scopes text[] NOT NULL DEFAULT '{}',
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz,
    created_by name NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON odp.api_keys FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('odp.api_keys', '');

-- For PostgREST's db-pre-request: a request with an `apikey` header runs as the key's
-- role with its claims (request.jwt.claims); an unknown, revoked or expired key stops
-- the request (28000). Requests without one keep what PostgREST set from their JWT.
CREATE FUNCTION odp.pre_request() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    headers jsonb := coalesce(nullif(current_setting('request.headers', true), ''), '{}')::jsonb;
    claims jsonb;
BEGIN
    IF headers ->> 'apikey' IS NULL THEN
        RETURN;
    END IF;
    claims := odp.api_key_claims(headers ->> 'apikey');
    PERFORM set_config('request.jwt.claims', claims::text, true);
    EXECUTE format('SET LOCAL ROLE %I', claims ->> 'role');
END $$;
"#,
    name = "api_keys",
    requires = [api_key_claims]
);

/// Creates an API key for `role` and returns its secret, the only time it is shown.
/// Needs membership in `odp_admin` (or superuser); the role must exist and may not be a
/// superuser.
#[pg_extern(volatile, parallel_unsafe)]
fn create_api_key(
    name: &str,
    role: &str,
    scopes: default!(Vec<String>, "'{}'"),
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> String {
    check_key_admin();
    check_key_role(role);
    let key =
        api_key::generate().unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report());
    let creator = current_role_name();
    let _superuser = AsSuperuser::start();
    Spi::run_with_args(
        "INSERT INTO odp.api_keys (name, prefix, salt, hash, role, scopes, expires_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            name.into(),
            key.prefix.clone().into(),
            key.salt.into(),
            key.hash.into(),
            role.into(),
            scopes.into(),
            expires_at.into(),
            creator.into(),
        ],
    )
    .unwrap_or_else(|e| OdpError::InvalidArgument(format!("API key \"{name}\": {e}")).report());
    key.secret
}

/// Revokes the key `name` at once; returns whether it existed.
#[pg_extern(volatile, parallel_unsafe)]
fn revoke_api_key(name: &str) -> bool {
    check_key_admin();
    let _superuser = AsSuperuser::start();
    Spi::get_one_with_args::<bool>(
        "UPDATE odp.api_keys k SET revoked_at = pg_catalog.now() \
         WHERE k.name OPERATOR(pg_catalog.=) $1 AND k.revoked_at IS NULL RETURNING true",
        &[name.into()],
    )
    .unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report())
    .unwrap_or(false)
}

/// Gives the key `name` a new secret (returned once); the old secret stops working. A
/// revoked key stays revoked.
#[pg_extern(volatile, parallel_unsafe)]
fn rotate_api_key(name: &str) -> String {
    check_key_admin();
    let key =
        api_key::generate().unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report());
    let _superuser = AsSuperuser::start();
    let found = Spi::get_one_with_args::<bool>(
        "UPDATE odp.api_keys k SET prefix = $2, salt = $3, hash = $4 \
         WHERE k.name OPERATOR(pg_catalog.=) $1 RETURNING true",
        &[
            name.into(),
            key.prefix.clone().into(),
            key.salt.into(),
            key.hash.into(),
        ],
    )
    .unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report())
    .unwrap_or(false);
    if !found {
        OdpError::UndefinedObject(format!("API key \"{name}\"")).report();
    }
    key.secret
}

/// The API keys, without their secrets or hashes (members of `odp_admin`).
// pgrx spells the columns of a returned table in the signature
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
fn list_api_keys() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(prefix, String),
        name!(role, String),
        name!(scopes, Vec<String>),
        name!(created_at, Option<TimestampWithTimeZone>),
        name!(expires_at, Option<TimestampWithTimeZone>),
        name!(revoked_at, Option<TimestampWithTimeZone>),
        name!(last_used_at, Option<TimestampWithTimeZone>),
    ),
> {
    check_key_admin();
    let _superuser = AsSuperuser::start();
    let rows = Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(
            "SELECT k.name, k.prefix, k.role::pg_catalog.text, k.scopes, k.created_at, k.expires_at, \
             k.revoked_at, k.last_used_at FROM odp.api_keys k ORDER BY k.name COLLATE \"C\"",
            None,
            &[],
        )? {
            out.push((
                row.get::<String>(1)?.unwrap_or_default(),
                row.get::<String>(2)?.unwrap_or_default(),
                row.get::<String>(3)?.unwrap_or_default(),
                row.get::<Vec<String>>(4)?.unwrap_or_default(),
                row.get::<TimestampWithTimeZone>(5)?,
                row.get::<TimestampWithTimeZone>(6)?,
                row.get::<TimestampWithTimeZone>(7)?,
                row.get::<TimestampWithTimeZone>(8)?,
            ));
        }
        Ok::<_, pgrx::spi::SpiError>(out)
    })
    .unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report());
    TableIterator::new(rows)
}

/// The claims of an API key (`role`, `api_key`, `scopes`), recording its use; refuses
/// unknown, revoked and expired keys (28000). Used by `odp.pre_request`.
#[pg_extern(volatile, parallel_unsafe)]
fn api_key_claims(secret: &str) -> JsonB {
    JsonB(claims_of(secret).0)
}

/// How long a session keeps the claims of an API key before it must authenticate again
/// (a revoked key stops working for sessions within this time).
const SESSION_KEY_SECONDS: i64 = 300;

/// Authenticates a psql or BI session with an API key: its claims become this
/// session's `odp.current_claims()` for five minutes (or until the key expires) and are
/// returned. Earlier session claims are dropped first.
#[pg_extern(volatile, parallel_unsafe)]
fn authenticate(api_key: &str) -> JsonB {
    clear_session_claims();
    let (claims, expires) = claims_of(api_key);
    let until = now_seconds() + SESSION_KEY_SECONDS;
    set_session_claims(claims.clone(), expires.map_or(until, |e| e.min(until)));
    JsonB(claims)
}

/// The claims of the key a secret belongs to, and when the key expires (Unix seconds).
fn claims_of(secret: &str) -> (serde_json::Value, Option<i64>) {
    let refuse = |why: &str| -> ! { OdpError::Auth(why.to_string()).report() };
    let Some(prefix) = api_key::prefix_of(secret) else {
        refuse("invalid API key");
    };
    let _superuser = AsSuperuser::start();
    let row = Spi::connect(|client| {
        let mut rows = client.select(
            "SELECT k.name, k.salt, k.hash, k.role::pg_catalog.text, k.scopes, \
             CASE WHEN pg_catalog.isfinite(k.expires_at) \
                  THEN pg_catalog.date_part('epoch', k.expires_at)::pg_catalog.int8 \
                  WHEN k.expires_at IS NOT NULL AND k.expires_at OPERATOR(pg_catalog.<) pg_catalog.now() THEN 0 END, \
             k.revoked_at IS NOT NULL \
             FROM odp.api_keys k WHERE k.prefix OPERATOR(pg_catalog.=) $1",
            None,
            &[prefix.into()],
        )?;
        let Some(row) = rows.next() else {
            return Ok(None);
        };
        Ok::<_, pgrx::spi::SpiError>(Some((
            row.get::<String>(1)?.unwrap_or_default(),
            row.get::<Vec<u8>>(2)?.unwrap_or_default(),
            row.get::<Vec<u8>>(3)?.unwrap_or_default(),
            row.get::<String>(4)?.unwrap_or_default(),
            row.get::<Vec<String>>(5)?.unwrap_or_default(),
            row.get::<i64>(6)?,
            row.get::<bool>(7)?.unwrap_or(true),
        )))
    })
    .unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report());
    let Some((name, salt, hash, role, scopes, expires, revoked)) = row else {
        refuse("invalid API key");
    };
    if !api_key::matches(&salt, &hash, secret) {
        refuse("invalid API key");
    }
    if revoked {
        refuse("API key revoked");
    }
    if expires.is_some_and(|e| e <= now_seconds()) {
        refuse("API key expired");
    }
    record_use(&name);
    let mut claims = serde_json::json!({"role": role, "api_key": name, "scopes": scopes});
    if let Some(exp) = expires {
        claims["exp"] = serde_json::json!(exp);
    }
    (claims, expires)
}

/// Records that the key was used, at most once a minute (fewer row locks under load),
/// and not in read-only transactions (PostgREST runs GET requests in them).
fn record_use(name: &str) {
    // SAFETY: reads backend globals.
    let read_only = unsafe { pg_sys::XactReadOnly || pg_sys::RecoveryInProgress() };
    if read_only {
        return;
    }
    Spi::run_with_args(
        "UPDATE odp.api_keys k SET last_used_at = pg_catalog.now() \
         WHERE k.name OPERATOR(pg_catalog.=) $1 \
           AND (k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) '1 minute'::pg_catalog.interval))",
        &[name.into()],
    )
    .unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report());
}

/// Raises 42501 unless the current role is a superuser or a member of `odp_admin`.
fn check_key_admin() {
    // SAFETY: reads the current role's superuser flag.
    let allowed = unsafe { pg_sys::superuser() } || has_privs_of_role_named("odp_admin");
    if !allowed {
        OdpError::privilege("membership in odp_admin").report();
    }
}

/// Raises unless `role` exists and is neither a superuser nor the authenticator.
fn check_key_role(role: &str) {
    let name = CString::new(role)
        .unwrap_or_else(|_| OdpError::InvalidArgument("role name".into()).report());
    // SAFETY: looks the role up in the syscache.
    let oid = unsafe { pg_sys::get_role_oid(name.as_ptr(), true) };
    if oid == pg_sys::InvalidOid {
        OdpError::UndefinedObject(format!("role \"{role}\"")).report();
    }
    // SAFETY: reads the role's superuser flag.
    if unsafe { pg_sys::superuser_arg(oid) } || role == "odp_authenticator" {
        OdpError::InvalidArgument(format!("API keys cannot act as role \"{role}\"")).report();
    }
    // SAFETY: reads the role graph: a key may only act as a role its creator acts as.
    if !unsafe { pg_sys::has_privs_of_role(pg_sys::GetUserId(), oid) } {
        OdpError::privilege("the privileges of the key's role").report();
    }
}
