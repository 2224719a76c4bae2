//! Command-line types (clap derive): raw strings and numbers only; `settings` validates them.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

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
#[command(name = "vendor-match", version = VERSION, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Log detail and format, for every command.
    #[command(flatten)]
    pub logging: Logging,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What `--version` prints after the name: the version and the git commit built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("VENDOR_MATCH_COMMIT"), ")");

/// How much is logged, and how: options of every command, given before or after it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct Logging {
    /// More log detail: -v adds debug lines, -vv trace lines.
    #[arg(long, short, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Less output: -q hides the progress bars and logs warnings and errors
    /// only; -qq errors only.
    #[arg(long, short, global = true, action = ArgAction::Count, env = "VENDOR_MATCH_QUIET", value_parser = quiet_level)]
    pub quiet: u8,
    /// Log lines as text for a person, or as JSON (one object a line) for a log collector.
    #[arg(
        long = "log-format",
        global = true,
        env = "VENDOR_MATCH_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "FORMAT"
    )]
    pub format: LogFormat,
}

/// The form of log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// A `--quiet` level: the count clap makes of `-q`s, or VENDOR_MATCH_QUIET as a
/// number or a yes/no word (`true`, `1`, `yes`, `on`; `false`, `0`, `no`, `off`).
fn quiet_level(raw: &str) -> Result<u8, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "off" | "n" | "f" => Ok(0),
        "true" | "yes" | "on" | "y" | "t" => Ok(1),
        number => number.parse().map_err(|_| format!("`{raw}` is not a number of -q or a yes/no word")),
    }
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
    /// new run when the work dir has none (or --new is given), recording every
    /// setting given for the stages after it; otherwise redoes the extract
    /// stage of the latest run (or --run-id).
    Extract(ExtractArgs),
    /// Stage 2 of a run: merge the sorted files of both sides and join them by
    /// key, writing one row per source record to <run-id>/match/rows-*.pgcopy.
    #[command(name = "match")]
    Match(MatchArgs),
    /// Stage 3 of a run: COPY the matched rows into the warehouse table,
    /// replacing every row of the report date at once (readers see the old
    /// rows or the new ones, never a mix).
    Load(LoadArgs),
    /// Print the report of a run and write it to --output.
    Report(ReportArgs),
    /// Continue a failed or interrupted run from its first unfinished stage.
    ///
    /// Completed stages are not redone. Connection URLs are read again from the
    /// flags or environment; every other setting comes from the run's manifest.
    Resume(ResumeArgs),
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

/// The default of `--output`.
pub const DEFAULT_OUTPUT: &str = "output.txt";

/// The vendor API (`extract`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connections")]
pub struct VendorArgs {
    /// Vendor API endpoint, version included, e.g. https://vendor.example/v1/users.
    /// Pages are requested as <URL>?page=N.
    #[arg(long, env = env::VENDOR_API_URL, hide_env_values = true, value_name = "URL")]
    pub vendor_url: Option<String>,
    /// Extra CA certificate(s) (PEM) to trust for an https --vendor-url, on
    /// top of the system's roots. Read and checked before anything runs.
    #[arg(long, env = "VENDOR_MATCH_VENDOR_CA_FILE", value_name = "PEM")]
    pub vendor_ca_file: Option<PathBuf>,
}

/// Our users' database (`extract`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connections")]
pub struct SourceArgs {
    /// Our users' database (tables "user" and user_practice): PostgreSQL
    /// (postgres://) or MySQL / MariaDB (mysql://, mariadb://).
    /// TLS: add ?sslmode=require for PostgreSQL, ?ssl-mode=REQUIRED for MySQL
    /// (verified; &sslrootcert=<PEM> or &ssl-ca=<PEM> for a private CA).
    /// Other parameters (connect_timeout, application_name, options, ...) go
    /// to the driver as written; an unknown one is refused before anything runs.
    #[arg(long, env = env::SOURCE_DATABASE_URL, hide_env_values = true, value_name = "URL")]
    pub source_url: Option<String>,
}

/// The warehouse (`load`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connections")]
pub struct WarehouseArgs {
    /// Warehouse PostgreSQL database that receives the rows, or a Citus coordinator (the table it
    /// creates there is distributed by user_key). TLS as for a PostgreSQL --source-url.
    #[arg(long, env = env::WAREHOUSE_DATABASE_URL, hide_env_values = true, value_name = "URL")]
    pub warehouse_url: Option<String>,
}

/// The settings that define a run's result: recorded when the run is made;
/// given again to an existing run, they must match (exit 2 otherwise).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Settings")]
pub struct DefiningArgs {
    /// The report date, "today" for the active rule (YYYY-MM-DD, from
    /// 0001-01-01 to 9999-12-31); defines the run: an existing run refuses
    /// another value [default: 2017-02-02]
    #[arg(long, env = "VENDOR_MATCH_REPORT_DATE", value_name = "DATE")]
    pub report_date: Option<String>,
    /// A user is active when last active within this many days before the
    /// report date, inclusive; defines the run: an existing run refuses
    /// another value [default: 30]
    #[arg(long, env = "VENDOR_MATCH_ACTIVE_DAYS", value_name = "DAYS")]
    pub active_days: Option<u32>,
    /// Key fields to match on, comma separated, from: lastname, firstname,
    /// specialty, location; defines the run: an existing run refuses another
    /// value [default: lastname,firstname,specialty,location]
    #[arg(long, env = "VENDOR_MATCH_MATCH_ON", value_name = "FIELDS")]
    pub match_on: Option<String>,
}

/// The sorters' memory (`extract`, `match`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Settings")]
pub struct BudgetArgs {
    /// Bytes of records held in memory for sorting, e.g. 64MiB, 512KiB, 1GiB [default: 64MiB]
    #[arg(long, env = "VENDOR_MATCH_MEMORY_BUDGET", value_name = "SIZE")]
    pub memory_budget: Option<String>,
}

/// How the extract fetches and what it tolerates.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Settings")]
pub struct ExtractSettingsArgs {
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
    /// A vendor `total_pages` above this is taken for a vendor bug and fails
    /// the run instead of being paged through [default: 1000000]
    #[arg(long, env = "VENDOR_MATCH_MAX_PAGES", value_name = "N")]
    pub max_pages: Option<u32>,
    /// The run fails when rejected records exceed this fraction of a source [default: 0.01]
    #[arg(long, env = "VENDOR_MATCH_MAX_REJECT_RATIO", value_name = "RATIO")]
    pub max_reject_ratio: Option<f64>,
}

/// Where and how the load writes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Settings")]
pub struct LoadSettingsArgs {
    /// Warehouse table, optionally schema-qualified [default: public.platform_user_activity]
    #[arg(long, env = "VENDOR_MATCH_WAREHOUSE_TABLE", value_name = "[SCHEMA.]TABLE")]
    pub warehouse_table: Option<String>,
    /// Warehouse sessions that COPY rows into a new report-date partition at
    /// the same time (a plain table is loaded over one session) [default: 2]
    #[arg(long, env = "VENDOR_MATCH_LOAD_SESSIONS", value_name = "N")]
    pub load_sessions: Option<u32>,
}

/// Every run setting: what a command that makes a run, or may run every stage, takes.
#[derive(Debug, Clone, Args)]
pub struct AllSettingsArgs {
    /// Settings that define the result.
    #[command(flatten)]
    pub defining: DefiningArgs,
    /// Sorting memory.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Extract settings.
    #[command(flatten)]
    pub extract: ExtractSettingsArgs,
    /// Load settings.
    #[command(flatten)]
    pub load: LoadSettingsArgs,
}

/// The directory of runs.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Run")]
pub struct WorkDirArgs {
    /// Directory holding one sub-directory per run.
    #[arg(long, env = "VENDOR_MATCH_WORK_DIR", default_value = "work", value_name = "DIR")]
    pub work_dir: PathBuf,
}

/// Whether a run keeps the files its stages have consumed.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Run")]
pub struct KeepArgs {
    /// Keep the sorted run files once match has consumed them, and the row
    /// segments once load has committed them (for `inspect` or debugging),
    /// instead of removing them.
    #[arg(long)]
    pub keep_intermediate: bool,
}

/// Where the report goes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Where the report is written (it is also printed on stdout), with its
    /// HTML page beside it.
    #[arg(long, env = "VENDOR_MATCH_OUTPUT", default_value = DEFAULT_OUTPUT, value_name = "FILE")]
    pub output: PathBuf,
}

/// Options of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The vendor API.
    #[command(flatten)]
    pub vendor: VendorArgs,
    /// Our users' database.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The warehouse.
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Every run setting.
    #[command(flatten)]
    pub settings: AllSettingsArgs,
    /// The directory of runs.
    #[command(flatten)]
    pub work_dir: WorkDirArgs,
    /// Name of the run (letters, digits, `-`, `_`, `.`), e.g. the schedule's
    /// date. Given again, the same command is safe to retry: an unfinished run
    /// is continued, a finished one prints its report and loads nothing
    /// [default: a new run named by its UTC start time and a random suffix]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID", help_heading = "Run")]
    pub run_id: Option<String>,
    /// Keeping consumed files.
    #[command(flatten)]
    pub keep: KeepArgs,
    /// The report file.
    #[command(flatten)]
    pub output: OutputArgs,
    /// At the end, print the run's status as one JSON document on one line
    /// (as `status --json`) instead of the report (which is still written to
    /// --output).
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// Options of `resume`.
#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The vendor API.
    #[command(flatten)]
    pub vendor: VendorArgs,
    /// Our users' database.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The warehouse.
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Every run setting.
    #[command(flatten)]
    pub settings: AllSettingsArgs,
    /// The directory of runs.
    #[command(flatten)]
    pub work_dir: WorkDirArgs,
    /// The run to continue [default: the latest run in the work dir]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID", help_heading = "Run")]
    pub run_id: Option<String>,
    /// Keeping consumed files.
    #[command(flatten)]
    pub keep: KeepArgs,
    /// The report file.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `extract`.
#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// The vendor API.
    #[command(flatten)]
    pub vendor: VendorArgs,
    /// Our users' database.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Every run setting (a new run records them for the later stages).
    #[command(flatten)]
    pub settings: AllSettingsArgs,
    /// The directory of runs.
    #[command(flatten)]
    pub work_dir: WorkDirArgs,
    /// The run to redo the extract of [default: the latest run in the work
    /// dir]; with --new, the name of the new run
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID", help_heading = "Run")]
    pub run_id: Option<String>,
    /// Start a new run, named --run-id if given, even when the work dir has runs.
    #[arg(long, help_heading = "Run")]
    pub new: bool,
}

/// Options of `match`.
#[derive(Debug, Clone, Args)]
pub struct MatchArgs {
    /// Checked against the run.
    #[command(flatten)]
    pub defining: DefiningArgs,
    /// Sorting memory.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// The directory of runs.
    #[command(flatten)]
    pub work_dir: WorkDirArgs,
    /// The run to act on [default: the latest run in the work dir]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID", help_heading = "Run")]
    pub run_id: Option<String>,
    /// Keeping consumed files.
    #[command(flatten)]
    pub keep: KeepArgs,
}

/// Options of `load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The warehouse.
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Checked against the run.
    #[command(flatten)]
    pub defining: DefiningArgs,
    /// Load settings.
    #[command(flatten)]
    pub load: LoadSettingsArgs,
    /// The directory of runs.
    #[command(flatten)]
    pub work_dir: WorkDirArgs,
    /// The run to act on [default: the latest run in the work dir]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID", help_heading = "Run")]
    pub run_id: Option<String>,
    /// Keeping consumed files.
    #[command(flatten)]
    pub keep: KeepArgs,
}

/// Options of `report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Checked against the run.
    #[command(flatten)]
    pub defining: DefiningArgs,
    /// The directory of runs.
    #[command(flatten)]
    pub work_dir: WorkDirArgs,
    /// The run to act on [default: the latest run in the work dir]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID", help_heading = "Run")]
    pub run_id: Option<String>,
    /// The report file.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Directory holding one sub-directory per run.
    #[arg(long, env = "VENDOR_MATCH_WORK_DIR", default_value = "work", value_name = "DIR", help_heading = "Run")]
    pub work_dir: PathBuf,
    /// The run to show [default: the latest run in the work dir]
    #[arg(long, env = "VENDOR_MATCH_RUN_ID", value_name = "ID", help_heading = "Run")]
    pub run_id: Option<String>,
    /// Print the manifest's view as one JSON document.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Exit non-zero unless the run completed (for a scheduler's check).
    #[arg(long, help_heading = "Output")]
    pub check: bool,
}

/// Every pipeline option as a command was given it, one shape for all
/// commands (what `settings` validates): `None` (or the default) where the
/// command has no such option.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--vendor-url`.
    pub vendor_url: Option<String>,
    /// `--vendor-ca-file`.
    pub vendor_ca_file: Option<PathBuf>,
    /// `--source-url`.
    pub source_url: Option<String>,
    /// `--warehouse-url`.
    pub warehouse_url: Option<String>,
    /// `--warehouse-table`.
    pub warehouse_table: Option<String>,
    /// `--work-dir`.
    pub work_dir: PathBuf,
    /// `--report-date`.
    pub report_date: Option<String>,
    /// `--active-days`.
    pub active_days: Option<u32>,
    /// `--memory-budget`.
    pub memory_budget: Option<String>,
    /// `--concurrency`.
    pub concurrency: Option<u32>,
    /// `--max-retries`.
    pub max_retries: Option<u32>,
    /// `--retry-delay-ms`.
    pub retry_delay_ms: Option<u64>,
    /// `--request-timeout-secs`.
    pub request_timeout_secs: Option<u64>,
    /// `--match-on`.
    pub match_on: Option<String>,
    /// `--max-pages`.
    pub max_pages: Option<u32>,
    /// `--load-sessions`.
    pub load_sessions: Option<u32>,
    /// `--max-reject-ratio`.
    pub max_reject_ratio: Option<f64>,
    /// `--output` ([`DEFAULT_OUTPUT`] for a command that writes no report).
    pub output: PathBuf,
    /// `--keep-intermediate`.
    pub keep_intermediate: bool,
}

impl Options {
    fn new(work_dir: &WorkDirArgs) -> Options {
        Options { work_dir: work_dir.work_dir.clone(), output: PathBuf::from(DEFAULT_OUTPUT), ..Options::default() }
    }

    fn vendor(self, args: &VendorArgs) -> Options {
        Options { vendor_url: args.vendor_url.clone(), vendor_ca_file: args.vendor_ca_file.clone(), ..self }
    }

    fn source(self, args: &SourceArgs) -> Options {
        Options { source_url: args.source_url.clone(), ..self }
    }

    fn warehouse(self, args: &WarehouseArgs) -> Options {
        Options { warehouse_url: args.warehouse_url.clone(), ..self }
    }

    fn defining(self, args: &DefiningArgs) -> Options {
        Options {
            report_date: args.report_date.clone(),
            active_days: args.active_days,
            match_on: args.match_on.clone(),
            ..self
        }
    }

    fn budget(self, args: &BudgetArgs) -> Options {
        Options { memory_budget: args.memory_budget.clone(), ..self }
    }

    fn extract(self, args: &ExtractSettingsArgs) -> Options {
        Options {
            concurrency: args.concurrency,
            max_retries: args.max_retries,
            retry_delay_ms: args.retry_delay_ms,
            request_timeout_secs: args.request_timeout_secs,
            max_pages: args.max_pages,
            max_reject_ratio: args.max_reject_ratio,
            ..self
        }
    }

    fn load(self, args: &LoadSettingsArgs) -> Options {
        Options { warehouse_table: args.warehouse_table.clone(), load_sessions: args.load_sessions, ..self }
    }

    fn settings(self, args: &AllSettingsArgs) -> Options {
        self.defining(&args.defining).budget(&args.budget).extract(&args.extract).load(&args.load)
    }

    fn keep(self, args: &KeepArgs) -> Options {
        Options { keep_intermediate: args.keep_intermediate, ..self }
    }

    fn output(self, args: &OutputArgs) -> Options {
        Options { output: args.output.clone(), ..self }
    }
}

impl RunArgs {
    /// The options given, in the shape `settings` reads.
    pub fn options(&self) -> Options {
        Options::new(&self.work_dir)
            .vendor(&self.vendor)
            .source(&self.source)
            .warehouse(&self.warehouse)
            .settings(&self.settings)
            .keep(&self.keep)
            .output(&self.output)
    }
}

impl ResumeArgs {
    /// The options given, in the shape `settings` reads.
    pub fn options(&self) -> Options {
        Options::new(&self.work_dir)
            .vendor(&self.vendor)
            .source(&self.source)
            .warehouse(&self.warehouse)
            .settings(&self.settings)
            .keep(&self.keep)
            .output(&self.output)
    }
}

impl ExtractArgs {
    /// The options given, in the shape `settings` reads.
    pub fn options(&self) -> Options {
        Options::new(&self.work_dir).vendor(&self.vendor).source(&self.source).settings(&self.settings)
    }
}

impl MatchArgs {
    /// The options given, in the shape `settings` reads.
    pub fn options(&self) -> Options {
        Options::new(&self.work_dir).defining(&self.defining).budget(&self.budget).keep(&self.keep)
    }
}

impl LoadArgs {
    /// The options given, in the shape `settings` reads.
    pub fn options(&self) -> Options {
        Options::new(&self.work_dir)
            .warehouse(&self.warehouse)
            .defining(&self.defining)
            .load(&self.load)
            .keep(&self.keep)
    }
}

impl ReportArgs {
    /// The options given, in the shape `settings` reads.
    pub fn options(&self) -> Options {
        Options::new(&self.work_dir).defining(&self.defining).output(&self.output)
    }
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
