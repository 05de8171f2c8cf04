//! Rust state in Postgres memory contexts.

use pgrx::PgMemoryContexts;

/// Moves `value` into a box freed when the current memory context is reset or deleted.
pub(super) fn in_current_context<T>(value: T) -> *mut T {
    PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(value)
}
