//! How a collation compares text, read from the catalogs: whether a source's byte-wise
//! statistics and filters give the answer Postgres gives.

use pgrx::pg_sys;
use std::ffi::CStr;

/// What a collation's comparisons agree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TextOrder {
    /// equality is not byte equality (ICU `deterministic = false`): nothing is pushed
    Nondeterministic,
    /// equality is byte equality, but `<` follows language rules (most locales, ICU)
    Deterministic,
    /// equality and order are byte (code point) order: C, POSIX, C.UTF-8
    Bytewise,
}

/// libc locale names whose collation is code point order, which for UTF-8 is byte order.
const BYTEWISE_LIBC_LOCALES: &[&str] = &["C", "POSIX", "C.UTF-8", "C.utf8"];

const PROVIDER_DEFAULT: u8 = b'd';
const PROVIDER_LIBC: u8 = b'c';

/// How `collation` compares text; the database default is looked up in `pg_database`
/// (PostgreSQL 15 may have an ICU default whatever `lc_collate` says).
pub fn text_order(collation: pg_sys::Oid) -> TextOrder {
    match collation {
        pg_sys::C_COLLATION_OID | pg_sys::POSIX_COLLATION_OID => TextOrder::Bytewise,
        pg_sys::DEFAULT_COLLATION_OID => database_text_order(),
        // A comparison without a collation is not a text comparison we can judge.
        pg_sys::InvalidOid => TextOrder::Nondeterministic,
        other => collation_text_order(other),
    }
}

fn collation_text_order(collation: pg_sys::Oid) -> TextOrder {
    let Some(row) = SysCacheRow::find(pg_sys::SysCacheIdentifier::COLLOID, collation) else {
        return TextOrder::Nondeterministic;
    };
    // SAFETY: a COLLOID cache tuple's fixed part is a FormData_pg_collation.
    let form = unsafe { &*(pg_sys::GETSTRUCT(row.0) as *const pg_sys::FormData_pg_collation) };
    if !form.collisdeterministic {
        return TextOrder::Nondeterministic;
    }
    match form.collprovider as u8 {
        PROVIDER_DEFAULT => database_text_order(),
        PROVIDER_LIBC => libc_order(row.text(pg_sys::Anum_pg_collation_collcollate)),
        _ => TextOrder::Deterministic,
    }
}

fn database_text_order() -> TextOrder {
    // SAFETY: MyDatabaseId is set once the backend is connected to a database.
    let database = unsafe { pg_sys::MyDatabaseId };
    let Some(row) = SysCacheRow::find(pg_sys::SysCacheIdentifier::DATABASEOID, database) else {
        return TextOrder::Deterministic;
    };
    // SAFETY: a DATABASEOID cache tuple's fixed part is a FormData_pg_database.
    let form = unsafe { &*(pg_sys::GETSTRUCT(row.0) as *const pg_sys::FormData_pg_database) };
    if form.datlocprovider as u8 != PROVIDER_LIBC {
        return TextOrder::Deterministic;
    }
    libc_order(row.text(pg_sys::Anum_pg_database_datcollate))
}

fn libc_order(locale: Option<String>) -> TextOrder {
    match locale {
        Some(name) if BYTEWISE_LIBC_LOCALES.contains(&name.as_str()) => TextOrder::Bytewise,
        _ => TextOrder::Deterministic,
    }
}

/// A syscache tuple, released when dropped.
struct SysCacheRow(pg_sys::HeapTuple, pg_sys::SysCacheIdentifier::Type);

impl SysCacheRow {
    fn find(cache: pg_sys::SysCacheIdentifier::Type, oid: pg_sys::Oid) -> Option<SysCacheRow> {
        // SAFETY: SearchSysCache1 takes a cache id and an OID key; NULL means no row.
        let tuple = unsafe { pg_sys::SearchSysCache1(cache as i32, pg_sys::Datum::from(oid)) };
        (!tuple.is_null()).then_some(SysCacheRow(tuple, cache))
    }

    /// A text column of the row (`None` when NULL).
    fn text(&self, attribute: u32) -> Option<String> {
        let mut is_null = false;
        // SAFETY: the tuple comes from this cache and `attribute` is a text column of it.
        unsafe {
            let datum =
                pg_sys::SysCacheGetAttr(self.1 as i32, self.0, attribute as i16, &mut is_null);
            if is_null {
                return None;
            }
            let text = pg_sys::text_to_cstring(datum.cast_mut_ptr());
            Some(CStr::from_ptr(text).to_string_lossy().into_owned())
        }
    }
}

impl Drop for SysCacheRow {
    fn drop(&mut self) {
        // SAFETY: the tuple was returned by SearchSysCache1 and is released once.
        unsafe { pg_sys::ReleaseSysCache(self.0) }
    }
}
