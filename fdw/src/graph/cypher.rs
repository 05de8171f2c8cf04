//! Cypher text from pushed quals. Values never enter the text: every one is a
//! parameter (`$p0`, `$p1`, ...). Labels, relationship types and property names are
//! always quoted with backticks (a backtick inside is doubled), so no option value can
//! change the query's shape.
//!
//! A qual is pushed only where Cypher's comparison agrees with Postgres's on every row
//! it would drop: equality and `IN` on any mapped type (but not with a float `NaN`,
//! which Cypher never finds equal), ranges on integers and dates, `<`/`<=` on floats (a
//! `NaN`, which Postgres sorts above all, fails both), `IS [NOT] NULL` on anything, and
//! a `LIKE` prefix as `STARTS WITH`. Not pushed: text ranges (servers differ on string
//! order: code points, or UTF-16 units on Java servers such as ArcadeDB) and timestamps
//! (Neo4j compares datetimes of different zones as different values and keeps
//! nanoseconds Postgres does not have; ArcadeDB stores them as local UTC datetimes).
//! Postgres re-checks every qual.

use crate::request::{like_pattern_prefix, Op, Qual};
use crate::types::{Family, PgType};
use crate::value::Value;

/// A name quoted as a Cypher identifier.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A query and its parameters (name, value, the Postgres type the value is of).
#[derive(Debug, Clone, PartialEq)]
pub struct CypherQuery {
    /// the Cypher text
    pub text: String,
    /// parameter values by name
    pub params: Vec<(String, Value, PgType)>,
}

/// A condition on one column: the Cypher expression it reads, its type, the qual.
#[derive(Debug, Clone)]
pub struct Condition<'a> {
    /// e.g. ``n.`user_id` `` or `elementId(n)`
    pub expr: String,
    /// the column's type
    pub pg_type: &'a PgType,
    /// the qual
    pub qual: &'a Qual,
}

/// Whether `qual` on a column of type `pg` can be evaluated by the server without
/// dropping a row Postgres would keep.
pub fn pushable(pg: &PgType, qual: &Qual) -> bool {
    let family = pg.family();
    let has_nan = match &qual.value {
        Value::List(items) => items.iter().any(Value::is_nan),
        v => v.is_nan(),
    };
    match qual.op {
        Op::IsNull | Op::IsNotNull => true,
        _ if matches!(family, Some(Family::Timestamp | Family::TimestampTz)) => false,
        Op::Eq | Op::In => family.is_some() && !has_nan,
        Op::Lt | Op::Le => match family {
            Some(Family::Integer | Family::Date) => true,
            Some(Family::Float) => !has_nan,
            _ => false,
        },
        Op::Gt | Op::Ge => matches!(family, Some(Family::Integer | Family::Date)),
        Op::Like => family == Some(Family::Text) && like_prefix(&qual.value).is_some(),
        Op::Ne => false,
    }
}

fn like_prefix(value: &Value) -> Option<String> {
    match value {
        Value::Text(p) => like_pattern_prefix(p).map(str::to_string),
        _ => None,
    }
}

/// `WHERE ...` for the pushable conditions (empty when none), adding their parameters.
pub fn where_clause(
    conditions: &[Condition<'_>],
    params: &mut Vec<(String, Value, PgType)>,
) -> String {
    let mut parts = Vec::new();
    for c in conditions {
        if !pushable(c.pg_type, c.qual) {
            continue;
        }
        let mut param = |value: Value| {
            let name = format!("p{}", params.len());
            params.push((name.clone(), value, c.pg_type.clone()));
            format!("${name}")
        };
        let text = match c.qual.op {
            Op::IsNull => format!("{} IS NULL", c.expr),
            Op::IsNotNull => format!("{} IS NOT NULL", c.expr),
            Op::Eq => format!("{} = {}", c.expr, param(c.qual.value.clone())),
            Op::In => format!("{} IN {}", c.expr, param(c.qual.value.clone())),
            Op::Lt => format!("{} < {}", c.expr, param(c.qual.value.clone())),
            Op::Le => format!("{} <= {}", c.expr, param(c.qual.value.clone())),
            Op::Gt => format!("{} > {}", c.expr, param(c.qual.value.clone())),
            Op::Ge => format!("{} >= {}", c.expr, param(c.qual.value.clone())),
            Op::Like => {
                let prefix = like_prefix(&c.qual.value).unwrap_or_default();
                format!("{} STARTS WITH {}", c.expr, param(Value::Text(prefix)))
            }
            Op::Ne => continue,
        };
        parts.push(text);
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", parts.join(" AND "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(op: Op, value: Value) -> Qual {
        Qual::new("c", op, value)
    }

    #[test]
    fn names_are_quoted_and_values_are_parameters() {
        assert_eq!(quote("User"), "`User`");
        assert_eq!(quote("a`) DETACH DELETE (n"), "`a``) DETACH DELETE (n`");
        let hostile = q(Op::Eq, Value::Text("x' OR 1=1 //".into()));
        let conditions = [Condition {
            expr: format!("n.{}", quote("name")),
            pg_type: &PgType::Text,
            qual: &hostile,
        }];
        let mut params = Vec::new();
        assert_eq!(
            where_clause(&conditions, &mut params),
            " WHERE n.`name` = $p0"
        );
        assert_eq!(params[0].1, Value::Text("x' OR 1=1 //".into()));
    }

    #[test]
    fn only_exact_comparisons_are_pushed() {
        assert!(pushable(&PgType::Int8, &q(Op::Gt, Value::Int(1))));
        assert!(!pushable(
            &PgType::Text,
            &q(Op::Gt, Value::Text("a".into()))
        ));
        assert!(pushable(
            &PgType::Text,
            &q(Op::Like, Value::Text("ab%".into()))
        ));
        assert!(!pushable(
            &PgType::Text,
            &q(Op::Like, Value::Text("%b".into()))
        ));
        assert!(!pushable(&PgType::Float8, &q(Op::Gt, Value::Float(1.0))));
        assert!(pushable(&PgType::Float8, &q(Op::Lt, Value::Float(1.0))));
        assert!(!pushable(
            &PgType::Float8,
            &q(Op::Eq, Value::Float(f64::NAN))
        ));
        assert!(!pushable(
            &PgType::Jsonb,
            &q(Op::Eq, Value::Text("{}".into()))
        ));
        assert!(!pushable(&PgType::Int4, &q(Op::Ne, Value::Int(1))));
        assert!(!pushable(
            &PgType::TimestampTz,
            &q(Op::Eq, Value::Timestamp(0))
        ));
        assert!(pushable(&PgType::TimestampTz, &q(Op::IsNull, Value::Null)));
        assert!(pushable(&PgType::Date, &q(Op::Ge, Value::Date(0))));
    }
}
