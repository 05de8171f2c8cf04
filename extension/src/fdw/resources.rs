//! Resource-based policies (`odp.resource_policies`): every ODP foreign table names its
//! resource (`Source::resource`: `delta:<path>`, `objects:<prefix>`, `graph:<label or
//! type>`, `features:<key template>`), and before a scan, a write or a maintenance
//! function touches the source, the core checks the action against the policies.
//!
//! A resource no policy pattern matches for an action is open (tables keep working
//! until an administrator governs them); a matched one is allowed only to the
//! principals of the matching policies: a role (by membership), `public`, or a claim
//! `claim:<name>=<value>` of `odp.current_claims()`. Superusers are not restricted.

use super::catalog::{has_privs_of_role_named, AsSuperuser};
use crate::error::OdpError;
use odp_fdw::security::resource::{Action, Resource};
use pgrx::prelude::*;
use pgrx::spi::Spi;

/// Raises 42501 naming the first resource the current role may not do `action` on.
/// A name is allowed when no pattern governs it or a governing policy names the role;
/// a prefix scope needs, for every pattern reaching into it, a policy of that pattern
/// naming the role.
pub fn check(resources: &[Resource], action: Action) {
    if let Some(resource) = first_denied(resources, action) {
        OdpError::ResourceDenied {
            action: action.name(),
            resource: resource.display(),
        }
        .report()
    }
}

/// The first of `resources` the current role may not do `action` on, if any.
pub fn first_denied(resources: &[Resource], action: Action) -> Option<&Resource> {
    // SAFETY: reads the current role's superuser flag.
    if unsafe { pg_sys::superuser() } {
        return None;
    }
    let policies = policies_for(action);
    for resource in resources {
        let governing: Vec<&(String, String)> = policies
            .iter()
            .filter(|(p, _)| resource.governed_by(p))
            .collect();
        let allowed = match resource {
            Resource::Name(_) => {
                governing.is_empty() || governing.iter().any(|(_, who)| principal_matches(who))
            }
            Resource::Under(_) => governing.iter().all(|(pattern, _)| {
                governing
                    .iter()
                    .any(|(p, who)| p == pattern && principal_matches(who))
            }),
        };
        if !allowed {
            return Some(resource);
        }
    }
    None
}

/// [`check`] of one resource name.
pub fn check_name(name: &str, action: Action) {
    check(&[Resource::Name(name.to_string())], action)
}

/// (pattern, principal) of the policies for `action`, read whatever the current role
/// may read, with a constant, schema-qualified statement.
fn policies_for(action: Action) -> Vec<(String, String)> {
    let _superuser = AsSuperuser::start();
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(
            "SELECT r.resource, r.principal FROM odp.resource_policies r \
             WHERE r.action OPERATOR(pg_catalog.=) $1",
            None,
            &[action.name().into()],
        )? {
            if let (Some(pattern), Some(principal)) = (row.get::<String>(1)?, row.get::<String>(2)?)
            {
                out.push((pattern, principal));
            }
        }
        Ok::<_, pgrx::spi::SpiError>(out)
    })
    .unwrap_or_else(|e| OdpError::Policy(format!("reading odp.resource_policies: {e}")).report())
}

/// Whether the current role or request is the principal `principal`.
fn principal_matches(principal: &str) -> bool {
    if principal.eq_ignore_ascii_case("public") {
        return true;
    }
    if let Some(claim) = principal.strip_prefix("claim:") {
        let Some((name, value)) = claim.split_once('=') else {
            return false;
        };
        let claims = crate::api::security::claims_now();
        return match claims.get(name) {
            Some(serde_json::Value::String(s)) => s == value,
            Some(other) => serde_json::to_string(other).is_ok_and(|text| text == value),
            None => false,
        };
    }
    has_privs_of_role_named(principal)
}
