//! Stage 1, extract: drive both sources into sorted runs on disk, and count what was seen.
//!
//! 1. Vendor pages are fetched concurrently; their users are spilled sorted by
//!    (id, page) under the memory budget.
//! 2. Those runs are merged and, for a repeated id, only the copy from the
//!    latest page is kept (SPEC §2); each kept user is keyed and spilled
//!    sorted by match key into `extract/vendor-NNNNNN.run`.
//! 3. Our users are streamed out of PostgreSQL, keyed and spilled sorted by
//!    match key into `extract/internal-NNNNNN.run`.
//!
//! Unrepresentable records go to `rejects.jsonl`; a source whose rejects pass
//! `--max-reject-ratio` fails the stage.

pub mod http;
pub mod internal;
pub mod retry;
pub mod vendor;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::key::KeyField;
use crate::model::{Keyed, Side, VendorById, VendorUser};
use crate::run::rejects::{check_ratio, Reject, RejectRatioExceeded, RejectWriter};
use crate::run::RunDir;
use crate::secret::SecretUrl;
use crate::settings::RunSettings;
use crate::sort::merge::{merge, DEFAULT_FAN_IN};
use crate::sort::run_file::RunFile;
use crate::sort::{ExternalSorter, SortError, SortStats};

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
    /// A file of the run could not be written.
    #[error("writing {path} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What extract produced and saw; kept in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractOutput {
    /// Vendor runs, sorted by match key.
    pub vendor_runs: Vec<RunFile>,
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
    /// Vendor paging figures.
    pub fetch: vendor::FetchStats,
    /// Sort figures: vendor by id, vendor by key, internal by key.
    pub sorts: [SortStats; 3],
}

/// Progress callbacks, so the stage does not depend on a UI.
pub trait ExtractProgress {
    /// A vendor page arrived; `planned` is the number of pages now expected.
    fn vendor_page(&self, planned: u32);
    /// `n` of our rows were read.
    fn internal_rows(&self, n: u64);
}

/// Runs the extract stage into `run`'s `extract/` directory.
pub fn extract(
    run: &RunDir,
    settings: &RunSettings,
    vendor_url: &SecretUrl,
    source_url: &SecretUrl,
    progress: &dyn ExtractProgress,
) -> Result<ExtractOutput, ExtractError> {
    let dir =
        run.reset_stage_dir("extract").map_err(|source| ExtractError::Io { path: run.stage_dir("extract"), source })?;
    let rejects_path = run.rejects();
    let mut rejects = RejectWriter::create(&rejects_path)
        .map_err(|source| ExtractError::Io { path: rejects_path.clone(), source })?;
    let mut output = ExtractOutput::default();
    extract_vendor(&dir, settings, vendor_url, &mut rejects, &mut output, progress)?;
    check_ratio(Side::Vendor, output.vendor_rejects, output.vendor_records, settings.max_reject_ratio, &rejects_path)?;
    extract_internal(&dir, settings, source_url, &mut rejects, &mut output, progress)?;
    check_ratio(
        Side::Internal,
        output.internal_rejects,
        output.internal_users,
        settings.max_reject_ratio,
        &rejects_path,
    )?;
    rejects.finish().map_err(|source| ExtractError::Io { path: rejects_path, source })?;
    crate::run::atomic::sync_dir(&dir.join("x")).map_err(|source| ExtractError::Io { path: dir.clone(), source })?;
    Ok(output)
}

fn extract_vendor(
    dir: &Path,
    settings: &RunSettings,
    url: &SecretUrl,
    rejects: &mut RejectWriter,
    output: &mut ExtractOutput,
    progress: &dyn ExtractProgress,
) -> Result<(), ExtractError> {
    let options = vendor::FetchOptions {
        concurrency: settings.concurrency,
        max_retries: settings.max_retries,
        retry_delay: settings.retry_delay,
        request_timeout: settings.request_timeout,
    };
    let mut by_id = ExternalSorter::<VendorById>::new(dir, "vendor-by-id", settings.memory_budget_bytes);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExtractError::Io { path, source }
    };
    output.fetch = vendor::fetch_all(url, &options, |page, stats| -> Result<(), ExtractError> {
        progress.vendor_page(stats.max_total_pages);
        for reject in &page.rejects {
            let line = Reject { source: Side::Vendor, page: Some(page.number), id: reject.id, reason: &reject.reason };
            rejects.record(&line).map_err(io_error(rejects.path()))?;
        }
        output.vendor_rejects += page.rejects.len() as u64;
        output.vendor_records += page.users.len() as u64;
        for user in page.users {
            by_id.push(VendorById(user))?;
        }
        Ok(())
    })?;
    let (id_runs, id_stats) = by_id.finish()?;
    let mut by_key = ExternalSorter::<Keyed<VendorUser>>::new(dir, "vendor", settings.memory_budget_bytes);
    let mut pending: Option<VendorUser> = None;
    for record in merge::<VendorById>(id_runs.clone(), dir, DEFAULT_FAN_IN, "vendor-by-id")? {
        let VendorById(user) = record?;
        // Sorted by (id, page, position): of equal ids, the last one wins.
        if let Some(previous) = pending.take() {
            if previous.id == user.id {
                output.duplicate_vendor_ids += 1;
            } else {
                by_key.push(Keyed::new(previous, &settings.match_on))?;
                output.vendor_users += 1;
            }
        }
        pending = Some(user);
    }
    if let Some(last) = pending {
        by_key.push(Keyed::new(last, &settings.match_on))?;
        output.vendor_users += 1;
    }
    remove_runs(dir, &id_runs, "vendor-by-id")?;
    let (runs, key_stats) = by_key.finish()?;
    output.vendor_runs = runs;
    output.sorts[0] = id_stats;
    output.sorts[1] = key_stats;
    Ok(())
}

/// Deletes the by-id runs and any intermediate merge runs of `kind`.
fn remove_runs(dir: &Path, runs: &[RunFile], kind: &str) -> Result<(), ExtractError> {
    for run in runs {
        std::fs::remove_file(&run.path).map_err(|source| ExtractError::Io { path: run.path.clone(), source })?;
    }
    let entries = std::fs::read_dir(dir).map_err(|source| ExtractError::Io { path: dir.to_path_buf(), source })?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{kind}-merge-")) {
            std::fs::remove_file(entry.path()).map_err(|source| ExtractError::Io { path: entry.path(), source })?;
        }
    }
    Ok(())
}

fn extract_internal(
    dir: &Path,
    settings: &RunSettings,
    url: &SecretUrl,
    rejects: &mut RejectWriter,
    output: &mut ExtractOutput,
    progress: &dyn ExtractProgress,
) -> Result<(), ExtractError> {
    let mut client = crate::db::connect(url, "source")?;
    let mut sorter =
        ExternalSorter::<Keyed<crate::model::InternalUser>>::new(dir, "internal", settings.memory_budget_bytes);
    let fields: &[KeyField] = &settings.match_on;
    let mut seen = 0u64;
    internal::stream(&mut client, |row| -> Result<(), ExtractError> {
        seen += 1;
        if seen.is_multiple_of(10_000) {
            progress.internal_rows(10_000);
        }
        match row {
            Ok(user) => {
                output.internal_users += 1;
                sorter.push(Keyed::new(user, fields))?;
            }
            Err(reject) => {
                output.internal_rejects += 1;
                let line = Reject { source: Side::Internal, page: None, id: reject.id, reason: &reject.reason };
                rejects
                    .record(&line)
                    .map_err(|source| ExtractError::Io { path: rejects.path().to_path_buf(), source })?;
            }
        }
        Ok(())
    })?;
    progress.internal_rows(seen % 10_000);
    let (runs, stats) = sorter.finish()?;
    output.internal_runs = runs;
    output.sorts[2] = stats;
    Ok(())
}
