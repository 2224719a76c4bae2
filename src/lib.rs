//! vendor-match: match Friendly Vendor's users with ours and load both, with
//! each platform's active status, into a PostgreSQL warehouse table.
//!
//! The pipeline is staged around an on-disk external sort: `extract` spills
//! both sources to sorted runs under a memory budget, `match` k-way merges
//! and merge-joins them, `load` COPYs the result into the warehouse. See
//! `SPEC.md` and the README.
#![warn(missing_docs)]

pub mod activity;
pub mod cli;
pub mod cmd;
pub mod db;
pub mod env;
pub mod exit;
pub mod extract;
pub mod failpoint;
pub mod fixtures;
pub mod key;
pub mod load;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod progress;
pub mod record;
pub mod report;
pub mod run;
pub mod secret;
pub mod settings;
pub mod sort;
