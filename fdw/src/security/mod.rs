//! Authentication logic without Postgres: JSON Web Token verification against a set of
//! keys, and API-key secrets.

pub mod api_key;
pub mod jwt;
#[cfg(test)]
mod proptests;
pub mod resource;
pub mod secret;
