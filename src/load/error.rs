//! What can go wrong in load: connecting, a statement, a table that does not
//! take the rows, a file, or the match stage that fed it.

use std::path::PathBuf;

use super::catalog::TableMismatch;
use super::feed::MatchFailed;
use crate::bug::Bug;
use crate::damage::Damaged;
use crate::db::ConnectError;
use crate::table::TableName;

/// A failure of the load stage.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A statement failed.
    #[error("{action} warehouse table {table} failed")]
    Db {
        /// What was being done.
        action: &'static str,
        /// The table.
        table: String,
        /// The cause.
        #[source]
        source: postgres::Error,
    },
    /// The table can't take the rows as the tool writes them.
    #[error(transparent)]
    Mismatch(#[from] TableMismatch),
    /// A table in the way of the load is not the tool's own.
    #[error("table {table} exists and is not a vendor-match staging table; rename or drop it")]
    NotOurs {
        /// The table.
        table: String,
    },
    /// Reading a rows file or writing to COPY failed.
    #[error("streaming {path} into COPY failed")]
    Io {
        /// The rows file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A rows file is not what match wrote (nothing of it is committed).
    // Not `transparent`: the `Damaged` must stay in the chain of causes,
    // where the pipeline looks for it.
    #[error("{0}")]
    Damaged(#[from] Damaged),
    /// COPY took a different number of rows than the match stage wrote.
    #[error("COPY loaded {loaded} rows but the match stage wrote {expected}; nothing was committed")]
    CountMismatch {
        /// Rows COPY reported.
        loaded: u64,
        /// Rows in the files.
        expected: u64,
    },
    /// A broken invariant (a bug).
    #[error(transparent)]
    Bug(#[from] Bug),
    /// The run was asked to stop (a signal) before the commit.
    #[error(transparent)]
    Interrupted(#[from] crate::stop::Interrupted),
    /// The match stage the load was fed by failed.
    #[error(transparent)]
    MatchFailed(#[from] MatchFailed),
}

/// Turns a `postgres` error into a [`LoadError`] saying what was being done.
pub(super) fn db_error(action: &'static str, table: &TableName) -> impl FnOnce(postgres::Error) -> LoadError {
    let table = table.to_string();
    move |source| LoadError::Db { action, table, source }
}
