//! The Postgres column types ODP exchanges with sources, named without Postgres.
//!
//! Adapters map their own types onto these (Delta and Parquet files: `parquet/types.rs`); the extension maps
//! them to and from type OIDs in one place. Scans, quals, type checks and
//! `IMPORT FOREIGN SCHEMA` all read the same mapping.

use deltalake::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};

/// A Postgres type a foreign column may have.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PgType {
    /// boolean
    Bool,
    /// smallint
    Int2,
    /// integer
    Int4,
    /// bigint
    Int8,
    /// real
    Float4,
    /// double precision
    Float8,
    /// numeric
    Numeric,
    /// text
    Text,
    /// varchar
    Varchar,
    /// date
    Date,
    /// timestamp (without time zone)
    Timestamp,
    /// timestamptz
    TimestampTz,
    /// bytea
    Bytea,
    /// jsonb
    Jsonb,
    /// interval (months, days, microseconds)
    Interval,
    /// a one-dimensional array of a scalar type
    Array(Box<PgType>),
}

/// Types whose values compare with each other under Postgres's built-in operators
/// without consulting a session setting (`date < timestamptz` depends on TimeZone, so
/// dates and timestamps are separate families).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// boolean
    Bool,
    /// smallint, integer, bigint (cross-type operators compare exactly)
    Integer,
    /// real, double precision (`float4` widens exactly)
    Float,
    /// numeric
    Numeric,
    /// text, varchar (byte order only under a byte-wise collation)
    Text,
    /// date
    Date,
    /// timestamp
    Timestamp,
    /// timestamptz
    TimestampTz,
}

impl PgType {
    /// The Arrow type values of a scalar type travel in when they come from a source
    /// that stores them as text or in its own types (Redis, the graph): jsonb as JSON
    /// text, timestamptz in UTC. `None` for numeric and arrays, which each source maps
    /// itself.
    pub fn text_source_arrow_type(&self) -> Option<DataType> {
        Some(match self {
            PgType::Bool => DataType::Boolean,
            PgType::Int2 => DataType::Int16,
            PgType::Int4 => DataType::Int32,
            PgType::Int8 => DataType::Int64,
            PgType::Float4 => DataType::Float32,
            PgType::Float8 => DataType::Float64,
            PgType::Text | PgType::Varchar | PgType::Jsonb => DataType::Utf8,
            PgType::Date => DataType::Date32,
            PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            PgType::Bytea => DataType::Binary,
            PgType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            PgType::Numeric | PgType::Array(_) => return None,
        })
    }

    /// The SQL spelling (`double precision`, `text[]`).
    pub fn sql(&self) -> String {
        match self {
            PgType::Bool => "boolean".into(),
            PgType::Int2 => "smallint".into(),
            PgType::Int4 => "integer".into(),
            PgType::Int8 => "bigint".into(),
            PgType::Float4 => "real".into(),
            PgType::Float8 => "double precision".into(),
            PgType::Numeric => "numeric".into(),
            PgType::Text => "text".into(),
            PgType::Varchar => "varchar".into(),
            PgType::Date => "date".into(),
            PgType::Timestamp => "timestamp".into(),
            PgType::TimestampTz => "timestamptz".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Interval => "interval".into(),
            PgType::Array(element) => format!("{}[]", element.sql()),
        }
    }

    /// The comparison family of a scalar type; `None` for types ODP never pushes
    /// comparisons on (bytea, jsonb, arrays).
    pub fn family(&self) -> Option<Family> {
        Some(match self {
            PgType::Bool => Family::Bool,
            PgType::Int2 | PgType::Int4 | PgType::Int8 => Family::Integer,
            PgType::Float4 | PgType::Float8 => Family::Float,
            PgType::Numeric => Family::Numeric,
            PgType::Text | PgType::Varchar => Family::Text,
            PgType::Date => Family::Date,
            PgType::Timestamp => Family::Timestamp,
            PgType::TimestampTz => Family::TimestampTz,
            PgType::Bytea | PgType::Jsonb | PgType::Interval | PgType::Array(_) => return None,
        })
    }
}
