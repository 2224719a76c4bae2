//! Preflight: before anything is fetched or loaded, checks that what the
//! stages about to run need is there, so that a run fails in seconds, with
//! one line, instead of after its extract (or its load).
//!
//! In order, each only for the stages that need it:
//!
//! 1. report: `--output`'s directory exists and takes a new file;
//! 2. every stage: the work dir (or where it will be made) takes new files;
//! 3. extract: the source tables are there and the extract's query is
//!    accepted (columns, SELECT); the catalog's estimate of our users;
//! 4. load: the warehouse lets the load write the table as it will
//!    ([`crate::load::access::check`]);
//! 5. extract: the vendor answers page 1 (one request with the extract's
//!    client, CA file, deadline, URL form and retry policy: a vendor that
//!    fails once and then answers is not refused; `--max-pages` checked);
//! 6. extract, match: the work dir's file system has room for the files
//!    the stages will write, estimated from the records ([`bytes_needed`]):
//!    a warning when it is tight, a refusal only when it is clearly short.
//!
//! A configuration at fault is exit 2; a server down or a disk short, 1
//! ([`PreflightError::is_config`]). Page 1 is fetched again by the extract:
//! the check keeps nothing.

use std::path::{Path, PathBuf};

use super::error::{vendor_refused, PipelineError, PreflightError};
use crate::extract::internal;
use crate::extract::vendor_api::{self, FetchOptions};
use crate::load::access;
use crate::model::Stage;
use crate::report;
use crate::rundir::space::{available_bytes, nearest_existing, probe_writable};
use crate::rundir::{disk_usage, RunDir};
use crate::settings::{Environment, RunSettings};

/// Bytes one record (a vendor entry or one of our users) leaves in the
/// extract's files: its spill record, and for a vendor record its id entry
/// and drop list share. Measured on a run of `fixtures generate --users
/// 200000` (200,000 a side, 400,000 records; `du` of the run's `extract/`
/// sampled every 50 ms, its largest): 66,348,991 bytes, 166 a record
/// (BENCHMARKS.md's spill-file bench: 173.4 bytes an encoded record).
/// Rounded up, for longer names than the fixtures'.
pub const EXTRACT_BYTES_PER_RECORD: u64 = 200;

/// Bytes one record leaves in match's row segments. A matched pair is one
/// row holding both sides' values, an unmatched record a row of its own
/// (more bytes a record). Measured on the same run, mostly matched
/// (204,475 rows): 70,201,736 bytes of `match/`, 176 a record; the demo's
/// mix, mostly unmatched (BENCHMARKS.md: 300.9 MB of segments for
/// 1,150,919 records), 261 a record. The larger, rounded up. The whole run
/// dir's high-water on the measured run was 136.6 MB, 341 bytes a record
/// against the 480 estimated.
pub const MATCH_BYTES_PER_RECORD: u64 = 280;

/// What any run writes besides its records: the manifest, the checkpoint,
/// the rejects files, the report, a file system block per small file.
pub const FIXED_BYTES: u64 = 1 << 20;

/// Free space below this share of the estimate is clearly too little: the
/// records would have to take under half the bytes they take in the
/// measured runs. Between it and [`ROOMY`] the run goes on with a warning.
const SHORT: f64 = 0.5;

/// Free space above this multiple of the estimate leaves room for data
/// larger per record than the measured runs.
const ROOMY: f64 = 1.25;

/// Bytes the files of `stages` will take for `records` records, at most
/// about: extract's spill files and match's row segments (load and report
/// write nothing to the work dir).
pub fn bytes_needed(records: u64, stages: &[Stage]) -> u64 {
    let per_record: u64 = stages
        .iter()
        .map(|stage| match stage {
            Stage::Extract => EXTRACT_BYTES_PER_RECORD,
            Stage::Match => MATCH_BYTES_PER_RECORD,
            Stage::Load | Stage::Report => 0,
        })
        .sum();
    records.saturating_mul(per_record).saturating_add(FIXED_BYTES)
}

/// How the free space compares with the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Enough, with room to spare.
    Enough,
    /// It may fit: the run goes on, with a warning.
    Tight,
    /// Clearly too little: the run is refused.
    Short,
}

/// Compares `available` bytes with `needed` (see [`SHORT`] and [`ROOMY`]).
pub fn room(available: u64, needed: u64) -> Room {
    let (available, needed) = (available as f64, needed as f64);
    if available < needed * SHORT {
        Room::Short
    } else if available < needed * ROOMY {
        Room::Tight
    } else {
        Room::Enough
    }
}

/// What the stages about to run are, and what is known of the run.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The stages about to run, in order.
    pub stages: &'a [Stage],
    /// The run's directory, when the run exists (its stage directories'
    /// files are replaced by the stages that made them: their bytes count as free).
    pub run: Option<&'a RunDir>,
    /// Records extract read, when it is complete (the estimate for match).
    pub extracted_records: Option<u64>,
}

/// The space measured for the run's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The directory measured (the work dir, or its nearest existing ancestor).
    pub path: PathBuf,
    /// Bytes free there, plus those of the files the stages will replace.
    pub available_bytes: u64,
    /// Bytes the stages' files will take, about.
    pub needed_bytes: u64,
    /// Records the estimate is made of.
    pub records: u64,
    /// The verdict.
    pub room: Room,
}

/// What the checks learned, for whoever wants the figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preflight {
    /// The source catalog's estimate of our users (a progress bar's total).
    pub internal_rows: Option<u64>,
    /// Vendor entries: `total_pages` times the entries on page 1.
    pub vendor_entries: Option<u64>,
    /// The space for the run's files, when extract or match is about to run.
    pub disk: Option<Disk>,
}

/// The stages from `first` on, as `run` and `resume` run them.
pub fn stages_from(first: Stage) -> Vec<Stage> {
    Stage::ALL.into_iter().filter(|stage| *stage >= first).collect()
}

/// Runs the checks `scope.stages` need (module doc), prints a `warning:`
/// line when the disk is tight, and returns what it learned.
pub fn check(env: &Environment, settings: &RunSettings, scope: Scope<'_>) -> Result<Preflight, PipelineError> {
    let runs = |stage: Stage| scope.stages.contains(&stage);
    // Every setting first: a missing one is named before any connection.
    let connections = &env.connections;
    if runs(Stage::Extract) {
        connections.vendor()?;
        connections.source()?;
    }
    if runs(Stage::Load) {
        connections.warehouse()?;
    }
    if runs(Stage::Report) {
        check_output(&env.output)?;
    }
    let work_dir = check_work_dir(&env.work_dir)?;
    let mut found = Preflight::default();
    if runs(Stage::Extract) {
        let url = env.connections.source()?;
        let mut session = internal::connect(url).map_err(|e| PreflightError::Source(e.into()))?;
        session.check_tables(url).map_err(PreflightError::from)?;
        found.internal_rows = session.estimate_rows(url).map_err(PreflightError::from)?;
    }
    if runs(Stage::Load) {
        access::check(env.connections.warehouse()?, &settings.warehouse_table).map_err(PreflightError::from)?;
    }
    if runs(Stage::Extract) {
        found.vendor_entries = Some(vendor_entries(env, settings)?);
    }
    let records = if runs(Stage::Extract) {
        Some(found.vendor_entries.unwrap_or(0) + found.internal_rows.unwrap_or(0))
    } else if runs(Stage::Match) {
        scope.extracted_records
    } else {
        None
    };
    if let Some(records) = records {
        let disk = check_space(&work_dir, records, scope)?;
        if disk.room == Room::Tight {
            eprintln!(
                "warning: work dir {} has {} free; the {} about to run may need about {} ({} records)",
                disk.path.display(),
                report::render::mib(disk.available_bytes),
                stage_names(scope.stages),
                report::render::mib(disk.needed_bytes),
                disk.records
            );
        }
        found.disk = Some(disk);
    }
    Ok(found)
}

/// The report (and the HTML page beside it) can be written where `output` says.
fn check_output(output: &Path) -> Result<(), PreflightError> {
    let fail = |problem: String, source| PreflightError::Output { path: output.to_path_buf(), problem, source };
    if output.is_dir() {
        return Err(fail("it is a directory".into(), None));
    }
    let dir = match output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.exists() {
        return Err(fail(format!("directory {} does not exist", dir.display()), None));
    }
    if !dir.is_dir() {
        return Err(fail(format!("{} is not a directory", dir.display()), None));
    }
    probe_writable(dir).map_err(|e| fail(format!("a file can't be created in {}", dir.display()), Some(e)))
}

/// The work dir (or, when it is still to be made, its nearest existing
/// ancestor) takes new files; returns the directory checked.
fn check_work_dir(work_dir: &Path) -> Result<PathBuf, PreflightError> {
    let fail = |problem: String, source| PreflightError::WorkDir { path: work_dir.to_path_buf(), problem, source };
    let dir = nearest_existing(work_dir);
    if !dir.is_dir() {
        return Err(fail(format!("{} is not a directory", dir.display()), None));
    }
    probe_writable(&dir).map_err(|e| fail(format!("a file can't be created in {}", dir.display()), Some(e)))?;
    Ok(dir)
}

/// Page 1 asked for as the extract asks; the entries it announces in all.
fn vendor_entries(env: &Environment, settings: &RunSettings) -> Result<u64, PipelineError> {
    let url = env.connections.vendor()?;
    let options = FetchOptions::new(settings, env.connections.vendor_ca_pem.as_deref());
    let page = vendor_api::fetch_first_page(url, &options).map_err(|source| {
        let advice = if vendor_refused(&source) {
            "check --vendor-url (and its credentials)"
        } else {
            "nothing was fetched or loaded; run again once it answers"
        };
        PreflightError::Vendor { url: url.masked(), advice, source }
    })?;
    let entries = (page.users + page.rejects.len()) as u64;
    Ok(u64::from(page.total_pages.max(1)) * entries)
}

/// Free space for `records` records of the stages in `scope`.
fn check_space(dir: &Path, records: u64, scope: Scope<'_>) -> Result<Disk, PreflightError> {
    let fail = |e: std::io::Error| PreflightError::WorkDir {
        path: dir.to_path_buf(),
        problem: "its free space can't be read".into(),
        source: Some(e),
    };
    let mut available = available_bytes(dir).map_err(fail)?;
    if let Some(run) = scope.run {
        // A stage starting over replaces its files; one continuing keeps
        // them, and needs only what they do not hold yet.
        for stage in scope.stages.iter().filter(|s| matches!(s, Stage::Extract | Stage::Match)) {
            available += disk_usage(&run.stage_dir(stage.name())).map_err(fail)?;
        }
    }
    let needed = bytes_needed(records, scope.stages);
    let disk = Disk {
        path: dir.to_path_buf(),
        available_bytes: available,
        needed_bytes: needed,
        records,
        room: room(available, needed),
    };
    if disk.room == Room::Short {
        return Err(PreflightError::DiskShort {
            path: disk.path,
            available: report::render::mib(available),
            needed: report::render::mib(needed),
            records,
            stages: stage_names(scope.stages),
        });
    }
    Ok(disk)
}

/// `extract, match, load and report`.
fn stage_names(stages: &[Stage]) -> String {
    let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_stage_needs_its_own_files_only() {
        assert_eq!(bytes_needed(0, &Stage::ALL), FIXED_BYTES);
        let both = bytes_needed(1_000_000, &Stage::ALL);
        assert_eq!(both, 1_000_000 * (EXTRACT_BYTES_PER_RECORD + MATCH_BYTES_PER_RECORD) + FIXED_BYTES);
        assert_eq!(
            bytes_needed(1_000_000, &[Stage::Match, Stage::Load]),
            1_000_000 * MATCH_BYTES_PER_RECORD + FIXED_BYTES
        );
        assert_eq!(bytes_needed(1_000_000, &[Stage::Load, Stage::Report]), FIXED_BYTES);
        assert_eq!(bytes_needed(u64::MAX, &Stage::ALL), u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn a_1m_run_is_estimated_near_what_the_benchmark_measured() {
        // BENCHMARKS.md: the demo's 1,150,919 records left 300.9 MB of
        // segments; with the spill files about 500 MB in all.
        let needed = bytes_needed(1_150_919, &Stage::ALL);
        assert!((500 * MIB..700 * MIB).contains(&needed), "{needed}");
    }

    #[test]
    fn the_disk_is_refused_only_when_clearly_short() {
        let needed = 1000 * MIB;
        assert_eq!(room(2000 * MIB, needed), Room::Enough);
        assert_eq!(room(1250 * MIB, needed), Room::Enough);
        assert_eq!(room(1249 * MIB, needed), Room::Tight);
        assert_eq!(room(900 * MIB, needed), Room::Tight, "a run that may fit is not refused");
        assert_eq!(room(500 * MIB, needed), Room::Tight);
        assert_eq!(room(499 * MIB, needed), Room::Short);
        assert_eq!(room(0, needed), Room::Short);
        assert_eq!(room(0, 0), Room::Enough);
    }

    #[test]
    fn a_96k_disk_is_short_for_4500_records() {
        let needed = bytes_needed(4500, &Stage::ALL);
        assert_eq!(room(96 << 10, needed), Room::Short);
    }

    #[test]
    fn an_output_in_a_missing_directory_is_named() {
        let error = check_output(Path::new("/nonexistent/dir/x")).unwrap_err();
        assert!(error.is_config());
        let text = error.to_string();
        assert!(
            text.contains("/nonexistent/dir/x") && text.contains("directory /nonexistent/dir does not exist"),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(check_output(&dir.path().join("output.txt")).is_ok());
        assert!(check_output(dir.path()).unwrap_err().to_string().contains("it is a directory"));
    }

    #[test]
    fn a_work_dir_still_to_be_made_is_checked_where_it_will_be_made() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_work_dir(&dir.path().join("work/deeper")).unwrap(), dir.path());
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let error = check_work_dir(&file.join("work")).unwrap_err();
        assert!(error.to_string().contains("is not a directory"), "{error}");
    }

    #[test]
    fn stage_names_read_as_a_list() {
        assert_eq!(stage_names(&Stage::ALL), "extract, match, load and report");
        assert_eq!(stage_names(&[Stage::Match]), "match");
    }
}
