//! ODP: one Postgres extension that plans and secures queries over Delta Lake,
//! object storage, Redis and graph databases.
//!
//! Layers: `odp_fdw` (pure-Rust source adapters) → [`fdw`] (the FDW core over
//! `pg_sys::FdwRoutine`) → [`sources`] (one module per wrapper) → [`api`] (SQL functions).

use pgrx::prelude::*;

pub mod api;
pub mod error;
pub mod fdw;
pub mod sources;

::pgrx::pg_module_magic!(name, version);

/// Called when the library is loaded: registers GUCs.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    api::health::init_gucs();
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn version_matches_the_crate() {
        let v = Spi::get_one::<String>("SELECT odp.version()")
            .unwrap()
            .unwrap();
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
    }
}
