//! What the planner pushed down to a source: columns, quals and a limit.
//!
//! Quals are *hints* unless a source says it applies one exactly: Postgres re-checks
//! the others on the rows a source returns, so a source may use any subset of them to
//! skip data and must only never drop a row that matches them all.

use crate::value::Value;
use serde::{Deserialize, Serialize};

/// A comparison operator the FDW core knows how to extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `IN (...)` or `= ANY(array)`; the value is a [`Value::List`]
    In,
    /// `IS NULL`
    IsNull,
    /// `IS NOT NULL`
    IsNotNull,
    /// `LIKE 'pattern'`; the value is the pattern text
    Like,
}

impl Op {
    /// SQL spelling, for EXPLAIN.
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
            Op::Like => "LIKE",
        }
    }

    /// The operator with its operands swapped (`5 < x` is `x > 5`).
    pub fn commuted(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            other => other,
        }
    }
}

/// One pushed-down condition `column op value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qual {
    /// column name as the source knows it
    pub column: String,
    /// the comparison
    pub op: Op,
    /// the right-hand side; [`Value::Null`] for `IS [NOT] NULL`
    pub value: Value,
}

impl Qual {
    /// The condition `column op value`.
    pub fn new(column: &str, op: Op, value: Value) -> Qual {
        Qual {
            column: column.to_string(),
            op,
            value,
        }
    }

    /// `column op value` as text for EXPLAIN.
    pub fn display(&self) -> String {
        match self.op {
            Op::IsNull | Op::IsNotNull => format!("{} {}", self.column, self.op.sql()),
            _ => format!("{} {} {}", self.column, self.op.sql(), self.value.display()),
        }
    }

    /// The fixed prefix of a LIKE pattern (`'ab%'` → `ab`), if it has one.
    pub fn like_prefix(&self) -> Option<&str> {
        match (&self.op, &self.value) {
            (Op::Like, Value::Text(pattern)) => like_pattern_prefix(pattern),
            _ => None,
        }
    }
}

/// The fixed text a LIKE pattern starts with, up to its first wildcard or escape.
pub fn like_pattern_prefix(pattern: &str) -> Option<&str> {
    let end = pattern.find(['%', '_', '\\']).unwrap_or(pattern.len());
    (end > 0).then(|| &pattern[..end])
}

/// Everything a source needs to start a scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// columns the query reads, in table order; empty for `count(*)`-style scans
    pub columns: Vec<String>,
    /// conditions the source may use to skip data (all are re-checked by Postgres)
    pub quals: Vec<Qual>,
    /// at most this many rows are needed (only set when no filter is left above the scan)
    pub limit: Option<u64>,
    /// each row must carry its identity (the scan feeds an UPDATE or DELETE)
    #[serde(default)]
    pub row_ids: bool,
    /// quals whose values are known only when the scan starts (parameters of a
    /// prepared statement): planners may count on them, scans get them in `quals`
    #[serde(default)]
    pub runtime_quals: Vec<(String, Op)>,
    /// columns the rows will be grouped by (a pushed aggregate): a source may return
    /// text ones dictionary-encoded
    #[serde(default)]
    pub group_columns: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(p: &str) -> Qual {
        Qual {
            column: "c".into(),
            op: Op::Like,
            value: Value::Text(p.into()),
        }
    }

    #[test]
    fn like_prefix_stops_at_first_wildcard() {
        assert_eq!(like("abc%").like_prefix(), Some("abc"));
        assert_eq!(like("a_c%").like_prefix(), Some("a"));
        assert_eq!(like("%abc").like_prefix(), None);
        assert_eq!(like("exact").like_prefix(), Some("exact"));
    }

    #[test]
    fn display_quotes_text() {
        let q = Qual {
            column: "name".into(),
            op: Op::Eq,
            value: Value::Text("O'Hara".into()),
        };
        assert_eq!(q.display(), "name = 'O''Hara'");
    }
}
