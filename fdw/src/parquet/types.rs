//! The one Delta ⇄ Postgres ⇄ Arrow type table.
//!
//! For each Delta type: the Postgres type `IMPORT FOREIGN SCHEMA` declares, the other
//! Postgres types a foreign column may have instead, and the Arrow type scans hand
//! values over in. Column checks, scans, quals and imports all read [`mapping`].

use super::schema::LakeType;
use crate::types::PgType;
use deltalake::arrow::datatypes::{DataType, Field, TimeUnit};
use std::sync::Arc;

/// How one Delta type surfaces in Postgres.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeMapping {
    /// the type `IMPORT FOREIGN SCHEMA` declares
    pub declared: PgType,
    /// the declared type in SQL, with its modifier (`numeric(10,2)`)
    pub declared_sql: String,
    /// other column types that hold every value exactly (`integer` → `bigint`)
    pub also_accepted: Vec<PgType>,
    /// the Arrow type values are handed over in; `None` for values handed over as read
    /// and rendered as JSON (structs, maps, nested arrays)
    pub arrow: Option<DataType>,
}

impl TypeMapping {
    /// Whether a foreign column of type `pg` can hold this Delta type.
    pub fn accepts(&self, pg: &PgType) -> bool {
        self.declared == *pg || self.also_accepted.contains(pg)
    }
}

/// A scalar Delta type: (declared, also accepted, Arrow type).
fn scalar(delta: &LakeType) -> Option<(PgType, Vec<PgType>, DataType)> {
    use PgType as P;
    let (declared, also, arrow) = match delta {
        LakeType::String => (P::Text, vec![P::Varchar], DataType::Utf8),
        LakeType::Long => (P::Int8, vec![P::Numeric], DataType::Int64),
        LakeType::Integer => (P::Int4, vec![P::Int8, P::Numeric], DataType::Int32),
        LakeType::Short => (P::Int2, vec![P::Int4, P::Int8, P::Numeric], DataType::Int16),
        LakeType::Byte => (P::Int2, vec![P::Int4, P::Int8, P::Numeric], DataType::Int8),
        LakeType::Float => (P::Float4, vec![P::Float8], DataType::Float32),
        LakeType::Double => (P::Float8, vec![], DataType::Float64),
        LakeType::Boolean => (P::Bool, vec![], DataType::Boolean),
        LakeType::Date => (P::Date, vec![], DataType::Date32),
        LakeType::Timestamp => (
            P::TimestampTz,
            vec![],
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
        LakeType::TimestampNtz => (
            P::Timestamp,
            vec![],
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        LakeType::Decimal(p, s) => (P::Numeric, vec![], DataType::Decimal128(*p, *s)),
        LakeType::Binary => (P::Bytea, vec![], DataType::Binary),
        LakeType::Array(_) | LakeType::Struct | LakeType::Map => return None,
    };
    Some((declared, also, arrow))
}

/// The mapping of a Delta type.
pub fn mapping(delta: &LakeType) -> TypeMapping {
    if let Some((declared, also_accepted, arrow)) = scalar(delta) {
        let declared_sql = match delta {
            LakeType::Decimal(p, s) => format!("numeric({p},{s})"),
            _ => declared.sql(),
        };
        return TypeMapping {
            declared,
            declared_sql,
            also_accepted,
            arrow: Some(arrow),
        };
    }
    if let LakeType::Array(element) = delta {
        if let Some(inner) = scalar(element).map(|_| mapping(element)) {
            let arrow = inner
                .arrow
                .map(|a| DataType::List(Arc::new(Field::new("element", a, true))));
            let array = |t: PgType| PgType::Array(Box::new(t));
            return TypeMapping {
                declared: array(inner.declared),
                declared_sql: format!("{}[]", inner.declared_sql),
                also_accepted: inner.also_accepted.into_iter().map(array).collect(),
                arrow,
            };
        }
    }
    // Structs, maps and arrays of nested values: one JSON document per value.
    TypeMapping {
        declared: PgType::Jsonb,
        declared_sql: PgType::Jsonb.sql(),
        also_accepted: vec![],
        arrow: None,
    }
}

/// The Delta type a created table gives a column of Postgres type `pg` (the inverse of
/// the declared types above); `numeric` is the `numeric(p, s)` modifier, which a
/// `decimal` needs. `None` for jsonb and unconstrained numerics.
pub fn lake_type_for(pg: &PgType, numeric: Option<(u8, i8)>) -> Option<LakeType> {
    Some(match pg {
        PgType::Bool => LakeType::Boolean,
        PgType::Int2 => LakeType::Short,
        PgType::Int4 => LakeType::Integer,
        PgType::Int8 => LakeType::Long,
        PgType::Float4 => LakeType::Float,
        PgType::Float8 => LakeType::Double,
        PgType::Numeric => {
            let (precision, scale) = numeric.filter(|(p, s)| *p <= 38 && *s >= 0)?;
            LakeType::Decimal(precision, scale)
        }
        PgType::Text | PgType::Varchar => LakeType::String,
        PgType::Date => LakeType::Date,
        PgType::Timestamp => LakeType::TimestampNtz,
        PgType::TimestampTz => LakeType::Timestamp,
        PgType::Bytea => LakeType::Binary,
        PgType::Array(element) => LakeType::Array(Box::new(lake_type_for(element, numeric)?)),
        PgType::Jsonb | PgType::Interval => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_declares_a_type_it_accepts() {
        let scalars = [
            LakeType::String,
            LakeType::Long,
            LakeType::Integer,
            LakeType::Short,
            LakeType::Byte,
            LakeType::Float,
            LakeType::Double,
            LakeType::Boolean,
            LakeType::Date,
            LakeType::Timestamp,
            LakeType::TimestampNtz,
            LakeType::Decimal(38, 18),
            LakeType::Binary,
        ];
        for t in scalars
            .iter()
            .cloned()
            .chain(scalars.iter().map(|t| LakeType::Array(Box::new(t.clone()))))
            .chain([LakeType::Struct, LakeType::Map])
        {
            let m = mapping(&t);
            assert!(m.accepts(&m.declared), "{t:?}");
        }
    }

    #[test]
    fn created_types_map_back_to_their_declared_types() {
        for pg in [
            PgType::Bool,
            PgType::Int2,
            PgType::Int4,
            PgType::Int8,
            PgType::Float4,
            PgType::Float8,
            PgType::Text,
            PgType::Date,
            PgType::Timestamp,
            PgType::TimestampTz,
            PgType::Bytea,
            PgType::Array(Box::new(PgType::Int8)),
        ] {
            let delta = lake_type_for(&pg, None).unwrap();
            assert_eq!(mapping(&delta).declared, pg);
        }
        assert_eq!(
            lake_type_for(&PgType::Numeric, Some((12, 2))),
            Some(LakeType::Decimal(12, 2))
        );
        assert_eq!(lake_type_for(&PgType::Numeric, None), None);
        assert_eq!(lake_type_for(&PgType::Jsonb, None), None);
    }

    #[test]
    fn arrays_follow_their_elements_and_nested_values_become_jsonb() {
        let m = mapping(&LakeType::Array(Box::new(LakeType::Decimal(10, 2))));
        assert_eq!(m.declared_sql, "numeric(10,2)[]");
        let m = mapping(&LakeType::Array(Box::new(LakeType::Integer)));
        assert!(m.accepts(&PgType::Array(Box::new(PgType::Int8))));
        assert!(!m.accepts(&PgType::Int8));
        let nested = LakeType::Array(Box::new(LakeType::Array(Box::new(LakeType::Long))));
        assert_eq!(mapping(&nested).declared, PgType::Jsonb);
        assert_eq!(
            mapping(&LakeType::Array(Box::new(LakeType::Struct))).declared,
            PgType::Jsonb
        );
    }
}
