//! SQL functions of schema `odp`, grouped by concern.

pub mod api_keys;
pub mod feature_stream;
pub mod features;
pub mod health;
pub mod metrics;
pub mod security;
pub mod storage;

use pgrx::prelude::*;

/// The ODP version (the extension's crate version).
#[pg_extern(immutable, parallel_safe)]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
