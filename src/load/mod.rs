//! Stage 3, load: COPY the match rows into the warehouse, replacing the report date's rows atomically.
//!
//! Every load first takes the load lock (loads into one warehouse database
//! take turns) and creates the table if the catalog does not hold it. Then, by the table's
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
//! On a Citus coordinator the table the tool creates is also distributed by
//! `user_key` ([`distribution`]), and the table built aside is distributed
//! beside it (colocated), so the COPY is routed to the workers' shards and
//! the swap moves no rows.
//!
//! Either way readers see the old rows until the commit and the new ones
//! after it, never a mix; a failure anywhere leaves the old rows; re-running
//! a date replaces its rows, so it never duplicates them.

pub mod access;
pub mod catalog;
pub mod copy;
pub mod ddl;
pub mod distribution;
mod error;
pub mod feed;
pub mod history;
mod replace;
mod sessions;

use catalog::{CatalogError, Layout};
use error::db_error;
pub use error::LoadError;
use feed::SegmentFeed;
use replace::Job;
pub use replace::{Distribution, LoadOutput};

use crate::db::{self, Failure};
use crate::secret::SecretUrl;
use crate::settings::RunSettings;

/// The advisory lock every load holds for its whole length ("vm_load").
const LOAD_LOCK_KEY: i64 = 0x0076_6d5f_6c6f_6164;

/// Runs the load stage on the segments of `feed` (which may still be
/// coming from a match stage running alongside). A load whose session broke
/// is tried again ([`crate::db::with_reconnects`]): a broken try leaves the
/// old rows, and its staging table is rebuilt.
/// `on_bytes` hears how many bytes of the rows files were sent, now and then.
pub fn load(
    run_id: &str,
    settings: &RunSettings,
    warehouse: &SecretUrl,
    feed: &SegmentFeed,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<LoadOutput, LoadError> {
    let job = Job { run_id, settings, warehouse, feed, on_bytes };
    db::with_reconnects(|| load_once(&job), failure).0
}

/// How a try at the load ended, for the reconnect policy.
fn failure(error: &LoadError) -> Failure {
    match error {
        LoadError::Connect(_) => Failure::Connect,
        LoadError::Db { source, .. } if db::is_connection_loss(source) => Failure::Lost,
        _ => Failure::Final,
    }
}

fn load_once(job: &Job<'_>) -> Result<LoadOutput, LoadError> {
    let table = &job.settings.warehouse_table;
    let mut client = db::connect(job.warehouse, "warehouse")?;
    // Partition bounds are compared as text: dates must print as ISO.
    client.batch_execute("SET DateStyle = 'ISO, YMD'").map_err(db_error("starting the load into", table))?;
    // Loads into one warehouse database take turns: two loads of a date at
    // once would both build its rows and race to swap them in, and two first
    // loads would race to create the table. Held until the connection ends.
    // Polled, not waited for in the server: a stop asked for meanwhile is seen.
    let mut logged = false;
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOAD_LOCK_KEY])
            .map_err(db_error("waiting for another load into", table))?;
        if row.get::<_, bool>(0) {
            break;
        }
        if !std::mem::replace(&mut logged, true) {
            tracing::info!("another load into this warehouse database is running: waiting for it to end");
        }
        crate::stop::sleep(std::time::Duration::from_millis(200))?;
    }
    // Only a missing table is created: CREATE needs the CREATE right on the
    // schema even when the table exists, which a loader of a table its DBA
    // made need not have (USAGE on the schema and SELECT, INSERT, DELETE on
    // the table are enough for the rest).
    // Why this load is not recorded in the loads table, when it is not.
    let mut unrecorded = None;
    if !catalog::exists(&mut client, table).map_err(db_error("looking for", table))? {
        let citus = catalog::is_citus(&mut client).map_err(db_error("looking for Citus beside", table))?;
        let create = if citus { ddl::create_distributed_table(table) } else { ddl::create_table(table) };
        replace::in_one_transaction(&mut client, &create).map_err(db_error("creating", table))?;
        let loads_missing =
            !catalog::exists(&mut client, &ddl::loads_table(table)).map_err(db_error("looking beside", table))?;
        unrecorded = create_companions(&mut client, table, citus, loads_missing);
    }
    let missing = catalog::missing_columns(&mut client, table).map_err(db_error("reading the catalog of", table))?;
    if !missing.is_empty() && missing.iter().all(crate::table::Column::raw) {
        // A table of an earlier version: it gets the columns added since
        // (it must be the loader's own to be altered).
        replace::in_one_transaction(&mut client, &ddl::add_columns(table, &missing))
            .map_err(db_error("adding this version's new columns to", table))?;
    }
    let mut shape = inspect(&mut client, table)?;
    let loads = ddl::loads_table(table);
    if !shape.loads_table && unrecorded.is_none() {
        if catalog::exists(&mut client, &loads).map_err(db_error("looking beside", table))? {
            unrecorded =
                Some(format!("{loads} is not a loads table this loader can write (INSERT and the tool's columns)"));
        } else if catalog::may_create_beside(&mut client, table).map_err(db_error("looking at the schema of", table))? {
            // A table made before the tool kept a record of loads, or by a DBA
            // who let the loader create tables beside it.
            let citus = shape.distributed_by.as_deref() == Some(distribution::USER_KEY);
            unrecorded = create_companions(&mut client, table, citus, true);
            shape = inspect(&mut client, table)?;
        }
    }
    let mut output = match shape.layout {
        Layout::Partitioned => replace::swap_in(&mut client, job, &shape),
        Layout::Plain => replace::replace_in(&mut client, job, &shape),
    }?;
    if output.recorded {
        // The rows are in: a failure to read the history is reported, and
        // does not fail the load.
        match history::read(&mut client, table, job.settings.report_date) {
            Ok(history) => output.history = Some(history),
            Err(e) => output.history_error = Some(crate::causes::one_line(&e)),
        }
    } else {
        output.history_error = unrecorded;
    }
    Ok(output)
}

/// Creates the loads table (when `with_loads_table`) and the views beside
/// `table`, in a transaction of their own: they serve the readers, and
/// a name taken by something else must not stop the load. Returns why not,
/// when they could not be made.
fn create_companions(
    client: &mut postgres::Client,
    table: &crate::table::TableName,
    citus: bool,
    with_loads_table: bool,
) -> Option<String> {
    let statements = ddl::create_companions(table, citus, with_loads_table);
    replace::in_one_transaction(client, &statements).err().map(|e| {
        format!("the loads table and views could not be created beside {table}: {}", crate::causes::one_line(&e))
    })
}

fn inspect(client: &mut postgres::Client, table: &crate::table::TableName) -> Result<catalog::TableShape, LoadError> {
    catalog::inspect(client, table).map_err(|e| match e {
        CatalogError::Db(source) => db_error("reading the catalog of", table)(source),
        CatalogError::Mismatch(mismatch) => LoadError::Mismatch(mismatch),
    })
}
