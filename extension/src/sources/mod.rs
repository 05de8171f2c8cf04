//! One module per foreign data wrapper: each implements [`crate::fdw::Source`] over an
//! adapter of `odp_fdw` and registers its handler and validator.

pub mod delta;
pub mod graph;
pub mod redis;
#[cfg(any(test, feature = "pg_test"))]
pub mod test_source;
