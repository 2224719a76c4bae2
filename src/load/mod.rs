//! Stage 3, load: COPY the match rows into the warehouse, replacing the report date in one transaction.
//!
//! In one transaction: take the load lock (loads into one warehouse database
//! take turns), `CREATE TABLE IF NOT EXISTS` and an index on report_date,
//! `DELETE` the report date's rows, `COPY` the new rows in, check the count,
//! `COMMIT`. Under MVCC, readers see the old rows until
//!    the commit and the new ones after it, never a mix; a failure anywhere
//!    rolls back and leaves the old rows in place. Re-running a date replaces
//!    its rows, so it never duplicates them.

pub mod copy;
pub mod ddl;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::matching::MatchOutput;
use crate::secret::SecretUrl;
use crate::settings::RunSettings;

/// A failure of the load stage.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] crate::db::ConnectError),
    /// A statement failed.
    #[error("{action} on warehouse table {table} failed")]
    Db {
        /// What was being done.
        action: &'static str,
        /// The table.
        table: String,
        /// The cause.
        #[source]
        source: postgres::Error,
    },
    /// Reading the rows file or writing to COPY failed.
    #[error("streaming {path} into COPY failed")]
    Io {
        /// The rows file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// COPY took a different number of rows than the match stage wrote.
    #[error("COPY loaded {loaded} rows but the match stage wrote {expected}; nothing was committed")]
    CountMismatch {
        /// Rows COPY reported.
        loaded: u64,
        /// Rows in the file.
        expected: u64,
    },
}

/// What load did; kept in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadOutput {
    /// The table loaded.
    pub table: String,
    /// Rows of the report date that were replaced.
    pub rows_replaced: u64,
    /// Rows loaded.
    pub rows_loaded: u64,
}

/// The advisory lock every load holds for its transaction ("vm_load").
const LOAD_LOCK_KEY: i64 = 0x0076_6d5f_6c6f_6164;

/// Times a load whose connection broke is tried again (each try is one
/// transaction, so a broken one leaves nothing behind).
pub const LOAD_RETRIES: u32 = 3;

/// Runs the load stage.
/// `on_bytes` hears how many bytes of the rows file were sent, now and then.
pub fn load(
    settings: &RunSettings,
    warehouse: &SecretUrl,
    matched: &MatchOutput,
    on_bytes: &dyn Fn(u64),
) -> Result<LoadOutput, LoadError> {
    let mut attempt = 0;
    loop {
        match load_once(settings, warehouse, matched, on_bytes) {
            Err(error) if attempt < LOAD_RETRIES && error.is_transient(attempt) => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(250 << attempt));
            }
            result => return result,
        }
    }
}

impl LoadError {
    /// A broken connection (or a failed reconnect after one) is worth another try.
    fn is_transient(&self, attempt: u32) -> bool {
        match self {
            LoadError::Connect(_) => attempt > 0,
            LoadError::Db { source, .. } => crate::db::is_connection_loss(source),
            LoadError::Io { .. } | LoadError::CountMismatch { .. } => false,
        }
    }
}

fn load_once(
    settings: &RunSettings,
    warehouse: &SecretUrl,
    matched: &MatchOutput,
    on_bytes: &dyn Fn(u64),
) -> Result<LoadOutput, LoadError> {
    let table = &settings.warehouse_table;
    let db = |action: &'static str| {
        let table = table.to_string();
        move |source| LoadError::Db { action, table, source }
    };
    let mut client = crate::db::connect(warehouse, "warehouse")?;
    let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).map_err(db("starting"))?.get(0);
    let mut tx = client.transaction().map_err(db("starting a transaction"))?;
    // Loads into one warehouse database take turns: two loads of a date at
    // once would each delete only the rows committed before them and both
    // insert, and two first loads would race to create the table.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOAD_LOCK_KEY]).map_err(db("waiting for another load"))?;
    tx.batch_execute(&format!("{}\n{}", ddl::create_table(table), ddl::create_index(table))).map_err(db("creating"))?;
    let rows_replaced = tx
        .execute(&format!("DELETE FROM {} WHERE report_date = $1", table.quoted()), &[&settings.report_date])
        .map_err(db("deleting the report date's rows"))?;
    let rows_loaded = copy_in(&mut tx, matched, table, on_bytes)?;
    if rows_loaded != matched.rows {
        return Err(LoadError::CountMismatch { loaded: rows_loaded, expected: matched.rows });
    }
    crate::failpoint::hit("load.copied");
    if crate::failpoint::fires("load.pause") {
        // Test hook: hold the transaction open, as a slow commit would.
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    if crate::failpoint::fires("load.drop") {
        // Test hook: the server ends the session before the commit.
        if let Ok(mut admin) = crate::db::connect(warehouse, "warehouse") {
            let _ = admin.execute("SELECT pg_terminate_backend($1)", &[&backend]);
        }
    }
    tx.commit().map_err(db("committing"))?;
    Ok(LoadOutput { table: table.to_string(), rows_replaced, rows_loaded })
}

fn copy_in(
    tx: &mut postgres::Transaction<'_>,
    matched: &MatchOutput,
    table: &ddl::TableName,
    on_bytes: &dyn Fn(u64),
) -> Result<u64, LoadError> {
    let path = &matched.rows_file;
    let io_error = |source| LoadError::Io { path: path.clone(), source };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let statement = format!("COPY {} ({}) FROM STDIN", table.quoted(), ddl::column_list());
    let mut writer = tx.copy_in(&statement).map_err(|source| LoadError::Db {
        action: "starting COPY",
        table: table.to_string(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    loop {
        let chunk = reader.fill_buf().map_err(io_error)?;
        if chunk.is_empty() {
            break;
        }
        writer.write_all(chunk).map_err(io_error)?;
        let n = chunk.len();
        reader.consume(n);
        on_bytes(n as u64);
        crate::failpoint::hit("load.copying");
    }
    writer.flush().map_err(io_error)?;
    writer.finish().map_err(|source| LoadError::Db { action: "COPY", table: table.to_string(), source })
}
