//! Property tests of the graph adapter: the Cypher a scan sends keeps every value a
//! parameter and every name quoted (checked by lexing the text back), and Bolt values
//! decode to exactly the Postgres values they hold, or to a clear error.

use crate::value::Value;

mod cypher;
mod values;

/// Whether two query values are the same Postgres value (floats by bits, any NaN).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::Float4(x), Value::Float4(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        _ => a == b,
    }
}
