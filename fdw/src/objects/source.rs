//! `object_fdw`: objects of an S3 bucket or a local directory as rows, or the rows of
//! the data files (Parquet, CSV, JSON) under a prefix.

use super::files::{FileScan, FileTable};
use super::options::{specs, validate, Format, Root, ServerOptions, TableOptions};
use super::scan::{access, Access, ObjectScan};
use super::table::ObjectTable;
use super::write::ObjectWriter;
use crate::batch::ScanBatch;
use crate::health::Target;
use crate::options::{Catalog, OptionSpec, Options, PathPrivilege};
use crate::request::ScanRequest;
use crate::security::resource::Resource;
use crate::source::{
    Capabilities, Estimate, Host, LocationChooser, PgColumn, Result, Source, SourceError,
    SourceScan, SourceWriter, TableContext,
};
use crate::storage::S3Config;
use crate::types::PgType;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::DataType;

/// An object table opened for one foreign table: one row per object, or the rows of
/// the data files under the prefix.
pub enum ObjectSource {
    /// `format 'objects'`
    Objects(ObjectTable),
    /// `format 'parquet' | 'csv' | 'json'`
    Files(FileTable),
}

/// The local directory of a server without `root`: `odp_objects` in the data directory.
fn default_root(host: &dyn Host) -> String {
    format!("{}/odp_objects", host.data_directory())
}

/// The settings of the object server with `server` options and the current user's
/// mapping `user`.
pub fn server_config(server: &Options, user: &Options, host: &dyn Host) -> Result<ServerOptions> {
    Ok(ServerOptions::from_options(
        server,
        user,
        &default_root(host),
    )?)
}

impl Source for ObjectSource {
    type Scan = ObjectSourceScan;

    fn resources(table: &TableContext) -> Vec<Resource> {
        vec![Resource::Under(format!(
            "objects:{}",
            table.table.get("prefix").unwrap_or_default()
        ))]
    }

    fn local_storage(table: &TableContext) -> Option<LocationChooser> {
        // (a server without `root` keeps its objects in the data directory)
        let root = table
            .server
            .get("root")
            .map(str::to_string)
            .unwrap_or_else(|| default_root(table.host));
        matches!(Root::parse(&root), Ok(Root::Local(_))).then_some(LocationChooser::ServerOwner)
    }

    fn option_specs(catalog: Catalog) -> &'static [OptionSpec] {
        specs(catalog)
    }

    /// The local root directory, or the S3 endpoint the server's tables use.
    fn probe(server: &Options, host: &'static dyn Host) -> Option<Target> {
        // a server without `root` keeps its objects under the data directory, created
        // at first use: the data directory is what must be there (and its path, which
        // only privileged roles may read, is never part of the answer)
        let Some(root) = server.get("root") else {
            return Some(
                match std::path::Path::new(&host.data_directory()).is_dir() {
                    true => Target::Directory(host.data_directory()),
                    false => Target::Invalid("the data directory is not reachable".into()),
                },
            );
        };
        Some(match Root::parse(root) {
            Ok(Root::Local(dir)) => Target::Directory(dir.display().to_string()),
            Ok(Root::S3 { .. }) => {
                S3Config::from_options(server, &Options::default()).probe_target()
            }
            Err(e) => Target::Invalid(e.to_string()),
        })
    }

    fn validate(catalog: Catalog, options: &Options, privilege: PathPrivilege) -> Result<()> {
        Ok(validate(catalog, options, privilege)?)
    }

    /// Object tables are writable; tables of data files are read-only.
    fn capabilities(table_options: &Options) -> Capabilities {
        match TableOptions::from_options(table_options) {
            Ok(options) if options.format != Format::Objects => Capabilities::READ_ONLY,
            _ => Capabilities::WRITABLE,
        }
    }

    fn open(table: &TableContext) -> Result<Self> {
        let server = server_config(&table.server, &table.user, table.host)?;
        let options = TableOptions::from_options(&table.table)?;
        if options.format != Format::Objects {
            let declared = table
                .columns
                .iter()
                .map(|c| {
                    Ok((
                        c.name.clone(),
                        c.pg_type("no file column")?,
                        c.numeric_modifier(),
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(ObjectSource::Files(FileTable::new(
                server, options, &declared,
            )?));
        }
        let declared = table
            .columns
            .iter()
            .map(|c| Ok((c.name.clone(), c.pg_type("no object column")?)))
            .collect::<Result<Vec<(String, PgType)>>>()?;
        Ok(ObjectSource::Objects(ObjectTable::new(
            server, options, &declared,
        )?))
    }

    fn estimate(&self, request: &ScanRequest) -> Result<Estimate> {
        let table = match self {
            ObjectSource::Objects(table) => table,
            ObjectSource::Files(files) => {
                let total = files.estimated_rows() as f64;
                return Ok(Estimate {
                    rows: total,
                    total_rows: total,
                    explain: vec![("Data File Format".into(), files.format().name().into())],
                    ..Default::default()
                });
            }
        };
        let total = table.options.estimated_objects as f64;
        let rows = match access(table, request) {
            Access::Keys(keys) => keys.len() as f64,
            Access::Nothing => 0.0,
            Access::List(prefix) if prefix.len() > table.options.prefix.len() => total * 0.1,
            Access::List(_) => total,
        };
        Ok(Estimate {
            rows,
            total_rows: total,
            explain: Vec::new(),
            ..Default::default()
        })
    }

    fn lookup_rows(&self, column: &str, total_rows: f64) -> f64 {
        match self {
            ObjectSource::Objects(_) if column == "key" => 1.0,
            _ => total_rows,
        }
    }

    fn describe_plan(&self, request: &ScanRequest) -> Vec<(String, String)> {
        let ObjectSource::Objects(table) = self else {
            return Vec::new();
        };
        let reads = if request.columns.iter().any(|c| c == "content") {
            "metadata and content"
        } else if request
            .columns
            .iter()
            .any(|c| c == "content_type" || c == "metadata")
        {
            "metadata and attributes"
        } else {
            "listing metadata only"
        };
        vec![
            ("Object Access".into(), access(table, request).describe()),
            ("Object Reads".into(), reads.into()),
        ]
    }

    fn begin_scan(&self, request: &ScanRequest) -> Result<ObjectSourceScan> {
        Ok(match self {
            ObjectSource::Objects(table) => {
                ObjectSourceScan::Objects(ObjectScan::new(table, request)?)
            }
            ObjectSource::Files(files) => ObjectSourceScan::Files(files.scan(request)?),
        })
    }

    fn open_writer(&self, _table: &TableContext) -> Result<Box<dyn SourceWriter>> {
        match self {
            ObjectSource::Objects(table) => Ok(Box::new(ObjectWriter::new(table.clone()))),
            // (not reached through SQL: such tables are read-only, see `capabilities`)
            ObjectSource::Files(_) => Err(SourceError::unsupported(
                "writing to a table of data files (format parquet, csv or json)",
            )),
        }
    }
}

impl SourceWriter for ObjectWriter {
    fn input_type(&self, column: &PgColumn) -> Result<DataType> {
        column.arrow_type(PgType::text_source_arrow_type, "no object column")
    }

    fn write(&mut self, batch: &RecordBatch, _updated: bool) -> Result<()> {
        Ok(ObjectWriter::write(self, batch)?)
    }

    fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        Ok(ObjectWriter::delete(self, row_ids)?)
    }

    fn update(&mut self, row_ids: &[u64], batch: &RecordBatch) -> Result<()> {
        Ok(ObjectWriter::update(self, row_ids, batch)?)
    }

    fn is_empty(&self) -> bool {
        ObjectWriter::is_empty(self)
    }

    fn savepoint(&mut self) -> Result<usize> {
        Ok(ObjectWriter::savepoint(self))
    }

    fn rollback_to(&mut self, mark: usize) {
        ObjectWriter::rollback_to(self, mark);
    }

    fn prepare(&mut self) -> Result<()> {
        Ok(ObjectWriter::prepare(self)?)
    }

    fn commit(&mut self) -> Result<Option<String>> {
        let changed = ObjectWriter::commit(self)?;
        Ok((changed > 0).then(|| format!("applied {changed} object changes")))
    }
}

/// A running scan of objects or of data files.
pub enum ObjectSourceScan {
    /// one row per object
    Objects(ObjectScan),
    /// rows of data files
    Files(FileScan),
}

impl SourceScan for ObjectSourceScan {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(match self {
            ObjectSourceScan::Objects(scan) => scan.next_batch()?,
            ObjectSourceScan::Files(scan) => scan.next_batch()?,
        })
    }

    fn explain(&self) -> Vec<(String, String)> {
        let scan = match self {
            ObjectSourceScan::Objects(scan) => scan,
            ObjectSourceScan::Files(scan) => return scan.explain(),
        };
        let c = scan.counters();
        vec![
            ("Objects Listed".into(), c.listed.to_string()),
            ("Object HEAD Requests".into(), c.heads.to_string()),
            ("Object GET Requests".into(), c.gets.to_string()),
            ("Object Bytes Read".into(), c.bytes.to_string()),
        ]
    }
}
