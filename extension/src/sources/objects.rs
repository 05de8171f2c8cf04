//! `object_fdw`: objects of an S3 bucket or a local directory as rows, and
//! `odp.presign` for URLs a browser or HTTP client can use without credentials.

use crate::error::{OdpError, OrReport, Result};
use crate::fdw::catalog::server_options;
use crate::fdw::options::validate_for;
use crate::fdw::{
    Estimate, LocationChooser, PgColumn, Source, SourceScan, SourceWriter, TableContext,
};
use odp_fdw::arrow::array::RecordBatch;
use odp_fdw::arrow::datatypes::DataType;
use odp_fdw::batch::ScanBatch;
use odp_fdw::objects::files::{FileScan, FileTable};
use odp_fdw::objects::keys::check_key;
use odp_fdw::objects::options::{specs, validate, Format, Root, ServerOptions, TableOptions};
use odp_fdw::objects::scan::{access, Access, ObjectScan};
use odp_fdw::objects::store::Store;
use odp_fdw::objects::table::ObjectTable;
use odp_fdw::objects::write::ObjectWriter;
use odp_fdw::options::{Catalog, OptionSpec, Options, PathPrivilege};
use odp_fdw::request::ScanRequest;
use odp_fdw::security::resource::{Action, Resource};
use odp_fdw::types::PgType;
use pgrx::prelude::*;
use std::time::Duration;

/// An object table opened for one foreign table: one row per object, or the rows of
/// the data files under the prefix.
pub enum ObjectSource {
    /// `format 'objects'`
    Objects(ObjectTable),
    /// `format 'parquet' | 'csv' | 'json'`
    Files(FileTable),
}

/// The local directory of a server without `root`: `odp_objects` in the data directory.
fn default_root() -> String {
    // SAFETY: DataDir is set at postmaster start and never changes in a backend.
    let data_dir = unsafe { std::ffi::CStr::from_ptr(pg_sys::DataDir) };
    format!("{}/odp_objects", data_dir.to_string_lossy())
}

fn server_config(server: &Options, user: &Options) -> Result<ServerOptions> {
    Ok(ServerOptions::from_options(server, user, &default_root())?)
}

impl Source for ObjectSource {
    type Scan = ObjectScanAdapter;

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
            .unwrap_or_else(default_root);
        matches!(Root::parse(&root), Ok(Root::Local(_))).then_some(LocationChooser::ServerOwner)
    }

    fn option_specs(catalog: Catalog) -> &'static [OptionSpec] {
        specs(catalog)
    }

    fn validate(catalog: Catalog, options: &Options, privilege: PathPrivilege) -> Result<()> {
        Ok(validate(catalog, options, privilege)?)
    }

    fn open(table: &TableContext) -> Result<Self> {
        let server = server_config(&table.server, &table.user)?;
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

    fn begin_scan(&self, request: &ScanRequest) -> Result<Self::Scan> {
        Ok(match self {
            ObjectSource::Objects(table) => {
                ObjectScanAdapter::Objects(ObjectScan::new(table, request)?)
            }
            ObjectSource::Files(files) => ObjectScanAdapter::Files(files.scan(request)?),
        })
    }

    fn insertable() -> bool {
        true
    }

    fn updatable() -> bool {
        true
    }

    fn open_writer(&self, _table: &TableContext) -> Result<Box<dyn SourceWriter>> {
        match self {
            ObjectSource::Objects(table) => Ok(Box::new(ObjectWriterAdapter(ObjectWriter::new(
                table.clone(),
            )))),
            ObjectSource::Files(_) => Err(OdpError::NotSupported(
                "writing to a table of data files (format parquet, csv or json)",
            )),
        }
    }
}

/// A transaction's writes to an object table, seen through the FDW core.
struct ObjectWriterAdapter(ObjectWriter);

impl SourceWriter for ObjectWriterAdapter {
    fn input_type(&self, column: &PgColumn) -> Result<DataType> {
        column.arrow_type(PgType::text_source_arrow_type, "no object column")
    }

    fn write(&mut self, batch: &RecordBatch, _updated: bool) -> Result<()> {
        Ok(self.0.write(batch)?)
    }

    fn delete(&mut self, row_ids: &[u64]) -> Result<()> {
        Ok(self.0.delete(row_ids)?)
    }

    fn update(&mut self, row_ids: &[u64], batch: &RecordBatch) -> Result<()> {
        Ok(self.0.update(row_ids, batch)?)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn savepoint(&mut self) -> Result<usize> {
        Ok(self.0.savepoint())
    }

    fn rollback_to(&mut self, mark: usize) {
        self.0.rollback_to(mark);
    }

    fn prepare(&mut self) -> Result<()> {
        Ok(self.0.prepare()?)
    }

    fn commit(&mut self) -> Result<Option<String>> {
        let changed = self.0.commit()?;
        Ok((changed > 0).then(|| format!("applied {changed} object changes")))
    }
}

/// A running scan of objects or of data files.
pub enum ObjectScanAdapter {
    /// one row per object
    Objects(ObjectScan),
    /// rows of data files
    Files(FileScan),
}

impl SourceScan for ObjectScanAdapter {
    fn next_batch(&mut self) -> Result<Option<ScanBatch>> {
        Ok(match self {
            ObjectScanAdapter::Objects(scan) => scan.next_batch()?,
            ObjectScanAdapter::Files(scan) => scan.next_batch()?,
        })
    }

    fn explain(&self) -> Vec<(String, String)> {
        let scan = match self {
            ObjectScanAdapter::Objects(scan) => scan,
            ObjectScanAdapter::Files(scan) => return scan.explain(),
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

crate::fdw_handler!(
    odp_object_fdw_handler,
    pg_finfo_odp_object_fdw_handler,
    ObjectSource
);

/// Validates `object_fdw` options at CREATE/ALTER time.
#[pg_extern]
fn object_fdw_validator(options: Vec<Option<String>>, catalog: Option<pg_sys::Oid>) {
    validate_for::<ObjectSource>(options, catalog);
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION odp.object_fdw_handler() RETURNS fdw_handler
    AS 'MODULE_PATHNAME', 'odp_object_fdw_handler' LANGUAGE C STRICT;
CREATE FOREIGN DATA WRAPPER object_fdw
    HANDLER odp.object_fdw_handler VALIDATOR odp.object_fdw_validator;
"#,
    name = "object_fdw",
    requires = [object_fdw_validator]
);

/// The longest a presigned URL may live (S3's limit for signature version 4).
const MAX_PRESIGN_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// A presigned URL for `key` on the object server `server`: whoever holds it may run
/// `method` (GET, PUT, HEAD or DELETE) on that one object until `expires` has passed,
/// without credentials. Signed with the caller's user mapping; allowed only as the
/// object tables of the server allow it ([`table_allows`]) and the resource policies of
/// the key.
#[pg_extern(volatile, parallel_unsafe)]
fn presign(
    server: &str,
    key: &str,
    expires: default!(pgrx::datum::Interval, "'1 hour'"),
    method: default!(&str, "'GET'"),
) -> String {
    let (server_opts, user) = object_server(server);
    check_key(key).map_err(OdpError::from).or_report();
    let action = match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => Action::Read,
        _ => Action::Write,
    };
    crate::fdw::resources::check_name(&format!("objects:{key}"), action);
    let method_upper = method.to_ascii_uppercase();
    if !matches!(method_upper.as_str(), "GET" | "HEAD" | "PUT" | "DELETE") {
        OdpError::Objects(odp_fdw::objects::ObjectError::Unsupported(
            "method must be GET, PUT, HEAD or DELETE".into(),
        ))
        .report();
    }
    if !object_tables_of(server)
        .into_iter()
        .any(|table| table_allows(table, key, &method_upper))
    {
        OdpError::Privilege(
            "an object table of the server's owner whose prefix holds the key, with SELECT (GET, HEAD), INSERT and overwrite 'true' (PUT) or DELETE (DELETE), and no row policy restricting the role",
        )
        .report();
    }
    let micros = expires.as_micros() as f64;
    let seconds = micros / 1e6;
    if !(1.0..=MAX_PRESIGN_SECONDS).contains(&seconds) {
        OdpError::Objects(odp_fdw::objects::ObjectError::BadValue {
            key: key.to_string(),
            column: "expires",
            reason: "must be between 1 second and 7 days".into(),
        })
        .report();
    }
    let config = server_config(&server_opts, &user).or_report();
    let store = Store::open(&config).map_err(OdpError::from).or_report();
    odp_fdw::runtime::block_on(store.presign(method, key, Duration::from_secs_f64(seconds)))
        .map_err(|e| OdpError::Objects(odp_fdw::objects::ObjectError::Runtime(e)))
        .or_report()
        .map_err(OdpError::from)
        .or_report()
}

/// The foreign tables of the server `name` that its owner (or a superuser) owns: the
/// tables its administrator defined. A table a role made itself with USAGE on the server
/// does not widen what it may presign.
fn object_tables_of(name: &str) -> Vec<pg_sys::Oid> {
    let _path = crate::fdw::catalog::PinnedSearchPath::start();
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(
            "SELECT t.ftrelid FROM pg_catalog.pg_foreign_table t \
             JOIN pg_catalog.pg_foreign_server s ON s.oid OPERATOR(pg_catalog.=) t.ftserver \
             JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.ftrelid \
             JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) c.relowner \
             WHERE s.srvname OPERATOR(pg_catalog.=) $1 \
               AND (c.relowner OPERATOR(pg_catalog.=) s.srvowner OR r.rolsuper)",
            None,
            &[name.into()],
        )? {
            if let Some(oid) = row.get::<pg_sys::Oid>(1)? {
                out.push(oid);
            }
        }
        Ok::<_, pgrx::spi::SpiError>(out)
    })
    .unwrap_or_else(|e| OdpError::InvalidArgument(e.to_string()).report())
}

/// Whether the object table `relid` lets the current role presign `method` for `key`:
/// the key is under its prefix, it is an `objects` table, no row policy restricts the
/// role on it (a URL bypasses every row check), and the role holds the privilege the
/// method needs: SELECT for GET and HEAD, DELETE for DELETE, INSERT for PUT on a table
/// with `overwrite 'true'` (a presigned PUT cannot be create-only).
fn table_allows(relid: pg_sys::Oid, key: &str, method: &str) -> bool {
    // SAFETY: reads the options of an existing foreign table.
    let options = unsafe {
        crate::fdw::catalog::options_from_list((*pg_sys::GetForeignTable(relid)).options)
    };
    let Ok(table) = TableOptions::from_options(&options) else {
        return false;
    };
    if table.format != Format::Objects || !key.starts_with(&table.prefix) {
        return false;
    }
    let privilege = match method {
        "GET" | "HEAD" => pg_sys::ACL_SELECT,
        "DELETE" => pg_sys::ACL_DELETE,
        "PUT" if table.overwrite => pg_sys::ACL_INSERT,
        _ => return false,
    };
    // SAFETY: an ACL check of the current role on an existing relation.
    let granted = unsafe {
        pg_sys::pg_class_aclcheck(relid, pg_sys::GetUserId(), privilege as pg_sys::AclMode)
            == pg_sys::AclResult::ACLCHECK_OK
    };
    granted && crate::fdw::policy::for_relation(relid).policy.is_none()
}

/// The options of the object server `name`, after checking that it is one and that
/// the caller has USAGE on it.
fn object_server(name: &str) -> (Options, Options) {
    match crate::fdw::catalog::server_wrapper_with_usage(name).as_deref() {
        Some("object_fdw") => {}
        Some(_) => OdpError::UndefinedObject(format!("object_fdw server \"{name}\"")).report(),
        None => OdpError::UndefinedObject(format!("foreign server \"{name}\"")).report(),
    }
    server_options(name)
        .unwrap_or_else(|| OdpError::UndefinedObject(format!("foreign server \"{name}\"")).report())
}
