//! Arrow arrays and constants → Postgres Datums, with no per-value boxing.
//!
//! Each batch column is checked and downcast once into a [`TypedColumn`] for the
//! column's [`PgType`], which builds the Datum of any row directly (integers and floats
//! by value, text and bytes straight from the Arrow buffer into a varlena, arrays element
//! by element through the same conversions). Scans convert a whole batch column at once
//! into a [`BatchColumn`], so producing a row is a copy of one Datum per column. A value
//! that cannot be converted exactly is an error, never a NULL.

use super::pgtype::oid_of;
use odp_fdw::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BinaryArray, BooleanArray, Date32Array,
    Decimal128Array, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array,
    IntervalMonthDayNanoArray, ListArray, PrimitiveArray, StringArray, TimestampMicrosecondArray,
};
use odp_fdw::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use odp_fdw::batch::ColumnData;
use odp_fdw::temporal::{POSTGRES_EPOCH_DAYS, POSTGRES_EPOCH_MICROS};
use odp_fdw::types::PgType;
use odp_fdw::value::Value;
use pgrx::{pg_sys, AnyNumeric, IntoDatum, JsonB};
use std::str::FromStr;

/// Why a value could not be converted.
#[derive(Debug)]
pub struct Unsupported(pub String);

/// A batch column ready to produce Datums of one Postgres type.
pub struct TypedColumn {
    data: Data,
    target: PgType,
}

enum Data {
    Text(StringArray),
    I64(Int64Array),
    I32(Int32Array),
    I16(Int16Array),
    I8(Int8Array),
    F64(Float64Array),
    F32(Float32Array),
    Bool(BooleanArray),
    Date(Date32Array),
    Timestamp(TimestampMicrosecondArray),
    Decimal(Decimal128Array),
    Binary(BinaryArray),
    Interval(IntervalMonthDayNanoArray),
    List(Box<ListColumn>),
    Json(Vec<Option<serde_json::Value>>),
    /// JSON text, read by `jsonb_in` (exact numbers, Postgres's own validation)
    JsonText(StringArray),
    /// numeric values as text (`avg` results, see `fdw::upper`)
    NumericText(StringArray),
    Constant(Option<pg_sys::Datum>),
}

/// Whether every text value of `column` is at most `limit` characters long (the
/// column is `varchar(limit)`: Postgres never holds a longer value in it).
pub fn fits_length(column: &ColumnData, limit: usize) -> bool {
    let fits = |s: &str| s.len() <= limit || s.chars().count() <= limit;
    match column {
        ColumnData::Constant(Value::Text(s)) => fits(s),
        ColumnData::Array(array) if *array.data_type() == DataType::Utf8 => {
            array.as_string::<i32>().iter().flatten().all(fits)
        }
        _ => true,
    }
}

/// The Datums of one batch column, converted column at a time.
pub enum BatchColumn {
    /// the same Datum (or NULL) for every row
    Constant(Option<pg_sys::Datum>),
    /// one Datum per row, and whether it is NULL
    Rows {
        /// Datums (unspecified where NULL)
        datums: Vec<pg_sys::Datum>,
        /// NULL flags
        nulls: Vec<bool>,
    },
}

impl BatchColumn {
    /// The Datum of `row`, or `None` for NULL.
    #[inline]
    pub fn datum(&self, row: usize) -> Option<pg_sys::Datum> {
        match self {
            BatchColumn::Constant(d) => *d,
            BatchColumn::Rows { datums, nulls } => (!nulls[row]).then(|| datums[row]),
        }
    }
}

/// A list column: offsets into one prepared column of all elements of the batch.
struct ListColumn {
    lists: ListArray,
    elements: TypedColumn,
    element_oid: pg_sys::Oid,
    element_len: i16,
    element_by_value: bool,
    element_align: std::ffi::c_char,
}

fn mismatch(arrow: &DataType, target: &PgType) -> Unsupported {
    Unsupported(format!(
        "Arrow type {arrow} cannot be returned as {}",
        target.sql()
    ))
}

impl TypedColumn {
    /// Checks and downcasts a batch column for `target`.
    pub fn prepare(column: &ColumnData, target: &PgType) -> Result<TypedColumn, Unsupported> {
        let data = match column {
            ColumnData::Constant(v) => Data::Constant(value_to_datum(v, target)?),
            ColumnData::Array(array) => Self::data(array, target)?,
        };
        Ok(TypedColumn {
            data,
            target: target.clone(),
        })
    }

    fn data(array: &ArrayRef, target: &PgType) -> Result<Data, Unsupported> {
        use PgType as P;
        let integer = matches!(target, P::Int8 | P::Numeric);
        Ok(match (array.data_type(), target) {
            (DataType::Utf8, P::Text | P::Varchar) => Data::Text(array.as_string().clone()),
            (DataType::Utf8, P::Jsonb) => Data::JsonText(array.as_string().clone()),
            (DataType::Utf8, P::Numeric) => Data::NumericText(array.as_string().clone()),
            (DataType::Int64, _) if integer => Data::I64(array.as_primitive().clone()),
            (DataType::Int32, P::Int4) => Data::I32(array.as_primitive().clone()),
            (DataType::Int32, _) if integer => Data::I32(array.as_primitive().clone()),
            (DataType::Int16, P::Int2 | P::Int4) => Data::I16(array.as_primitive().clone()),
            (DataType::Int16, _) if integer => Data::I16(array.as_primitive().clone()),
            (DataType::Int8, P::Int2 | P::Int4) => Data::I8(array.as_primitive().clone()),
            (DataType::Int8, _) if integer => Data::I8(array.as_primitive().clone()),
            (DataType::Float64, P::Float8) => Data::F64(array.as_primitive().clone()),
            (DataType::Float32, P::Float4 | P::Float8) => Data::F32(array.as_primitive().clone()),
            (DataType::Boolean, P::Bool) => Data::Bool(array.as_boolean().clone()),
            (DataType::Date32, P::Date) => Data::Date(array.as_primitive().clone()),
            (DataType::Timestamp(TimeUnit::Microsecond, _), P::Timestamp | P::TimestampTz) => {
                Data::Timestamp(array.as_primitive().clone())
            }
            (DataType::Decimal128(..), P::Numeric) => Data::Decimal(array.as_primitive().clone()),
            (DataType::Binary, P::Bytea) => Data::Binary(array.as_binary().clone()),
            (DataType::Interval(IntervalUnit::MonthDayNano), P::Interval) => {
                Data::Interval(array.as_primitive().clone())
            }
            (DataType::List(_), P::Array(element)) => {
                let lists: ListArray = array.as_list().clone();
                let elements =
                    TypedColumn::prepare(&ColumnData::Array(lists.values().clone()), element)?;
                let element_oid = oid_of(element);
                let (mut len, mut by_value, mut align) = (0i16, false, 0 as std::ffi::c_char);
                // SAFETY: reads the type cache entry of a built-in type into locals.
                unsafe {
                    pg_sys::get_typlenbyvalalign(element_oid, &mut len, &mut by_value, &mut align)
                };
                Data::List(Box::new(ListColumn {
                    lists,
                    elements,
                    element_oid,
                    element_len: len,
                    element_by_value: by_value,
                    element_align: align,
                }))
            }
            (DataType::Struct(_) | DataType::Map(..) | DataType::List(_), P::Jsonb) => {
                Data::Json(to_json_rows(array)?)
            }
            (other, _) => return Err(mismatch(other, target)),
        })
    }

    /// Converts the first `rows` rows at once (by-value types in one tight loop each).
    pub fn materialize(&self, rows: usize) -> Result<BatchColumn, Unsupported> {
        fn primitive<T: ArrowPrimitiveType>(
            array: &PrimitiveArray<T>,
            rows: usize,
            to_datum: impl Fn(T::Native) -> pg_sys::Datum,
        ) -> BatchColumn {
            let datums = array.values()[..rows]
                .iter()
                .map(|v| to_datum(*v))
                .collect();
            let nulls = match array.nulls() {
                Some(n) => (0..rows).map(|i| n.is_null(i)).collect(),
                None => vec![false; rows],
            };
            BatchColumn::Rows { datums, nulls }
        }
        let int_fits = !matches!(self.target, PgType::Numeric);
        Ok(match &self.data {
            Data::Constant(d) => BatchColumn::Constant(*d),
            Data::F64(a) => primitive(a, rows, |v| pg_sys::Datum::from(v.to_bits())),
            Data::F32(a) if self.target == PgType::Float4 => {
                primitive(a, rows, |v| pg_sys::Datum::from(v.to_bits()))
            }
            Data::I64(a) if int_fits => primitive(a, rows, pg_sys::Datum::from),
            Data::I32(a) if int_fits => primitive(a, rows, pg_sys::Datum::from),
            Data::I16(a) if int_fits => primitive(a, rows, pg_sys::Datum::from),
            Data::I8(a) if int_fits => primitive(a, rows, |v| pg_sys::Datum::from(v as i16)),
            // (wrapping: the value under a NULL may be anything and is never read)
            Data::Date(a) => primitive(a, rows, |d| {
                pg_sys::Datum::from(d.wrapping_sub(POSTGRES_EPOCH_DAYS))
            }),
            Data::Timestamp(a) => primitive(a, rows, |t| {
                pg_sys::Datum::from(t.wrapping_sub(POSTGRES_EPOCH_MICROS))
            }),
            _ => {
                let mut datums = Vec::with_capacity(rows);
                let mut nulls = Vec::with_capacity(rows);
                for row in 0..rows {
                    let datum = self.datum(row)?;
                    nulls.push(datum.is_none());
                    datums.push(datum.unwrap_or(pg_sys::Datum::from(0)));
                }
                BatchColumn::Rows { datums, nulls }
            }
        })
    }

    /// The Datum of row `row`, or `None` for NULL.
    pub fn datum(&self, row: usize) -> Result<Option<pg_sys::Datum>, Unsupported> {
        macro_rules! scalar {
            ($array:expr, $convert:expr) => {
                if $array.is_null(row) {
                    Ok(None)
                } else {
                    $convert($array.value(row)).map(Some)
                }
            };
        }
        let target = &self.target;
        match &self.data {
            Data::Text(a) => scalar!(a, |s: &str| Ok(varlena_datum(s.as_bytes()))),
            Data::I64(a) => scalar!(a, |v: i64| int_datum(v, target)),
            Data::I32(a) => scalar!(a, |v: i32| int_datum(v as i64, target)),
            Data::I16(a) => scalar!(a, |v: i16| int_datum(v as i64, target)),
            Data::I8(a) => scalar!(a, |v: i8| int_datum(v as i64, target)),
            Data::F64(a) => scalar!(a, |v: f64| Ok(pg_sys::Datum::from(v.to_bits()))),
            Data::F32(a) => scalar!(a, |v: f32| float4_datum(v, target)),
            Data::Bool(a) => scalar!(a, |v: bool| Ok(pg_sys::Datum::from(v))),
            Data::Date(a) => {
                scalar!(a, |d: i32| Ok(pg_sys::Datum::from(d - POSTGRES_EPOCH_DAYS)))
            }
            Data::Timestamp(a) => {
                scalar!(a, |t: i64| Ok(pg_sys::Datum::from(
                    t - POSTGRES_EPOCH_MICROS
                )))
            }
            Data::Decimal(a) => {
                if a.is_null(row) {
                    Ok(None)
                } else {
                    numeric_datum(&a.value_as_string(row)).map(Some)
                }
            }
            Data::Binary(a) => scalar!(a, |b: &[u8]| Ok(varlena_datum(b))),
            Data::Interval(a) => scalar!(a, interval_datum),
            Data::List(list) => list.datum(row),
            Data::Json(rows) => match &rows[row] {
                None => Ok(None),
                Some(v) => JsonB(v.clone())
                    .into_datum()
                    .map(Some)
                    .ok_or_else(|| Unsupported("cannot build a jsonb value".into())),
            },
            Data::JsonText(a) => scalar!(a, jsonb_datum),
            Data::NumericText(a) => scalar!(a, numeric_datum),
            Data::Constant(d) => Ok(*d),
        }
    }
}

impl ListColumn {
    fn datum(&self, row: usize) -> Result<Option<pg_sys::Datum>, Unsupported> {
        if self.lists.is_null(row) {
            return Ok(None);
        }
        let offsets = self.lists.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        let mut datums = Vec::with_capacity(end - start);
        let mut nulls = Vec::with_capacity(end - start);
        for i in start..end {
            let d = self.elements.datum(i)?;
            nulls.push(d.is_none());
            datums.push(d.unwrap_or(pg_sys::Datum::from(0)));
        }
        let mut dims = [datums.len() as i32];
        let mut lower_bounds = [1i32];
        // SAFETY: datums and nulls have dims[0] entries of the element type whose
        // length, by-value flag and alignment were read from the type cache; the array
        // is built in the current memory context. Zero elements make an empty array.
        let array = unsafe {
            if datums.is_empty() {
                pg_sys::construct_empty_array(self.element_oid)
            } else {
                pg_sys::construct_md_array(
                    datums.as_mut_ptr(),
                    nulls.as_mut_ptr(),
                    1,
                    dims.as_mut_ptr(),
                    lower_bounds.as_mut_ptr(),
                    self.element_oid,
                    self.element_len as i32,
                    self.element_by_value,
                    self.element_align,
                )
            }
        };
        Ok(Some(pg_sys::Datum::from(array)))
    }
}

/// A text or bytea Datum holding `bytes` (both are plain varlenas).
fn varlena_datum(bytes: &[u8]) -> pg_sys::Datum {
    // SAFETY: cstring_to_text_with_len copies `len` bytes (NULs included) into a new
    // varlena in the current memory context.
    unsafe {
        pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
            bytes.as_ptr() as *const _,
            bytes.len() as i32,
        ))
    }
}

fn int_datum(v: i64, target: &PgType) -> Result<pg_sys::Datum, Unsupported> {
    let out_of_range = || Unsupported(format!("{v} does not fit {}", target.sql()));
    Ok(match target {
        PgType::Int2 => pg_sys::Datum::from(i16::try_from(v).map_err(|_| out_of_range())?),
        PgType::Int4 => pg_sys::Datum::from(i32::try_from(v).map_err(|_| out_of_range())?),
        PgType::Int8 => pg_sys::Datum::from(v),
        PgType::Numeric => AnyNumeric::from(v)
            .into_datum()
            .ok_or_else(|| Unsupported("cannot build a numeric value".into()))?,
        other => return Err(mismatch(&DataType::Int64, other)),
    })
}

fn float4_datum(v: f32, target: &PgType) -> Result<pg_sys::Datum, Unsupported> {
    Ok(match target {
        PgType::Float4 => pg_sys::Datum::from(v.to_bits()),
        _ => pg_sys::Datum::from((v as f64).to_bits()),
    })
}

fn numeric_datum(text: &str) -> Result<pg_sys::Datum, Unsupported> {
    AnyNumeric::from_str(text)
        .ok()
        .and_then(IntoDatum::into_datum)
        .ok_or_else(|| Unsupported(format!("\"{text}\" is not a valid numeric")))
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
        .enumerate()
        .map(|(i, mut row)| {
            let value = row.get_mut("v").map(serde_json::Value::take);
            value.filter(|_| !array.is_null(i))
        })
        .collect())
}

/// The Datum of a constant produced as `target` (`None` for NULL).
pub fn value_to_datum(
    value: &Value,
    target: &PgType,
) -> Result<Option<pg_sys::Datum>, Unsupported> {
    use PgType as P;
    let datum = match (value, target) {
        (Value::Null, _) => return Ok(None),
        (Value::Bool(b), P::Bool) => pg_sys::Datum::from(*b),
        (Value::Int(i), P::Int2 | P::Int4 | P::Int8 | P::Numeric) => int_datum(*i, target)?,
        (Value::Float4(f), P::Float4 | P::Float8) => float4_datum(*f, target)?,
        (Value::Float(f), P::Float8) => pg_sys::Datum::from(f.to_bits()),
        (Value::Numeric(n), P::Numeric) => numeric_datum(&n.to_string())?,
        (Value::Text(s), P::Text | P::Varchar) => varlena_datum(s.as_bytes()),
        (Value::Date(d), P::Date) => pg_sys::Datum::from(d - POSTGRES_EPOCH_DAYS),
        (Value::Timestamp(t), P::Timestamp | P::TimestampTz) => {
            pg_sys::Datum::from(t - POSTGRES_EPOCH_MICROS)
        }
        (other, _) => {
            return Err(Unsupported(format!(
                "the value {} cannot be returned as {}",
                other.display(),
                target.sql()
            )))
        }
    };
    Ok(Some(datum))
}

/// A jsonb Datum parsed from JSON text by Postgres's `jsonb_in`.
fn jsonb_datum(text: &str) -> Result<pg_sys::Datum, Unsupported> {
    let text = std::ffi::CString::new(text)
        .map_err(|_| Unsupported("JSON text holding a NUL byte".into()))?;
    // SAFETY: jsonb_in takes a NUL-terminated C string and returns a palloc'd jsonb in
    // the current memory context; invalid JSON raises an ERROR through the guard.
    unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::jsonb_in,
            &[Some(pg_sys::Datum::from(text.as_ptr()))],
        )
    }
    .ok_or_else(|| Unsupported("jsonb_in returned NULL".into()))
}

/// An interval Datum (palloc'd in the current context) from Arrow's month-day-nanosecond
/// interval; nanoseconds are rounded to microseconds as Postgres rounds interval input.
fn interval_datum(v: IntervalMonthDayNano) -> Result<pg_sys::Datum, Unsupported> {
    let micros = (v.nanoseconds as i128 + v.nanoseconds.signum() as i128 * 500) / 1000;
    let micros = i64::try_from(micros)
        .map_err(|_| Unsupported(format!("interval of {} ns is out of range", v.nanoseconds)))?;
    pgrx::datum::Interval::new(v.months, v.days, micros)
        .map_err(|e| Unsupported(format!("interval out of range: {e}")))?
        .into_datum()
        .ok_or_else(|| Unsupported("cannot build an interval value".into()))
}
