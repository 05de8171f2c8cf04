//! What a source shares beyond one table, and the settings it declares.

use super::error::Result;
use std::ffi::CStr;

/// What a source keeps across the tables of a transaction or a session: work several
/// writers share (one Bolt transaction per graph server), state a transaction pins
/// (Delta versions under REPEATABLE READ) and connections made with a server's
/// options. The FDW core calls every registered participant; none needs code there.
pub trait TransactionParticipant: Sync {
    /// Called at pre-commit before any writer prepares (to take a lock the commit
    /// must hold); it reports its own errors, which abort the transaction.
    fn before_commit(&self) {}

    /// Whether the transaction holds shared work to commit (also opened outside
    /// table writers, by SQL functions).
    fn has_pending(&self) -> bool {
        false
    }

    /// Commits the shared work, after every writer of the transaction committed its
    /// own part (interrupts held); describes what it committed.
    fn commit(&self) -> Result<Option<String>> {
        Ok(None)
    }

    /// The transaction ended, committed or not: drops what it shared or pinned.
    fn transaction_ended(&self) {}

    /// A foreign server or user mapping changed: drops connections made with the old
    /// options (the next statement connects again).
    fn servers_changed(&self) {}
}

/// A setting (GUC) a source declares; the extension registers it at load.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// the setting's name (`odp.` and a word)
    pub name: &'static CStr,
    /// one line for `SHOW ALL`
    pub short: &'static CStr,
    /// the longer description
    pub long: &'static CStr,
    /// its type, default and range
    pub kind: SettingKind,
    /// whether only superusers may change it (memory every backend may keep)
    pub superuser_only: bool,
}

/// The type, default and range of a [`Setting`].
#[derive(Debug, Clone, Copy)]
pub enum SettingKind {
    /// an integer from `min` to `max`
    Int {
        /// the value when unset
        default: i32,
        /// the least value
        min: i32,
        /// the greatest value
        max: i32,
    },
    /// a boolean
    Bool {
        /// the value when unset
        default: bool,
    },
}
