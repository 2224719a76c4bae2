//! vendor-match: match Friendly Vendor's users with ours and load both, with
//! each platform's active status, into a PostgreSQL warehouse table.
//!
//! The pipeline is staged around an on-disk external sort: `extract` spills
//! both sources to sorted files under a memory budget, `match` k-way merges
//! and merge-joins them, `load` COPYs the result into the warehouse. The
//! modules stand in floors, each using only the ones below it (the layout is
//! in `docs/DESIGN.md`; `tests/layers.rs` holds the code to it):
//!
//! ```text
//! cmd, exit                    commands: arguments into calls of the pipeline
//! pipeline                     stage order, bookkeeping, the match -> load hand-off
//! report                       what people read
//! manifest                     the run's record
//! load, matching, extract      the stages (each uses the one before it)
//! sort                         the external sort
//! rundir                       run directories and the files written there
//! settings, budget             validated settings, the memory budget's shares
//! cli, db, mysql_db, progress  raw arguments, connections, progress bars
//! key, record, model, table, … primitives
//! ```
#![warn(missing_docs)]

pub mod activity;
pub mod budget;
pub mod bug;
pub mod causes;
pub mod checksummed;
pub mod clean;
pub mod cli;
pub mod cmd;
pub mod damage;
pub mod db;
pub mod disk_full;
pub mod env;
pub mod exit;
pub mod extract;
pub mod failpoint;
pub mod fixtures;
pub mod key;
pub mod load;
pub mod logging;
pub mod manifest;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod mysql_db;
pub mod pem;
pub mod pipeline;
pub mod progress;
pub mod record;
pub mod report;
pub mod rundir;
pub mod secret;
pub mod settings;
pub mod sort;
pub mod stop;
pub mod table;
