//! The vendor side of extract: pages into spill files of records sorted by
//! key and spill files of id entries (checkpointed together), then the list
//! of the copies of an id to leave out, so that one user per id is kept
//! without sorting the records a second time.

use std::collections::VecDeque;
use std::time::Instant;

use super::attempt::Attempt;
use super::checkpoint::{VendorCheckpoint, VendorCounters, VendorDone};
use super::error::ExtractError;
use super::vendor_api::page::Page;
use super::vendor_api::{self, FetchStats};
use crate::bug::Bug;
use crate::failpoint;
use crate::model::Side;
use crate::record::{vendor_key, Record};
use crate::rundir::rejects::RejectWriter;
use crate::secret::SecretUrl;
use crate::sort::merge::merge;
use crate::sort::spill_file::SpillFile;
use crate::sort::{SortStats, Sorter, Spilled};

/// What sealed buffers cover: the pages completed since the seal before,
/// and the counters at the last page boundary.
#[derive(Debug)]
struct Covered {
    pages: Vec<u32>,
    counters: VendorCounters,
}

/// A seal of both sorters, waiting for both spill files to be published.
struct Sealed {
    seal: u64,
    covered: Covered,
    record_file: Option<Option<SpillFile>>,
    id_file: Option<Option<SpillFile>>,
}

/// One attempt at the vendor side.
pub(super) struct VendorSide<'a> {
    attempt: &'a Attempt<'a>,
    rejects: RejectWriter,
    /// What the checkpoint says is durable.
    state: VendorCheckpoint,
    /// Pages wholly pushed since the last seal.
    pages_pushed: Vec<u32>,
    /// Counters at the last page boundary.
    counters: VendorCounters,
    /// Seals whose spill files are not both published yet, oldest first.
    sealed: VecDeque<Sealed>,
    seals: u64,
}

/// The two sorters filled from the pages.
struct Sorters {
    records: Sorter<u64>,
    ids: Sorter<u64>,
}

impl<'a> VendorSide<'a> {
    pub(super) fn new(attempt: &'a Attempt<'a>, state: VendorCheckpoint, rejects: RejectWriter) -> VendorSide<'a> {
        let counters = state.counters;
        VendorSide { attempt, rejects, state, pages_pushed: Vec::new(), counters, sealed: VecDeque::new(), seals: 0 }
    }

    /// Fetches every page not yet in a spill file, then lists the copies to
    /// leave out. Returns the side's result and the seconds it took.
    pub(super) fn spill_pages(mut self, url: &SecretUrl) -> Result<(VendorDone, f64), ExtractError> {
        let started = Instant::now();
        if let Some(done) = self.state.done.clone() {
            return Ok((done, 0.0));
        }
        let attempt = self.attempt;
        let settings = attempt.settings;
        let options = vendor_api::FetchOptions::new(settings, attempt.vendor_ca_pem.as_deref());
        let shares = settings.memory_budget.paging();
        let mut sorters = Sorters {
            records: Sorter::with_files(
                &attempt.dir,
                "vendor",
                shares.vendor_records,
                self.state.record_spills.clone(),
            )?,
            ids: Sorter::with_files(&attempt.dir, "vendor-ids", shares.vendor_ids, self.state.id_spills.clone())?,
        };
        let done_pages = self.state.pages_done.clone();
        let fetch = vendor_api::fetch_all(url, &options, &done_pages, self.counters.fetch, |page, stats| {
            self.take_page(&mut sorters, page, stats)
        })?;
        self.counters.fetch = fetch;
        let seal = self.next_seal();
        let (record_spilled, record_files, record_stats) = sorters.records.finish(seal)?;
        let (id_spilled, id_files, id_stats) = sorters.ids.finish(seal)?;
        self.apply(record_spilled, id_spilled)?;
        let done = self.list_drops(record_files, record_stats, id_files, id_stats)?;
        Ok((done, started.elapsed().as_secs_f64()))
    }

    /// Pushes one page's users, sealing both sorters whenever one is full.
    fn take_page(&mut self, sorters: &mut Sorters, page: Page, stats: &FetchStats) -> Result<(), ExtractError> {
        self.attempt.check_stop()?;
        self.attempt.progress.vendor_page(stats.max_total_pages);
        for reject in &page.rejects {
            self.attempt.record_reject(
                &mut self.rejects,
                Side::Vendor,
                Some(page.number),
                reject.id,
                &reject.reason,
            )?;
        }
        for record in page.records() {
            let id_entry = vendor_key::id_entry(record.sort);
            if !sorters.records.fits(record.encoded_len()) || !sorters.ids.fits(id_entry.encoded_len()) {
                let seal = self.next_seal();
                let record_spilled = sorters.records.seal(seal)?;
                let id_spilled = sorters.ids.seal(seal)?;
                self.apply(record_spilled, id_spilled)?;
            }
            sorters.records.push(record);
            sorters.ids.push(id_entry);
        }
        self.pages_pushed.push(page.number);
        self.counters.records += page.users as u64;
        self.counters.rejects += page.rejects.len() as u64;
        self.counters.rejects_file = self.rejects.mark();
        self.counters.fetch = *stats;
        failpoint::hit("extract.vendor.page");
        Ok(())
    }

    /// Numbers a seal of both sorters and remembers what it covers.
    fn next_seal(&mut self) -> u64 {
        self.seals += 1;
        let covered = Covered { pages: std::mem::take(&mut self.pages_pushed), counters: self.counters };
        self.sealed.push_back(Sealed { seal: self.seals, covered, record_file: None, id_file: None });
        self.seals
    }

    /// Notes published spill files; once both files of the oldest seals are
    /// out, records them in the checkpoint.
    fn apply(&mut self, records: Vec<Spilled<u64>>, ids: Vec<Spilled<u64>>) -> Result<(), ExtractError> {
        for spilled in records {
            if let Some(sealed) = self.sealed.iter_mut().find(|s| s.seal == spilled.token) {
                sealed.record_file = Some(spilled.file);
            }
        }
        for spilled in ids {
            if let Some(sealed) = self.sealed.iter_mut().find(|s| s.seal == spilled.token) {
                sealed.id_file = Some(spilled.file);
            }
        }
        while self.sealed.front().is_some_and(|s| s.record_file.is_some() && s.id_file.is_some()) {
            let Some(sealed) = self.sealed.pop_front() else { break };
            self.state.record_spills.extend(sealed.record_file.flatten());
            self.state.id_spills.extend(sealed.id_file.flatten());
            self.state.pages_done.extend(sealed.covered.pages);
            self.state.counters = sealed.covered.counters;
            self.attempt.sync_rejects(&mut self.rejects)?;
            self.attempt.save(|checkpoint| checkpoint.vendor = self.state.clone())?;
            failpoint::hit("extract.vendor.checkpoint");
        }
        Ok(())
    }

    /// Walks the id entries in (id, page, position) order: of the copies of
    /// an id, every one but the last (the latest page wins, SPEC §2) is
    /// listed to be left out, by its record's sort key, in the records' order.
    fn list_drops(
        mut self,
        record_files: Vec<SpillFile>,
        record_stats: SortStats,
        id_files: Vec<SpillFile>,
        id_stats: SortStats,
    ) -> Result<VendorDone, ExtractError> {
        let attempt = self.attempt;
        let shares = attempt.settings.memory_budget.drop_list();
        let mut drops = Sorter::new(&attempt.dir, "vendor-drops", shares.drop_list)?;
        let mut entries = merge(id_files.clone(), &attempt.dir, shares.id_merge_fan_in, "vendor-ids")?;
        let (mut listed, mut duplicates) = (0u64, 0u64);
        let mut previous: Vec<u8> = Vec::new();
        while let Some(entry) = entries.peek_encoded() {
            let next = Record::decode(entry).ok_or_else(|| Bug::new("a vendor id entry read back does not decode"))?;
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
        let (_, drop_spills, _) = drops.finish(())?;
        self.attempt.sync_rejects(&mut self.rejects)?;
        let users = id_stats.records - listed;
        let sorts = [id_stats, record_stats];
        let counters = self.counters;
        let done = VendorDone { spills: record_files, drop_spills, users, duplicates, sorts, counters };
        self.state = VendorCheckpoint { done: Some(done.clone()), ..VendorCheckpoint::default() };
        self.attempt.save(|checkpoint| checkpoint.vendor = self.state.clone())?;
        failpoint::hit("extract.vendor.done");
        // The checkpoint no longer lists them.
        for file in &id_files {
            std::fs::remove_file(&file.path).map_err(|source| ExtractError::Io { path: file.path.clone(), source })?;
        }
        Ok(done)
    }
}
