//! Writing a graph table for one host transaction. Changes are collected and sent at
//! commit in one Bolt transaction, in `UNWIND` batches: INSERT into a node table merges
//! on the table's `key` property (`MERGE (n:L {key: ...}) SET n += props`), into a
//! relationship table it matches both end nodes by their keys and merges the
//! relationship on its `merge_on` properties; UPDATE sets the new properties on the
//! same element (by element id), DELETE removes it (nodes with `DETACH` only when the
//! table's `detach` option allows it). A rolled-back transaction sends nothing.

use super::client::write_statement;
use super::cypher::quote;
use super::error::{GraphError, Result};
use super::options::TableShape;
use super::statement::CypherRows;
use super::table::{ColumnSource, GraphTable};
use super::types::bolt_of;
use crate::rowid::row_of;
use deltalake::arrow::array::RecordBatch;
use neo4rs::{BoltList, BoltMap, BoltString, BoltType};

/// Rows sent per `UNWIND` statement.
const ROWS_PER_STATEMENT: usize = 1_000;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Merge,
    Set,
    Delete,
}

/// The changes of one host transaction to one graph table.
pub struct GraphWriter {
    table: GraphTable,
    /// changes in order: the kind and the row map sent with it
    changes: Vec<(Kind, BoltMap)>,
}

fn map(entries: Vec<(&str, BoltType)>) -> BoltMap {
    entries
        .into_iter()
        .map(|(k, v)| (BoltString::from(k), v))
        .collect()
}

impl GraphWriter {
    /// A writer for `table`; node tables need a `key` option to take INSERTs.
    pub fn new(table: GraphTable) -> GraphWriter {
        GraphWriter {
            table,
            changes: Vec::new(),
        }
    }

    /// The property map of row `row` (the table's own properties; NULL removes one).
    fn properties(&self, batch: &RecordBatch, row: usize) -> Result<BoltMap> {
        let mut props = Vec::new();
        for column in &self.table.columns {
            let ColumnSource::Property(property) = &column.source else {
                continue;
            };
            if let Some(array) = batch.column_by_name(&column.name) {
                props.push((property.as_str(), bolt_of(array, row, &column.pg_type)?));
            }
        }
        Ok(map(props))
    }

    /// The value of the column read from `source` in row `row`; NULL is an error.
    fn required(&self, batch: &RecordBatch, row: usize, source: &ColumnSource) -> Result<BoltType> {
        let column = self
            .table
            .columns
            .iter()
            .find(|c| &c.source == source)
            .ok_or_else(|| {
                GraphError::Unsupported(format!("the table declares no column for {source:?}"))
            })?;
        let array = batch
            .column_by_name(&column.name)
            .ok_or_else(|| GraphError::BadValue {
                column: column.name.clone(),
                reason: "a value is required".into(),
            })?;
        match bolt_of(array, row, &column.pg_type)? {
            BoltType::Null(_) => Err(GraphError::BadValue {
                column: column.name.clone(),
                reason: "NULL cannot identify a node".into(),
            }),
            value => Ok(value),
        }
    }

    /// Takes inserted rows.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        for row in 0..batch.num_rows() {
            let props = self.properties(batch, row)?;
            let entry = match &self.table.options.shape {
                TableShape::Node { .. } => {
                    let key = self.table.options.key.clone().ok_or_else(|| {
                        GraphError::Unsupported(
                            "INSERT into a node table without a key option (the property nodes are merged on)".into(),
                        )
                    })?;
                    let value = self.required(batch, row, &ColumnSource::Property(key))?;
                    map(vec![("key", value), ("props", BoltType::Map(props))])
                }
                TableShape::Relationship { .. } => {
                    for property in &self.table.options.merge_on {
                        if matches!(
                            props.value.get(property.as_str()),
                            None | Some(BoltType::Null(_))
                        ) {
                            return Err(GraphError::BadValue {
                                column: property.clone(),
                                reason: "a merge_on property needs a value".into(),
                            });
                        }
                    }
                    let start = self.required(batch, row, &ColumnSource::StartKey)?;
                    let end = self.required(batch, row, &ColumnSource::EndKey)?;
                    map(vec![
                        ("s", start),
                        ("e", end),
                        ("props", BoltType::Map(props)),
                    ])
                }
            };
            self.changes.push((Kind::Merge, entry));
        }
        Ok(())
    }

    /// Sets the new properties of the rows named by `row_ids` (one per batch row).
    pub fn update(&mut self, row_ids: &[u64], batch: &RecordBatch) -> Result<()> {
        for (row, id) in row_ids.iter().enumerate().take(batch.num_rows()) {
            let (element, _) = row_of(*id).map_err(|e| GraphError::Unsupported(e.to_string()))?;
            let mut entries = vec![
                ("id", BoltType::from(element.as_str())),
                ("props", BoltType::Map(self.properties(batch, row)?)),
            ];
            if matches!(self.table.options.shape, TableShape::Relationship { .. }) {
                entries.push(("s", self.required(batch, row, &ColumnSource::StartKey)?));
                entries.push(("e", self.required(batch, row, &ColumnSource::EndKey)?));
            }
            self.changes.push((Kind::Set, map(entries)));
        }
        Ok(())
    }

    /// Deletes the rows named by `row_ids`.
    pub fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        for id in row_ids {
            let (element, _) = row_of(*id).map_err(|e| GraphError::Unsupported(e.to_string()))?;
            self.changes.push((
                Kind::Delete,
                map(vec![("id", BoltType::from(element.as_str()))]),
            ));
        }
        Ok(())
    }

    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// A mark [`Self::rollback_to`] can return to.
    pub fn savepoint(&self) -> usize {
        self.changes.len()
    }

    /// Forgets the changes made after `mark`.
    pub fn rollback_to(&mut self, mark: usize) {
        self.changes.truncate(mark);
    }

    /// The statement for a run of changes of one kind (`$rows` is the list of maps), and
    /// whether it returns a count that must equal the rows (relationship merges).
    fn statement(&self, kind: Kind) -> String {
        let t = &self.table;
        match (&t.options.shape, kind) {
            (TableShape::Node { label }, Kind::Merge) => format!(
                "UNWIND range(0, size($rows) - 1) AS i WITH i, $rows[i] AS row MERGE (n:{} {{{}: row.key}}) SET n += row.props RETURN count(DISTINCT i) AS done",
                quote(label),
                quote(t.options.key.as_deref().unwrap_or_default())
            ),
            (
                TableShape::Relationship {
                    rel_type,
                    start_label,
                    start_key,
                    end_label,
                    end_key,
                },
                Kind::Merge,
            ) => {
                let label = |l: &Option<String>| l.as_deref().map(|l| format!(":{}", quote(l))).unwrap_or_default();
                let identity: Vec<String> = t
                    .options
                    .merge_on
                    .iter()
                    .map(|p| format!("{}: row.props.{}", quote(p), quote(p)))
                    .collect();
                format!(
                    "UNWIND range(0, size($rows) - 1) AS i WITH i, $rows[i] AS row \
                     MATCH (s{} {{{}: row.s}}) MATCH (e{} {{{}: row.e}}) \
                     MERGE (s)-[r:{} {{{}}}]->(e) SET r += row.props RETURN count(DISTINCT i) AS done",
                    label(start_label),
                    quote(start_key),
                    label(end_label),
                    quote(end_key),
                    quote(rel_type),
                    identity.join(", ")
                )
            }
            (TableShape::Node { .. }, Kind::Set) => {
                "UNWIND range(0, size($rows) - 1) AS i WITH i, $rows[i] AS row MATCH (n) WHERE elementId(n) = row.id SET n += row.props RETURN count(DISTINCT i) AS done".into()
            }
            (TableShape::Relationship { start_key, end_key, .. }, Kind::Set) => format!(
                "UNWIND range(0, size($rows) - 1) AS i WITH i, $rows[i] AS row \
                 MATCH (s)-[r]->(e) WHERE elementId(r) = row.id \
                 AND s.{} = row.s AND e.{} = row.e SET r += row.props RETURN count(DISTINCT i) AS done",
                quote(start_key),
                quote(end_key)
            ),
            (TableShape::Node { .. }, Kind::Delete) => format!(
                "UNWIND $rows AS row MATCH (n) WHERE elementId(n) = row.id {} n RETURN count(*) AS done",
                if t.options.detach { "DETACH DELETE" } else { "DELETE" }
            ),
            (TableShape::Relationship { .. }, Kind::Delete) => {
                "UNWIND $rows AS row MATCH ()-[r]->() WHERE elementId(r) = row.id DELETE r RETURN count(*) AS done".into()
            }
        }
    }

    /// Why `missing` of the updated elements in `rows` were not set: deleted by another
    /// transaction since the scan read them (a serialization failure, as a heap UPDATE
    /// of a row deleted meanwhile under REPEATABLE READ: the UPDATE already reported
    /// them), deleted by an earlier statement of this transaction, or, for
    /// relationships, asked to move to other end nodes.
    fn why_not_updated(&self, rows: &[BoltType], missing: u64) -> Result<GraphError> {
        let ids: Vec<String> = rows
            .iter()
            .filter_map(|row| match row {
                BoltType::Map(m) => m.value.iter().find(|(key, _)| key.value == "id"),
                _ => None,
            })
            .filter_map(|(_, id)| match id {
                BoltType::String(s) => Some(s.value.clone()),
                _ => None,
            })
            .collect();
        let element = match self.table.options.shape {
            TableShape::Node { .. } => "MATCH (x) WHERE elementId(x) = id",
            TableShape::Relationship { .. } => "MATCH ()-[x]->() WHERE elementId(x) = id",
        };
        let text = format!("UNWIND $ids AS id {element} RETURN count(x) AS done");
        // the committed graph, in a read transaction of its own
        let params =
            serde_json::Map::from_iter([("ids".to_string(), serde_json::Value::from(ids.clone()))]);
        let committed = CypherRows::start(&self.table.server, &text, &params, false)?
            .collect_all()?
            .first()
            .and_then(|row| row.get("done")?.as_i64())
            .unwrap_or(0);
        // this transaction's view, with its earlier statements' changes
        let listed = BoltType::List(BoltList::from(
            ids.iter()
                .map(|id| BoltType::from(id.as_str()))
                .collect::<Vec<_>>(),
        ));
        let ours = write_statement(
            &self.table.server,
            neo4rs::query(&text).param("ids", listed),
        )?;
        let expected = ids.len() as i64;
        Ok(if committed < expected {
            GraphError::ChangedConcurrently((expected - committed) as u64)
        } else if ours < expected {
            GraphError::Unsupported(format!(
                "{} rows were deleted by an earlier statement of this transaction and cannot be updated",
                expected - ours
            ))
        } else {
            GraphError::Moved(missing)
        })
    }

    /// Sends every change through the host transaction's shared Bolt transaction of the
    /// server (committed after every writer, see [`super::client::commit_writes`]);
    /// returns how many changes there were.
    pub fn commit(&mut self) -> Result<u64> {
        let changes = std::mem::take(&mut self.changes);
        if changes.is_empty() {
            return Ok(0);
        }
        let mut statements: Vec<(String, Vec<BoltType>, Kind)> = Vec::new();
        for (kind, row) in changes.iter().cloned() {
            match statements.last_mut() {
                Some((_, rows, k)) if *k == kind && rows.len() < ROWS_PER_STATEMENT => {
                    rows.push(BoltType::Map(row))
                }
                _ => statements.push((self.statement(kind), vec![BoltType::Map(row)], kind)),
            }
        }
        let server = self.table.server.clone();
        for (text, rows, kind) in &statements {
            crate::runtime::check_interrupts();
            let expected = rows.len() as i64;
            let query =
                neo4rs::query(text).param("rows", BoltType::List(BoltList::from(rows.clone())));
            let done = write_statement(&server, query)?;
            if *kind != Kind::Delete && done < expected {
                let missing = (expected - done) as u64;
                return Err(match kind {
                    Kind::Merge => GraphError::MissingEnds(missing),
                    _ => self.why_not_updated(rows, missing)?,
                });
            }
        }
        Ok(changes.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::options::{ServerOptions, TableOptions};
    use crate::options::Options;
    use crate::rowid::identify;
    use crate::types::PgType;
    use deltalake::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use std::sync::Arc;

    /// A table of these options and columns; nothing listens at the server's port.
    fn table(options: &[(&str, &str)], columns: &[(&str, PgType, Option<&str>)]) -> GraphTable {
        let server = ServerOptions::from_options(
            &Options::new([("uri".to_string(), "bolt://127.0.0.1:1".to_string())]),
            &Options::default(),
        )
        .unwrap();
        let options = TableOptions::from_options(&Options::new(
            options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ))
        .unwrap();
        let declared: Vec<_> = columns
            .iter()
            .map(|(n, t, p)| (n.to_string(), t.clone(), p.map(str::to_string)))
            .collect();
        GraphTable::new(server, options, &declared).unwrap()
    }

    /// Nodes `User` merged on `uid`, with `name` and `age` (property `years`).
    fn users(options: &[(&str, &str)]) -> GraphTable {
        let options = [[("label", "User"), ("key", "uid")].as_slice(), options].concat();
        table(
            &options,
            &[
                ("_id", PgType::Text, None),
                ("uid", PgType::Int8, None),
                ("name", PgType::Text, None),
                ("age", PgType::Int4, Some("years")),
            ],
        )
    }

    /// Relationships `BOUGHT` from `User {uid}` to `Item {sku}`, merged on `at`.
    fn purchases() -> GraphTable {
        table(
            &[
                ("type", "BOUGHT"),
                ("start_label", "User"),
                ("start_key", "uid"),
                ("end_label", "Item"),
                ("end_key", "sku"),
                ("merge_on", "at"),
            ],
            &[
                ("_id", PgType::Text, None),
                ("uid", PgType::Int8, None),
                ("sku", PgType::Text, None),
                ("at", PgType::Int8, None),
                ("qty", PgType::Int4, None),
            ],
        )
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn longs(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    fn texts(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    fn null() -> BoltType {
        BoltType::Null(neo4rs::BoltNull)
    }

    fn changes(writer: &GraphWriter) -> Vec<(Kind, BoltMap)> {
        writer.changes.clone()
    }

    #[test]
    fn node_inserts_merge_on_the_key_and_set_every_given_property() {
        let mut writer = GraphWriter::new(users(&[]));
        let rows = batch(vec![
            ("uid", longs(&[Some(1), Some(2)])),
            ("name", texts(&[Some("ann"), None])),
            ("age", Arc::new(Int32Array::from(vec![30, 41]))),
        ]);
        writer.write(&rows).unwrap();
        let props = |uid: i64, name: BoltType, years: i64| {
            BoltType::Map(map(vec![
                ("uid", BoltType::from(uid)),
                ("name", name),
                ("years", BoltType::from(years)),
            ]))
        };
        assert_eq!(
            changes(&writer),
            vec![
                (
                    Kind::Merge,
                    map(vec![
                        ("key", BoltType::from(1i64)),
                        ("props", props(1, BoltType::from("ann"), 30))
                    ])
                ),
                // NULL removes the property (SET n += {name: null})
                (
                    Kind::Merge,
                    map(vec![
                        ("key", BoltType::from(2i64)),
                        ("props", props(2, null(), 41))
                    ])
                ),
            ]
        );
        assert_eq!(
            writer.statement(Kind::Merge),
            "UNWIND range(0, size($rows) - 1) AS i WITH i, $rows[i] AS row \
             MERGE (n:`User` {`uid`: row.key}) SET n += row.props RETURN count(DISTINCT i) AS done"
        );
    }

    #[test]
    fn node_inserts_need_a_key_value() {
        let mut writer = GraphWriter::new(users(&[]));
        let no_key = batch(vec![("uid", longs(&[None])), ("name", texts(&[Some("x")]))]);
        assert!(matches!(
            writer.write(&no_key),
            Err(GraphError::BadValue { column, .. }) if column == "uid"
        ));
        let names_only = batch(vec![("name", texts(&[Some("x")]))]);
        assert!(matches!(
            writer.write(&names_only),
            Err(GraphError::BadValue { column, .. }) if column == "uid"
        ));
        // a node table without a key option takes no INSERT
        let keyless = table(&[("label", "User")], &[("uid", PgType::Int8, None)]);
        let mut writer = GraphWriter::new(keyless);
        assert!(matches!(
            writer.write(&batch(vec![("uid", longs(&[Some(1)]))])),
            Err(GraphError::Unsupported(_))
        ));
        assert!(writer.is_empty());
    }

    #[test]
    fn relationship_inserts_match_both_ends_and_merge_on_their_properties() {
        let mut writer = GraphWriter::new(purchases());
        let row = |uid: Option<i64>, at: Option<i64>| {
            batch(vec![
                ("uid", longs(&[uid])),
                ("sku", texts(&[Some("i-9")])),
                ("at", longs(&[at])),
                ("qty", Arc::new(Int32Array::from(vec![3]))),
            ])
        };
        writer.write(&row(Some(1), Some(100))).unwrap();
        assert_eq!(
            changes(&writer),
            vec![(
                Kind::Merge,
                map(vec![
                    ("s", BoltType::from(1i64)),
                    ("e", BoltType::from("i-9")),
                    (
                        "props",
                        BoltType::Map(map(vec![
                            ("at", BoltType::from(100i64)),
                            ("qty", BoltType::from(3i64))
                        ]))
                    ),
                ])
            )]
        );
        assert!(matches!(
            writer.write(&row(Some(1), None)),
            Err(GraphError::BadValue { column, .. }) if column == "at"
        ));
        assert!(matches!(
            writer.write(&row(None, Some(5))),
            Err(GraphError::BadValue { column, .. }) if column == "uid"
        ));
        assert_eq!(writer.changes.len(), 1, "refused rows stage nothing");
        assert_eq!(
            writer.statement(Kind::Merge),
            "UNWIND range(0, size($rows) - 1) AS i WITH i, $rows[i] AS row \
             MATCH (s:`User` {`uid`: row.s}) MATCH (e:`Item` {`sku`: row.e}) \
             MERGE (s)-[r:`BOUGHT` {`at`: row.props.`at`}]->(e) SET r += row.props \
             RETURN count(DISTINCT i) AS done"
        );
    }

    #[test]
    fn updates_and_deletes_name_elements_by_their_row_identities() {
        let mut writer = GraphWriter::new(purchases());
        let first = identify("5:rel:1", None).unwrap();
        let second = identify("5:rel:2", None).unwrap();
        let rows = batch(vec![
            ("uid", longs(&[Some(1), Some(2)])),
            ("sku", texts(&[Some("a"), Some("b")])),
            ("qty", Arc::new(Int32Array::from(vec![7, 8]))),
        ]);
        writer.update(&[first, second], &rows).unwrap();
        writer.delete(&[second]).unwrap();
        let set = |id: &str, uid: i64, sku: &str, qty: i64| {
            map(vec![
                ("id", BoltType::from(id)),
                (
                    "props",
                    BoltType::Map(map(vec![("qty", BoltType::from(qty))])),
                ),
                ("s", BoltType::from(uid)),
                ("e", BoltType::from(sku)),
            ])
        };
        assert_eq!(
            changes(&writer),
            vec![
                (Kind::Set, set("5:rel:1", 1, "a", 7)),
                (Kind::Set, set("5:rel:2", 2, "b", 8)),
                (Kind::Delete, map(vec![("id", BoltType::from("5:rel:2"))])),
            ]
        );
        // an UPDATE moving a relationship to other end nodes matches no element
        assert!(writer
            .statement(Kind::Set)
            .contains("WHERE elementId(r) = row.id AND s.`uid` = row.s AND e.`sku` = row.e"));
        // an identity this transaction never handed out
        assert!(matches!(
            writer.delete(&[u64::MAX >> 16]),
            Err(GraphError::Unsupported(_))
        ));
    }

    #[test]
    fn node_deletes_detach_only_when_the_table_allows_it() {
        let plain = GraphWriter::new(users(&[]));
        let detaching = GraphWriter::new(users(&[("detach", "true")]));
        assert!(plain
            .statement(Kind::Delete)
            .contains("WHERE elementId(n) = row.id DELETE n RETURN"));
        assert!(detaching
            .statement(Kind::Delete)
            .contains("WHERE elementId(n) = row.id DETACH DELETE n RETURN"));
        // node updates carry no end nodes
        let mut writer = GraphWriter::new(users(&[]));
        let id = identify("4:node:1", None).unwrap();
        writer
            .update(&[id], &batch(vec![("name", texts(&[Some("bo")]))]))
            .unwrap();
        assert_eq!(
            changes(&writer),
            vec![(
                Kind::Set,
                map(vec![
                    ("id", BoltType::from("4:node:1")),
                    (
                        "props",
                        BoltType::Map(map(vec![("name", BoltType::from("bo"))]))
                    )
                ])
            )]
        );
    }

    #[test]
    fn names_are_quoted_into_the_statements() {
        let odd = table(
            &[("label", "Odd`) DETACH DELETE (x"), ("key", "my key")],
            &[("k", PgType::Text, Some("my key"))],
        );
        let writer = GraphWriter::new(odd);
        assert!(writer
            .statement(Kind::Merge)
            .contains("MERGE (n:`Odd``) DETACH DELETE (x` {`my key`: row.key})"));
    }

    #[test]
    fn rollback_forgets_the_changes_after_the_mark_and_nothing_is_sent() {
        let mut writer = GraphWriter::new(users(&[]));
        let row = |uid: i64| batch(vec![("uid", longs(&[Some(uid)]))]);
        writer.write(&row(1)).unwrap();
        let mark = writer.savepoint();
        writer.write(&row(2)).unwrap();
        writer
            .delete(&[identify("4:node:9", None).unwrap()])
            .unwrap();
        writer.rollback_to(mark);
        assert_eq!(writer.changes.len(), 1);
        assert_eq!(
            writer.changes[0].1.value.get("key"),
            Some(&BoltType::from(1i64))
        );
        writer.rollback_to(0);
        assert!(writer.is_empty());
        // (the server's port is closed: sending anything would fail)
        assert_eq!(writer.commit().unwrap(), 0);
    }
}
