//! Reading a graph table: one Cypher query per scan, its rows pulled `fetch_size` at a
//! time and turned into Arrow arrays by the type table.

use super::client::{lease, run, Lease};
use super::cypher::CypherQuery;
use super::error::{GraphError, Result};
use super::table::GraphTable;
use super::types::{decode, to_bolt};
use crate::batch::{ColumnData, ScanBatch};
use crate::request::ScanRequest;
use neo4rs::{BoltType, RowStream, Txn};

/// What a scan did, for EXPLAIN ANALYZE.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanCounters {
    /// rows the server sent
    pub rows_received: u64,
    /// batches pulled
    pub batches: u64,
}

/// A scan in progress.
pub struct GraphScan {
    table: GraphTable,
    columns: Vec<String>,
    query: CypherQuery,
    /// the read transaction and the query's rows, once started
    running: Option<(Txn, RowStream)>,
    /// the connection the scan holds while it runs (after `running`: dropped after it)
    lease: Option<Lease>,
    /// rows carry their element id as identity (UPDATE, DELETE)
    row_ids: bool,
    done: bool,
    counters: ScanCounters,
}

impl GraphScan {
    /// Starts a scan of `table` for `request` (the query runs at the first batch).
    pub fn new(table: &GraphTable, request: &ScanRequest) -> GraphScan {
        GraphScan {
            table: table.clone(),
            columns: request.columns.clone(),
            query: table.query(request),
            running: None,
            lease: None,
            row_ids: request.row_ids,
            done: false,
            counters: ScanCounters::default(),
        }
    }

    /// The Cypher sent.
    pub fn query(&self) -> &CypherQuery {
        &self.query
    }

    /// What the scan did so far.
    pub fn counters(&self) -> &ScanCounters {
        &self.counters
    }

    /// The next batch of rows, or `None` when the scan is done.
    pub fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        if self.done {
            return Ok(None);
        }
        crate::runtime::check_interrupts();
        let server = self.table.server.clone();
        if self.running.is_none() {
            let lease = lease(&server)?;
            let mut query = neo4rs::query(&self.query.text);
            for (name, value, pg) in &self.query.params {
                let bolt = to_bolt(value, pg).ok_or_else(|| {
                    GraphError::Unsupported(format!("parameter ${name} has no Bolt form"))
                })?;
                query = query.param(name, bolt);
            }
            // A transaction (not Graph::execute, which retries failed connections for up
            // to a minute): bad credentials or a lost server fail at once.
            self.running = Some(run(&server, async {
                let mut txn = lease.graph().start_txn().await?;
                let rows = txn.execute(query).await?;
                Ok((txn, rows))
            })?);
            self.lease = Some(lease);
        }
        let (txn, stream) = self.running.as_mut().expect("opened above");
        let limit = self.table.server.fetch_size as usize;
        let rows = run(&server, async {
            let mut rows = Vec::with_capacity(limit);
            while rows.len() < limit {
                match stream.next(txn.handle()).await? {
                    Some(row) => rows.push(row),
                    None => break,
                }
            }
            Ok(rows)
        })?;
        if rows.len() < limit {
            self.done = true;
            if let Some((txn, _)) = self.running.take() {
                run(&server, txn.commit())?;
            }
            self.lease = None;
        }
        if rows.is_empty() {
            return Ok(None);
        }
        self.counters.batches += 1;
        self.counters.rows_received += rows.len() as u64;
        let row_ids = if self.row_ids {
            let ids = rows
                .iter()
                .map(|row| {
                    let id: String = row
                        .get("rid")
                        .map_err(|e| GraphError::Query(e.to_string()))?;
                    crate::rowid::identify(&id, None)
                        .map_err(|e| GraphError::Unsupported(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            Some(ids)
        } else {
            None
        };
        let mut columns = Vec::with_capacity(self.columns.len());
        for (i, name) in self.columns.iter().enumerate() {
            let column = self
                .table
                .column(name)
                .expect("requested columns are declared columns");
            let key = format!("c{i}");
            let values = rows
                .iter()
                .map(|row| {
                    row.get::<BoltType>(&key).map_err(|e| GraphError::BadValue {
                        column: name.clone(),
                        reason: e.to_string(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            columns.push(ColumnData::Array(decode(&column.pg_type, name, &values)?));
        }
        Ok(Some(ScanBatch {
            num_rows: rows.len(),
            columns,
            row_ids,
        }))
    }
}
