//! Arrow arrays and constants → Postgres Datums, with no per-value boxing.
//!
//! Each batch column is downcast once into a [`TypedColumn`]; each row then reads one
//! value and builds its Datum directly (integers and floats by value, text straight
//! from the Arrow buffer into a varlena).

use super::quals::{PG_EPOCH_OFFSET_DAYS, PG_EPOCH_OFFSET_MICROS};
use odp_fdw::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, ListArray,
    StringArray, TimestampMicrosecondArray,
};
use odp_fdw::arrow::datatypes::{DataType, TimeUnit};
use odp_fdw::batch::ColumnData;
use odp_fdw::value::Value;
use pgrx::{pg_sys, AnyNumeric, IntoDatum, JsonB};
use std::str::FromStr;

/// The Postgres type a column is produced as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// boolean
    Bool,
    /// smallint
    Int2,
    /// integer
    Int4,
    /// bigint
    Int8,
    /// real
    Float4,
    /// double precision
    Float8,
    /// numeric
    Numeric,
    /// text or varchar
    Text,
    /// date
    Date,
    /// timestamp or timestamptz (same representation)
    Timestamp,
    /// bytea
    Bytea,
    /// jsonb
    Jsonb,
    /// an array of a scalar target
    Array(pg_sys::Oid),
}

impl Target {
    /// The target for a column type, if ODP can produce it.
    pub fn of(oid: pg_sys::Oid) -> Option<Target> {
        Some(match oid {
            pg_sys::BOOLOID => Target::Bool,
            pg_sys::INT2OID => Target::Int2,
            pg_sys::INT4OID => Target::Int4,
            pg_sys::INT8OID => Target::Int8,
            pg_sys::FLOAT4OID => Target::Float4,
            pg_sys::FLOAT8OID => Target::Float8,
            pg_sys::NUMERICOID => Target::Numeric,
            pg_sys::TEXTOID | pg_sys::VARCHAROID => Target::Text,
            pg_sys::DATEOID => Target::Date,
            pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Target::Timestamp,
            pg_sys::BYTEAOID => Target::Bytea,
            pg_sys::JSONBOID => Target::Jsonb,
            pg_sys::INT8ARRAYOID
            | pg_sys::INT4ARRAYOID
            | pg_sys::INT2ARRAYOID
            | pg_sys::FLOAT8ARRAYOID
            | pg_sys::FLOAT4ARRAYOID
            | pg_sys::TEXTARRAYOID
            | pg_sys::BOOLARRAYOID => Target::Array(oid),
            _ => return None,
        })
    }
}

/// A batch column ready to produce Datums.
pub enum TypedColumn {
    /// text
    Text(StringArray),
    /// any integer width, widened on output
    I64(Int64Array),
    /// 32-bit integers
    I32(Int32Array),
    /// 16-bit integers
    I16(Int16Array),
    /// 8-bit integers
    I8(Int8Array),
    /// doubles
    F64(Float64Array),
    /// floats
    F32(Float32Array),
    /// booleans
    Bool(BooleanArray),
    /// days since the Unix epoch
    Date(Date32Array),
    /// microseconds since the Unix epoch
    Timestamp(TimestampMicrosecondArray),
    /// decimals with their scale
    Decimal(Decimal128Array),
    /// bytes
    Binary(BinaryArray),
    /// lists (converted per row)
    List(ListArray),
    /// struct or map values, already rendered as JSON
    Json(Vec<Option<serde_json::Value>>),
    /// one Datum for every row
    Constant(Option<pg_sys::Datum>),
}

/// Why a column could not be prepared.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl TypedColumn {
    /// Downcasts a batch column for `target`.
    pub fn prepare(column: &ColumnData, target: Target) -> Result<TypedColumn, Unsupported> {
        match column {
            ColumnData::Constant(v) => Ok(TypedColumn::Constant(value_to_datum(v, target))),
            ColumnData::Array(array) => Self::from_array(array, target),
        }
    }

    fn from_array(array: &ArrayRef, target: Target) -> Result<TypedColumn, Unsupported> {
        Ok(match array.data_type() {
            DataType::Utf8 => TypedColumn::Text(array.as_string::<i32>().clone()),
            DataType::Int64 => TypedColumn::I64(array.as_primitive().clone()),
            DataType::Int32 => TypedColumn::I32(array.as_primitive().clone()),
            DataType::Int16 => TypedColumn::I16(array.as_primitive().clone()),
            DataType::Int8 => TypedColumn::I8(array.as_primitive().clone()),
            DataType::Float64 => TypedColumn::F64(array.as_primitive().clone()),
            DataType::Float32 => TypedColumn::F32(array.as_primitive().clone()),
            DataType::Boolean => TypedColumn::Bool(array.as_boolean().clone()),
            DataType::Date32 => TypedColumn::Date(array.as_primitive().clone()),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                TypedColumn::Timestamp(array.as_primitive().clone())
            }
            DataType::Decimal128(..) => TypedColumn::Decimal(array.as_primitive().clone()),
            DataType::Binary => TypedColumn::Binary(array.as_binary::<i32>().clone()),
            DataType::List(_) => TypedColumn::List(array.as_list::<i32>().clone()),
            DataType::Struct(_) | DataType::Map(..) if target == Target::Jsonb => {
                TypedColumn::Json(to_json_rows(array)?)
            }
            other => return Err(Unsupported(format!("Arrow type {other}"))),
        })
    }

    /// The Datum of row `row` produced as `target`, or `None` for NULL.
    pub fn datum(&self, row: usize, target: Target) -> Option<pg_sys::Datum> {
        macro_rules! scalar {
            ($array:expr, $convert:expr) => {
                if $array.is_null(row) {
                    None
                } else {
                    Some($convert($array.value(row)))
                }
            };
        }
        match self {
            TypedColumn::Text(a) => scalar!(a, |s: &str| text_datum(s)),
            TypedColumn::I64(a) => scalar!(a, |v: i64| int_datum(v, target)),
            TypedColumn::I32(a) => scalar!(a, |v: i32| int_datum(v as i64, target)),
            TypedColumn::I16(a) => scalar!(a, |v: i16| int_datum(v as i64, target)),
            TypedColumn::I8(a) => scalar!(a, |v: i8| int_datum(v as i64, target)),
            TypedColumn::F64(a) => scalar!(a, |v: f64| float_datum(v, target)),
            TypedColumn::F32(a) => scalar!(a, |v: f32| float_datum(v as f64, target)),
            TypedColumn::Bool(a) => scalar!(a, pg_sys::Datum::from),
            TypedColumn::Date(a) => {
                scalar!(a, |d: i32| pg_sys::Datum::from(d - PG_EPOCH_OFFSET_DAYS))
            }
            TypedColumn::Timestamp(a) => {
                scalar!(a, |t: i64| pg_sys::Datum::from(t - PG_EPOCH_OFFSET_MICROS))
            }
            TypedColumn::Decimal(a) => {
                if a.is_null(row) {
                    None
                } else {
                    AnyNumeric::from_str(&a.value_as_string(row))
                        .ok()
                        .and_then(IntoDatum::into_datum)
                }
            }
            TypedColumn::Binary(a) => scalar!(a, |b: &[u8]| b
                .to_vec()
                .into_datum()
                .unwrap_or(pg_sys::Datum::from(0))),
            TypedColumn::List(a) => {
                if a.is_null(row) {
                    None
                } else {
                    list_datum(&a.value(row), target)
                }
            }
            TypedColumn::Json(rows) => rows[row].clone().and_then(|v| JsonB(v).into_datum()),
            TypedColumn::Constant(d) => *d,
        }
    }
}

fn text_datum(s: &str) -> pg_sys::Datum {
    // SAFETY: cstring_to_text_with_len copies `len` bytes into a new varlena in the
    // current (per-tuple) memory context; the pointer and length come from a &str.
    unsafe {
        pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
            s.as_ptr() as *const _,
            s.len() as i32,
        ))
    }
}

fn int_datum(v: i64, target: Target) -> pg_sys::Datum {
    match target {
        Target::Int2 => pg_sys::Datum::from(v as i16),
        Target::Int4 => pg_sys::Datum::from(v as i32),
        Target::Float8 => float_datum(v as f64, target),
        Target::Numeric => AnyNumeric::from(v)
            .into_datum()
            .unwrap_or(pg_sys::Datum::from(0)),
        _ => pg_sys::Datum::from(v),
    }
}

fn float_datum(v: f64, target: Target) -> pg_sys::Datum {
    match target {
        Target::Float4 => (v as f32).into_datum(),
        _ => v.into_datum(),
    }
    .unwrap_or(pg_sys::Datum::from(0))
}

fn list_datum(values: &ArrayRef, target: Target) -> Option<pg_sys::Datum> {
    let Target::Array(oid) = target else {
        return None;
    };
    macro_rules! collect {
        ($ty:ty, $array:expr, $map:expr) => {{
            let a = $array;
            (0..a.len())
                .map(|i| (!a.is_null(i)).then(|| $map(a.value(i))))
                .collect::<Vec<Option<$ty>>>()
                .into_datum()
        }};
    }
    macro_rules! primitive {
        ($ty:ty, $arrow:ty) => {
            collect!($ty, values.as_primitive::<$arrow>(), |v| v)
        };
    }
    use odp_fdw::arrow::datatypes::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type};
    match (oid, values.data_type()) {
        (pg_sys::TEXTARRAYOID, DataType::Utf8) => {
            collect!(String, values.as_string::<i32>(), |s: &str| s.to_string())
        }
        (pg_sys::INT8ARRAYOID, DataType::Int64) => primitive!(i64, Int64Type),
        (pg_sys::INT4ARRAYOID, DataType::Int32) => primitive!(i32, Int32Type),
        (pg_sys::INT2ARRAYOID, DataType::Int16) => primitive!(i16, Int16Type),
        (pg_sys::FLOAT8ARRAYOID, DataType::Float64) => primitive!(f64, Float64Type),
        (pg_sys::FLOAT4ARRAYOID, DataType::Float32) => primitive!(f32, Float32Type),
        (pg_sys::BOOLARRAYOID, DataType::Boolean) => collect!(bool, values.as_boolean(), |v| v),
        _ => None,
    }
}

fn to_json_rows(array: &ArrayRef) -> Result<Vec<Option<serde_json::Value>>, Unsupported> {
    use odp_fdw::arrow::datatypes::{Field, Schema};
    use odp_fdw::arrow::record_batch::RecordBatch;
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "v",
        array.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![array.clone()])
        .map_err(|e| Unsupported(e.to_string()))?;
    let mut writer = odp_fdw::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, odp_fdw::arrow::json::writer::JsonArray>(Vec::new());
    writer
        .write(&batch)
        .map_err(|e| Unsupported(e.to_string()))?;
    writer.finish().map_err(|e| Unsupported(e.to_string()))?;
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&writer.into_inner()).map_err(|e| Unsupported(e.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|mut row| row.get_mut("v").map(serde_json::Value::take))
        .collect())
}

/// The Datum of a constant produced as `target` (`None` for NULL or a mismatch).
pub fn value_to_datum(value: &Value, target: Target) -> Option<pg_sys::Datum> {
    match (value, target) {
        (Value::Null, _) => None,
        (Value::Bool(b), Target::Bool) => Some(pg_sys::Datum::from(*b)),
        (
            Value::Int(i),
            Target::Int2 | Target::Int4 | Target::Int8 | Target::Float8 | Target::Numeric,
        ) => Some(int_datum(*i, target)),
        (Value::Float(f), Target::Float4 | Target::Float8) => Some(float_datum(*f, target)),
        (Value::Float(f), Target::Numeric) => AnyNumeric::try_from(*f)
            .ok()
            .and_then(IntoDatum::into_datum),
        (Value::Text(s), Target::Text) => Some(text_datum(s)),
        (Value::Date(d), Target::Date) => Some(pg_sys::Datum::from(d - PG_EPOCH_OFFSET_DAYS)),
        (Value::Timestamp(t), Target::Timestamp) => {
            Some(pg_sys::Datum::from(t - PG_EPOCH_OFFSET_MICROS))
        }
        (Value::Date(d), Target::Timestamp) => Some(pg_sys::Datum::from(
            *d as i64 * odp_fdw::value::MICROS_PER_DAY - PG_EPOCH_OFFSET_MICROS,
        )),
        _ => None,
    }
}
