//! The columns of an object table: a fixed set, each with the Postgres types it takes.

use super::error::{ObjectError, Result};
use super::options::{ServerOptions, TableOptions};
use super::store::Store;
use crate::types::PgType;

/// A column an object table can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectColumn {
    /// `key text`: the object key, relative to the server root
    Key,
    /// `size int8`: bytes
    Size,
    /// `etag text`: the store's version tag
    Etag,
    /// `last_modified timestamptz`
    LastModified,
    /// `content_type text`
    ContentType,
    /// `metadata jsonb`: user metadata as a JSON object of strings
    Metadata,
    /// `content bytea`: the bytes, fetched only when referenced
    Content,
}

impl ObjectColumn {
    /// Every column, in the documented order.
    pub const ALL: [ObjectColumn; 7] = [
        ObjectColumn::Key,
        ObjectColumn::Size,
        ObjectColumn::Etag,
        ObjectColumn::LastModified,
        ObjectColumn::ContentType,
        ObjectColumn::Metadata,
        ObjectColumn::Content,
    ];

    /// The column's name.
    pub fn name(self) -> &'static str {
        match self {
            ObjectColumn::Key => "key",
            ObjectColumn::Size => "size",
            ObjectColumn::Etag => "etag",
            ObjectColumn::LastModified => "last_modified",
            ObjectColumn::ContentType => "content_type",
            ObjectColumn::Metadata => "metadata",
            ObjectColumn::Content => "content",
        }
    }

    /// The column named `name`.
    pub fn named(name: &str) -> Option<ObjectColumn> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether a column of this kind may be declared with type `pg_type`.
    pub fn accepts(self, pg_type: &PgType) -> bool {
        match self {
            ObjectColumn::Key | ObjectColumn::Etag | ObjectColumn::ContentType => {
                matches!(pg_type, PgType::Text | PgType::Varchar)
            }
            ObjectColumn::Size => matches!(pg_type, PgType::Int8),
            ObjectColumn::LastModified => matches!(pg_type, PgType::TimestampTz),
            ObjectColumn::Metadata => matches!(pg_type, PgType::Jsonb),
            ObjectColumn::Content => matches!(pg_type, PgType::Bytea),
        }
    }

    /// The type the documentation gives the column.
    pub fn sql_type(self) -> &'static str {
        match self {
            ObjectColumn::Key | ObjectColumn::Etag | ObjectColumn::ContentType => "text",
            ObjectColumn::Size => "bigint",
            ObjectColumn::LastModified => "timestamptz",
            ObjectColumn::Metadata => "jsonb",
            ObjectColumn::Content => "bytea",
        }
    }
}

/// An object table (`format 'objects'`): its store, options and declared columns.
#[derive(Debug, Clone)]
pub struct ObjectTable {
    /// the opened store
    pub store: Store,
    /// the server's limits
    pub server: ServerOptions,
    /// the table's options
    pub options: TableOptions,
    /// declared columns by name
    pub columns: Vec<(String, ObjectColumn)>,
}

impl ObjectTable {
    /// Opens a table, checking its declared columns (name, type).
    pub fn new(
        server: ServerOptions,
        options: TableOptions,
        declared: &[(String, PgType)],
    ) -> Result<ObjectTable> {
        let columns = declared
            .iter()
            .map(|(name, pg_type)| {
                let column = ObjectColumn::named(name).ok_or_else(|| ObjectError::Column {
                    column: name.clone(),
                    reason: "an object table has only the columns key, size, etag, last_modified, content_type, metadata and content".into(),
                })?;
                if !column.accepts(pg_type) {
                    return Err(ObjectError::Column {
                        column: name.clone(),
                        reason: format!(
                            "declared {}, but object tables give it as {}",
                            pg_type.sql(),
                            column.sql_type()
                        ),
                    });
                }
                Ok((name.clone(), column))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ObjectTable {
            store: Store::open(&server)?,
            server,
            options,
            columns,
        })
    }

    /// The kind of the declared column `name`.
    pub fn column(&self, name: &str) -> Option<ObjectColumn> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
    }
}
