//! Raw CLI arguments -> validated settings: sizes, dates, URLs and match fields.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::budget::MemoryBudget;
use crate::cli::Options;
use crate::db::{self, ConnectCause};
use crate::fixtures::FixtureError;
use crate::key::KeyField;
use crate::model::Stage;
use crate::mysql_db;
use crate::pem::{self, PemError};
use crate::secret::{SecretUrl, SecretUrlError};
use crate::table::TableName;

/// A usage or configuration error: the process exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A size like `64MiB` that does not parse.
    #[error("invalid size `{input}` for --{flag}: {reason} (use a number with an optional suffix B, KiB, MiB, GiB, KB, MB or GB, e.g. 64MiB)")]
    Size {
        /// The option.
        flag: &'static str,
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A date that is not YYYY-MM-DD, or outside [`FIRST_DATE`]..=[`LAST_DATE`].
    #[error("invalid date `{input}` for --{flag}: expected YYYY-MM-DD from 0001-01-01 to 9999-12-31")]
    Date {
        /// The option.
        flag: &'static str,
        /// What was given.
        input: String,
    },
    /// A connection URL that does not parse (its text is not repeated: it may hold a password).
    #[error("invalid URL for --{flag}")]
    Url {
        /// The option.
        flag: &'static str,
        /// The parse failure.
        #[source]
        source: SecretUrlError,
    },
    /// A database URL with a setting the driver can't take (an unknown
    /// parameter, a bad value, an unusable `sslrootcert`).
    #[error("invalid connection settings in --{flag}")]
    Connection {
        /// The option.
        flag: &'static str,
        /// What the driver refused.
        #[source]
        source: ConnectCause,
    },
    /// A file of CA certificates that can't be used.
    #[error("--{flag} can't be used")]
    Certificates {
        /// The option.
        flag: &'static str,
        /// What is wrong with the file.
        #[source]
        source: PemError,
    },
    /// A required setting that was not given.
    #[error("missing --{flag} (or the {env} environment variable)")]
    Missing {
        /// The option.
        flag: &'static str,
        /// Its environment variable.
        env: &'static str,
    },
    /// Required settings that were not given, all named in one line.
    #[error("missing {}", MissingSetting::list(.0))]
    MissingAll(Vec<MissingSetting>),
    /// Any other invalid value.
    #[error("invalid value for --{flag}: {reason}")]
    Invalid {
        /// The option.
        flag: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A run-defining setting given with a different value than the run was made with.
    #[error("run {run_id} was made with --{flag} {recorded}; start a new run to use {given}")]
    Conflict {
        /// The run.
        run_id: String,
        /// The option.
        flag: &'static str,
        /// The value in the manifest.
        recorded: String,
        /// The value given now.
        given: String,
    },
    /// No run to act on.
    #[error("{0}")]
    NoRun(String),
    /// `fixtures generate` refused to replace a table it did not make.
    #[error(transparent)]
    NotOurs(FixtureError),
    /// A check made before a run found the settings unusable (an output
    /// path that can't be written, a table or privilege missing, a URL the
    /// vendor refuses); the cause says which and what to do. Shown as it.
    #[error("{0}")]
    Preflight(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// A required option that was not given, with its environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSetting {
    /// The option.
    pub flag: &'static str,
    /// Its environment variable.
    pub env: &'static str,
}

impl MissingSetting {
    /// `--a (or A), --b (or B)`.
    fn list(missing: &[MissingSetting]) -> String {
        missing.iter().map(|m| format!("--{} (or {})", m.flag, m.env)).collect::<Vec<_>>().join(", ")
    }
}

/// The settings of a run, kept in its manifest (never a secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// "Today" for the active rule.
    pub report_date: NaiveDate,
    /// Width of the active window in days.
    pub active_days: u32,
    /// Key fields, in key order.
    pub match_on: Vec<KeyField>,
    /// Warehouse table.
    pub warehouse_table: TableName,
    /// Bytes of records held in memory for sorting, and their shares.
    pub memory_budget: MemoryBudget,
    /// Vendor requests in flight.
    pub concurrency: u32,
    /// Retries per vendor page.
    pub max_retries: u32,
    /// First retry delay.
    pub retry_delay: Duration,
    /// Timeout of one vendor request.
    pub request_timeout: Duration,
    /// Reject ratio past which a source fails the run.
    pub max_reject_ratio: f64,
    /// Largest vendor `total_pages` believed.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Vendor URL, password masked (for the record; the real one is read again).
    pub vendor_url_masked: Option<String>,
    /// Warehouse sessions that COPY rows at the same time.
    #[serde(default = "default_load_sessions")]
    pub load_sessions: u32,
}

/// Connection URLs: read from flags or environment every time, never stored.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    /// Vendor API endpoint.
    pub vendor: Option<SecretUrl>,
    /// Internal database.
    pub source: Option<SecretUrl>,
    /// Warehouse database.
    pub warehouse: Option<SecretUrl>,
    /// Extra CA certificates (PEM) trusted for the vendor.
    pub vendor_ca_pem: Option<Vec<u8>>,
}

/// Everything a command needs besides the run settings.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Connection URLs.
    pub connections: Connections,
    /// Directory of runs.
    pub work_dir: PathBuf,
    /// Report file.
    pub output: PathBuf,
    /// Hide progress bars.
    pub quiet: bool,
    /// Keep the sorted runs and row segments once consumed (`--keep-intermediate`).
    pub keep_intermediate: bool,
}

const DEFAULT_REPORT_DATE: &str = "2017-02-02";
/// The first date accepted: PostgreSQL's `date` goes back to 4713 BC, but
/// YYYY-MM-DD (and the partition's `_YYYYMMDD` name) has no year 0 or before.
pub const FIRST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1, 1, 1).expect("a valid date");
/// The last date accepted: the last one with four digits of year. The
/// active rule's window, [`MAX_ACTIVE_DAYS`] at most before it, stays well
/// inside the dates the rule computes with.
pub const LAST_DATE: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date");
const DEFAULT_TABLE: &str = "public.platform_user_activity";
const DEFAULT_MAX_PAGES: u32 = 1_000_000;
const DEFAULT_LOAD_SESSIONS: u32 = 2;
/// Each session is a warehouse connection and a backend process.
const MAX_LOAD_SESSIONS: u32 = 16;
/// Each request in flight is a thread and a page buffer (see `page_body_cap`).
const MAX_CONCURRENCY: u32 = 32;
/// A century: beyond it date arithmetic could overflow, and no one means it.
const MAX_ACTIVE_DAYS: u32 = 36_500;

fn default_max_pages() -> u32 {
    DEFAULT_MAX_PAGES
}

impl Connections {
    /// The vendor URL, or a configuration error naming the flag.
    pub fn vendor(&self) -> Result<&SecretUrl, ConfigError> {
        self.vendor.as_ref().ok_or(ConfigError::Missing { flag: "vendor-url", env: crate::env::VENDOR_API_URL })
    }
    /// The source database URL, or a configuration error naming the flag.
    pub fn source(&self) -> Result<&SecretUrl, ConfigError> {
        self.source.as_ref().ok_or(ConfigError::Missing { flag: "source-url", env: crate::env::SOURCE_DATABASE_URL })
    }
    /// The warehouse URL, or a configuration error naming the flag.
    pub fn warehouse(&self) -> Result<&SecretUrl, ConfigError> {
        self.warehouse
            .as_ref()
            .ok_or(ConfigError::Missing { flag: "warehouse-url", env: crate::env::WAREHOUSE_DATABASE_URL })
    }

    /// Checks that every connection `stages` need is given (extract: the
    /// vendor and the source; load: the warehouse), naming all that are
    /// missing in one error.
    pub fn require(&self, stages: impl IntoIterator<Item = Stage>) -> Result<(), ConfigError> {
        let stages: Vec<Stage> = stages.into_iter().collect();
        let (extract, load) = (stages.contains(&Stage::Extract), stages.contains(&Stage::Load));
        let wanted = [
            (extract && self.vendor.is_none(), "vendor-url", crate::env::VENDOR_API_URL),
            (extract && self.source.is_none(), "source-url", crate::env::SOURCE_DATABASE_URL),
            (load && self.warehouse.is_none(), "warehouse-url", crate::env::WAREHOUSE_DATABASE_URL),
        ];
        let missing: Vec<MissingSetting> = wanted
            .into_iter()
            .filter(|(absent, ..)| *absent)
            .map(|(_, flag, env)| MissingSetting { flag, env })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::MissingAll(missing))
        }
    }
}

/// Parses the connection URLs and paths of `args`, and reads the vendor's
/// CA file: whatever is wrong with them fails here, before any work.
/// `quiet` hides the progress bars (`-q`).
pub fn environment(args: &Options, quiet: bool) -> Result<Environment, ConfigError> {
    let connections = Connections {
        vendor: parse_url("vendor-url", args.vendor_url.as_deref(), &["http", "https"])?,
        source: parse_source_url("source-url", args.source_url.as_deref())?,
        warehouse: parse_database_url("warehouse-url", args.warehouse_url.as_deref())?,
        vendor_ca_pem: match &args.vendor_ca_file {
            None => None,
            Some(path) => Some(
                pem::read_certificates(path)
                    .map_err(|source| ConfigError::Certificates { flag: "vendor-ca-file", source })?
                    .pem,
            ),
        },
    };
    Ok(Environment {
        connections,
        work_dir: args.work_dir.clone(),
        output: args.output.clone(),
        quiet,
        keep_intermediate: args.keep_intermediate,
    })
}

/// Parses an optional URL flag.
pub fn parse_url(flag: &'static str, raw: Option<&str>, schemes: &[&str]) -> Result<Option<SecretUrl>, ConfigError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(raw) => SecretUrl::parse(raw, schemes).map(Some).map_err(|source| ConfigError::Url { flag, source }),
    }
}

/// Parses an optional PostgreSQL URL flag, and checks that the driver takes
/// every setting in it (without connecting).
pub fn parse_database_url(flag: &'static str, raw: Option<&str>) -> Result<Option<SecretUrl>, ConfigError> {
    let url = parse_url(flag, raw, &["postgres", "postgresql"])?;
    if let Some(url) = &url {
        db::check(url).map_err(|source| ConfigError::Connection { flag, source })?;
    }
    Ok(url)
}

/// Parses an optional source database URL flag: PostgreSQL, or MySQL /
/// MariaDB (`mysql://`, `mariadb://`); checks the driver takes every setting.
pub fn parse_source_url(flag: &'static str, raw: Option<&str>) -> Result<Option<SecretUrl>, ConfigError> {
    let url = parse_url(flag, raw, &["postgres", "postgresql", "mysql", "mariadb"])?;
    if let Some(url) = &url {
        let checked = if mysql_db::is_mysql(url) { mysql_db::check(url) } else { db::check(url) };
        checked.map_err(|source| ConfigError::Connection { flag, source })?;
    }
    Ok(url)
}

/// Settings for a new run: every option not given takes its default.
pub fn new_run_settings(args: &Options, env: &Environment) -> Result<RunSettings, ConfigError> {
    Ok(RunSettings {
        report_date: parse_date("report-date", args.report_date.as_deref().unwrap_or(DEFAULT_REPORT_DATE))?,
        active_days: at_most("active-days", args.active_days.unwrap_or(30), MAX_ACTIVE_DAYS)?,
        match_on: parse_match_on(args.match_on.as_deref().unwrap_or("lastname,firstname,specialty,location"))?,
        warehouse_table: parse_table(args.warehouse_table.as_deref().unwrap_or(DEFAULT_TABLE))?,
        memory_budget: parse_budget(args.memory_budget.as_deref().unwrap_or("64MiB"))?,
        concurrency: at_most("concurrency", positive("concurrency", args.concurrency.unwrap_or(8))?, MAX_CONCURRENCY)?,
        max_retries: args.max_retries.unwrap_or(5),
        retry_delay: retry_delay(args.retry_delay_ms.unwrap_or(500))?,
        request_timeout: request_timeout(args.request_timeout_secs.unwrap_or(30))?,
        max_reject_ratio: parse_ratio(args.max_reject_ratio.unwrap_or(0.01))?,
        max_pages: positive("max-pages", args.max_pages.unwrap_or(DEFAULT_MAX_PAGES))?,
        vendor_url_masked: env.connections.vendor.as_ref().map(SecretUrl::masked),
        load_sessions: load_sessions(args.load_sessions.unwrap_or(DEFAULT_LOAD_SESSIONS))?,
    })
}

fn default_load_sessions() -> u32 {
    DEFAULT_LOAD_SESSIONS
}

fn load_sessions(n: u32) -> Result<u32, ConfigError> {
    at_most("load-sessions", positive("load-sessions", n)?, MAX_LOAD_SESSIONS)
}

/// Settings for an existing run: the manifest's, with operational options
/// overridden when given. Options that define the run's result must match.
pub fn resumed_run_settings(run_id: &str, recorded: &RunSettings, args: &Options) -> Result<RunSettings, ConfigError> {
    let mut settings = recorded.clone();
    let conflict = |flag: &'static str, recorded: String, given: String| ConfigError::Conflict {
        run_id: run_id.to_string(),
        flag,
        recorded,
        given,
    };
    if let Some(raw) = args.report_date.as_deref() {
        let given = parse_date("report-date", raw)?;
        if given != recorded.report_date {
            return Err(conflict("report-date", recorded.report_date.to_string(), given.to_string()));
        }
    }
    if let Some(given) = args.active_days.filter(|d| *d != recorded.active_days) {
        return Err(conflict("active-days", recorded.active_days.to_string(), given.to_string()));
    }
    if let Some(raw) = args.match_on.as_deref() {
        let given = parse_match_on(raw)?;
        if given != recorded.match_on {
            return Err(conflict("match-on", KeyField::list(&recorded.match_on), KeyField::list(&given)));
        }
    }
    if let Some(raw) = args.warehouse_table.as_deref() {
        settings.warehouse_table = parse_table(raw)?;
    }
    if let Some(raw) = args.memory_budget.as_deref() {
        settings.memory_budget = parse_budget(raw)?;
    }
    if let Some(n) = args.concurrency {
        settings.concurrency = at_most("concurrency", positive("concurrency", n)?, MAX_CONCURRENCY)?;
    }
    if let Some(n) = args.max_retries {
        settings.max_retries = n;
    }
    if let Some(ms) = args.retry_delay_ms {
        settings.retry_delay = retry_delay(ms)?;
    }
    if let Some(secs) = args.request_timeout_secs {
        settings.request_timeout = request_timeout(secs)?;
    }
    if let Some(n) = args.max_pages {
        settings.max_pages = positive("max-pages", n)?;
    }
    if let Some(n) = args.load_sessions {
        settings.load_sessions = load_sessions(n)?;
    }
    if let Some(ratio) = args.max_reject_ratio {
        settings.max_reject_ratio = parse_ratio(ratio)?;
    }
    Ok(settings)
}

fn parse_budget(raw: &str) -> Result<MemoryBudget, ConfigError> {
    let error = |reason| ConfigError::Size { flag: "memory-budget", input: raw.to_string(), reason };
    let bytes = parse_size(raw).map_err(error)?;
    MemoryBudget::new(bytes).ok_or_else(|| error("must be at least 64KiB"))
}

/// Parses a human-readable size: `64MiB`, `512 KiB`, `1GB`, `1000` (bytes).
/// Binary suffixes (KiB, MiB, GiB, and the short K, M, G) are powers of 1024;
/// KB, MB, GB are powers of 1000.
pub fn parse_size(raw: &str) -> Result<u64, &'static str> {
    let text = raw.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() {
        return Err("no number");
    }
    let number: f64 = number.parse().map_err(|_| "not a number")?;
    let multiplier: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err("unknown suffix"),
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err("too large");
    }
    Ok(bytes as u64)
}

/// Parses a YYYY-MM-DD date from [`FIRST_DATE`] to [`LAST_DATE`].
pub fn parse_date(flag: &'static str, raw: &str) -> Result<NaiveDate, ConfigError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()
        .filter(|date| (FIRST_DATE..=LAST_DATE).contains(date))
        .ok_or_else(|| ConfigError::Date { flag, input: raw.to_string() })
}

/// Parses `--match-on`: a comma-separated, non-empty list of distinct key fields.
pub fn parse_match_on(raw: &str) -> Result<Vec<KeyField>, ConfigError> {
    let mut fields = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let field = KeyField::from_name(name).ok_or_else(|| ConfigError::Invalid {
            flag: "match-on",
            reason: format!("unknown field `{name}` (choose from lastname, firstname, specialty, location)"),
        })?;
        if fields.contains(&field) {
            return Err(ConfigError::Invalid { flag: "match-on", reason: format!("`{name}` is given twice") });
        }
        fields.push(field);
    }
    if fields.is_empty() {
        return Err(ConfigError::Invalid { flag: "match-on", reason: "no field given".into() });
    }
    // SPEC §4: the key order is fixed, whatever order the fields were given in.
    fields.sort();
    Ok(fields)
}

fn parse_table(raw: &str) -> Result<TableName, ConfigError> {
    TableName::parse(raw).map_err(|reason| ConfigError::Invalid { flag: "warehouse-table", reason })
}

fn parse_ratio(ratio: f64) -> Result<f64, ConfigError> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(ConfigError::Invalid { flag: "max-reject-ratio", reason: format!("{ratio} is not between 0 and 1") })
    }
}

fn positive(flag: &'static str, n: u32) -> Result<u32, ConfigError> {
    if n == 0 {
        return Err(ConfigError::Invalid { flag, reason: "must be at least 1".into() });
    }
    Ok(n)
}

fn at_most<T: PartialOrd + std::fmt::Display>(flag: &'static str, n: T, max: T) -> Result<T, ConfigError> {
    if n > max {
        return Err(ConfigError::Invalid { flag, reason: format!("{n} is more than {max}") });
    }
    Ok(n)
}

fn retry_delay(ms: u64) -> Result<Duration, ConfigError> {
    at_most("retry-delay-ms", ms, 600_000).map(Duration::from_millis)
}

fn request_timeout(secs: u64) -> Result<Duration, ConfigError> {
    if secs == 0 {
        return Err(ConfigError::Invalid { flag: "request-timeout-secs", reason: "must be at least 1".into() });
    }
    at_most("request-timeout-secs", secs, 3_600).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_binary_suffixes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
    }

    #[test]
    fn size_decimal_suffixes_and_bytes() {
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("3kb"), Ok(3_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10B"), Ok(10));
    }

    #[test]
    fn size_failures() {
        assert_eq!(parse_size("MiB"), Err("no number"));
        assert_eq!(parse_size("12XB"), Err("unknown suffix"));
        assert_eq!(parse_size("1.2.3MiB"), Err("not a number"));
        assert_eq!(parse_size(""), Err("no number"));
        assert_eq!(parse_size("99999999999999999999GiB"), Err("too large"));
    }

    #[test]
    fn tiny_budget_is_refused_with_the_input_repeated() {
        let err = parse_budget("1KiB").unwrap_err().to_string();
        assert!(err.contains("`1KiB`") && err.contains("at least"), "{err}");
    }

    #[test]
    fn date_must_be_iso() {
        assert!(parse_date("report-date", "2017-02-02").is_ok());
        assert!(parse_date("report-date", "02/02/2017").is_err());
        assert!(parse_date("report-date", "2017-02-30").is_err());
    }

    #[test]
    fn dates_need_four_digits_of_year_from_year_1() {
        assert_eq!(parse_date("report-date", "0001-01-01").unwrap(), FIRST_DATE);
        assert_eq!(parse_date("report-date", "9999-12-31").unwrap(), LAST_DATE);
        for raw in ["0000-12-31", "-0001-01-01", "+10000-01-01", "10000-01-01"] {
            assert!(parse_date("report-date", raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn the_active_window_of_the_first_date_is_computed() {
        // The rule takes the widest window before the first date without overflow.
        let rule = crate::activity::ActiveRule::new(FIRST_DATE, MAX_ACTIVE_DAYS);
        let day = crate::record::field::days_from_date(FIRST_DATE - chrono::Days::new(u64::from(MAX_ACTIVE_DAYS)));
        assert!(rule.is_active(Some(day)) && !rule.is_active(Some(day - 1)));
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        assert!(at_most("active-days", 36_501, MAX_ACTIVE_DAYS).is_err());
        assert!(request_timeout(0).is_err());
        assert!(request_timeout(1_000_000_000_000).is_err());
        assert!(retry_delay(u64::MAX).is_err());
        assert!(load_sessions(0).is_err());
        assert!(load_sessions(17).is_err());
        assert_eq!(load_sessions(16).unwrap(), 16);
    }

    #[test]
    fn every_missing_connection_of_the_stages_is_named_at_once() {
        let none = Connections::default();
        let err = none.require(Stage::ALL).unwrap_err().to_string();
        assert_eq!(
            err,
            "missing --vendor-url (or VENDOR_API_URL), --source-url (or SOURCE_DATABASE_URL), \
             --warehouse-url (or WAREHOUSE_DATABASE_URL)"
        );
        assert_eq!(
            none.require([Stage::Extract]).unwrap_err().to_string(),
            "missing --vendor-url (or VENDOR_API_URL), --source-url (or SOURCE_DATABASE_URL)"
        );
        assert!(none.require([Stage::Match, Stage::Report]).is_ok());
        let url = |raw| Some(SecretUrl::parse(raw, &["http", "postgres"]).unwrap());
        let some = Connections { vendor: url("http://vendor/v1"), warehouse: url("postgres://h/db"), ..none };
        assert_eq!(some.require(Stage::ALL).unwrap_err().to_string(), "missing --source-url (or SOURCE_DATABASE_URL)");
        assert!(some.require([Stage::Match, Stage::Load, Stage::Report]).is_ok());
    }

    #[test]
    fn match_on_is_put_in_key_order() {
        let fields = parse_match_on("location, lastname").unwrap();
        assert_eq!(fields, vec![KeyField::Lastname, KeyField::Location]);
        assert!(parse_match_on("lastname,lastname").is_err());
        assert!(parse_match_on("zip").is_err());
        assert!(parse_match_on(" , ").is_err());
    }
}
