//! The Delta table schema, parsed from the log's `schemaString` (protocol JSON).
//!
//! We keep our own small model instead of the kernel's so pruning logic can be tested
//! without a table: column name, physical name (column mapping), type, and the
//! generation expression of generated columns.

use crate::delta::error::{DeltaError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A Delta column type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeltaType {
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
    Array(Box<DeltaType>),
    /// struct (surfaced as jsonb)
    Struct,
    /// map (surfaced as jsonb)
    Map,
}

impl DeltaType {
    fn parse(json: &Json) -> Result<DeltaType> {
        match json {
            Json::String(name) => Self::parse_primitive(name),
            Json::Object(obj) => match obj.get("type").and_then(Json::as_str) {
                Some("array") => {
                    let element = obj
                        .get("elementType")
                        .ok_or_else(|| bad_schema("array without elementType"))?;
                    Ok(DeltaType::Array(Box::new(DeltaType::parse(element)?)))
                }
                Some("struct") => Ok(DeltaType::Struct),
                Some("map") => Ok(DeltaType::Map),
                _ => Err(bad_schema("unknown nested type")),
            },
            _ => Err(bad_schema("type is neither a name nor an object")),
        }
    }

    fn parse_primitive(name: &str) -> Result<DeltaType> {
        Ok(match name {
            "string" => DeltaType::String,
            "long" => DeltaType::Long,
            "integer" => DeltaType::Integer,
            "short" => DeltaType::Short,
            "byte" => DeltaType::Byte,
            "double" => DeltaType::Double,
            "float" => DeltaType::Float,
            "boolean" => DeltaType::Boolean,
            "date" => DeltaType::Date,
            "timestamp" => DeltaType::Timestamp,
            "timestamp_ntz" => DeltaType::TimestampNtz,
            "binary" => DeltaType::Binary,
            other => {
                return Self::parse_decimal(other)
                    .ok_or_else(|| DeltaError::UnsupportedType(other.to_string()))
            }
        })
    }

    fn parse_decimal(name: &str) -> Option<DeltaType> {
        let inner = name.strip_prefix("decimal(")?.strip_suffix(')')?;
        let (p, s) = inner.split_once(',')?;
        Some(DeltaType::Decimal(
            p.trim().parse().ok()?,
            s.trim().parse().ok()?,
        ))
    }

    /// The Delta spelling (`decimal(10,2)`, `array<string>`).
    pub fn name(&self) -> String {
        match self {
            DeltaType::String => "string".into(),
            DeltaType::Long => "long".into(),
            DeltaType::Integer => "integer".into(),
            DeltaType::Short => "short".into(),
            DeltaType::Byte => "byte".into(),
            DeltaType::Double => "double".into(),
            DeltaType::Float => "float".into(),
            DeltaType::Boolean => "boolean".into(),
            DeltaType::Date => "date".into(),
            DeltaType::Timestamp => "timestamp".into(),
            DeltaType::TimestampNtz => "timestamp_ntz".into(),
            DeltaType::Decimal(p, s) => format!("decimal({p},{s})"),
            DeltaType::Binary => "binary".into(),
            DeltaType::Array(e) => format!("array<{}>", e.name()),
            DeltaType::Struct => "struct".into(),
            DeltaType::Map => "map".into(),
        }
    }
}

/// One top-level column of a Delta table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaColumn {
    /// logical name (what SQL sees)
    pub name: String,
    /// name in Parquet files and statistics (differs under column mapping)
    pub physical_name: String,
    /// the column's type
    pub data_type: DeltaType,
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
pub struct DeltaSchema {
    /// columns in schema order
    pub columns: Vec<DeltaColumn>,
}

impl DeltaSchema {
    /// Parses `schemaString` and marks the partition columns.
    pub fn parse(schema_string: &str, partition_columns: &[String]) -> Result<DeltaSchema> {
        let json: Json = serde_json::from_str(schema_string)
            .map_err(|_| bad_schema("schemaString is not JSON"))?;
        let fields = json
            .get("fields")
            .and_then(Json::as_array)
            .ok_or_else(|| bad_schema("no fields"))?;
        let columns = fields
            .iter()
            .map(|field| {
                let name = field
                    .get("name")
                    .and_then(Json::as_str)
                    .ok_or_else(|| bad_schema("field without name"))?;
                let metadata = field.get("metadata");
                let meta_str = |key: &str| {
                    metadata
                        .and_then(|m| m.get(key))
                        .and_then(Json::as_str)
                        .map(str::to_string)
                };
                Ok(DeltaColumn {
                    name: name.to_string(),
                    physical_name: meta_str("delta.columnMapping.physicalName")
                        .unwrap_or_else(|| name.to_string()),
                    data_type: DeltaType::parse(
                        field
                            .get("type")
                            .ok_or_else(|| bad_schema("field without type"))?,
                    )?,
                    nullable: field
                        .get("nullable")
                        .and_then(Json::as_bool)
                        .unwrap_or(true),
                    generation_expression: meta_str("delta.generationExpression"),
                    type_widened: metadata.is_some_and(|m| m.get("delta.typeChanges").is_some()),
                    is_partition: partition_columns.iter().any(|p| p == name),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DeltaSchema { columns })
    }

    /// The column with this logical name.
    pub fn column(&self, name: &str) -> Option<&DeltaColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

fn bad_schema(why: &str) -> DeltaError {
    DeltaError::CorruptLog(format!("schema: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_primitives_nested_and_column_mapping() {
        let s = r#"{"type":"struct","fields":[
            {"name":"id","type":"long","nullable":false,"metadata":{"delta.columnMapping.physicalName":"col-1"}},
            {"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},
            {"name":"price","type":"decimal(10,2)","nullable":true,"metadata":{}},
            {"name":"d","type":"date","nullable":true,"metadata":{"delta.generationExpression":"CAST(ts AS DATE)"}}]}"#;
        let schema = DeltaSchema::parse(s, &["d".to_string()]).unwrap();
        assert_eq!(schema.columns[0].physical_name, "col-1");
        assert!(!schema.columns[0].nullable);
        assert_eq!(
            schema.columns[1].data_type,
            DeltaType::Array(Box::new(DeltaType::String))
        );
        assert_eq!(schema.columns[2].data_type, DeltaType::Decimal(10, 2));
        assert!(schema.columns[3].is_partition);
        assert_eq!(
            schema.columns[3].generation_expression.as_deref(),
            Some("CAST(ts AS DATE)")
        );
    }

    #[test]
    fn unknown_type_is_an_error_not_a_panic() {
        let s = r#"{"type":"struct","fields":[{"name":"v","type":"variant","nullable":true,"metadata":{}}]}"#;
        assert!(matches!(
            DeltaSchema::parse(s, &[]),
            Err(DeltaError::UnsupportedType(_))
        ));
    }
}
