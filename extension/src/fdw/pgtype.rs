//! Type OIDs ⇄ [`PgType`]: the only place ODP names Postgres types by OID.

use odp_fdw::types::PgType;
use pgrx::pg_sys;

/// The [`PgType`] of a type OID (scalars and one-dimensional arrays of them).
pub fn pg_type_of(oid: pg_sys::Oid) -> Option<PgType> {
    Some(match oid {
        pg_sys::BOOLOID => PgType::Bool,
        pg_sys::INT2OID => PgType::Int2,
        pg_sys::INT4OID => PgType::Int4,
        pg_sys::INT8OID => PgType::Int8,
        pg_sys::FLOAT4OID => PgType::Float4,
        pg_sys::FLOAT8OID => PgType::Float8,
        pg_sys::NUMERICOID => PgType::Numeric,
        pg_sys::TEXTOID => PgType::Text,
        pg_sys::VARCHAROID => PgType::Varchar,
        pg_sys::DATEOID => PgType::Date,
        pg_sys::TIMESTAMPOID => PgType::Timestamp,
        pg_sys::TIMESTAMPTZOID => PgType::TimestampTz,
        pg_sys::BYTEAOID => PgType::Bytea,
        pg_sys::JSONBOID => PgType::Jsonb,
        pg_sys::INTERVALOID => PgType::Interval,
        other => {
            // SAFETY: get_element_type only reads the type cache (InvalidOid if none).
            let element = unsafe { pg_sys::get_element_type(other) };
            if element == pg_sys::InvalidOid {
                return None;
            }
            match pg_type_of(element)? {
                PgType::Array(_) | PgType::Jsonb | PgType::Interval => return None,
                scalar => PgType::Array(Box::new(scalar)),
            }
        }
    })
}

/// The type OID of a [`PgType`].
pub fn oid_of(pg_type: &PgType) -> pg_sys::Oid {
    match pg_type {
        PgType::Bool => pg_sys::BOOLOID,
        PgType::Int2 => pg_sys::INT2OID,
        PgType::Int4 => pg_sys::INT4OID,
        PgType::Int8 => pg_sys::INT8OID,
        PgType::Float4 => pg_sys::FLOAT4OID,
        PgType::Float8 => pg_sys::FLOAT8OID,
        PgType::Numeric => pg_sys::NUMERICOID,
        PgType::Text => pg_sys::TEXTOID,
        PgType::Varchar => pg_sys::VARCHAROID,
        PgType::Date => pg_sys::DATEOID,
        PgType::Timestamp => pg_sys::TIMESTAMPOID,
        PgType::TimestampTz => pg_sys::TIMESTAMPTZOID,
        PgType::Bytea => pg_sys::BYTEAOID,
        PgType::Jsonb => pg_sys::JSONBOID,
        PgType::Interval => pg_sys::INTERVALOID,
        // SAFETY: get_array_type only reads the type cache; every scalar has an array type.
        PgType::Array(element) => unsafe { pg_sys::get_array_type(oid_of(element)) },
    }
}
