//! A foreign table over a graph: node tables (`label`) read `MATCH (n:Label)`,
//! relationship tables (`type`) read `MATCH (s:Start)-[r:TYPE]->(e:End)` with the end
//! nodes' key properties as columns. Requests become one Cypher query with parameters.

use super::cypher::{quote, where_clause, Condition, CypherQuery};
use super::error::{GraphError, Result};
use super::options::{check_name, ServerOptions, TableOptions, TableShape};
use super::types::arrow_type;
use crate::request::ScanRequest;
use crate::types::PgType;

/// The column name that reads the element id of a node or relationship.
pub const ID_COLUMN: &str = "_id";

/// Where a column's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// a property of the node, or of the relationship
    Property(String),
    /// the element id (`_id`)
    Id,
    /// the key property of the start node
    StartKey,
    /// the key property of the end node
    EndKey,
}

/// One column of the foreign table.
#[derive(Debug, Clone)]
pub struct GraphColumn {
    /// column name
    pub name: String,
    /// Postgres type
    pub pg_type: PgType,
    /// where its values come from
    pub source: ColumnSource,
}

/// A foreign table of `neo4j_fdw`.
#[derive(Debug, Clone)]
pub struct GraphTable {
    /// how to reach the server
    pub server: ServerOptions,
    /// table options
    pub options: TableOptions,
    /// declared columns
    pub columns: Vec<GraphColumn>,
    /// whether quals go to the server (off: every row is sent and Postgres filters)
    pub pushdown: bool,
}

impl GraphTable {
    /// Checks the declared columns (name, type, `property` option).
    pub fn new(
        server: ServerOptions,
        options: TableOptions,
        declared: &[(String, PgType, Option<String>)],
    ) -> Result<GraphTable> {
        if let TableShape::Relationship {
            start_key, end_key, ..
        } = &options.shape
        {
            if start_key == end_key {
                return Err(GraphError::Unsupported(
                    "start_key and end_key name the same property: the columns could not tell the end nodes apart".into(),
                ));
            }
        }
        let mut columns = Vec::with_capacity(declared.len());
        for (name, pg_type, property) in declared {
            arrow_type(pg_type).ok_or_else(|| GraphError::UnsupportedType {
                column: name.clone(),
                pg_type: pg_type.sql(),
            })?;
            let property = property.clone().unwrap_or(name.clone());
            check_name("property", &property)?;
            let source = match &options.shape {
                _ if name == ID_COLUMN => ColumnSource::Id,
                TableShape::Relationship { start_key, .. } if &property == start_key => {
                    ColumnSource::StartKey
                }
                TableShape::Relationship { end_key, .. } if &property == end_key => {
                    ColumnSource::EndKey
                }
                _ => ColumnSource::Property(property),
            };
            columns.push(GraphColumn {
                name: name.clone(),
                pg_type: pg_type.clone(),
                source,
            });
        }
        Ok(GraphTable {
            server,
            options,
            columns,
            pushdown: true,
        })
    }

    /// The declared column `name`.
    pub fn column(&self, name: &str) -> Option<&GraphColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The Cypher expression of a column.
    pub fn expr(&self, source: &ColumnSource) -> String {
        let element = match &self.options.shape {
            TableShape::Node { .. } => "n",
            TableShape::Relationship { .. } => "r",
        };
        match (&self.options.shape, source) {
            (_, ColumnSource::Id) => format!("elementId({element})"),
            (_, ColumnSource::Property(p)) => format!("{element}.{}", quote(p)),
            (TableShape::Relationship { start_key, .. }, ColumnSource::StartKey) => {
                format!("s.{}", quote(start_key))
            }
            (TableShape::Relationship { end_key, .. }, ColumnSource::EndKey) => {
                format!("e.{}", quote(end_key))
            }
            (TableShape::Node { .. }, _) => "null".into(),
        }
    }

    /// The `MATCH` pattern of the table.
    pub fn pattern(&self) -> String {
        let labelled = |var: &str, label: &Option<String>| match label {
            Some(l) => format!("({var}:{})", quote(l)),
            None => format!("({var})"),
        };
        match &self.options.shape {
            TableShape::Node { label } => format!("MATCH (n:{})", quote(label)),
            TableShape::Relationship {
                rel_type,
                start_label,
                end_label,
                ..
            } => format!(
                "MATCH {}-[r:{}]->{}",
                labelled("s", start_label),
                quote(rel_type),
                labelled("e", end_label)
            ),
        }
    }

    /// The query for `request`: pushable quals in `WHERE`, the requested columns as
    /// `c0, c1, ...`, the limit as a parameter.
    pub fn query(&self, request: &ScanRequest) -> CypherQuery {
        let conditions: Vec<Condition> = request
            .quals
            .iter()
            .filter(|_| self.pushdown)
            .filter_map(|qual| {
                let column = self.column(&qual.column)?;
                Some(Condition {
                    expr: self.expr(&column.source),
                    pg_type: &column.pg_type,
                    qual,
                })
            })
            .collect();
        let mut params = Vec::new();
        let filter = where_clause(&conditions, &mut params);
        let returns: Vec<String> = request
            .columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let expr = match self.column(name) {
                    // durations travel as their components: neo4rs keeps them private
                    Some(c) if c.pg_type == PgType::Interval => {
                        super::types::duration_components(&self.expr(&c.source))
                    }
                    Some(c) => self.expr(&c.source),
                    None => "null".into(),
                };
                format!("{expr} AS c{i}")
            })
            .collect();
        let mut returns = if returns.is_empty() {
            "1 AS c".to_string()
        } else {
            returns.join(", ")
        };
        if request.row_ids {
            returns.push_str(&format!(", {} AS rid", self.expr(&ColumnSource::Id)));
        }
        let mut text = format!("{}{filter} RETURN {returns}", self.pattern());
        if let Some(limit) = request.limit {
            let name = format!("p{}", params.len());
            text.push_str(&format!(" LIMIT ${name}"));
            params.push((
                name,
                crate::value::Value::Int(limit.min(i64::MAX as u64) as i64),
                PgType::Int8,
            ));
        }
        CypherQuery { text, params }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;
    use crate::request::{Op, Qual};
    use crate::value::Value;

    fn table(options: &[(&str, &str)], declared: &[(&str, PgType)]) -> GraphTable {
        let server = ServerOptions::from_options(
            &Options::new([("uri".to_string(), "bolt://127.0.0.1:7687".to_string())]),
            &Options::default(),
        )
        .unwrap();
        let options = TableOptions::from_options(&Options::new(
            options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ))
        .unwrap();
        let declared: Vec<_> = declared
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone(), None))
            .collect();
        GraphTable::new(server, options, &declared).unwrap()
    }

    #[test]
    fn node_queries() {
        let t = table(
            &[("label", "User")],
            &[("user_id", PgType::Text), ("_id", PgType::Text)],
        );
        let request = ScanRequest {
            columns: vec!["user_id".into(), "_id".into()],
            quals: vec![Qual {
                column: "user_id".into(),
                op: Op::Eq,
                value: Value::Text("u1".into()),
            }],
            limit: Some(3),
            ..Default::default()
        };
        let q = t.query(&request);
        assert_eq!(
            q.text,
            "MATCH (n:`User`) WHERE n.`user_id` = $p0 RETURN n.`user_id` AS c0, elementId(n) AS c1 LIMIT $p1"
        );
        assert_eq!(q.params.len(), 2);
    }

    #[test]
    fn relationship_queries() {
        let t = table(
            &[
                ("type", "PURCHASED"),
                ("start_label", "User"),
                ("start_key", "user_id"),
                ("end_label", "Product"),
                ("end_key", "product_id"),
            ],
            &[
                ("user_id", PgType::Text),
                ("product_id", PgType::Text),
                ("date", PgType::TimestampTz),
            ],
        );
        let request = ScanRequest {
            columns: vec!["product_id".into(), "date".into()],
            quals: vec![Qual {
                column: "user_id".into(),
                op: Op::Eq,
                value: Value::Text("u1".into()),
            }],
            ..Default::default()
        };
        assert_eq!(
            t.query(&request).text,
            "MATCH (s:`User`)-[r:`PURCHASED`]->(e:`Product`) WHERE s.`user_id` = $p0 RETURN e.`product_id` AS c0, r.`date` AS c1"
        );
    }
}
