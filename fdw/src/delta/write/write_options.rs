//! How a Delta table's data files are written: the table options `compression`,
//! `target_file_mb`, `row_group_rows`, `sort_by` and `bloom_filter_columns`.

use crate::delta::error::{DeltaError, Result};
use crate::options::{OptionError, Options};
use crate::parquet::schema::LakeSchema;
use deltalake::parquet::basic::{Compression, GzipLevel, ZstdLevel};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;

/// Default size at which a data file is closed and the next one started.
const DEFAULT_TARGET_FILE_MB: u64 = 128;
/// Default rows per Parquet row group.
const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;

/// How data files are written (table options `compression`, `target_file_mb`,
/// `row_group_rows`, `sort_by`, `bloom_filter_columns`).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// Parquet compression codec
    pub compression: Compression,
    /// a file is closed once it reaches this many bytes
    pub target_file_bytes: u64,
    /// rows per row group
    pub row_group_rows: usize,
    /// columns each run of `row_group_rows` written rows is sorted by (ascending,
    /// NULLs last), so row-group and file statistics of those columns are narrow
    pub sort_by: Vec<String>,
    /// columns whose row groups carry a bloom filter (point lookups skip row groups
    /// whose filter lacks the value)
    pub bloom_filter_columns: Vec<String>,
}

impl WriteOptions {
    /// Reads the write options of a foreign table.
    pub fn from_options(table: &Options) -> Result<WriteOptions> {
        let bad = |name: &str, expected: &str| {
            DeltaError::InvalidOption(OptionError::BadValue {
                name: name.into(),
                expected: expected.into(),
            })
        };
        let compression = match table.get("compression") {
            None => Compression::ZSTD(ZstdLevel::default()),
            Some(text) => parse_compression(text).ok_or_else(|| {
                bad(
                    "compression",
                    "zstd, zstd:LEVEL (1-22), snappy, lz4, gzip, gzip:LEVEL (0-9) or none",
                )
            })?,
        };
        let positive = |name: &str| match table.uint(name) {
            Some(0) => Err(bad(name, "a positive integer")),
            other => Ok(other),
        };
        Ok(WriteOptions {
            compression,
            target_file_bytes: positive("target_file_mb")?.unwrap_or(DEFAULT_TARGET_FILE_MB)
                * 1024
                * 1024,
            row_group_rows: positive("row_group_rows")?
                .map(|n| n as usize)
                .unwrap_or(DEFAULT_ROW_GROUP_ROWS),
            sort_by: sort_by(table),
            bloom_filter_columns: bloom_filter_columns(table),
        })
    }

    /// The Parquet writer's settings for a table of `schema`. A bloom filter keeps a 5%
    /// false positive rate for up to a row group of distinct values (the writer shrinks
    /// it to the values it holds).
    pub(in crate::delta) fn writer_properties(
        &self,
        schema: &LakeSchema,
    ) -> Result<WriterProperties> {
        let mut builder = WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(self.row_group_rows));
        for name in &self.bloom_filter_columns {
            let column = schema
                .column(name)
                .filter(|c| !c.is_partition)
                .ok_or_else(|| DeltaError::NoSuchColumn(name.clone()))?;
            let path = ColumnPath::from(column.physical_name.as_str());
            builder = builder
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_fpp(path.clone(), 0.05)
                .set_column_bloom_filter_max_ndv(path, self.row_group_rows as u64);
        }
        Ok(builder.build())
    }
}

fn parse_compression(text: &str) -> Option<Compression> {
    let lower = text.trim().to_ascii_lowercase();
    let (codec, level) = match lower.split_once(':') {
        Some((codec, level)) => (codec, Some(level.parse::<u32>().ok()?)),
        None => (lower.as_str(), None),
    };
    Some(match (codec, level) {
        ("zstd", None) => Compression::ZSTD(ZstdLevel::default()),
        ("zstd", Some(l)) => Compression::ZSTD(ZstdLevel::try_new(i32::try_from(l).ok()?).ok()?),
        ("gzip", None) => Compression::GZIP(GzipLevel::default()),
        ("gzip", Some(l)) => Compression::GZIP(GzipLevel::try_new(l).ok()?),
        ("snappy", None) => Compression::SNAPPY,
        ("lz4", None) => Compression::LZ4_RAW,
        ("none" | "uncompressed", None) => Compression::UNCOMPRESSED,
        _ => return None,
    })
}

/// The columns named by the `sort_by` table option: written rows are sorted by them.
fn sort_by(table: &Options) -> Vec<String> {
    table.names("sort_by")
}

/// The columns named in table option `bloom_filter_columns`: data files written for
/// the table carry a Parquet bloom filter of each, per row group.
fn bloom_filter_columns(table: &Options) -> Vec<String> {
    table.names("bloom_filter_columns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> Options {
        Options::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    #[test]
    fn write_options_parse() {
        let w = WriteOptions::from_options(&o(&[])).unwrap();
        assert_eq!(w.compression, Compression::ZSTD(ZstdLevel::default()));
        assert_eq!(w.target_file_bytes, 128 * 1024 * 1024);
        let w = WriteOptions::from_options(&o(&[
            ("compression", "zstd:9"),
            ("target_file_mb", "16"),
            ("row_group_rows", "10000"),
        ]))
        .unwrap();
        assert_eq!(
            w.compression,
            Compression::ZSTD(ZstdLevel::try_new(9).unwrap())
        );
        assert_eq!(w.row_group_rows, 10_000);
        assert_eq!(parse_compression("snappy"), Some(Compression::SNAPPY));
        assert!(WriteOptions::from_options(&o(&[("compression", "brotli:99")])).is_err());
        assert!(WriteOptions::from_options(&o(&[("target_file_mb", "0")])).is_err());
    }
}
