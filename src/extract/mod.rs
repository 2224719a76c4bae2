//! Stage 1, extract: drive both sources into sorted runs on disk, and count what was seen.
//!
//! The two sides run at the same time, each with half the memory budget:
//!
//! - vendor (its own thread): pages are fetched concurrently and keyed on
//!   the fetching threads; their users are spilled sorted by match key into
//!   `extract/vendor-NNNNNN.run`, and an id entry of each, sorted by (id,
//!   page, position), into `extract/vendor-ids-NNNNNN.run`. Once every page
//!   is in, the id entries are merged: of a repeated id, every copy but the
//!   one from the latest page (SPEC §2) is listed in
//!   `extract/vendor-drops-NNNNNN.run`, which match leaves out.
//! - internal: our users are streamed out of PostgreSQL, keyed and spilled
//!   sorted by match key into `extract/internal-NNNNNN.run`.
//!
//! Unrepresentable records go to each side's rejects file, joined into
//! `rejects.jsonl` at the end; a source whose rejects pass
//! `--max-reject-ratio` fails the stage. Every run published writes a
//! [`checkpoint::Checkpoint`], from which `resume` continues.

pub mod checkpoint;
pub mod http;
pub mod internal;
mod internal_side;
pub mod retry;
pub mod vendor;
mod vendor_side;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use checkpoint::Checkpoint;
use internal_side::InternalSide;
use vendor_side::VendorSide;

use crate::model::Side;
use crate::run::rejects::{check_ratio, Reject, RejectRatioExceeded, RejectWriter};
use crate::run::RunDir;
use crate::secret::SecretUrl;
use crate::settings::RunSettings;
use crate::sort::run_file::RunFile;
use crate::sort::{SortError, SortStats};

pub use internal_side::SOURCE_RETRIES;

/// A failure of the extract stage.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// A vendor page kept failing.
    #[error(transparent)]
    Vendor(#[from] vendor::PageError),
    /// Connecting to our database failed.
    #[error(transparent)]
    Connect(#[from] crate::db::ConnectError),
    /// Streaming our users failed.
    #[error(transparent)]
    Internal(#[from] internal::InternalError),
    /// Sorting failed.
    #[error(transparent)]
    Sort(#[from] SortError),
    /// Too many rejects.
    #[error(transparent)]
    Rejects(#[from] RejectRatioExceeded),
    /// The checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// A file of the run could not be written.
    #[error("writing {path} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// This side stopped because the other one failed.
    #[error("stopped because the other source failed")]
    Stopped,
    /// A side's thread ended without an answer (a bug).
    #[error("the vendor side of extract ended without an answer")]
    SideFailed,
}

/// What extract produced and saw; kept in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractOutput {
    /// Vendor runs, sorted by match key (copies of a repeated id included).
    pub vendor_runs: Vec<RunFile>,
    /// Sort keys of the vendor records to leave out, in the same order.
    #[serde(default)]
    pub vendor_drop_runs: Vec<RunFile>,
    /// Internal runs, sorted by match key.
    pub internal_runs: Vec<RunFile>,
    /// Vendor users kept (one per id).
    pub vendor_users: u64,
    /// Vendor records received, repeats included.
    pub vendor_records: u64,
    /// Records dropped because their id came again on a later page.
    pub duplicate_vendor_ids: u64,
    /// Vendor records rejected.
    pub vendor_rejects: u64,
    /// Our users kept.
    pub internal_users: u64,
    /// Our rows rejected.
    pub internal_rejects: u64,
    /// Times the source stream broke off and was continued on a new connection.
    pub source_reconnects: u32,
    /// Our rows a resumed extract took from its checkpoint instead of reading again.
    #[serde(default)]
    pub internal_rows_resumed: u64,
    /// Vendor paging figures.
    pub fetch: vendor::FetchStats,
    /// Sort figures: vendor id entries, vendor records, internal records.
    pub sorts: [SortStats; 3],
    /// Seconds the vendor side took (this attempt).
    #[serde(default)]
    pub vendor_secs: f64,
    /// Seconds our side took (this attempt).
    #[serde(default)]
    pub internal_secs: f64,
}

/// Progress callbacks, so the stage does not depend on a UI. Both sides call
/// them, from their own threads.
pub trait ExtractProgress: Sync {
    /// A vendor page arrived; `planned` is the number of pages now expected.
    fn vendor_page(&self, planned: u32);
    /// `n` of our rows were read.
    fn internal_rows(&self, n: u64);
}

/// Where extract reads from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The vendor endpoint.
    pub vendor_url: &'a SecretUrl,
    /// Extra CA certificates (PEM) trusted for the vendor.
    pub vendor_ca_pem: Option<&'a [u8]>,
    /// Our database.
    pub source_url: &'a SecretUrl,
}

/// Each side's rejects file, in the extract directory; joined into the run's
/// `rejects.jsonl` once both sides are done.
const VENDOR_REJECTS: &str = "rejects-vendor.jsonl";
const INTERNAL_REJECTS: &str = "rejects-internal.jsonl";

/// Runs the extract stage into `run`'s `extract/` directory. With
/// `from_checkpoint`, an interrupted extract continues from its last
/// checkpoint (if it wrote one); otherwise the stage starts clean.
pub fn extract(
    run: &RunDir,
    settings: &RunSettings,
    sources: Sources<'_>,
    progress: &dyn ExtractProgress,
    from_checkpoint: bool,
) -> Result<ExtractOutput, ExtractError> {
    let dir = run.stage_dir("extract");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExtractError::Io { path, source }
    };
    let saved = if from_checkpoint { Checkpoint::load(&dir)? } else { None };
    let resumed = saved.is_some();
    let state = match saved {
        Some(state) => {
            state.remove_leftovers(&dir, &[VENDOR_REJECTS, INTERNAL_REJECTS])?;
            state
        }
        None => {
            run.reset_stage_dir("extract").map_err(io(&dir))?;
            Checkpoint::default()
        }
    };
    let open_rejects = |name: &str, bytes: u64| {
        let path = dir.join(name);
        let writer = if resumed { RejectWriter::resume(&path, bytes) } else { RejectWriter::create(&path) };
        writer.map_err(io(&path))
    };
    let vendor_rejects = open_rejects(VENDOR_REJECTS, state.vendor.counters.rejects_bytes)?;
    let internal_rejects = open_rejects(INTERNAL_REJECTS, state.internal.counters.rejects_bytes)?;
    let internal_rows_resumed = state.internal.counters.users + state.internal.counters.rejects;
    let shared = Shared {
        dir: dir.clone(),
        settings,
        checkpoint: Mutex::new(state.clone()),
        stop: AtomicBool::new(false),
        progress,
        vendor_ca_pem: sources.vendor_ca_pem.map(<[u8]>::to_vec),
    };
    let vendor = VendorSide::new(&shared, state.vendor, vendor_rejects);
    let internal = InternalSide::new(&shared, state.internal, internal_rejects);
    let (vendor, internal) = std::thread::scope(|scope| {
        let vendor = std::thread::Builder::new()
            .name("extract-vendor".into())
            .spawn_scoped(scope, || shared.stop_on_error(vendor.run(sources.vendor_url)));
        let internal = shared.stop_on_error(internal.run(sources.source_url));
        let vendor = match vendor {
            Ok(handle) => handle.join().unwrap_or(Err(ExtractError::SideFailed)),
            Err(_) => Err(ExtractError::SideFailed),
        };
        (vendor, internal)
    });
    // The side that failed first explains the failure; the other one only stopped.
    let ((vendor, vendor_secs), (internal, reconnects, internal_secs)) = match (vendor, internal) {
        (Ok(v), Ok(i)) => (v, i),
        (Err(ExtractError::Stopped), Err(e)) | (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let output = ExtractOutput {
        vendor_runs: vendor.runs,
        vendor_drop_runs: vendor.drop_runs,
        internal_runs: internal.runs,
        vendor_users: vendor.users,
        vendor_records: vendor.counters.records,
        duplicate_vendor_ids: vendor.duplicates,
        vendor_rejects: vendor.counters.rejects,
        internal_users: internal.counters.users,
        internal_rejects: internal.counters.rejects,
        source_reconnects: reconnects,
        internal_rows_resumed: if resumed { internal_rows_resumed } else { 0 },
        fetch: vendor.counters.fetch,
        sorts: [vendor.sorts[0], vendor.sorts[1], internal.done.unwrap_or_default()],
        vendor_secs,
        internal_secs,
    };
    let rejects_path = run.rejects();
    crate::run::rejects::combine(&[&dir.join(VENDOR_REJECTS), &dir.join(INTERNAL_REJECTS)], &rejects_path)
        .map_err(io(&rejects_path))?;
    let max = settings.max_reject_ratio;
    check_ratio(Side::Vendor, output.vendor_rejects, output.vendor_records, max, &rejects_path)?;
    check_ratio(Side::Internal, output.internal_rejects, output.internal_users, max, &rejects_path)?;
    // Done: a later redo of this stage must not continue from this attempt.
    let checkpoint_path = dir.join(checkpoint::FILE_NAME);
    if checkpoint_path.exists() {
        std::fs::remove_file(&checkpoint_path).map_err(io(&checkpoint_path))?;
    }
    crate::run::atomic::sync_directory(&dir).map_err(io(&dir))?;
    Ok(output)
}

/// What both sides of one extract attempt share.
struct Shared<'a> {
    dir: PathBuf,
    settings: &'a RunSettings,
    checkpoint: Mutex<Checkpoint>,
    /// Set when a side fails, so the other one stops soon.
    stop: AtomicBool,
    progress: &'a dyn ExtractProgress,
    vendor_ca_pem: Option<Vec<u8>>,
}

impl Shared<'_> {
    /// Each side sorts under half the memory budget.
    fn side_budget_bytes(&self) -> u64 {
        self.settings.memory_budget_bytes / 2
    }

    fn check_stop(&self) -> Result<(), ExtractError> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(ExtractError::Stopped);
        }
        Ok(())
    }

    fn stop_on_error<T>(&self, result: Result<T, ExtractError>) -> Result<T, ExtractError> {
        if result.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Updates one side's part of the checkpoint and writes it.
    fn save(&self, update: impl FnOnce(&mut Checkpoint)) -> Result<(), ExtractError> {
        let mut checkpoint = self.checkpoint.lock().unwrap_or_else(PoisonError::into_inner);
        update(&mut checkpoint);
        checkpoint.save(&self.dir)?;
        Ok(())
    }

    fn record_reject(
        &self,
        rejects: &mut RejectWriter,
        side: Side,
        page: Option<u32>,
        id: Option<i64>,
        reason: &str,
    ) -> Result<(), ExtractError> {
        let path = rejects.path().to_path_buf();
        rejects.record(&Reject { source: side, page, id, reason }).map_err(|source| ExtractError::Io { path, source })
    }

    /// Makes a side's rejects durable before a checkpoint counts them.
    fn sync_rejects(&self, rejects: &mut RejectWriter) -> Result<(), ExtractError> {
        let path = rejects.path().to_path_buf();
        rejects.sync().map(|_| ()).map_err(|source| ExtractError::Io { path, source })
    }
}
