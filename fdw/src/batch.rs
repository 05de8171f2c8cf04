//! Rows as every adapter hands them to the FDW core: Arrow arrays or constants.

use crate::value::Value;
use deltalake::arrow::array::{Array, ArrayRef};
use deltalake::arrow::compute::{cast_with_options, CastOptions};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::error::ArrowError;

/// `array` converted to `to`, failing on a value that does not fit (Arrow's default
/// cast turns such a value into NULL, a wrong answer).
pub fn cast_exact(array: &dyn Array, to: &DataType) -> Result<ArrayRef, ArrowError> {
    let exact = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(array, to, &exact)
}

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
