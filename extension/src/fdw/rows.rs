//! Tuples → Arrow: rows inserted into a foreign table are appended to one Arrow builder
//! per column, in the Arrow type the source asks for, and handed over a batch at a time.
//! Every conversion is exact: a value that does not fit its target (an integer out of
//! range, a numeric beyond the decimal's precision, an infinite date) is an error.

use odp_fdw::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, Int8Builder,
    IntervalMonthDayNanoBuilder, ListArray, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use odp_fdw::arrow::buffer::{NullBuffer, OffsetBuffer};
use odp_fdw::arrow::datatypes::{
    DataType, Field, IntervalMonthDayNano, IntervalUnit, Schema, SchemaRef, TimeUnit,
};
use odp_fdw::numeric::{Decimal, Numeric};
use odp_fdw::temporal::{POSTGRES_EPOCH_DAYS, POSTGRES_EPOCH_MICROS};
use odp_fdw::types::PgType;
use pgrx::{pg_sys, AnyNumeric, FromDatum};
use std::sync::Arc;

/// Why a row could not be collected.
#[derive(Debug)]
pub enum WriteError {
    /// the column's type cannot be written to its source type (0A000)
    Type(String),
    /// a number does not fit the source column (22003)
    OutOfRange(String),
    /// a date or timestamp the source cannot hold (22008)
    Datetime(String),
}

impl WriteError {
    fn in_column(self, column: &str) -> WriteError {
        let prefix = |m: String| format!("column \"{column}\": {m}");
        match self {
            WriteError::Type(m) => WriteError::Type(prefix(m)),
            WriteError::OutOfRange(m) => WriteError::OutOfRange(prefix(m)),
            WriteError::Datetime(m) => WriteError::Datetime(prefix(m)),
        }
    }
}

/// One column a [`RowBuffer`] collects.
#[derive(Debug, Clone)]
pub struct BufferColumn {
    /// column name as the source knows it
    pub name: String,
    /// attribute number in the relation (1-based)
    pub attnum: i16,
    /// the column's Postgres type
    pub pg_type: PgType,
    /// the type OID (for arrays)
    pub type_oid: pg_sys::Oid,
    /// the Arrow type the source takes
    pub arrow: DataType,
}

/// Rows being collected into Arrow arrays.
pub struct RowBuffer {
    columns: Vec<BufferColumn>,
    builders: Vec<ColumnBuilder>,
    schema: SchemaRef,
    rows: usize,
}

impl RowBuffer {
    /// A buffer for `columns`; fails when a column's type cannot become its Arrow type.
    pub fn new(columns: Vec<BufferColumn>) -> Result<RowBuffer, WriteError> {
        let builders = columns
            .iter()
            .map(|c| ColumnBuilder::new(&c.pg_type, &c.arrow))
            .collect::<Result<Vec<_>, _>>()?;
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.arrow.clone(), true))
                .collect::<Vec<_>>(),
        ));
        Ok(RowBuffer {
            columns,
            builders,
            schema,
            rows: 0,
        })
    }

    /// Rows collected since the last [`RowBuffer::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is collected.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends the row in `slot`.
    ///
    /// # Safety
    /// `slot` must hold a row of the relation the columns belong to.
    pub unsafe fn push(&mut self, slot: *mut pg_sys::TupleTableSlot) -> Result<(), WriteError> {
        // SAFETY: slot_getallattrs fills tts_values/tts_isnull for every attribute (a
        // virtual slot from a SELECT usually has them already).
        let (values, nulls) = unsafe {
            let natts = (*(*slot).tts_tupleDescriptor).natts as usize;
            if ((*slot).tts_nvalid as usize) < natts {
                pg_sys::slot_getallattrs(slot);
            }
            (
                std::slice::from_raw_parts((*slot).tts_values, natts),
                std::slice::from_raw_parts((*slot).tts_isnull, natts),
            )
        };
        for (column, builder) in self.columns.iter().zip(&mut self.builders) {
            let i = (column.attnum - 1) as usize;
            // SAFETY: the datum belongs to this attribute, whose type is the column's.
            unsafe { builder.append(values[i], nulls[i], &column.pg_type, column.type_oid) }
                .map_err(|e| e.in_column(&column.name))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// The collected rows as a batch; the buffer starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, WriteError> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| WriteError::Type(e.to_string()))
    }
}

/// A builder for one column, by target Arrow type.
enum ColumnBuilder {
    Utf8(StringBuilder),
    /// jsonb as JSON text
    Json(StringBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Date32(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, Option<Arc<str>>),
    Decimal(Decimal128Builder, u8, i8),
    Binary(BinaryBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    List(Box<ListBuilder>),
}

/// A list column: offsets and validity per row, elements in one child builder.
struct ListBuilder {
    field: Arc<Field>,
    offsets: Vec<i32>,
    valid: Vec<bool>,
    elements: ColumnBuilder,
    element: PgType,
    element_oid: pg_sys::Oid,
}

fn out_of_range(value: impl std::fmt::Display, target: &DataType) -> WriteError {
    WriteError::OutOfRange(format!("value {value} is out of range for {target}"))
}

impl ColumnBuilder {
    fn new(pg: &PgType, arrow: &DataType) -> Result<ColumnBuilder, WriteError> {
        use PgType as P;
        let integer = |p: &PgType| matches!(p, P::Int2 | P::Int4 | P::Int8 | P::Numeric);
        Ok(match (arrow, pg) {
            (DataType::Utf8, P::Text | P::Varchar) => ColumnBuilder::Utf8(StringBuilder::new()),
            (DataType::Utf8, P::Jsonb) => ColumnBuilder::Json(StringBuilder::new()),
            (DataType::Int8, p) if integer(p) => ColumnBuilder::Int8(Int8Builder::new()),
            (DataType::Int16, p) if integer(p) => ColumnBuilder::Int16(Int16Builder::new()),
            (DataType::Int32, p) if integer(p) => ColumnBuilder::Int32(Int32Builder::new()),
            (DataType::Int64, p) if integer(p) => ColumnBuilder::Int64(Int64Builder::new()),
            (DataType::Float32, P::Float4 | P::Float8) => {
                ColumnBuilder::Float32(Float32Builder::new())
            }
            (DataType::Float64, P::Float4 | P::Float8) => {
                ColumnBuilder::Float64(Float64Builder::new())
            }
            (DataType::Boolean, P::Bool) => ColumnBuilder::Boolean(BooleanBuilder::new()),
            (DataType::Date32, P::Date) => ColumnBuilder::Date32(Date32Builder::new()),
            (DataType::Timestamp(TimeUnit::Microsecond, zone), P::Timestamp | P::TimestampTz) => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new(), zone.clone())
            }
            (DataType::Decimal128(p, s), P::Numeric) => ColumnBuilder::Decimal(
                Decimal128Builder::new()
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| WriteError::Type(e.to_string()))?,
                *p,
                *s,
            ),
            (DataType::Binary, P::Bytea) => ColumnBuilder::Binary(BinaryBuilder::new()),
            (DataType::Interval(IntervalUnit::MonthDayNano), P::Interval) => {
                ColumnBuilder::Interval(IntervalMonthDayNanoBuilder::new())
            }
            (DataType::List(field), P::Array(element)) => {
                ColumnBuilder::List(Box::new(ListBuilder {
                    field: field.clone(),
                    offsets: vec![0],
                    valid: Vec::new(),
                    elements: ColumnBuilder::new(element, field.data_type())?,
                    element: (**element).clone(),
                    element_oid: super::pgtype::oid_of(element),
                }))
            }
            _ => {
                return Err(WriteError::Type(format!(
                    "writing {} values into a column of Arrow type {arrow} is not supported",
                    pg.sql()
                )))
            }
        })
    }

    /// Appends one value.
    ///
    /// # Safety
    /// `datum` must be a valid Datum of type `pg` (OID `oid`), unless `is_null`.
    unsafe fn append(
        &mut self,
        datum: pg_sys::Datum,
        is_null: bool,
        pg: &PgType,
        oid: pg_sys::Oid,
    ) -> Result<(), WriteError> {
        if is_null {
            self.append_null();
            return Ok(());
        }
        // Each builder was made for `pg` (`ColumnBuilder::new`), so in every arm the
        // caller's guarantee makes `datum` a Datum of the type the arm reads.
        match self {
            // SAFETY: a text or varchar Datum.
            ColumnBuilder::Utf8(b) => b.append_value(unsafe { text(datum) }?),
            // SAFETY: a jsonb Datum.
            ColumnBuilder::Json(b) => b.append_value(unsafe { json_text(datum) }?),
            ColumnBuilder::Int8(b) => {
                // SAFETY: a Datum of type `pg` (an integer or numeric).
                let v = unsafe { integer(datum, pg) }?;
                b.append_value(i8::try_from(v).map_err(|_| out_of_range(v, &DataType::Int8))?)
            }
            ColumnBuilder::Int16(b) => {
                // SAFETY: a Datum of type `pg` (an integer or numeric).
                let v = unsafe { integer(datum, pg) }?;
                b.append_value(i16::try_from(v).map_err(|_| out_of_range(v, &DataType::Int16))?)
            }
            ColumnBuilder::Int32(b) => {
                // SAFETY: a Datum of type `pg` (an integer or numeric).
                let v = unsafe { integer(datum, pg) }?;
                b.append_value(i32::try_from(v).map_err(|_| out_of_range(v, &DataType::Int32))?)
            }
            // SAFETY: a Datum of type `pg` (an integer or numeric).
            ColumnBuilder::Int64(b) => b.append_value(unsafe { integer(datum, pg) }?),
            ColumnBuilder::Float32(b) => b.append_value(match pg {
                // SAFETY: a float4 Datum.
                PgType::Float4 => unsafe { from_datum::<f32>(datum) }?,
                _ => {
                    // SAFETY: a float8 Datum (the builder takes float4 or float8).
                    let v = unsafe { from_datum::<f64>(datum) }?;
                    let narrowed = v as f32;
                    if narrowed as f64 != v && !v.is_nan() {
                        return Err(WriteError::OutOfRange(format!(
                            "{v} cannot be stored exactly as a Delta float"
                        )));
                    }
                    narrowed
                }
            }),
            ColumnBuilder::Float64(b) => b.append_value(match pg {
                // SAFETY: a float4 Datum.
                PgType::Float4 => unsafe { from_datum::<f32>(datum) }? as f64,
                // SAFETY: a float8 Datum (the builder takes float4 or float8).
                _ => unsafe { from_datum::<f64>(datum) }?,
            }),
            // SAFETY: a bool Datum.
            ColumnBuilder::Boolean(b) => b.append_value(unsafe { from_datum::<bool>(datum) }?),
            ColumnBuilder::Date32(b) => {
                // SAFETY: a date Datum (an int4 count of days).
                let days = unsafe { from_datum::<i32>(datum) }?;
                if days == i32::MIN || days == i32::MAX {
                    return Err(WriteError::Datetime(
                        "an infinite date cannot be stored".into(),
                    ));
                }
                b.append_value(
                    days.checked_add(POSTGRES_EPOCH_DAYS)
                        .ok_or_else(|| out_of_range(days, &DataType::Date32))?,
                )
            }
            ColumnBuilder::Timestamp(b, _) => {
                // SAFETY: a timestamp or timestamptz Datum (an int8 count of microseconds).
                let micros = unsafe { from_datum::<i64>(datum) }?;
                if micros == i64::MIN || micros == i64::MAX {
                    return Err(WriteError::Datetime(
                        "an infinite timestamp cannot be stored".into(),
                    ));
                }
                b.append_value(micros.checked_add(POSTGRES_EPOCH_MICROS).ok_or_else(|| {
                    out_of_range(micros, &DataType::Timestamp(TimeUnit::Microsecond, None))
                })?)
            }
            ColumnBuilder::Decimal(b, precision, scale) => {
                // SAFETY: a numeric Datum.
                let decimal = unsafe { finite_numeric(datum) }?;
                let unscaled = decimal
                    .to_unscaled_rounded(*scale)
                    .filter(|u| u.unsigned_abs() < 10u128.pow(*precision as u32))
                    .ok_or_else(|| {
                        out_of_range(&decimal, &DataType::Decimal128(*precision, *scale))
                    })?;
                b.append_value(unscaled)
            }
            // SAFETY: a bytea Datum.
            ColumnBuilder::Binary(b) => b.append_value(unsafe { bytes(datum) }?),
            ColumnBuilder::Interval(b) => {
                // SAFETY: an interval Datum.
                let interval = unsafe { from_datum::<pgrx::datum::Interval>(datum) }?;
                let nanoseconds = interval.micros().checked_mul(1000).ok_or_else(|| {
                    out_of_range(interval, &DataType::Interval(IntervalUnit::MonthDayNano))
                })?;
                b.append_value(IntervalMonthDayNano {
                    months: interval.months(),
                    days: interval.days(),
                    nanoseconds,
                })
            }
            // SAFETY: an array Datum of type `oid`.
            ColumnBuilder::List(list) => unsafe { list.append(datum, oid) }?,
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Utf8(b) | ColumnBuilder::Json(b) => b.append_null(),
            ColumnBuilder::Int8(b) => b.append_null(),
            ColumnBuilder::Int16(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Date32(b) => b.append_null(),
            ColumnBuilder::Timestamp(b, _) => b.append_null(),
            ColumnBuilder::Decimal(b, ..) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::Interval(b) => b.append_null(),
            ColumnBuilder::List(list) => {
                let last = *list.offsets.last().unwrap_or(&0);
                list.offsets.push(last);
                list.valid.push(false);
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Utf8(b) | ColumnBuilder::Json(b) => Arc::new(b.finish()),
            ColumnBuilder::Int8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int16(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Date32(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b, zone) => {
                Arc::new(b.finish().with_timezone_opt(zone.clone()))
            }
            ColumnBuilder::Decimal(b, ..) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::Interval(b) => Arc::new(b.finish()),
            ColumnBuilder::List(list) => list.finish(),
        }
    }
}

impl ListBuilder {
    /// Appends one Postgres array value as one list.
    ///
    /// # Safety
    /// `datum` must be a valid array Datum of type `oid`.
    unsafe fn append(&mut self, datum: pg_sys::Datum, oid: pg_sys::Oid) -> Result<(), WriteError> {
        // Sources hold lists: a multidimensional array would be flattened, so it is
        // refused. SAFETY: the caller guarantees an array datum; detoasting gives a
        // readable ArrayType header, freed again when it is a copy.
        let dimensions = unsafe {
            let original = datum.cast_mut_ptr::<pg_sys::varlena>();
            let detoasted = pg_sys::pg_detoast_datum(original);
            let ndim = (*detoasted.cast::<pg_sys::ArrayType>()).ndim;
            if detoasted != original {
                pg_sys::pfree(detoasted.cast());
            }
            ndim
        };
        if dimensions > 1 {
            return Err(WriteError::Type(format!(
                "a {dimensions}-dimensional array cannot be written (sources hold one-dimensional lists)"
            )));
        }
        // SAFETY: the caller guarantees an array datum of this type.
        let array =
            unsafe { pgrx::Array::<pg_sys::Datum>::from_polymorphic_datum(datum, false, oid) }
                .ok_or_else(|| WriteError::Type("cannot read an array value".into()))?;
        for item in array.iter() {
            match item {
                // SAFETY: elements of an array of type `oid` are of its element type.
                Some(d) => unsafe {
                    self.elements
                        .append(d, false, &self.element, self.element_oid)
                }?,
                None => self.elements.append_null(),
            }
        }
        let last = *self.offsets.last().unwrap_or(&0);
        let count = i32::try_from(array.len())
            .map_err(|_| WriteError::OutOfRange("array too long".into()))?;
        self.offsets.push(last + count);
        self.valid.push(true);
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        let offsets = OffsetBuffer::new(std::mem::replace(&mut self.offsets, vec![0]).into());
        let nulls = NullBuffer::from(std::mem::take(&mut self.valid));
        let values = self.elements.finish();
        Arc::new(ListArray::new(
            self.field.clone(),
            offsets,
            values,
            Some(nulls),
        ))
    }
}

/// `T` from a non-null Datum.
///
/// # Safety
/// `datum` must be a valid Datum of `T`'s Postgres type.
unsafe fn from_datum<T: FromDatum>(datum: pg_sys::Datum) -> Result<T, WriteError> {
    // SAFETY: the caller guarantees the type; the datum is not null.
    unsafe { T::from_datum(datum, false) }
        .ok_or_else(|| WriteError::Type("unreadable value".into()))
}

/// The bytes of a varlena Datum stored inline and uncompressed (most values of a row
/// being inserted), read in place; `None` for a compressed or out-of-line value, which
/// must be detoasted first.
///
/// # Safety
/// `datum` must be a valid varlena Datum.
unsafe fn inline_bytes<'a>(datum: pg_sys::Datum) -> Option<&'a [u8]> {
    let ptr = datum.cast_mut_ptr::<pg_sys::varlena>() as *const pg_sys::varlena;
    // SAFETY: the header tells how the value is stored; an inline, uncompressed value's
    // payload is its bytes.
    unsafe {
        if pgrx::varlena::varatt_is_1b_e(ptr) || pgrx::varlena::varatt_is_4b_c(ptr) {
            return None;
        }
        let len = pgrx::varlena::varsize_any_exhdr(ptr);
        let data = pgrx::varlena::vardata_any(ptr) as *const u8;
        Some(std::slice::from_raw_parts(data, len))
    }
}

/// The text of a text or varchar Datum.
///
/// # Safety
/// `datum` must be a valid text or varchar Datum.
unsafe fn text<'a>(datum: pg_sys::Datum) -> Result<&'a str, WriteError> {
    // SAFETY: the caller guarantees a text datum.
    match unsafe { inline_bytes(datum) } {
        Some(bytes) => std::str::from_utf8(bytes)
            .map_err(|_| WriteError::Type("text that is not valid UTF-8".into())),
        // SAFETY: the caller guarantees a text datum; pgrx detoasts it.
        None => unsafe { from_datum::<&str>(datum) },
    }
}

/// The text of a jsonb Datum, as `jsonb_out` writes it.
///
/// # Safety
/// `datum` must be a jsonb Datum.
unsafe fn json_text(datum: pg_sys::Datum) -> Result<String, WriteError> {
    // SAFETY: jsonb_out takes a jsonb Datum and returns a palloc'd C string, freed here.
    unsafe {
        let out = pgrx::direct_function_call_as_datum(pg_sys::jsonb_out, &[Some(datum)])
            .ok_or_else(|| WriteError::Type("jsonb_out returned NULL".into()))?;
        let pointer = out.cast_mut_ptr::<std::ffi::c_char>();
        let text = std::ffi::CStr::from_ptr(pointer)
            .to_string_lossy()
            .into_owned();
        pg_sys::pfree(pointer.cast());
        Ok(text)
    }
}

/// The bytes of a bytea Datum.
///
/// # Safety
/// `datum` must be a valid bytea Datum.
unsafe fn bytes<'a>(datum: pg_sys::Datum) -> Result<&'a [u8], WriteError> {
    // SAFETY: the caller guarantees a bytea datum.
    match unsafe { inline_bytes(datum) } {
        Some(bytes) => Ok(bytes),
        // SAFETY: the caller guarantees a bytea datum; pgrx detoasts it.
        None => unsafe { from_datum::<&[u8]>(datum) },
    }
}

/// A finite numeric Datum as an exact decimal.
///
/// # Safety
/// `datum` must be a valid numeric Datum.
unsafe fn finite_numeric(datum: pg_sys::Datum) -> Result<Decimal, WriteError> {
    // SAFETY: the caller guarantees a numeric datum.
    let text = unsafe { from_datum::<AnyNumeric>(datum) }?.to_string();
    match Numeric::parse(&text) {
        Some(Numeric::Finite(d)) => Ok(d),
        _ => Err(WriteError::OutOfRange(format!(
            "{text} cannot be stored in a Delta decimal"
        ))),
    }
}

/// The integer value of an integer or numeric Datum.
///
/// # Safety
/// `datum` must be a valid Datum of type `pg`.
unsafe fn integer(datum: pg_sys::Datum, pg: &PgType) -> Result<i64, WriteError> {
    // SAFETY: the caller guarantees the datum's type.
    unsafe {
        Ok(match pg {
            PgType::Int2 => from_datum::<i16>(datum)? as i64,
            PgType::Int4 => from_datum::<i32>(datum)? as i64,
            PgType::Int8 => from_datum::<i64>(datum)?,
            _ => {
                let decimal = finite_numeric(datum)?;
                decimal
                    .is_integer()
                    .then(|| decimal.to_unscaled(0))
                    .flatten()
                    .and_then(|v| i64::try_from(v).ok())
                    .ok_or_else(|| out_of_range(&decimal, &DataType::Int64))?
            }
        })
    }
}
