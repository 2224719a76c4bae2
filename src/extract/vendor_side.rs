//! The vendor side of extract: pages into runs sorted by id (checkpointed
//! run by run), then one user per id into runs sorted by match key.

use std::time::Instant;

use super::checkpoint::{VendorCheckpoint, VendorCounters, VendorDone};
use super::http::Page;
use super::vendor::{self, FetchStats};
use super::{ExtractError, Shared};
use crate::failpoint;
use crate::model::Side;
use crate::record::{vendor_by_id, Record};
use crate::run::rejects::RejectWriter;
use crate::secret::SecretUrl;
use crate::sort::merge::{merge, DEFAULT_FAN_IN};
use crate::sort::{Sorter, Spilled};

/// What a sealed by-id buffer covers: the pages completed since the buffer
/// before, and the counters at the last page boundary.
#[derive(Debug)]
struct Covered {
    pages: Vec<u32>,
    counters: VendorCounters,
}

/// One attempt at the vendor side.
pub(super) struct VendorSide<'a> {
    shared: &'a Shared<'a>,
    rejects: RejectWriter,
    /// What the checkpoint says is durable.
    state: VendorCheckpoint,
    /// Pages wholly pushed since the last seal.
    pages_pushed: Vec<u32>,
    /// Counters at the last page boundary.
    counters: VendorCounters,
}

impl<'a> VendorSide<'a> {
    pub(super) fn new(shared: &'a Shared<'a>, state: VendorCheckpoint, rejects: RejectWriter) -> VendorSide<'a> {
        let counters = state.counters;
        VendorSide { shared, rejects, state, pages_pushed: Vec::new(), counters }
    }

    /// Fetches every page not yet in a run, then sorts one user per id by key.
    pub(super) fn run(mut self, url: &SecretUrl) -> Result<(VendorDone, f64), ExtractError> {
        let started = Instant::now();
        if let Some(done) = self.state.done.clone() {
            return Ok((done, 0.0));
        }
        let shared = self.shared;
        let settings = shared.settings;
        let options = vendor::FetchOptions {
            concurrency: settings.concurrency,
            max_retries: settings.max_retries,
            retry_delay: settings.retry_delay,
            request_timeout: settings.request_timeout,
            max_pages: settings.max_pages,
            ca_pem: shared.vendor_ca_pem.clone(),
            key_fields: settings.match_on.clone(),
        };
        let budget = shared.side_budget_bytes();
        let mut by_id = Sorter::with_runs(&shared.dir, "vendor-by-id", budget, self.state.by_id_runs.clone())?;
        let done_pages = self.state.pages_done.clone();
        let fetch = vendor::fetch_all(url, &options, &done_pages, self.counters.fetch, |page, stats| {
            self.take_page(&mut by_id, page, stats)
        })?;
        self.counters.fetch = fetch;
        let covered = self.covered();
        let (spilled, runs, by_id_stats) = by_id.finish(covered)?;
        self.apply(spilled)?;
        let done = self.sort_by_key(runs, by_id_stats)?;
        Ok((done, started.elapsed().as_secs_f64()))
    }

    /// Pushes one page's users, sealing the buffer whenever it is full.
    fn take_page(&mut self, by_id: &mut Sorter<Covered>, page: Page, stats: &FetchStats) -> Result<(), ExtractError> {
        self.shared.check_stop()?;
        self.shared.progress.vendor_page(stats.max_total_pages);
        for reject in &page.rejects {
            self.shared.record_reject(&mut self.rejects, Side::Vendor, Some(page.number), reject.id, &reject.reason)?;
        }
        for record in page.records() {
            if !by_id.fits(record.encoded_len()) {
                let covered = self.covered();
                let spilled = by_id.seal(covered)?;
                self.apply(spilled)?;
            }
            by_id.push(record);
        }
        self.pages_pushed.push(page.number);
        self.counters.records += page.users as u64;
        self.counters.rejects += page.rejects.len() as u64;
        self.counters.rejects_bytes = self.rejects.bytes();
        self.counters.fetch = *stats;
        failpoint::hit("extract.vendor.page");
        Ok(())
    }

    fn covered(&mut self) -> Covered {
        Covered { pages: std::mem::take(&mut self.pages_pushed), counters: self.counters }
    }

    /// Records published runs in the checkpoint.
    fn apply(&mut self, spilled: Vec<Spilled<Covered>>) -> Result<(), ExtractError> {
        for Spilled { run, token } in spilled {
            self.state.by_id_runs.extend(run);
            self.state.pages_done.extend(token.pages);
            self.state.counters = token.counters;
            self.shared.sync_rejects(&mut self.rejects)?;
            self.shared.save(|checkpoint| checkpoint.vendor = self.state.clone())?;
            failpoint::hit("extract.vendor.checkpoint");
        }
        Ok(())
    }

    /// Keeps one user per vendor id (the later page wins, SPEC §2) and sorts
    /// them by match key; then the by-id runs are no longer needed.
    fn sort_by_key(
        mut self,
        id_runs: Vec<crate::sort::run_file::RunFile>,
        by_id_stats: crate::sort::SortStats,
    ) -> Result<VendorDone, ExtractError> {
        let shared = self.shared;
        let mut by_key = Sorter::new(&shared.dir, "vendor", shared.side_budget_bytes())?;
        let mut merged = merge(id_runs.clone(), &shared.dir, DEFAULT_FAN_IN, "vendor-by-id")?;
        let (mut users, mut duplicates) = (0u64, 0u64);
        // The record waiting to learn whether a later copy of its id follows.
        let mut pending: Vec<u8> = Vec::new();
        while let Some(encoded) = merged.peek_encoded() {
            let next = Record::decode(encoded).ok_or_else(|| corrupt_record(&id_runs))?;
            if let Some(previous) = Record::decode(&pending) {
                if previous.sort == next.sort {
                    // The same page position read twice (a page re-read after
                    // a resume): the same record, not a duplicate id.
                } else if vendor_by_id::id_bytes(previous.sort) == vendor_by_id::id_bytes(next.sort) {
                    duplicates += 1;
                } else {
                    by_key
                        .push_auto(vendor_by_id::by_key(previous.payload).ok_or_else(|| corrupt_record(&id_runs))?)?;
                    users += 1;
                }
            }
            pending.clear();
            pending.extend_from_slice(encoded);
            merged.advance()?;
        }
        if let Some(last) = Record::decode(&pending) {
            by_key.push_auto(vendor_by_id::by_key(last.payload).ok_or_else(|| corrupt_record(&id_runs))?)?;
            users += 1;
        }
        drop(merged);
        let (_, runs, by_key_stats) = by_key.finish(())?;
        self.shared.sync_rejects(&mut self.rejects)?;
        let done = VendorDone { runs, users, duplicates, sorts: [by_id_stats, by_key_stats], counters: self.counters };
        self.state = VendorCheckpoint { done: Some(done.clone()), ..VendorCheckpoint::default() };
        self.shared.save(|checkpoint| checkpoint.vendor = self.state.clone())?;
        failpoint::hit("extract.vendor.done");
        // The checkpoint no longer lists them.
        for run in &id_runs {
            std::fs::remove_file(&run.path).map_err(|source| ExtractError::Io { path: run.path.clone(), source })?;
        }
        Ok(done)
    }
}

/// A by-id record whose payload does not hold a key record: the run is damaged.
fn corrupt_record(runs: &[crate::sort::run_file::RunFile]) -> ExtractError {
    let path = runs.first().map(|r| r.path.clone()).unwrap_or_default();
    ExtractError::Sort(crate::sort::SortError::Corrupt { path, reason: "a vendor record is malformed".into() })
}
