//! What can stop a run: a stage that failed (with the command that continues
//! the run), or the run itself that can't be opened or recorded.

use crate::bug::Bug;
use crate::extract::ExtractError;
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

/// What the message of [`PipelineError::DiskFull`] says of the bytes needed.
fn needed(bytes: u64) -> String {
    match bytes {
        0 => String::new(),
        bytes => format!(" (at least {} more needed)", crate::disk_full::human_bytes(bytes)),
    }
}
