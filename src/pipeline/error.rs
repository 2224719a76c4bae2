//! What can stop a run: a stage that failed (with the command that continues
//! the run), the run itself that can't be opened or recorded, or a check
//! before it started.

use std::path::PathBuf;

use crate::bug::Bug;
use crate::extract::internal::probe::ProbeError;
use crate::extract::vendor_api::{FetchError, VendorError};
use crate::extract::ExtractError;
use crate::load::access::AccessError;
use crate::load::LoadError;
use crate::manifest::ManifestError;
use crate::matching::MatchError;
use crate::report::ReportError;
use crate::rundir::RunDirError;
use crate::settings::ConfigError;

/// Why a stage failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Extract failed.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// Match failed.
    #[error(transparent)]
    Match(#[from] MatchError),
    /// Load failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The report could not be built or written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A setting the stage needs is missing or wrong (exit 2). Not
    /// `transparent`: the `ConfigError` must stay in the chain of causes,
    /// where the exit code is looked for.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A broken invariant (a bug).
    #[error(transparent)]
    Bug(#[from] Bug),
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A stage failed; the run can be continued.
    #[error("run {run_id} stopped in {stage}; continue with: vendor-match resume --run-id {run_id}")]
    Stopped {
        /// The run.
        run_id: String,
        /// The stage that failed.
        stage: &'static str,
        /// Why.
        #[source]
        source: Box<StageError>,
    },
    /// A stage failed on a file of the run that is damaged; the run
    /// continues once the stage that made the file has made it again.
    #[error(
        "run {run_id} stopped in {stage}: a file {redo} made is damaged; make it again, then continue, with: \
         vendor-match {redo} --run-id {run_id} && vendor-match resume --run-id {run_id}"
    )]
    Damaged {
        /// The run.
        run_id: String,
        /// The stage that failed.
        stage: &'static str,
        /// The stage that made the damaged file.
        redo: &'static str,
        /// Why (the damage is in this chain).
        #[source]
        source: Box<StageError>,
    },
    /// The run was asked to stop (SIGINT, SIGTERM) and did, in `stage`
    /// (exit 128 + the signal's number).
    #[error("run {run_id} was interrupted by {} in {stage}; continue with: vendor-match resume --run-id {run_id}", interrupted.name())]
    Interrupted {
        /// The run.
        run_id: String,
        /// The stage that stopped (or was next).
        stage: &'static str,
        /// The signal.
        interrupted: crate::stop::Interrupted,
    },
    /// A stage found no space left on the disk of the work dir; the run
    /// continues once space is freed.
    #[error(
        "run {run_id} stopped in {stage}: no space left on device writing {}{}; free space on it, then continue \
         with: vendor-match resume --run-id {run_id}",
        path.display(),
        needed(*bytes)
    )]
    DiskFull {
        /// The run.
        run_id: String,
        /// The stage that failed.
        stage: &'static str,
        /// The file being written.
        path: std::path::PathBuf,
        /// Bytes that could not be written (0 when not known).
        bytes: u64,
        /// Why (the full disk is in this chain).
        #[source]
        source: Box<StageError>,
    },
    /// A setting is missing or wrong, or there is no such run (exit 2); not
    /// `transparent`, for the same reason as [`StageError::Config`].
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The run directory can't be made, read or locked.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The manifest can't be read or written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The newest run of the work dir can't be read, so no run is chosen for
    /// a command that names none.
    #[error("the latest run {run_id} can't be read; repair or move it, or name the run to act on with --run-id")]
    LatestUnreadable {
        /// The run.
        run_id: String,
        /// Why its manifest can't be read.
        #[source]
        source: ManifestError,
    },
    /// A broken invariant (a bug).
    #[error(transparent)]
    Bug(#[from] Bug),
    /// A check before the run found something it needs missing or down
    /// (exit 1; a configuration at fault comes as [`PipelineError::Config`]).
    #[error(transparent)]
    Preflight(Box<PreflightError>),
    /// The report written could not be read back to print it.
    #[error("reading the report {path} failed")]
    PrintReport {
        /// The report file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What a check before the run found wrong, before anything was fetched or
/// loaded; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The report can't be written where --output says.
    #[error("--output {path} can't be written: {problem}; give --output a file in a directory that exists and takes new files")]
    Output {
        /// The report file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// The file system's answer, if it gave one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The work dir can't take the run's files.
    #[error("work dir {path} can't take new files ({problem}); give --work-dir a directory this user may write")]
    WorkDir {
        /// The work dir.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// The file system's answer, if it gave one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Clearly too little free space for the run's files.
    #[error(
        "work dir {path} has {available} free, but the {stages} about to run need about {needed} \
         ({records} records); free space there or give --work-dir a larger disk"
    )]
    DiskShort {
        /// The directory whose file system was measured.
        path: PathBuf,
        /// Free bytes, readable.
        available: String,
        /// Bytes needed, readable.
        needed: String,
        /// The records estimated.
        records: u64,
        /// The stages, e.g. `extract and match`.
        stages: String,
    },
    /// The source database can't be read as the extract reads it.
    #[error(transparent)]
    Source(#[from] ProbeError),
    /// The warehouse can't be written as the load writes it.
    #[error(transparent)]
    Warehouse(#[from] AccessError),
    /// The vendor does not answer page 1 as the extract needs.
    #[error("the vendor API {url} does not answer page 1 as the extract needs it; {advice}")]
    Vendor {
        /// The endpoint, masked.
        url: String,
        /// What to do.
        advice: &'static str,
        /// What it answered.
        #[source]
        source: FetchError,
    },
}

impl PreflightError {
    /// Whether the settings are at fault (exit 2): a path, table, privilege
    /// or URL that would fail the same way again. A server that is down or
    /// a disk that is full is a failure of the moment (exit 1).
    pub fn is_config(&self) -> bool {
        match self {
            PreflightError::Output { .. } | PreflightError::WorkDir { .. } => true,
            PreflightError::DiskShort { .. } => false,
            PreflightError::Source(e) => e.is_config(),
            PreflightError::Warehouse(e) => e.is_config(),
            PreflightError::Vendor { source, .. } => vendor_refused(source),
        }
    }
}

/// Whether the vendor refused the request itself (401, 403, 404, any 4xx
/// but 429: a wrong URL or credentials), not failed to answer it.
pub fn vendor_refused(error: &FetchError) -> bool {
    match error {
        FetchError::Page(page) => {
            matches!(page.source, VendorError::Status { status, .. } if (400..500).contains(&status) && status != 429)
        }
        _ => false,
    }
}

impl From<PreflightError> for PipelineError {
    /// A configuration at fault becomes a [`ConfigError`] (exit 2), the rest stays itself (exit 1).
    fn from(error: PreflightError) -> PipelineError {
        if error.is_config() {
            PipelineError::Config(ConfigError::Preflight(Box::new(error)))
        } else {
            PipelineError::Preflight(Box::new(error))
        }
    }
}

/// What the message of [`PipelineError::DiskFull`] says of the bytes needed.
fn needed(bytes: u64) -> String {
    match bytes {
        0 => String::new(),
        bytes => format!(" (at least {} more needed)", crate::disk_full::human_bytes(bytes)),
    }
}
