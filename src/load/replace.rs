//! The two ways a report date's rows are replaced: a partition built aside
//! and swapped in (the table the tool creates), or DELETE + COPY in one
//! transaction (a plain table made by someone else).

use postgres::GenericClient;
use serde::{Deserialize, Serialize};

use super::catalog;
use super::error::{db_error, LoadError};
use super::feed::SegmentFeed;
use super::sessions;
use crate::secret::SecretUrl;
use crate::settings::RunSettings;
use crate::table::{quote_ident, TableName};

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

/// One load: what it loads, where, and whom to tell of its progress.
pub(super) struct Job<'a> {
    pub(super) settings: &'a RunSettings,
    pub(super) warehouse: &'a SecretUrl,
    pub(super) feed: &'a SegmentFeed,
    pub(super) on_bytes: &'a (dyn Fn(u64) + Sync),
}

/// Partitioned table: build the date's rows aside, then swap them in.
pub(super) fn swap_in(client: &mut postgres::Client, job: &Job<'_>) -> Result<LoadOutput, LoadError> {
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
        .map_err(db_error("creating the staging table of", table))?;
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
    let old = catalog::partition_of(client, table, date).map_err(db_error("finding the date's partition in", table))?;
    let rows_replaced = match &old {
        Some(old) => count_rows(client, old).map_err(db_error("counting the replaced rows of", table))?,
        None => 0,
    };
    let partition = table.partition(date);
    let mut tx = client.transaction().map_err(db_error("starting the swap on", table))?;
    // The partition may have changed since it was counted only if someone
    // else changed it outside the load lock; look again inside the transaction.
    if let Some(old) =
        catalog::partition_of(&mut tx, table, date).map_err(db_error("finding the date's partition in", table))?
    {
        tx.batch_execute(&format!("ALTER TABLE {} DETACH PARTITION {old};\nDROP TABLE {old};", table.quoted()))
            .map_err(db_error("detaching the date's old partition from", table))?;
    }
    let comment = format!("vendor-match: rows of {date} for {table}").replace('\'', "''");
    tx.batch_execute(&format!(
        "ALTER TABLE {staging} RENAME TO {name};\n\
         ALTER TABLE {parent} ATTACH PARTITION {partition} FOR VALUES IN ('{date}');\n\
         COMMENT ON TABLE {partition} IS '{comment}';",
        staging = staging.quoted(),
        name = quote_ident(&partition.table),
        parent = table.quoted(),
        partition = partition.quoted(),
    ))
    .map_err(db_error("attaching the new partition to", table))?;
    commit(tx, table)?;
    Ok(LoadOutput {
        table: table.to_string(),
        rows_replaced,
        rows_loaded: loaded,
        partition: Some(partition.to_string()),
        sessions: sessions.min(segments.max(1) as u32),
    })
}

/// Plain table: delete the date's rows and COPY the new ones in one transaction.
pub(super) fn replace_in(client: &mut postgres::Client, job: &Job<'_>) -> Result<LoadOutput, LoadError> {
    let (settings, table) = (job.settings, &job.settings.warehouse_table);
    let mut tx = client.transaction().map_err(db_error("starting a transaction on", table))?;
    let rows_replaced = tx
        .execute(&format!("DELETE FROM {} WHERE report_date = $1", table.quoted()), &[&settings.report_date])
        .map_err(db_error("deleting the report date's rows", table))?;
    let mut loaded = 0;
    let reader = job.feed.reader();
    while let Some(segment) = reader.next() {
        loaded += sessions::copy_segment(&mut tx, table, &segment, job.on_bytes)?;
    }
    check_count(loaded, job.feed)?;
    crate::failpoint::hit("load.copied");
    commit(tx, table)?;
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
    match catalog::is_our_staging(client, table, staging, date).map_err(db_error("looking for a leftover of", table))? {
        None => Ok(()),
        Some(false) => Err(LoadError::NotOurs { table: staging.to_string() }),
        Some(true) => client
            .batch_execute(&format!("DROP TABLE {}", staging.quoted()))
            .map_err(db_error("dropping a leftover staging table of", table)),
    }
}

/// Commits; the failpoint lets a test hold the transaction open meanwhile.
fn commit(tx: postgres::Transaction<'_>, table: &TableName) -> Result<(), LoadError> {
    crate::failpoint::hit("load.committing");
    tx.commit().map_err(db_error("committing", table))
}
