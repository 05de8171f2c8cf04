//! Rows as every adapter hands them to the FDW core: Arrow arrays or constants.

use crate::value::Value;
use deltalake::arrow::array::ArrayRef;

/// One column of a [`ScanBatch`].
#[derive(Debug, Clone)]
pub enum ColumnData {
    /// values read from the data file, in the canonical Arrow type of the Delta type
    Array(ArrayRef),
    /// the same value for every row (partition columns, columns missing from a file)
    Constant(Value),
}

/// Rows of the requested columns, in the order of `ScanRequest::columns`.
#[derive(Debug, Clone)]
pub struct ScanBatch {
    /// number of rows
    pub num_rows: usize,
    /// one entry per requested column
    pub columns: Vec<ColumnData>,
    /// the identity of each row, when the request asked for them (UPDATE, DELETE)
    pub row_ids: Option<Vec<u64>>,
}
