//! Stage 1, extract: drive both sources into sorted spill files on disk, and count what was seen.
//!
//! The two sides run at the same time, each with its share of the memory
//! budget ([`crate::budget`]):
//!
//! - vendor (its own thread, [`vendor_side`]): pages are fetched
//!   concurrently ([`vendor_api`]) and keyed on the fetching threads; their users
//!   are spilled sorted by match key into `extract/vendor-NNNNNN.spill`, and
//!   an id entry of each, sorted by (id, page, position), into
//!   `extract/vendor-ids-NNNNNN.spill`. Once every page is in, the id entries
//!   are merged: of a repeated id, every copy but the one from the latest
//!   page (SPEC §2) is listed in `extract/vendor-drops-NNNNNN.spill`, which
//!   match leaves out.
//! - internal ([`internal_side`]): our users are streamed out of PostgreSQL
//!   ([`internal`]), keyed and spilled sorted by match key into
//!   `extract/internal-NNNNNN.spill`.
//!
//! Unrepresentable records go to each side's rejects file, joined into
//! `rejects.jsonl` at the end; a source whose rejects pass
//! `--max-reject-ratio` fails the stage. Every spill file published writes a
//! [`checkpoint::Checkpoint`], from which `resume` continues.

mod attempt;
pub mod checkpoint;
mod error;
pub mod internal;
mod internal_side;
pub mod vendor_api;
mod vendor_side;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use attempt::Attempt;
pub use attempt::ExtractProgress;
use checkpoint::{Checkpoint, VendorDone};
pub use error::ExtractError;
use internal_side::{InternalDone, InternalSide};
use vendor_api::FetchStats;
use vendor_side::VendorSide;

use crate::bug::Bug;
use crate::model::{Side, Stage};
use crate::rundir::rejects::{self, check_ratio, RejectWriter, RejectsMark};
use crate::rundir::{atomic, RunDir};
use crate::secret::SecretUrl;
use crate::settings::RunSettings;
use crate::sort::spill_file::SpillFile;
use crate::sort::SortStats;

/// What extract produced and saw; kept in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractOutput {
    /// Vendor spill files, sorted by match key (copies of a repeated id included).
    pub vendor_spills: Vec<SpillFile>,
    /// Sort keys of the vendor records to leave out, in the same order.
    pub vendor_drop_spills: Vec<SpillFile>,
    /// Internal spill files, sorted by match key.
    pub internal_spills: Vec<SpillFile>,
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
    pub fetch: FetchStats,
    /// Sort figures: vendor id entries, vendor records, internal records.
    pub sorts: [SortStats; 3],
    /// Seconds the vendor side took (this attempt).
    #[serde(default)]
    pub vendor_secs: f64,
    /// Seconds our side took (this attempt).
    #[serde(default)]
    pub internal_secs: f64,
}

impl ExtractOutput {
    /// Records of both sides kept: what match reads.
    pub fn records(&self) -> u64 {
        self.vendor_users + self.internal_users
    }

    /// What is worth a warning line when extract ends, one line each: data
    /// the run kept but a person should look at.
    pub fn warnings(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.fetch.empty_pages > 0 {
            lines.push(format!(
                "the vendor answered {} page(s) with no users (its last page, or pages past the end: \
                 the listing shrank while paging)",
                self.fetch.empty_pages
            ));
        }
        lines
    }

    /// Every spill file extract lists: vendor records, drop lists, our records.
    pub fn spill_files(&self) -> impl Iterator<Item = &SpillFile> {
        self.vendor_spills.iter().chain(&self.vendor_drop_spills).chain(&self.internal_spills)
    }

    /// Points every spill file at `dir`, the extract directory as reached now.
    pub fn rebase(&mut self, dir: &Path) {
        let vendor = self.vendor_spills.iter_mut().chain(self.vendor_drop_spills.iter_mut());
        for file in vendor.chain(self.internal_spills.iter_mut()) {
            *file = file.in_dir(dir);
        }
    }
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
    let dir = run.stage_dir(Stage::Extract.name());
    let saved = if from_checkpoint { Checkpoint::load(&dir)? } else { None };
    let resumed = saved.is_some();
    let state = match saved {
        Some(state) => {
            state.remove_leftovers(&dir, &[VENDOR_REJECTS, INTERNAL_REJECTS])?;
            state
        }
        None => {
            run.reset_stage_dir(Stage::Extract.name()).map_err(io(&dir))?;
            Checkpoint::default()
        }
    };
    let open_rejects = |name: &str, mark| {
        let path = dir.join(name);
        if resumed {
            RejectWriter::resume(&path, mark)
        } else {
            RejectWriter::create(&path)
        }
    };
    // A finished vendor side keeps its final figures in `done`.
    let vendor_mark = state.vendor.done.as_ref().map_or(state.vendor.counters, |done| done.counters).rejects_file;
    let vendor_rejects = open_rejects(VENDOR_REJECTS, vendor_mark)?;
    let internal_rejects = open_rejects(INTERNAL_REJECTS, state.internal.counters.rejects_file)?;
    let internal_rows_resumed =
        if resumed { state.internal.counters.users + state.internal.counters.rejects } else { 0 };
    let attempt = Attempt {
        dir: dir.clone(),
        settings,
        checkpoint: Mutex::new(state.clone()),
        stop: AtomicBool::new(false),
        progress,
        vendor_ca_pem: sources.vendor_ca_pem.map(<[u8]>::to_vec),
    };
    let vendor = VendorSide::new(&attempt, state.vendor, vendor_rejects);
    let internal = InternalSide::new(&attempt, state.internal, internal_rejects);
    let ((vendor, vendor_secs), internal) = run_sides(&attempt, vendor, internal, sources)?;
    let rejects_files = [
        (dir.join(VENDOR_REJECTS), vendor.counters.rejects_file),
        (dir.join(INTERNAL_REJECTS), internal.counters.rejects_file),
    ];
    let output = output(vendor, vendor_secs, internal, internal_rows_resumed);
    finish(run, &dir, settings, &output, &rejects_files)?;
    Ok(output)
}

/// Runs both sides at once, the vendor side on a thread of its own.
fn run_sides(
    attempt: &Attempt<'_>,
    vendor: VendorSide<'_>,
    internal: InternalSide<'_>,
    sources: Sources<'_>,
) -> Result<((VendorDone, f64), InternalDone), ExtractError> {
    // The vendor thread's log lines name the run and stage too.
    let span = tracing::Span::current();
    let (vendor, internal) = std::thread::scope(|scope| {
        let vendor = std::thread::Builder::new()
            .name("extract-vendor".into())
            .spawn_scoped(scope, || span.in_scope(|| attempt.stop_on_error(vendor.spill_pages(sources.vendor_url))));
        let internal = attempt.stop_on_error(internal.spill_rows(sources.source_url));
        let vendor = match vendor {
            Ok(handle) => handle.join().unwrap_or_else(|_| Err(Bug::new("the vendor side of extract panicked").into())),
            Err(source) => Err(ExtractError::Thread(source)),
        };
        (vendor, internal)
    });
    // The side that failed first explains the failure; the other one only stopped.
    match (vendor, internal) {
        (Ok(v), Ok(i)) => Ok((v, i)),
        (Err(ExtractError::Stopped), Err(e)) | (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

fn output(vendor: VendorDone, vendor_secs: f64, internal: InternalDone, internal_rows_resumed: u64) -> ExtractOutput {
    ExtractOutput {
        vendor_spills: vendor.spills,
        vendor_drop_spills: vendor.drop_spills,
        internal_spills: internal.spills,
        vendor_users: vendor.users,
        vendor_records: vendor.counters.records,
        duplicate_vendor_ids: vendor.duplicates,
        vendor_rejects: vendor.counters.rejects,
        internal_users: internal.counters.users,
        internal_rejects: internal.counters.rejects,
        source_reconnects: internal.reconnects,
        internal_rows_resumed,
        fetch: vendor.counters.fetch,
        sorts: [vendor.sorts[0], vendor.sorts[1], internal.sort],
        vendor_secs,
        internal_secs: internal.secs,
    }
}

/// Joins the rejects files, checks the reject ratios, and removes the
/// checkpoint: a later redo of this stage must not continue from this attempt.
fn finish(
    run: &RunDir,
    dir: &Path,
    settings: &RunSettings,
    output: &ExtractOutput,
    rejects_files: &[(PathBuf, RejectsMark); 2],
) -> Result<(), ExtractError> {
    let rejects_path = run.rejects();
    let parts = rejects_files.each_ref().map(|(path, mark)| (path.as_path(), *mark));
    rejects::combine(&parts, &rejects_path)?;
    let max = settings.max_reject_ratio;
    check_ratio(Side::Vendor, output.vendor_rejects, output.vendor_records, max, &rejects_path)?;
    check_ratio(Side::Internal, output.internal_rejects, output.internal_users, max, &rejects_path)?;
    let checkpoint_path = dir.join(checkpoint::FILE_NAME);
    if checkpoint_path.exists() {
        std::fs::remove_file(&checkpoint_path).map_err(io(&checkpoint_path))?;
    }
    atomic::sync_directory(dir).map_err(io(dir))
}

/// Turns an I/O error on `path` into an [`ExtractError`].
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExtractError {
    let path = path.to_path_buf();
    move |source| ExtractError::Io { path, source }
}
