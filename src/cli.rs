//! Command-line types (clap derive): raw strings and numbers only; `settings` validates them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::env;
use crate::fixtures::{GenerateArgs, ServeArgs};

/// Match Friendly Vendor's users with ours and load both, with each
/// platform's active status, into a PostgreSQL warehouse table.
///
/// The pipeline has three stages, each resumable: `extract` (page through the
/// vendor API and stream our users out of PostgreSQL into sorted files on disk),
/// `match` (merge-join both sides by a normalized name key), and `load`
/// (COPY the rows into the warehouse, replacing that report date atomically),
/// followed by `report`. Every option can also be set by the environment
/// variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "vendor-match", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every stage: extract, match, load, then print the report.
    ///
    /// Creates <work-dir>/<run-id>/ and runs every stage. If a stage fails,
    /// the run can be continued with `vendor-match resume`, or with the same
    /// `run --run-id ID` command (what a scheduler's retry does).
    Run(RunArgs),
    /// Stage 1 of a run: fetch every vendor page and stream our users out of
    /// PostgreSQL into sorted files on disk under <work-dir>/<run-id>/extract.
    ///
    /// Memory stays within --memory-budget whatever the input size. Creates a
    /// new run when the work dir has none (or --new is given); otherwise redoes
    /// the extract stage of the latest run (or --run-id).
    Extract(StageArgs),
    /// Stage 2 of a run: merge the sorted files of both sides and join them by
    /// key, writing one row per source record to <run-id>/match/rows-*.pgcopy.
    #[command(name = "match")]
    Match(StageArgs),
    /// Stage 3 of a run: COPY the matched rows into the warehouse table,
    /// replacing every row of the report date at once (readers see the old
    /// rows or the new ones, never a mix).
    Load(StageArgs),
    /// Print the report of a run and write it to --output.
    Report(StageArgs),
    /// Continue a failed or interrupted run from its first unfinished stage.
    ///
    /// Completed stages are not redone. Connection URLs are read again from the
    /// flags or environment; every other setting comes from the run's manifest.
    Resume(StageArgs),
    /// Show each stage's state, counts and times for a run.
    Status(StatusArgs),
    /// Synthetic data for demos, tests and benchmarks.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Print a run's intermediate file as CSV: a sorted run of extract
    /// (extract/*.spill) or a row segment of match (match/rows-*.pgcopy).
    ///
    /// The first line names the fields; NULL is an empty field. The file's
    /// kind is told by its first bytes. The file is checked as it is read
    /// (its own checksum and, when the run's manifest lists it, the length
    /// and CRC recorded there); if it is damaged, the rows read before the
    /// damage are printed, then one `error:` line names the file and what is
    /// wrong (exit 1). Reads the file and its run's manifest; connects to
    /// nothing.
    Inspect(InspectArgs),
    /// List the runs of the work dir, newest first: id, report date, state,
    /// age and size on disk.
    ///
    /// The state is running (a process holds the run now), completed,
    /// failed or interrupted (`vendor-match resume` continues those two),
    /// or unreadable (its manifest can't be read). Reads only.
    Runs(RunsArgs),
    /// Remove old runs' directories from the work dir to free disk space.
    ///
    /// --keep N keeps the N newest runs (by creation time) and removes the
    /// rest; --older-than DAYS removes runs created more than DAYS days ago.
    /// Given both, a run is removed only when both select it (older than
    /// DAYS and not among the N newest). A run a process is working on is
    /// never removed: it is skipped with a line saying so. Only run
    /// directories (holding a manifest.json) are removed; a removed run can't
    /// be resumed or reported again. Prints one line per run removed and the
    /// bytes freed.
    Gc(GcArgs),
    /// Print the shell completion script for SHELL on stdout.
    ///
    /// E.g. `vendor-match completions bash > ~/.local/share/bash-completion/completions/vendor-match`
    /// (see the README for zsh and fish).
    Completions(CompletionsArgs),
    /// Print the manual page (roff) of vendor-match on stdout, or write one
    /// page per command into --out DIR.
    ///
    /// E.g. `vendor-match man | man -l -`, or `vendor-match man --out ~/.local/share/man/man1`.
    Man(ManArgs),
}

/// `fixtures generate | serve`.
#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Write deterministic synthetic data: our tables ("user", user_practice)
    /// into the --source-url database and vendor pages as JSON files in
    /// --out-dir, plus expected.json with the planted counts.
    ///
    /// DROPS and recreates both tables in that database, and deletes old
    /// page-*.json files in --out-dir. Tables it did not make itself (it
    /// marks its own with a comment) are left alone and the command fails
    /// with exit 2 before writing anything, unless --force is given. The
    /// default size mirrors the real vendor: 152 pages (151,677 entries) and
    /// 1,000,000 of our users.
    Generate(GenerateCommandArgs),
    /// Serve generated vendor pages as the vendor API on a local port, with
    /// knobs for latency and injected faults. Runs until stopped.
    ///
    /// `GET /_stats` returns {"requests": N, "max_in_flight": M} of page requests; `?reset=1` also zeroes them.
    Serve(ServeArgs),
}

/// Arguments of `fixtures generate`.
#[derive(Debug, Args)]
pub struct GenerateCommandArgs {
    /// Database to write our synthetic tables into: PostgreSQL
    /// (postgres://), or MySQL / MariaDB (mysql://, mariadb://; the server
    /// must allow LOAD DATA LOCAL INFILE). Tables an earlier fixtures
    /// generate made are dropped; others only with --force.
    #[arg(long, visible_alias = "target", env = env::SOURCE_DATABASE_URL, hide_env_values = true, value_name = "URL")]
    pub source_url: Option<String>,
    /// What to generate.
    #[command(flatten)]
    pub generate: GenerateArgs,
}

/// Options shared by every pipeline command.
#[derive(Debug, Clone, Args)]
pub struct SharedArgs {
    /// Vendor API endpoint, version included, e.g. https://vendor.example/v1/users.
    /// Pages are requested as <URL>?page=N.
    #[arg(long, env = env::VENDOR_API_URL, hide_env_values = true, value_name = "URL")]
    pub vendor_url: Option<String>,
    /// Extra CA certificate(s) (PEM) to trust for an https --vendor-url, on
    /// top of the system's roots. Read and checked before anything runs.
    #[arg(long, env = "VENDOR_MATCH_VENDOR_CA_FILE", value_name = "PEM")]
    pub vendor_ca_file: Option<PathBuf>,
    /// Our users' database (tables "user" and user_practice): PostgreSQL
    /// (postgres://) or MySQL / MariaDB (mysql://, mariadb://).
    /// TLS: add ?sslmode=require for PostgreSQL, ?ssl-mode=REQUIRED for MySQL
    /// (verified; &sslrootcert=<PEM> or &ssl-ca=<PEM> for a private CA).
    /// Other parameters (connect_timeout, application_name, options, ...) go
    /// to the driver as written; an unknown one is refused before anything runs.
    #[arg(long, env = env::SOURCE_DATABASE_URL, hide_env_values = true, value_name = "URL")]
    pub source_url: Option<String>,
    /// Warehouse PostgreSQL database that receives the rows, or a Citus coordinator (the table it
    /// creates there is distributed by user_key). TLS as for a PostgreSQL --source-url.
    #[arg(long, env = env::WAREHOUSE_DATABASE_URL, hide_env_values = true, value_name = "URL")]
    pub warehouse_url: Option<String>,
    /// Warehouse table, optionally schema-qualified [default: public.platform_user_activity]
    #[arg(long, env = "VENDOR_MATCH_WAREHOUSE_TABLE", value_name = "[SCHEMA.]TABLE")]
    pub warehouse_table: Option<String>,
    /// Directory holding one sub-directory per run.
    #[arg(long, env = "VENDOR_MATCH_WORK_DIR", default_value = "work", value_name = "DIR")]
    pub work_dir: PathBuf,
    /// The report date, "today" for the active rule (YYYY-MM-DD, from
    /// 0001-01-01 to 9999-12-31) [default: 2017-02-02]
    #[arg(long, env = "VENDOR_MATCH_REPORT_DATE", value_name = "DATE")]
    pub report_date: Option<String>,
    /// A user is active when last active within this many days before the
    /// report date, inclusive [default: 30]
    #[arg(long, env = "VENDOR_MATCH_ACTIVE_DAYS", value_name = "DAYS")]
    pub active_days: Option<u32>,
    /// Bytes of records held in memory for sorting, e.g. 64MiB, 512KiB, 1GiB [default: 64MiB]
    #[arg(long, env = "VENDOR_MATCH_MEMORY_BUDGET", value_name = "SIZE")]
    pub memory_budget: Option<String>,
    /// Vendor page requests in flight at once [default: 8]
    #[arg(long, env = "VENDOR_MATCH_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<u32>,
    /// Retries of a failing vendor page before the run fails [default: 5]
    #[arg(long, env = "VENDOR_MATCH_MAX_RETRIES", value_name = "N")]
    pub max_retries: Option<u32>,
    /// First retry delay in milliseconds; doubles each retry, with jitter, up
    /// to 30 s. A 429's Retry-After wins when given [default: 500]
    #[arg(long, env = "VENDOR_MATCH_RETRY_DELAY_MS", value_name = "MS")]
    pub retry_delay_ms: Option<u64>,
    /// Seconds before a vendor request is abandoned and retried [default: 30]
    #[arg(long, env = "VENDOR_MATCH_REQUEST_TIMEOUT", value_name = "SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Key fields to match on, comma separated, from: lastname, firstname,
    /// specialty, location [default: lastname,firstname,specialty,location]
    #[arg(long, env = "VENDOR_MATCH_MATCH_ON", value_name = "FIELDS")]
    pub match_on: Option<String>,
    /// A vendor `total_pages` above this is taken for a vendor bug and fails
    /// the run instead of being paged through [default: 1000000]
    #[arg(long, env = "VENDOR_MATCH_MAX_PAGES", value_name = "N")]
    pub max_pages: Option<u32>,
    /// Warehouse sessions that COPY rows into a new report-date partition at
    /// the same time (a plain table is loaded over one session) [default: 2]
    #[arg(long, env = "VENDOR_MATCH_LOAD_SESSIONS", value_name = "N")]
    pub load_sessions: Option<u32>,
    /// The run fails when rejected records exceed this fraction of a source [default: 0.01]
    #[arg(long, env = "VENDOR_MATCH_MAX_REJECT_RATIO", value_name = "RATIO")]
    pub max_reject_ratio: Option<f64>,
    /// Where the report is written (it is also printed on stdout).
    #[arg(long, env = "VENDOR_MATCH_OUTPUT", default_value = "output.txt", value_name = "FILE")]
    pub output: PathBuf,
    /// No progress bars.
    #[arg(long, short, env = "VENDOR_MATCH_QUIET")]
    pub quiet: bool,
}

/// Options of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Name of the run (letters, digits, `-`, `_`, `.`), e.g. the schedule's
    /// date. Given again, the same command is safe to retry: an unfinished run
    /// is continued, a finished one prints its report and loads nothing
    /// [default: a new run named by its UTC start time and a random suffix]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,
    /// At the end, print the run's status as one JSON document (as `status
    /// --json`) instead of the report (which is still written to --output).
    #[arg(long)]
    pub json: bool,
    /// Keep the run's intermediate files (sorted runs, row segments) after
    /// the stage that reads them is done [default: removed once consumed].
    #[arg(long)]
    pub keep_intermediate: bool,
    /// Settings, connections and paths.
    #[command(flatten)]
    pub shared: SharedArgs,
}

/// Options of the commands that act on an existing run.
#[derive(Debug, Clone, Args)]
pub struct StageArgs {
    /// The run to act on [default: the latest run in the work dir]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,
    /// (extract only) start a new run, named --run-id if given, even when the work dir has runs.
    #[arg(long)]
    pub new: bool,
    /// Keep the run's intermediate files (sorted runs, row segments) after
    /// the stage that reads them is done [default: removed once consumed].
    #[arg(long)]
    pub keep_intermediate: bool,
    /// Settings, connections and paths.
    #[command(flatten)]
    pub shared: SharedArgs,
}

/// Options of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The run to show [default: the latest run in the work dir]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,
    /// Directory holding one sub-directory per run.
    #[arg(long, env = "VENDOR_MATCH_WORK_DIR", default_value = "work", value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Print the status as one JSON document (layout: docs/status.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Exit 1 unless the run completed (for a scheduler's sensor).
    #[arg(long)]
    pub check: bool,
}

/// Options of `inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// The file: <work-dir>/<run-id>/extract/*.spill or <work-dir>/<run-id>/match/rows-*.pgcopy.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
}

/// Options of `runs`.
#[derive(Debug, Clone, Args)]
pub struct RunsArgs {
    /// Directory holding one sub-directory per run.
    #[arg(long, env = "VENDOR_MATCH_WORK_DIR", default_value = "work", value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Print the list as one JSON document (sizes in bytes, ages in seconds).
    #[arg(long)]
    pub json: bool,
}

/// Options of `gc`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct GcArgs {
    /// Keep the N newest runs, remove the older ones.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Remove runs created more than DAYS days ago.
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u32>,
    /// Directory holding one sub-directory per run.
    #[arg(long, env = "VENDOR_MATCH_WORK_DIR", default_value = "work", value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Print what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of `completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Options of `man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write vendor-match.1 and one page per command (vendor-match-run.1, ...)
    /// into this directory instead of printing the top page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}
