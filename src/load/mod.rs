//! Stage 3, load: COPY the match rows into the warehouse, replacing the report date's rows atomically.
//!
//! Every load first takes the load lock (loads into one warehouse database
//! take turns) and creates the table if it is missing. Then, by the table's
//! layout ([`catalog::Layout`]):
//!
//! - partitioned by report date (the table the tool creates): the rows are
//!   COPYed, over `--load-sessions` sessions at once, into a new table
//!   beside it (`<table>_YYYYMMDD_loading`); then one short transaction
//!   detaches and drops the date's old partition, if any, and attaches the
//!   new table as `<table>_YYYYMMDD`;
//! - any other table: one transaction deletes the date's rows and COPYs the
//!   new ones over one session.
//!
//! Either way readers see the old rows until the commit and the new ones
//! after it, never a mix; a failure anywhere leaves the old rows; re-running
//! a date replaces its rows, so it never duplicates them.

pub mod catalog;
pub mod copy;
pub mod ddl;
pub mod feed;
mod sessions;

use std::path::PathBuf;

use postgres::GenericClient;
use serde::{Deserialize, Serialize};

use catalog::{CatalogError, Layout};
use ddl::TableName;
use feed::{MatchFailed, SegmentFeed};

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
    /// The table can't take the rows as the tool writes them.
    #[error(transparent)]
    Mismatch(#[from] catalog::TableMismatch),
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
    /// COPY took a different number of rows than the match stage wrote.
    #[error("COPY loaded {loaded} rows but the match stage wrote {expected}; nothing was committed")]
    CountMismatch {
        /// Rows COPY reported.
        loaded: u64,
        /// Rows in the files.
        expected: u64,
    },
    /// A COPY session's thread ended without an answer (a bug).
    #[error("a COPY session ended without an answer")]
    Session,
    /// The match stage the load was fed by failed.
    #[error(transparent)]
    MatchFailed(#[from] MatchFailed),
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
    /// The partition that now holds the date's rows (partitioned tables).
    #[serde(default)]
    pub partition: Option<String>,
    /// COPY sessions used.
    #[serde(default)]
    pub sessions: u32,
}

/// The advisory lock every load holds for its whole length ("vm_load").
const LOAD_LOCK_KEY: i64 = 0x0076_6d5f_6c6f_6164;

/// Times a load whose connection broke is tried again (a broken try leaves
/// the old rows, and its staging table is rebuilt).
pub const LOAD_RETRIES: u32 = 3;

/// Runs the load stage on the segments of `feed` (which may still be
/// coming from a match stage running alongside).
/// `on_bytes` hears how many bytes of the rows files were sent, now and then.
pub fn load(
    settings: &RunSettings,
    warehouse: &SecretUrl,
    feed: &SegmentFeed,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<LoadOutput, LoadError> {
    let job = Job { settings, warehouse, feed, on_bytes };
    let mut attempt = 0;
    loop {
        match load_once(&job) {
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
            _ => false,
        }
    }
}

/// Turns a `postgres` error into a [`LoadError`] saying what was being done.
fn db(action: &'static str, table: &TableName) -> impl FnOnce(postgres::Error) -> LoadError {
    let table = table.to_string();
    move |source| LoadError::Db { action, table, source }
}

/// One load: what it loads, where, and whom to tell of its progress.
struct Job<'a> {
    settings: &'a RunSettings,
    warehouse: &'a SecretUrl,
    feed: &'a SegmentFeed,
    on_bytes: &'a (dyn Fn(u64) + Sync),
}

fn load_once(job: &Job<'_>) -> Result<LoadOutput, LoadError> {
    let table = &job.settings.warehouse_table;
    let mut client = crate::db::connect(job.warehouse, "warehouse")?;
    // Partition bounds are compared as text: dates must print as ISO.
    client.batch_execute("SET DateStyle = 'ISO, YMD'").map_err(db("starting", table))?;
    // Loads into one warehouse database take turns: two loads of a date at
    // once would both build its rows and race to swap them in, and two first
    // loads would race to create the table. Held until the connection ends.
    client.execute("SELECT pg_advisory_lock($1)", &[&LOAD_LOCK_KEY]).map_err(db("waiting for another load", table))?;
    client.batch_execute(&ddl::create_table(table)).map_err(db("creating", table))?;
    let layout = catalog::inspect(&mut client, table).map_err(|e| match e {
        CatalogError::Db(source) => db("reading the catalog of", table)(source),
        CatalogError::Mismatch(mismatch) => LoadError::Mismatch(mismatch),
    })?;
    match layout {
        Layout::Partitioned => swap_in(&mut client, job),
        Layout::Plain => replace_in(&mut client, job),
    }
}

/// Partitioned table: build the date's rows aside, then swap them in.
fn swap_in(client: &mut postgres::Client, job: &Job<'_>) -> Result<LoadOutput, LoadError> {
    let (table, date) = (&job.settings.warehouse_table, job.settings.report_date);
    let staging = table.staging(date);
    drop_staging(client, table, &staging, date)?;
    let comment = catalog::staging_comment(table, date).replace('\'', "''");
    client
        .batch_execute(&format!(
            "CREATE TABLE {staging} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);\n\
             ALTER TABLE {staging} ADD CHECK (report_date = '{date}');\n\
             COMMENT ON TABLE {staging} IS '{comment}';",
            staging = staging.quoted(),
            parent = table.quoted(),
        ))
        .map_err(db("creating the staging table of", table))?;
    let result = build_and_swap(client, job, &staging);
    if result.is_err() {
        // Best effort: the next load of the date drops it anyway.
        let _ = drop_staging(client, table, &staging, date);
    }
    result
}

fn build_and_swap(client: &mut postgres::Client, job: &Job<'_>, staging: &TableName) -> Result<LoadOutput, LoadError> {
    let (table, date) = (&job.settings.warehouse_table, job.settings.report_date);
    let sessions = job.settings.load_sessions.max(1);
    let (loaded, segments) = sessions::copy_all(job.warehouse, staging, &job.feed.reader(), sessions, job.on_bytes)?;
    check_count(loaded, job.feed)?;
    crate::failpoint::hit("load.copied");
    // Counted before the swap takes its locks.
    let old = catalog::partition_of(client, table, date).map_err(db("finding the date's partition in", table))?;
    let rows_replaced = match &old {
        Some(old) => count_rows(client, old).map_err(db("counting the replaced rows of", table))?,
        None => 0,
    };
    let backend = backend_pid(client, table)?;
    let partition = table.partition(date);
    let mut tx = client.transaction().map_err(db("starting the swap on", table))?;
    // The partition may have changed since it was counted only if someone
    // else changed it outside the load lock; look again inside the transaction.
    if let Some(old) =
        catalog::partition_of(&mut tx, table, date).map_err(db("finding the date's partition in", table))?
    {
        tx.batch_execute(&format!("ALTER TABLE {} DETACH PARTITION {old};\nDROP TABLE {old};", table.quoted()))
            .map_err(db("detaching the date's old partition from", table))?;
    }
    let comment = format!("vendor-match: rows of {date} for {table}").replace('\'', "''");
    tx.batch_execute(&format!(
        "ALTER TABLE {staging} RENAME TO {name};\n\
         ALTER TABLE {parent} ATTACH PARTITION {partition} FOR VALUES IN ('{date}');\n\
         COMMENT ON TABLE {partition} IS '{comment}';",
        staging = staging.quoted(),
        name = ddl::quote_ident(&partition.table),
        parent = table.quoted(),
        partition = partition.quoted(),
    ))
    .map_err(db("attaching the new partition to", table))?;
    commit(tx, job.warehouse, backend, table)?;
    Ok(LoadOutput {
        table: table.to_string(),
        rows_replaced,
        rows_loaded: loaded,
        partition: Some(partition.to_string()),
        sessions: sessions.min(segments.max(1) as u32),
    })
}

/// Plain table: delete the date's rows and COPY the new ones in one transaction.
fn replace_in(client: &mut postgres::Client, job: &Job<'_>) -> Result<LoadOutput, LoadError> {
    let (settings, table) = (job.settings, &job.settings.warehouse_table);
    let backend = backend_pid(client, table)?;
    let mut tx = client.transaction().map_err(db("starting a transaction on", table))?;
    let rows_replaced = tx
        .execute(&format!("DELETE FROM {} WHERE report_date = $1", table.quoted()), &[&settings.report_date])
        .map_err(db("deleting the report date's rows", table))?;
    let mut loaded = 0;
    let reader = job.feed.reader();
    while let Some(segment) = reader.next() {
        loaded += sessions::copy_segment(&mut tx, table, &segment, job.on_bytes)?;
    }
    check_count(loaded, job.feed)?;
    crate::failpoint::hit("load.copied");
    commit(tx, job.warehouse, backend, table)?;
    Ok(LoadOutput { table: table.to_string(), rows_replaced, rows_loaded: loaded, partition: None, sessions: 1 })
}

/// Every row match wrote was loaded (this waits for match to finish).
fn check_count(loaded: u64, feed: &SegmentFeed) -> Result<(), LoadError> {
    let expected = feed.total_rows()?;
    if loaded != expected {
        return Err(LoadError::CountMismatch { loaded, expected });
    }
    Ok(())
}

fn backend_pid(client: &mut postgres::Client, table: &TableName) -> Result<i32, LoadError> {
    Ok(client.query_one("SELECT pg_backend_pid()", &[]).map_err(db("starting", table))?.get(0))
}

fn count_rows(client: &mut impl GenericClient, relation: &str) -> Result<u64, postgres::Error> {
    let count: i64 = client.query_one(&format!("SELECT count(*) FROM {relation}"), &[])?.get(0);
    Ok(count.max(0) as u64)
}

/// Drops the date's staging table left by a failed load, if it is ours.
fn drop_staging(
    client: &mut postgres::Client,
    table: &TableName,
    staging: &TableName,
    date: chrono::NaiveDate,
) -> Result<(), LoadError> {
    match catalog::is_our_staging(client, table, staging, date).map_err(db("looking for a leftover of", table))? {
        None => Ok(()),
        Some(false) => Err(LoadError::NotOurs { table: staging.to_string() }),
        Some(true) => client
            .batch_execute(&format!("DROP TABLE {}", staging.quoted()))
            .map_err(db("dropping a leftover staging table of", table)),
    }
}

/// Commits, with the test hooks that pause or break the session just before.
fn commit(
    tx: postgres::Transaction<'_>,
    warehouse: &SecretUrl,
    backend: i32,
    table: &TableName,
) -> Result<(), LoadError> {
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
    tx.commit().map_err(db("committing", table))
}
