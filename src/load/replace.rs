//! The two ways a report date's rows are replaced: a partition built aside
//! and swapped in (the table the tool creates), or DELETE + COPY in one
//! transaction (a plain table made by someone else).

use postgres::GenericClient;
use serde::{Deserialize, Serialize};

use super::catalog::{self, TableShape};
use super::distribution;
use super::error::{db_error, LoadError};
use super::feed::SegmentFeed;
use super::history::{self, History};
use super::sessions;
use crate::secret::SecretUrl;
use crate::settings::RunSettings;
use crate::table::{quote_ident, TableName, COLUMNS};

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
    /// How Citus spreads the table, when the warehouse is a Citus cluster.
    #[serde(default)]
    pub distribution: Option<Distribution>,
    /// Whether the load was recorded in the loads table (there is none
    /// beside a table made by someone else unless the loader may create it).
    #[serde(default)]
    pub recorded: bool,
    /// The loaded dates and the churn into this one, read after the commit.
    #[serde(default)]
    pub history: Option<History>,
    /// Why the history could not be read, when it could not (the load itself stands).
    #[serde(default)]
    pub history_error: Option<String>,
}

/// Where a Citus cluster keeps the date's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    /// The distribution column.
    pub column: String,
    /// Shards of the date's partition.
    pub shards: u32,
    /// Nodes holding them.
    pub nodes: u32,
}

/// One load: what it loads, where, and whom to tell of its progress.
pub(super) struct Job<'a> {
    pub(super) run_id: &'a str,
    pub(super) settings: &'a RunSettings,
    pub(super) warehouse: &'a SecretUrl,
    pub(super) feed: &'a SegmentFeed,
    pub(super) on_bytes: &'a (dyn Fn(u64) + Sync),
}

/// Partitioned table: build the date's rows aside, then swap them in.
pub(super) fn swap_in(
    client: &mut postgres::Client,
    job: &Job<'_>,
    shape: &TableShape,
) -> Result<LoadOutput, LoadError> {
    let (table, date) = (&job.settings.warehouse_table, job.settings.report_date);
    let staging = table.staging(date);
    drop_staging(client, table, &staging, date)?;
    let comment = catalog::staging_comment(table, date).replace('\'', "''");
    // On Citus the staging table is distributed like the table, colocated,
    // in the transaction that creates it: it is never a local table to fill.
    let distribute =
        shape.distributed_by.as_ref().map(|column| distribution::distribute(&staging, column, Some(table)));
    let (staging_name, parent) = (staging.quoted(), table.quoted());
    let mut create = vec![
        format!("CREATE TABLE {staging_name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
        format!("ALTER TABLE {staging_name} ADD CHECK (report_date = '{date}')"),
        format!("COMMENT ON TABLE {staging_name} IS '{comment}'"),
    ];
    create.extend(distribute);
    in_one_transaction(client, &create).map_err(db_error("creating the staging table of", table))?;
    let result = build_and_swap(client, job, shape, &staging);
    if result.is_err() {
        // Best effort: the next load of the date drops it anyway.
        let _ = drop_staging(client, table, &staging, date);
    }
    result
}

fn build_and_swap(
    client: &mut postgres::Client,
    job: &Job<'_>,
    shape: &TableShape,
    staging: &TableName,
) -> Result<LoadOutput, LoadError> {
    let (table, date) = (&job.settings.warehouse_table, job.settings.report_date);
    let sessions = job.settings.load_sessions.max(1);
    let (loaded, segments) =
        sessions::copy_all(job.warehouse, staging, shape.rows, &job.feed.reader(), sessions, job.on_bytes)?;
    check_count(loaded, job.feed)?;
    crate::failpoint::hit("load.copied");
    // Statistics for the planner before readers can see the rows: of every
    // column queries filter, join or group on (not the raw values).
    let analyzed: Vec<&str> = COLUMNS.iter().filter(|c| !c.raw()).map(|c| c.name).collect();
    client
        .batch_execute(&format!("ANALYZE {} ({})", staging.quoted(), analyzed.join(", ")))
        .map_err(db_error("analyzing the new rows of", table))?;
    // Counted before the swap takes its locks.
    let old = catalog::partition_of(client, table, date).map_err(db_error("finding the date's partition in", table))?;
    let rows_replaced = match &old {
        Some(old) => count_rows(client, old).map_err(db_error("counting the replaced rows of", table))?,
        None => 0,
    };
    let partition = table.partition(date);
    // Read now: the staging table's shards become the partition's as they are.
    let distribution = match &shape.distributed_by {
        Some(column) => Some(placement(client, staging, column).map_err(db_error("reading the shards of", table))?),
        None => None,
    };
    // Last chance to stop: after this the swap goes through.
    crate::stop::check()?;
    let mut tx = client.transaction().map_err(db_error("starting the swap on", table))?;
    if shape.distributed_by.is_some() {
        // Citus commits on each worker after the coordinator: readers wait
        // for the lock until every worker has, even on a date's first load,
        // whose ATTACH alone would not block them.
        tx.batch_execute(&format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", table.quoted()))
            .map_err(db_error("locking for the swap", table))?;
    }
    // The partition may have changed since it was counted only if someone
    // else changed it outside the load lock; look again inside the transaction.
    if let Some(old) =
        catalog::partition_of(&mut tx, table, date).map_err(db_error("finding the date's partition in", table))?
    {
        let detach = [format!("ALTER TABLE {} DETACH PARTITION {old}", table.quoted()), format!("DROP TABLE {old}")];
        run_each(&mut tx, &detach).map_err(db_error("detaching the date's old partition from", table))?;
    }
    let comment = format!("vendor-match: rows of {date} for {table}").replace('\'', "''");
    let attach = [
        format!("ALTER TABLE {} RENAME TO {}", staging.quoted(), quote_ident(&partition.table)),
        format!("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ('{date}')", table.quoted(), partition.quoted()),
        format!("COMMENT ON TABLE {} IS '{comment}'", partition.quoted()),
    ];
    run_each(&mut tx, &attach).map_err(db_error("attaching the new partition to", table))?;
    record(&mut tx, job, shape)?;
    commit(tx, table)?;
    Ok(LoadOutput {
        table: table.to_string(),
        rows_replaced,
        rows_loaded: loaded,
        partition: Some(partition.to_string()),
        sessions: sessions.min(segments.max(1) as u32),
        distribution,
        recorded: shape.loads_table,
        ..LoadOutput::default()
    })
}

/// How many shards hold `relation` on how many nodes (Citus).
fn placement(
    client: &mut impl GenericClient,
    relation: &TableName,
    column: &str,
) -> Result<Distribution, postgres::Error> {
    let row = client.query_one(
        "SELECT count(DISTINCT shardid), count(DISTINCT (nodename, nodeport)) FROM citus_shards \
         WHERE table_name = to_regclass($1)",
        &[&relation.quoted()],
    )?;
    let count = |i: usize| u32::try_from(row.get::<_, i64>(i)).unwrap_or(u32::MAX);
    Ok(Distribution { column: column.to_string(), shards: count(0), nodes: count(1) })
}

/// Plain table: delete the date's rows and COPY the new ones in one transaction.
pub(super) fn replace_in(
    client: &mut postgres::Client,
    job: &Job<'_>,
    shape: &TableShape,
) -> Result<LoadOutput, LoadError> {
    let (settings, table) = (job.settings, &job.settings.warehouse_table);
    let mut tx = client.transaction().map_err(db_error("starting a transaction on", table))?;
    let rows_replaced = tx
        .execute(&format!("DELETE FROM {} WHERE report_date = $1", table.quoted()), &[&settings.report_date])
        .map_err(db_error("deleting the report date's rows from", table))?;
    let mut loaded = 0;
    let reader = job.feed.reader();
    while let Some(segment) = reader.next() {
        loaded += sessions::copy_segment(&mut tx, table, shape.rows, &segment, job.on_bytes)?;
    }
    check_count(loaded, job.feed)?;
    crate::failpoint::hit("load.copied");
    let distribution = match &shape.distributed_by {
        Some(column) => Some(placement(&mut tx, table, column).map_err(db_error("reading the shards of", table))?),
        None => None,
    };
    // Last chance to stop: dropped uncommitted, the transaction leaves the old rows.
    crate::stop::check()?;
    record(&mut tx, job, shape)?;
    commit(tx, table)?;
    Ok(LoadOutput {
        table: table.to_string(),
        rows_replaced,
        rows_loaded: loaded,
        partition: None,
        sessions: 1,
        distribution,
        recorded: shape.loads_table,
        ..LoadOutput::default()
    })
}

/// Writes the load's row into the loads table, when there is one, in the
/// transaction that replaces the date: the row is there if and only if the rows are.
fn record(tx: &mut postgres::Transaction<'_>, job: &Job<'_>, shape: &TableShape) -> Result<(), LoadError> {
    if !shape.loads_table {
        return Ok(());
    }
    let table = &job.settings.warehouse_table;
    let stats = job.feed.stats()?;
    history::record(tx, table, job.run_id, job.settings, &stats).map_err(db_error("recording the load of", table))
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

/// Runs `statements` one by one: Citus passes a DDL statement's text on to
/// the workers, and refuses a text of several.
fn run_each(client: &mut impl GenericClient, statements: &[String]) -> Result<(), postgres::Error> {
    statements.iter().try_for_each(|statement| client.batch_execute(statement))
}

/// Runs `statements` one by one in a transaction of their own.
pub(super) fn in_one_transaction(client: &mut postgres::Client, statements: &[String]) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    run_each(&mut tx, statements)?;
    tx.commit()
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
    tx.commit().map_err(db_error("committing the load into", table))
}
