//! The columns of a lake table (Delta or plain Parquet files): names, physical names,
//! types, and what pruning needs to know of each (partition, generation expression,
//! widened type).

use serde::{Deserialize, Serialize};

/// The type of a lake table column, as Delta and Spark name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LakeType {
    /// string
    String,
    /// long (i64)
    Long,
    /// integer (i32)
    Integer,
    /// short (i16)
    Short,
    /// byte (i8)
    Byte,
    /// double
    Double,
    /// float
    Float,
    /// boolean
    Boolean,
    /// date
    Date,
    /// timestamp (UTC-adjusted, microseconds)
    Timestamp,
    /// timestamp_ntz (no time zone, microseconds)
    TimestampNtz,
    /// decimal(precision, scale)
    Decimal(u8, i8),
    /// binary
    Binary,
    /// array of the element type
    Array(Box<LakeType>),
    /// struct (surfaced as jsonb)
    Struct,
    /// map (surfaced as jsonb)
    Map,
}

impl LakeType {
    /// The Delta spelling (`decimal(10,2)`, `array<string>`).
    pub fn name(&self) -> String {
        match self {
            LakeType::String => "string".into(),
            LakeType::Long => "long".into(),
            LakeType::Integer => "integer".into(),
            LakeType::Short => "short".into(),
            LakeType::Byte => "byte".into(),
            LakeType::Double => "double".into(),
            LakeType::Float => "float".into(),
            LakeType::Boolean => "boolean".into(),
            LakeType::Date => "date".into(),
            LakeType::Timestamp => "timestamp".into(),
            LakeType::TimestampNtz => "timestamp_ntz".into(),
            LakeType::Decimal(p, s) => format!("decimal({p},{s})"),
            LakeType::Binary => "binary".into(),
            LakeType::Array(e) => format!("array<{}>", e.name()),
            LakeType::Struct => "struct".into(),
            LakeType::Map => "map".into(),
        }
    }
}

/// One top-level column of a lake table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeColumn {
    /// logical name (what SQL sees)
    pub name: String,
    /// name in Parquet files and statistics (differs under column mapping)
    pub physical_name: String,
    /// the column's type
    pub data_type: LakeType,
    /// whether NULLs are allowed
    pub nullable: bool,
    /// `delta.generationExpression`, for generated columns
    pub generation_expression: Option<String>,
    /// the column's type was widened (`delta.typeChanges`): older files hold values
    /// and statistics of a narrower type
    pub type_widened: bool,
    /// whether the table is partitioned by this column
    pub is_partition: bool,
}

/// A table's columns in schema order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeSchema {
    /// columns in schema order
    pub columns: Vec<LakeColumn>,
}

impl LakeSchema {
    /// The column with this logical name.
    pub fn column(&self, name: &str) -> Option<&LakeColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}
