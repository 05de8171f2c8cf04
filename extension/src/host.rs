//! [`PgHost`]: what the database server offers sources (`odp_fdw::source::Host`),
//! over Postgres, and the settings sources declare.

use odp_fdw::source::{Host, LocationChooser, Setting, SettingKind, SourceError};
use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CStr;
use std::sync::OnceLock;

/// The running Postgres backend.
#[derive(Debug)]
pub struct PgHost;

/// The host every table context carries.
pub static HOST: PgHost = PgHost;

/// A registered setting's current value.
enum SettingValue {
    Int(&'static GucSetting<i32>),
    Bool(&'static GucSetting<bool>),
}

/// The settings sources declared, by name (filled once, at load).
static SETTINGS: OnceLock<Vec<(&'static CStr, SettingValue)>> = OnceLock::new();

/// Defines the GUCs of `settings` (once, when the library is loaded).
pub fn define_settings<'a>(settings: impl Iterator<Item = &'a Setting>) {
    let mut defined = Vec::new();
    for setting in settings {
        let context = match setting.superuser_only {
            true => GucContext::Suset,
            false => GucContext::Userset,
        };
        let value = match setting.kind {
            SettingKind::Int { default, min, max } => {
                let value: &'static GucSetting<i32> =
                    Box::leak(Box::new(GucSetting::<i32>::new(default)));
                GucRegistry::define_int_guc(
                    setting.name,
                    setting.short,
                    setting.long,
                    value,
                    min,
                    max,
                    context,
                    GucFlags::default(),
                );
                SettingValue::Int(value)
            }
            SettingKind::Bool { default } => {
                let value: &'static GucSetting<bool> =
                    Box::leak(Box::new(GucSetting::<bool>::new(default)));
                GucRegistry::define_bool_guc(
                    setting.name,
                    setting.short,
                    setting.long,
                    value,
                    context,
                    GucFlags::default(),
                );
                SettingValue::Bool(value)
            }
        };
        defined.push((setting.name, value));
    }
    let _ = SETTINGS.set(defined);
}

/// The registered value of `setting`.
fn value(setting: &Setting) -> Option<&'static SettingValue> {
    SETTINGS
        .get()?
        .iter()
        .find(|(name, _)| *name == setting.name)
        .map(|(_, value)| value)
}

impl Host for PgHost {
    fn statement_start(&self) -> i64 {
        // SAFETY: reads a backend-global timestamp set at statement start.
        unsafe { pg_sys::GetCurrentStatementStartTimestamp() }
    }

    fn repeatable_reads(&self) -> bool {
        // SAFETY: reads the backend's isolation level.
        unsafe { pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 }
    }

    fn data_directory(&self) -> String {
        // SAFETY: DataDir is set at postmaster start and never changes in a backend.
        let data_dir = unsafe { CStr::from_ptr(pg_sys::DataDir) };
        data_dir.to_string_lossy().into_owned()
    }

    fn is_member_of(&self, role: &str) -> bool {
        let Ok(role) = std::ffi::CString::new(role) else {
            return false;
        };
        // SAFETY: looks the role up (InvalidOid when missing) and reads the role graph.
        unsafe {
            let role = pg_sys::get_role_oid(role.as_ptr(), true);
            role != pg_sys::InvalidOid && pg_sys::is_member_of_role(pg_sys::GetUserId(), role)
        }
    }

    /// Superusers or members of `pg_write_server_files` (the rule `COPY ... TO` a file
    /// applies), checked every time so that a revoked membership takes effect.
    fn check_local_write(&self, relid: u32, chooser: LocationChooser) -> Result<(), SourceError> {
        let relid = pg_sys::Oid::from(relid);
        // SAFETY: reads the catalog entries of an existing foreign table and its server.
        let (server_owner, table_owner) = unsafe {
            let foreign = pg_sys::GetForeignTable(relid);
            let server = pg_sys::GetForeignServer((*foreign).serverid);
            let relation = pgrx::PgRelation::open(relid);
            ((*server).owner, (*relation.rd_rel).relowner)
        };
        let mut choosers = vec![server_owner];
        if chooser == LocationChooser::ServerAndTableOwners {
            choosers.push(table_owner);
        }
        // SAFETY: superuser_arg and has_privs_of_role read the roles' catalog entries.
        let allowed = choosers.iter().all(|&role| unsafe {
            pg_sys::superuser_arg(role)
                || pg_sys::has_privs_of_role(
                    role,
                    pg_sys::Oid::from(pg_sys::ROLE_PG_WRITE_SERVER_FILES),
                )
        });
        match allowed {
            true => Ok(()),
            false => Err(SourceError::privilege(
                "pg_write_server_files for the owner of the server (and of the table, for an absolute path) to write to the server's file system",
            )),
        }
    }

    /// The setting's value (its default if it was never registered).
    fn int_setting(&self, setting: &Setting) -> i32 {
        match (value(setting), setting.kind) {
            (Some(SettingValue::Int(value)), _) => value.get(),
            (_, SettingKind::Int { default, .. }) => default,
            (_, SettingKind::Bool { default }) => default as i32,
        }
    }

    /// The setting's value (its default if it was never registered).
    fn bool_setting(&self, setting: &Setting) -> bool {
        match (value(setting), setting.kind) {
            (Some(SettingValue::Bool(value)), _) => value.get(),
            (_, SettingKind::Bool { default }) => default,
            (_, SettingKind::Int { default, .. }) => default != 0,
        }
    }
}
