//! Storage management of Delta foreign tables: `odp.delta_history`,
//! `odp.delta_partitions`, `odp.delta_optimize`, `odp.delta_drop_partition`,
//! `odp.delta_restore`, `odp.delta_checkpoint` and `odp.delta_vacuum`.
//!
//! Reading functions need SELECT on the foreign table; changing ones need to own it.
//! The Rust functions take the table's OID; the SQL declarations (at the end) take
//! `regclass`, so `odp.delta_optimize('lake.transactions')` works.

use crate::error::{OdpError, OrReport, Result};
use crate::fdw::catalog::table_context;
use odp_fdw::delta::maintain;
use odp_fdw::delta::options::{writer_zone, TableLocation};
use odp_fdw::delta::write::write_options::WriteOptions;
use odp_fdw::delta::DeltaSource;
use odp_fdw::options::Options;
use odp_fdw::parquet::prune::WriterZone;
use odp_fdw::security::resource::Action;
use odp_fdw::source::Source;
use pgrx::datetime::Interval;
use pgrx::prelude::*;
use pgrx::JsonB;
use std::ffi::CStr;

/// A Delta foreign table the current role may use as `access` says.
struct DeltaTable {
    location: TableLocation,
    zone: WriterZone,
    options: Options,
}

#[derive(Clone, Copy, PartialEq)]
enum Access {
    Read,
    Own,
}

fn delta_table(relid: pg_sys::Oid, access: Access) -> Result<DeltaTable> {
    // SAFETY: catalog lookups of an OID; GetForeignTable errors for other relations.
    let wrapper = unsafe {
        if pg_sys::get_rel_relkind(relid) != pg_sys::RELKIND_FOREIGN_TABLE as std::ffi::c_char {
            return Err(OdpError::NotDeltaTable);
        }
        let table = pg_sys::GetForeignTable(relid);
        let server = pg_sys::GetForeignServer((*table).serverid);
        let fdw = pg_sys::GetForeignDataWrapper((*server).fdwid);
        CStr::from_ptr((*fdw).fdwname)
            .to_string_lossy()
            .into_owned()
    };
    if wrapper != "delta_fdw" {
        return Err(OdpError::NotDeltaTable);
    }
    // SAFETY: privilege checks of the current role on an existing relation.
    let allowed = unsafe {
        let role = pg_sys::GetUserId();
        match access {
            Access::Read => {
                pg_sys::pg_class_aclcheck(relid, role, pg_sys::ACL_SELECT as pg_sys::AclMode)
                    == pg_sys::AclResult::ACLCHECK_OK
            }
            Access::Own => pg_sys::pg_class_ownercheck(relid, role),
        }
    };
    if !allowed {
        return Err(OdpError::privilege(match access {
            Access::Read => "SELECT on the foreign table",
            Access::Own => "ownership of the foreign table",
        }));
    }
    let context = table_context(relid);
    let resource = DeltaSource::resources(&context);
    match access {
        Access::Read => {
            crate::fdw::resources::check(&resource, Action::Read);
            // partition values, counts and commit predicates describe every row
            if crate::fdw::policy::for_relation(relid).policy.is_some() {
                return Err(OdpError::privilege(
                    "a table a row policy does not restrict for this role",
                ));
            }
        }
        Access::Own => {
            crate::fdw::resources::check(&resource, Action::Admin);
            // maintenance writes and deletes files
            DeltaSource::check_local_write(&context)?;
        }
    }
    let location = TableLocation::resolve(&context.server, &context.user, &context.table)?;
    Ok(DeltaTable {
        location,
        zone: writer_zone(&context.table)?,
        options: context.table,
    })
}

fn timestamp(millis: Option<i64>) -> Option<TimestampWithTimeZone> {
    let micros = millis?.checked_mul(1000)?;
    // Postgres counts from 2000-01-01.
    TimestampWithTimeZone::try_from(micros - odp_fdw::temporal::POSTGRES_EPOCH_MICROS).ok()
}

/// The commits of a Delta foreign table, newest first.
#[pg_extern(sql = false)]
fn delta_history_by_oid(
    table: pg_sys::Oid,
) -> TableIterator<
    'static,
    (
        name!(version, i64),
        name!(committed_at, Option<TimestampWithTimeZone>),
        name!(operation, Option<String>),
        name!(parameters, JsonB),
    ),
> {
    let table = delta_table(table, Access::Read).or_report();
    let entries = maintain::history(&table.location, None).or_report();
    TableIterator::new(entries.into_iter().map(|e| {
        (
            e.version as i64,
            timestamp(e.timestamp),
            e.operation,
            JsonB(e.parameters),
        )
    }))
}

/// The partitions of a Delta foreign table: values, files, rows and bytes.
#[pg_extern(sql = false)]
fn delta_partitions_by_oid(
    table: pg_sys::Oid,
) -> TableIterator<
    'static,
    (
        name!(partition, JsonB),
        name!(files, i64),
        name!(rows, i64),
        name!(bytes, i64),
    ),
> {
    let table = delta_table(table, Access::Read).or_report();
    let partitions = maintain::partitions(&table.location).or_report();
    TableIterator::new(partitions.into_iter().map(|p| {
        (
            JsonB(serde_json::to_value(&p.values).unwrap_or_default()),
            p.files as i64,
            p.rows as i64,
            p.bytes as i64,
        )
    }))
}

/// Compacts small files into files of about `target_file_mb`, or rewrites every file
/// in Z-order of `zorder_by` (when not empty).
#[pg_extern(sql = false)]
fn delta_optimize_by_oid(
    table: pg_sys::Oid,
    target_file_mb: i32,
    zorder_by: Vec<String>,
) -> TableIterator<
    'static,
    (
        name!(version, Option<i64>),
        name!(partitions, i64),
        name!(files_removed, i64),
        name!(files_added, i64),
    ),
> {
    if target_file_mb <= 0 {
        OdpError::OutOfRange("target_file_mb must be positive".into()).report();
    }
    let table = delta_table(table, Access::Own).or_report();
    let options = WriteOptions::from_options(&table.options).or_report();
    let mut progress = |message: &str| pgrx::notice!("odp: {message}");
    let metrics = maintain::optimize(
        &table.location,
        table.zone,
        &options,
        target_file_mb as u64 * 1024 * 1024,
        &zorder_by,
        &mut progress,
    )
    .or_report();
    TableIterator::once((
        metrics.version.map(|v| v as i64),
        metrics.partitions as i64,
        metrics.files_removed as i64,
        metrics.files_added as i64,
    ))
}

/// Removes every file of one partition (of a table with one partition column).
#[pg_extern(sql = false)]
fn delta_drop_partition_by_oid(
    table: pg_sys::Oid,
    value: Option<&str>,
) -> TableIterator<'static, (name!(version, Option<i64>), name!(files_removed, i64))> {
    let table = delta_table(table, Access::Own).or_report();
    let (removed, version) =
        maintain::drop_partition(&table.location, table.zone, value).or_report();
    TableIterator::once((version.map(|v| v as i64), removed as i64))
}

/// Makes the newest version of the table hold the rows of `version` again.
#[pg_extern(sql = false)]
fn delta_restore_by_oid(table: pg_sys::Oid, version: i64) -> i64 {
    let table = delta_table(table, Access::Own).or_report();
    let version = u64::try_from(version)
        .unwrap_or_else(|_| OdpError::OutOfRange("version must not be negative".into()).report());
    maintain::restore(&table.location, version).or_report() as i64
}

/// Writes a checkpoint of the newest version; returns that version.
#[pg_extern(sql = false)]
fn delta_checkpoint_by_oid(table: pg_sys::Oid) -> i64 {
    let table = delta_table(table, Access::Own).or_report();
    maintain::checkpoint(&table.location).or_report() as i64
}

/// Deletes data files no version within `retain` needs; refuses a retention shorter
/// than the table's `delta.deletedFileRetentionDuration` unless `force`.
#[pg_extern(sql = false)]
fn delta_vacuum_by_oid(
    table: pg_sys::Oid,
    retain: Interval,
    dry_run: bool,
    force: bool,
) -> TableIterator<'static, (name!(path, String),)> {
    let table = delta_table(table, Access::Own).or_report();
    let retain_millis = interval_millis(&retain);
    let declared = maintain::declared_retention_millis(&table.location).or_report();
    if retain_millis < declared && !force {
        OdpError::Retention {
            asked_ms: retain_millis,
            declared_ms: declared,
        }
        .report();
    }
    let paths = maintain::vacuum(&table.location, retain_millis, dry_run).or_report();
    TableIterator::new(paths.into_iter().map(|p| (p,)))
}

/// An interval in milliseconds, counting a month as 30 days and a day as 24 hours.
fn interval_millis(interval: &Interval) -> i64 {
    let days = interval.months() as i64 * 30 + interval.days() as i64;
    days * 86_400_000 + interval.micros() / 1000
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION odp.delta_history(tbl regclass)
    RETURNS TABLE (version bigint, committed_at timestamptz, operation text, parameters jsonb)
    STRICT VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'delta_history_by_oid_wrapper';
COMMENT ON FUNCTION odp.delta_history(regclass) IS 'Commits of a Delta foreign table, newest first';
CREATE FUNCTION odp.delta_partitions(tbl regclass)
    RETURNS TABLE (partition jsonb, files bigint, rows bigint, bytes bigint)
    STRICT VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'delta_partitions_by_oid_wrapper';
COMMENT ON FUNCTION odp.delta_partitions(regclass) IS 'Partitions of a Delta foreign table: values, files, rows, bytes';
CREATE FUNCTION odp.delta_optimize(tbl regclass, target_file_mb integer DEFAULT 128, zorder_by text[] DEFAULT '{}')
    RETURNS TABLE (version bigint, partitions bigint, files_removed bigint, files_added bigint)
    STRICT VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'delta_optimize_by_oid_wrapper';
COMMENT ON FUNCTION odp.delta_optimize(regclass, integer, text[]) IS 'Compacts small files of a Delta foreign table, or rewrites them in Z-order of columns';
CREATE FUNCTION odp.delta_drop_partition(tbl regclass, value text)
    RETURNS TABLE (version bigint, files_removed bigint)
    VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'delta_drop_partition_by_oid_wrapper';
COMMENT ON FUNCTION odp.delta_drop_partition(regclass, text) IS 'Removes one partition of a Delta foreign table (NULL: the NULL partition)';
CREATE FUNCTION odp.delta_restore(tbl regclass, version bigint) RETURNS bigint
    STRICT VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'delta_restore_by_oid_wrapper';
COMMENT ON FUNCTION odp.delta_restore(regclass, bigint) IS 'Makes the newest version of a Delta foreign table hold an older version''s rows';
CREATE FUNCTION odp.delta_checkpoint(tbl regclass) RETURNS bigint
    STRICT VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'delta_checkpoint_by_oid_wrapper';
COMMENT ON FUNCTION odp.delta_checkpoint(regclass) IS 'Writes a checkpoint of a Delta foreign table';
CREATE FUNCTION odp.delta_vacuum(tbl regclass, retain interval DEFAULT '7 days', dry_run boolean DEFAULT false, force boolean DEFAULT false)
    RETURNS TABLE (path text)
    STRICT VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'delta_vacuum_by_oid_wrapper';
COMMENT ON FUNCTION odp.delta_vacuum(regclass, interval, boolean, boolean) IS 'Deletes data files of a Delta foreign table that no version within the retention needs';
"#,
    name = "delta_storage_functions",
    requires = ["wrappers"]
);
