//! Redis adapter: key templates, typed values, connections, scans and writes.
//!
//! A foreign table maps a family of keys named by a template such as
//! `users:{user_id}:features`: the template's columns come from the key, the other
//! columns from the value (hash fields, or the string value).

pub mod client;
pub mod codec;
pub mod error;
pub mod features;
pub mod options;
#[cfg(test)]
mod proptests;
pub mod scan;
pub mod source;
pub mod spill;
pub mod table;
pub mod template;
pub mod write;

pub use error::{RedisError, Result};
pub use source::RedisSource;
