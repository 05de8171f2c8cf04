//! Ad-hoc Cypher statements (`odp.cypher` and the index helpers): one statement with
//! JSON parameters in its own Bolt transaction, each row returned as a JSON object of
//! its columns. A read streams: rows are pulled `fetch_size` at a time as the caller
//! asks, and the transaction is rolled back after the last one. A write is read to
//! its end (at most [`MAX_WRITE_ROWS`] rows) and committed before its first row is
//! returned, so a caller that stops early cannot leave it uncommitted; one that fails
//! or is cancelled first closes its connection, and the server rolls it back.

use super::client::{commit, lease, run, Lease};
use super::error::{GraphError, Result};
use super::options::ServerOptions;
use super::types::{json_to_bolt, to_json};
use neo4rs::{BoltType, Row, RowStream, Txn};
use serde_json::{Map, Value as Json};
use std::collections::VecDeque;

/// Rows a write may return: they are held in memory until it commits.
pub const MAX_WRITE_ROWS: usize = 100_000;

/// The rows of a running statement.
pub struct CypherRows {
    server: ServerOptions,
    /// the transaction and its rows, until the last row arrived
    running: Option<(Txn, RowStream)>,
    /// rows received and not yet returned
    ready: VecDeque<Row>,
    write: bool,
    /// the connection, held while the statement runs (declared after `running`, so the
    /// transaction is dropped before its connection's lease ends)
    lease: Lease,
}

impl CypherRows {
    /// Starts `query` with `params` (each value a Bolt parameter, nothing spliced into
    /// the text). Without `write` the query must not change the graph.
    pub fn start(
        server: &ServerOptions,
        query: &str,
        params: &Map<String, Json>,
        write: bool,
    ) -> Result<CypherRows> {
        if !write {
            if let Some(what) = super::read_only::write_in(query) {
                return Err(GraphError::WriteInReadOnly(what));
            }
        }
        let mut statement = neo4rs::query(query);
        for (name, value) in params {
            let value = json_to_bolt(value).map_err(|reason| GraphError::Parameter {
                name: name.clone(),
                reason,
            })?;
            statement = statement.param(name, value);
        }
        let lease = lease(server)?;
        lease.set_unfinished_write(write);
        let running = run(server, async {
            let mut txn = lease.graph().start_txn().await?;
            let rows = txn.execute(statement).await?;
            Ok((txn, rows))
        })?;
        let mut rows = CypherRows {
            server: server.clone(),
            running: Some(running),
            ready: VecDeque::new(),
            write,
            lease,
        };
        if write {
            while rows.running.is_some() {
                rows.fill()?;
            }
        }
        Ok(rows)
    }

    /// The next row as a JSON object, or `None` after the last.
    pub fn next_row(&mut self) -> Result<Option<Json>> {
        while self.ready.is_empty() && self.running.is_some() {
            self.fill()?;
        }
        self.ready.pop_front().map(|row| row_json(&row)).transpose()
    }

    /// Every remaining row (for statements known to return few).
    pub fn collect_all(mut self) -> Result<Vec<Json>> {
        let mut out = Vec::new();
        while let Some(row) = self.next_row()? {
            out.push(row);
        }
        Ok(out)
    }

    /// Pulls up to `fetch_size` rows; after the last, ends the transaction.
    fn fill(&mut self) -> Result<()> {
        crate::runtime::check_interrupts();
        let Some((txn, stream)) = self.running.as_mut() else {
            return Ok(());
        };
        let limit = self.server.fetch_size.max(1) as usize;
        let (rows, finished) = run(&self.server, async {
            let mut rows = Vec::with_capacity(limit);
            while rows.len() < limit {
                match stream.next(txn.handle()).await? {
                    Some(row) => rows.push(row),
                    None => return Ok((rows, true)),
                }
            }
            Ok((rows, false))
        })?;
        self.ready.extend(rows);
        if self.write && self.ready.len() > MAX_WRITE_ROWS {
            return Err(GraphError::Unsupported(format!(
                "a write returning more than {MAX_WRITE_ROWS} rows is refused, uncommitted (its rows are held until it commits): return a count"
            )));
        }
        if finished {
            let (txn, _) = self.running.take().expect("checked above");
            if self.write {
                // a cancel during the COMMIT could not tell whether it landed: it waits
                // (the query time-out bounds the COMMIT)
                let _held = crate::runtime::hold_interrupts();
                commit(&self.server, txn)?;
                self.lease.set_unfinished_write(false);
            } else {
                run(&self.server, txn.rollback())?;
            }
        }
        Ok(())
    }
}

/// A row as a JSON object of its columns.
fn row_json(row: &Row) -> Result<Json> {
    let mut object = Map::new();
    for key in row.keys() {
        let value: BoltType = row
            .get(&key.value)
            .map_err(|e| GraphError::Query(e.to_string()))?;
        object.insert(
            key.value.clone(),
            to_json(&value).map_err(GraphError::Query)?,
        );
    }
    Ok(Json::Object(object))
}
