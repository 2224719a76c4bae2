//! The vendor side of extract: pages into runs of records sorted by key and
//! runs of id entries (checkpointed together), then the list of the copies
//! of an id to leave out, so that one user per id is kept without sorting
//! the records a second time.

use std::collections::VecDeque;
use std::time::Instant;

use super::checkpoint::{VendorCheckpoint, VendorCounters, VendorDone};
use super::http::Page;
use super::vendor::{self, FetchStats};
use super::{ExtractError, Shared};
use crate::failpoint;
use crate::model::Side;
use crate::record::{vendor_key, Record};
use crate::run::rejects::RejectWriter;
use crate::secret::SecretUrl;
use crate::sort::merge::{merge, DEFAULT_FAN_IN};
use crate::sort::run_file::RunFile;
use crate::sort::{SortStats, Sorter, Spilled};

/// Of the vendor side's budget, the share of the id entries' sorter (an id
/// entry is about half a record, and both sorters fill together).
const ID_SHARE_PERCENT: u64 = 35;

/// What sealed buffers cover: the pages completed since the seal before,
/// and the counters at the last page boundary.
#[derive(Debug)]
struct Covered {
    pages: Vec<u32>,
    counters: VendorCounters,
}

/// A seal of both sorters, waiting for both runs to be published.
struct Sealed {
    seal: u64,
    covered: Covered,
    record_run: Option<Option<RunFile>>,
    id_run: Option<Option<RunFile>>,
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
    /// Seals whose runs are not both published yet, oldest first.
    sealed: VecDeque<Sealed>,
    seals: u64,
}

/// The two sorters filled from the pages.
struct Sorters {
    records: Sorter<u64>,
    ids: Sorter<u64>,
}

impl<'a> VendorSide<'a> {
    pub(super) fn new(shared: &'a Shared<'a>, state: VendorCheckpoint, rejects: RejectWriter) -> VendorSide<'a> {
        let counters = state.counters;
        VendorSide { shared, rejects, state, pages_pushed: Vec::new(), counters, sealed: VecDeque::new(), seals: 0 }
    }

    /// Fetches every page not yet in a run, then lists the copies to leave out.
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
        let id_budget = budget / 100 * ID_SHARE_PERCENT;
        let mut sorters = Sorters {
            records: Sorter::with_runs(&shared.dir, "vendor", budget - id_budget, self.state.record_runs.clone())?,
            ids: Sorter::with_runs(&shared.dir, "vendor-ids", id_budget, self.state.id_runs.clone())?,
        };
        let done_pages = self.state.pages_done.clone();
        let fetch = vendor::fetch_all(url, &options, &done_pages, self.counters.fetch, |page, stats| {
            self.take_page(&mut sorters, page, stats)
        })?;
        self.counters.fetch = fetch;
        let seal = self.next_seal();
        let (record_spills, record_runs, record_stats) = sorters.records.finish(seal)?;
        let (id_spills, id_runs, id_stats) = sorters.ids.finish(seal)?;
        self.apply(record_spills, id_spills)?;
        let done = self.list_drops(record_runs, record_stats, id_runs, id_stats)?;
        Ok((done, started.elapsed().as_secs_f64()))
    }

    /// Pushes one page's users, sealing both sorters whenever one is full.
    fn take_page(&mut self, sorters: &mut Sorters, page: Page, stats: &FetchStats) -> Result<(), ExtractError> {
        self.shared.check_stop()?;
        self.shared.progress.vendor_page(stats.max_total_pages);
        for reject in &page.rejects {
            self.shared.record_reject(&mut self.rejects, Side::Vendor, Some(page.number), reject.id, &reject.reason)?;
        }
        for record in page.records() {
            let id_entry = vendor_key::id_entry(record.sort);
            if !sorters.records.fits(record.encoded_len()) || !sorters.ids.fits(id_entry.encoded_len()) {
                let seal = self.next_seal();
                let record_spills = sorters.records.seal(seal)?;
                let id_spills = sorters.ids.seal(seal)?;
                self.apply(record_spills, id_spills)?;
            }
            sorters.records.push(record);
            sorters.ids.push(id_entry);
        }
        self.pages_pushed.push(page.number);
        self.counters.records += page.users as u64;
        self.counters.rejects += page.rejects.len() as u64;
        self.counters.rejects_bytes = self.rejects.bytes();
        self.counters.fetch = *stats;
        failpoint::hit("extract.vendor.page");
        Ok(())
    }

    /// Numbers a seal of both sorters and remembers what it covers.
    fn next_seal(&mut self) -> u64 {
        self.seals += 1;
        let covered = Covered { pages: std::mem::take(&mut self.pages_pushed), counters: self.counters };
        self.sealed.push_back(Sealed { seal: self.seals, covered, record_run: None, id_run: None });
        self.seals
    }

    /// Notes published runs; once both runs of the oldest seals are out,
    /// records them in the checkpoint.
    fn apply(&mut self, records: Vec<Spilled<u64>>, ids: Vec<Spilled<u64>>) -> Result<(), ExtractError> {
        for spilled in records {
            if let Some(sealed) = self.sealed.iter_mut().find(|s| s.seal == spilled.token) {
                sealed.record_run = Some(spilled.run);
            }
        }
        for spilled in ids {
            if let Some(sealed) = self.sealed.iter_mut().find(|s| s.seal == spilled.token) {
                sealed.id_run = Some(spilled.run);
            }
        }
        while self.sealed.front().is_some_and(|s| s.record_run.is_some() && s.id_run.is_some()) {
            let Some(sealed) = self.sealed.pop_front() else { break };
            self.state.record_runs.extend(sealed.record_run.flatten());
            self.state.id_runs.extend(sealed.id_run.flatten());
            self.state.pages_done.extend(sealed.covered.pages);
            self.state.counters = sealed.covered.counters;
            self.shared.sync_rejects(&mut self.rejects)?;
            self.shared.save(|checkpoint| checkpoint.vendor = self.state.clone())?;
            failpoint::hit("extract.vendor.checkpoint");
        }
        Ok(())
    }

    /// Walks the id entries in (id, page, position) order: of the copies of
    /// an id, every one but the last (the latest page wins, SPEC §2) is
    /// listed to be left out, by its record's sort key, in the records' order.
    fn list_drops(
        mut self,
        record_runs: Vec<RunFile>,
        record_stats: SortStats,
        id_runs: Vec<RunFile>,
        id_stats: SortStats,
    ) -> Result<VendorDone, ExtractError> {
        let shared = self.shared;
        let mut drops = Sorter::new(&shared.dir, "vendor-drops", shared.side_budget_bytes())?;
        let mut entries = merge(id_runs.clone(), &shared.dir, DEFAULT_FAN_IN, "vendor-ids")?;
        let (mut listed, mut duplicates) = (0u64, 0u64);
        let mut previous: Vec<u8> = Vec::new();
        while let Some(entry) = entries.peek_encoded() {
            let next = Record::decode(entry).ok_or_else(|| corrupt_entry(&id_runs))?;
            if let Some(earlier) = Record::decode(&previous) {
                if vendor_key::id_bytes(earlier.sort) == vendor_key::id_bytes(next.sort) {
                    drops.push_auto(Record { sort: earlier.payload, payload: &[] })?;
                    listed += 1;
                    // The same page position read twice (a page read again
                    // after a resume) is one record, not a repeated id.
                    duplicates += u64::from(earlier.sort != next.sort);
                }
            }
            previous.clear();
            previous.extend_from_slice(entry);
            entries.advance()?;
        }
        drop(entries);
        let (_, drop_runs, _) = drops.finish(())?;
        self.shared.sync_rejects(&mut self.rejects)?;
        let users = id_stats.records - listed;
        let sorts = [id_stats, record_stats];
        let counters = self.counters;
        let done = VendorDone { runs: record_runs, drop_runs, users, duplicates, sorts, counters };
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

/// An id entry that does not decode: the run is damaged.
fn corrupt_entry(runs: &[RunFile]) -> ExtractError {
    let path = runs.first().map(|r| r.path.clone()).unwrap_or_default();
    ExtractError::Sort(crate::sort::SortError::Corrupt { path, reason: "a vendor id entry is malformed".into() })
}
