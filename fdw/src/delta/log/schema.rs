//! The Delta table schema: the log's `schemaString` (protocol JSON) parsed into the
//! lake column model ([`crate::parquet::schema`]), with column mapping's physical names,
//! generation expressions, widened types and partition columns.

use crate::delta::error::{DeltaError, Result};
use crate::parquet::schema::{LakeColumn, LakeSchema, LakeType};
use serde_json::Value as Json;

/// Parses `schemaString` and marks the partition columns.
pub fn parse_schema(schema_string: &str, partition_columns: &[String]) -> Result<LakeSchema> {
    let json: Json =
        serde_json::from_str(schema_string).map_err(|_| bad_schema("schemaString is not JSON"))?;
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
            Ok(LakeColumn {
                name: name.to_string(),
                physical_name: meta_str("delta.columnMapping.physicalName")
                    .unwrap_or_else(|| name.to_string()),
                data_type: parse_type(
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
    Ok(LakeSchema { columns })
}

fn parse_type(json: &Json) -> Result<LakeType> {
    match json {
        Json::String(name) => parse_primitive(name),
        Json::Object(obj) => match obj.get("type").and_then(Json::as_str) {
            Some("array") => {
                let element = obj
                    .get("elementType")
                    .ok_or_else(|| bad_schema("array without elementType"))?;
                Ok(LakeType::Array(Box::new(parse_type(element)?)))
            }
            Some("struct") => Ok(LakeType::Struct),
            Some("map") => Ok(LakeType::Map),
            _ => Err(bad_schema("unknown nested type")),
        },
        _ => Err(bad_schema("type is neither a name nor an object")),
    }
}

fn parse_primitive(name: &str) -> Result<LakeType> {
    Ok(match name {
        "string" => LakeType::String,
        "long" => LakeType::Long,
        "integer" => LakeType::Integer,
        "short" => LakeType::Short,
        "byte" => LakeType::Byte,
        "double" => LakeType::Double,
        "float" => LakeType::Float,
        "boolean" => LakeType::Boolean,
        "date" => LakeType::Date,
        "timestamp" => LakeType::Timestamp,
        "timestamp_ntz" => LakeType::TimestampNtz,
        "binary" => LakeType::Binary,
        other => {
            return parse_decimal(other)
                .ok_or_else(|| DeltaError::UnsupportedType(other.to_string()))
        }
    })
}

fn parse_decimal(name: &str) -> Option<LakeType> {
    let inner = name.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some(LakeType::Decimal(
        p.trim().parse().ok()?,
        s.trim().parse().ok()?,
    ))
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
        let schema = parse_schema(s, &["d".to_string()]).unwrap();
        assert_eq!(schema.columns[0].physical_name, "col-1");
        assert!(!schema.columns[0].nullable);
        assert_eq!(
            schema.columns[1].data_type,
            LakeType::Array(Box::new(LakeType::String))
        );
        assert_eq!(schema.columns[2].data_type, LakeType::Decimal(10, 2));
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
            parse_schema(s, &[]),
            Err(DeltaError::UnsupportedType(_))
        ));
    }
}
