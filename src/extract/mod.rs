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
//! `--max-reject-ratio` fails the stage. Each spill at a page or row boundary
//! writes a [`checkpoint::Checkpoint`], from which `resume` continues.

pub mod checkpoint;
pub mod http;
pub mod internal;
pub mod retry;
pub mod vendor;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use checkpoint::Checkpoint;

use crate::failpoint;
use crate::key::KeyField;
use crate::model::{InternalUser, Keyed, Side, VendorById, VendorUser};
use crate::run::rejects::{check_ratio, Reject, RejectRatioExceeded, RejectWriter};
use crate::run::RunDir;
use crate::secret::SecretUrl;
use crate::settings::RunSettings;
use crate::sort::codec::RunRecord;
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
    /// Times the source stream broke off and was continued on a new connection.
    pub source_reconnects: u32,
    /// Our rows a resumed extract took from its checkpoint instead of reading again.
    #[serde(default)]
    pub internal_rows_resumed: u64,
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

/// Times a broken source stream is continued on a new connection.
pub const SOURCE_RETRIES: u32 = 3;

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
    let Sources { vendor_url, vendor_ca_pem, source_url } = sources;
    let dir = run.stage_dir("extract");
    let rejects_path = run.rejects();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExtractError::Io { path, source }
    };
    let saved = if from_checkpoint { Checkpoint::load(&dir)? } else { None };
    let (state, rejects) = match saved {
        Some(mut state) => {
            state.remove_leftovers(&dir)?;
            state.output.internal_rows_resumed = state.output.internal_users + state.output.internal_rejects;
            let rejects = RejectWriter::resume(&rejects_path, state.rejects_bytes).map_err(io(&rejects_path))?;
            (state, rejects)
        }
        None => {
            run.reset_stage_dir("extract").map_err(io(&dir))?;
            (Checkpoint::default(), RejectWriter::create(&rejects_path).map_err(io(&rejects_path))?)
        }
    };
    let mut extraction = Extraction {
        dir: dir.clone(),
        settings,
        rejects,
        state,
        progress,
        vendor_ca_pem: vendor_ca_pem.map(<[u8]>::to_vec),
    };
    if !extraction.state.vendor_done {
        extraction.extract_vendor(vendor_url)?;
    }
    let output = &extraction.state.output;
    check_ratio(Side::Vendor, output.vendor_rejects, output.vendor_records, settings.max_reject_ratio, &rejects_path)?;
    extraction.extract_internal(source_url)?;
    let output = &extraction.state.output;
    check_ratio(
        Side::Internal,
        output.internal_rejects,
        output.internal_users,
        settings.max_reject_ratio,
        &rejects_path,
    )?;
    extraction.rejects.sync().map_err(io(&rejects_path))?;
    // Done: a later redo of this stage must not continue from this attempt.
    let checkpoint_path = dir.join(checkpoint::FILE_NAME);
    if checkpoint_path.exists() {
        std::fs::remove_file(&checkpoint_path).map_err(io(&checkpoint_path))?;
    }
    crate::run::atomic::sync_directory(&dir).map_err(io(&dir))?;
    Ok(extraction.state.output)
}

/// One extract attempt: its directory, rejects and checkpoint state.
struct Extraction<'a> {
    dir: PathBuf,
    settings: &'a RunSettings,
    rejects: RejectWriter,
    state: Checkpoint,
    progress: &'a dyn ExtractProgress,
    vendor_ca_pem: Option<Vec<u8>>,
}

impl Extraction<'_> {
    /// Makes the rejects durable, then writes the checkpoint.
    fn checkpoint(&mut self) -> Result<(), ExtractError> {
        let path = self.rejects.path().to_path_buf();
        self.state.rejects_bytes = self.rejects.sync().map_err(|source| ExtractError::Io { path, source })?;
        self.state.save(&self.dir)?;
        Ok(())
    }

    fn record_reject(
        &mut self,
        side: Side,
        page: Option<u32>,
        id: Option<i64>,
        reason: &str,
    ) -> Result<(), ExtractError> {
        let line = Reject { source: side, page, id, reason };
        let path = self.rejects.path().to_path_buf();
        self.rejects.record(&line).map_err(|source| ExtractError::Io { path, source })
    }

    fn extract_vendor(&mut self, url: &SecretUrl) -> Result<(), ExtractError> {
        let settings = self.settings;
        let options = vendor::FetchOptions {
            concurrency: settings.concurrency,
            max_retries: settings.max_retries,
            retry_delay: settings.retry_delay,
            request_timeout: settings.request_timeout,
            max_pages: settings.max_pages,
            ca_pem: self.vendor_ca_pem.clone(),
        };
        let budget = settings.memory_budget_bytes;
        let mut by_id =
            ExternalSorter::with_runs(&self.dir, "vendor-by-id", budget, self.state.vendor_by_id_runs.clone());
        let done = self.state.vendor_pages_done.clone();
        let mut pages_in_buffer = Vec::new();
        let mut stats_before = self.state.fetch;
        let stats =
            vendor::fetch_all(url, &options, &done, self.state.fetch, |page, stats| -> Result<(), ExtractError> {
                self.progress.vendor_page(stats.max_total_pages);
                let users: Vec<VendorById> = page.users.into_iter().map(VendorById).collect();
                let bytes = users.iter().map(RunRecord::memory_bytes).sum();
                // Spill between pages, so a checkpoint lists whole pages only.
                if by_id.needs_spill_for(bytes) {
                    by_id.spill()?;
                    self.state.vendor_by_id_runs = by_id.runs().to_vec();
                    for page in pages_in_buffer.drain(..) {
                        self.state.vendor_pages_done.insert(page);
                    }
                    self.state.fetch = stats_before;
                    self.checkpoint()?;
                    failpoint::hit("extract.vendor.checkpoint");
                }
                for reject in &page.rejects {
                    self.record_reject(Side::Vendor, Some(page.number), reject.id, &reject.reason)?;
                }
                self.state.output.vendor_rejects += page.rejects.len() as u64;
                self.state.output.vendor_records += users.len() as u64;
                for user in users {
                    by_id.push(user)?;
                }
                pages_in_buffer.push(page.number);
                stats_before = *stats;
                failpoint::hit("extract.vendor.page");
                Ok(())
            })?;
        let (id_runs, id_stats) = by_id.finish()?;
        self.state.output.fetch = stats;
        self.state.output.sorts[0] = id_stats;
        self.key_vendor_users(id_runs)
    }

    /// Keeps one user per vendor id (the later page wins, SPEC §2) and sorts
    /// them by match key; then the by-id runs are no longer needed.
    fn key_vendor_users(&mut self, id_runs: Vec<RunFile>) -> Result<(), ExtractError> {
        let settings = self.settings;
        let mut by_key = ExternalSorter::<Keyed<VendorUser>>::new(&self.dir, "vendor", settings.memory_budget_bytes);
        let output = &mut self.state.output;
        let mut pending: Option<VendorUser> = None;
        for record in merge::<VendorById>(id_runs.clone(), &self.dir, DEFAULT_FAN_IN, "vendor-by-id")? {
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
        let (runs, key_stats) = by_key.finish()?;
        output.vendor_runs = runs;
        output.sorts[1] = key_stats;
        self.state.vendor_done = true;
        self.state.vendor_by_id_runs.clear();
        self.state.vendor_pages_done = Default::default();
        self.checkpoint()?;
        failpoint::hit("extract.vendor.done");
        // The checkpoint no longer lists them: this also drops merge leftovers.
        let state = self.state.clone();
        state.remove_leftovers(&self.dir)?;
        Ok(())
    }

    fn extract_internal(&mut self, url: &SecretUrl) -> Result<(), ExtractError> {
        let budget = self.settings.memory_budget_bytes;
        let mut sorter = ExternalSorter::with_runs(&self.dir, "internal", budget, self.state.internal_runs.clone());
        let mut last_id = self.state.internal_last_id;
        let mut attempt = 0;
        loop {
            match self.stream_internal(url, &mut sorter, &mut last_id) {
                Ok(()) => break,
                Err(error) if attempt < SOURCE_RETRIES && is_source_break(&error, attempt) => {
                    attempt += 1;
                    self.state.output.source_reconnects += 1;
                    std::thread::sleep(Duration::from_millis(250 << attempt));
                }
                Err(error) => return Err(error),
            }
        }
        let (runs, stats) = sorter.finish()?;
        self.state.output.internal_runs = runs;
        self.state.output.sorts[2] = stats;
        Ok(())
    }

    /// One connection's worth of the source stream, from after `last_id`.
    fn stream_internal(
        &mut self,
        url: &SecretUrl,
        sorter: &mut ExternalSorter<Keyed<InternalUser>>,
        last_id: &mut Option<i64>,
    ) -> Result<(), ExtractError> {
        let mut client = crate::db::connect(url, "source")?;
        let backend = client.query_one("SELECT pg_backend_pid()", &[]).map_err(internal::InternalError::from)?;
        let backend: i32 = backend.get(0);
        let fields: &[KeyField] = &self.settings.match_on;
        let mut seen = 0u64;
        internal::stream(&mut client, *last_id, |row| -> Result<(), ExtractError> {
            seen += 1;
            if seen.is_multiple_of(10_000) {
                self.progress.internal_rows(10_000);
            }
            failpoint::hit("extract.internal.rows");
            if failpoint::fires("extract.internal.drop") {
                terminate_backend(url, backend);
            }
            match row {
                Ok(user) => {
                    let keyed = Keyed::new(user, fields);
                    if sorter.needs_spill_for(keyed.memory_bytes()) {
                        sorter.spill()?;
                        self.state.internal_runs = sorter.runs().to_vec();
                        self.state.internal_last_id = *last_id;
                        self.checkpoint()?;
                        failpoint::hit("extract.internal.checkpoint");
                    }
                    *last_id = Some(keyed.user.id);
                    self.state.output.internal_users += 1;
                    sorter.push(keyed)?;
                }
                Err(reject) => {
                    *last_id = reject.id.or(*last_id);
                    self.state.output.internal_rejects += 1;
                    self.record_reject(Side::Internal, None, reject.id, &reject.reason)?;
                }
            }
            Ok(())
        })?;
        self.progress.internal_rows(seen % 10_000);
        Ok(())
    }
}

/// A broken source stream is worth continuing; so is a failed reconnect
/// after a break (the server may be restarting), but not a first connect.
fn is_source_break(error: &ExtractError, attempt: u32) -> bool {
    match error {
        ExtractError::Internal(e) => e.is_transient(),
        ExtractError::Connect(_) => attempt > 0,
        _ => false,
    }
}

/// Test hook (failpoint `extract.internal.drop`): the server ends our source
/// session, as an operator's `pg_terminate_backend` or a restart would.
fn terminate_backend(url: &SecretUrl, backend: i32) {
    if let Ok(mut admin) = crate::db::connect(url, "source") {
        let _ = admin.execute("SELECT pg_terminate_backend($1)", &[&backend]);
    }
}
