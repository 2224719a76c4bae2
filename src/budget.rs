//! The memory budget: where every byte of `--memory-budget` goes, and what
//! the SPEC's 48 MiB allowance beside it holds.
//!
//! `--memory-budget` bounds the bytes of records held for sorting (SPEC §10).
//! It is shared out anew in each phase of a run, since the phases do not
//! overlap:
//!
//! ```text
//! phase                   share of --memory-budget
//! ----------------------  -------------------------------------------------
//! extract, while paging   vendor records sorter      1/2 x 65 %
//!                         vendor id entries sorter   1/2 x 35 %
//!                         internal sorter            1/2
//! extract, after paging   vendor drop list sorter    1/4
//!                         id entries merge buffers   1/4
//!                         internal sorter            1/2  (may still stream)
//! match                   merge buffers, 3 streams   all of it
//! ```
//!
//! A sorter holds its share as [`SORT_BUFFERS`] buffers: one filling while
//! the other is sorted and written. A merge holds one
//! [`SPILL_READ_BUFFER_BYTES`] buffer per spill file it reads, so its fan-in
//! is what its share holds, within [`MIN_FAN_IN`]..=[`MAX_FAN_IN`] (the
//! floor, for a tiny budget, comes out of the page bodies' part of the
//! allowance, which is free once paging is over).
//!
//! The allowance ([`ALLOWANCE_BYTES`]) holds what is not records: the vendor
//! page bodies while paging ([`page_body_cap`] each, at most
//! `2 x concurrency + 1` of them), the write buffers of the files being
//! written, and the program itself (code, thread stacks, driver buffers).

use serde::{Deserialize, Serialize};

/// SPEC §10: the process's peak resident memory stays under the budget plus this.
pub const ALLOWANCE_BYTES: u64 = 48 << 20;

/// Of the allowance, what the vendor page bodies held at once aim at.
pub const PAGE_BODIES_BYTES: u64 = 40 << 20;

/// Of the allowance, what the program takes besides the buffers named here
/// (code, thread stacks, the database drivers' and HTTP client's buffers).
pub const PROGRAM_BYTES: u64 = 4 << 20;

/// Smallest page body cap: a real page of 1,000 users is ~200 KB.
const MIN_PAGE_BODY_BYTES: u64 = 640 << 10;

/// Largest page body cap.
const MAX_PAGE_BODY_BYTES: u64 = 8 << 20;

/// Buffers a sorter holds: one filling, one being sorted and written.
pub const SORT_BUFFERS: u64 = 2;

/// The read buffer of one spill file being merged.
pub const SPILL_READ_BUFFER_BYTES: usize = 64 << 10;

/// The write buffer of a file being written (a spill file, a row segment)
/// and the chunk a COPY session sends at a time.
pub const WRITE_BUFFER_BYTES: usize = 256 << 10;

/// Most spill files merged at once: it also bounds the open files.
pub const MAX_FAN_IN: usize = 256;

/// Fewest spill files merged at once, however small the budget.
pub const MIN_FAN_IN: usize = 16;

/// Smallest budget accepted.
pub const MIN_BYTES: u64 = 64 << 10;

/// Of the vendor side's half, the id entries' share: an id entry is about
/// half a record, and both sorters fill together.
const ID_ENTRIES_PERCENT: u64 = 35;

/// The streams match merges at once: vendor records, the vendor drop list, our records.
const MATCH_STREAMS: u64 = 3;

/// `--memory-budget`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemoryBudget(u64);

/// The shares of extract while vendor pages are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagingShares {
    /// The sorter of vendor records.
    pub vendor_records: u64,
    /// The sorter of vendor id entries.
    pub vendor_ids: u64,
    /// The sorter of our records.
    pub internal: u64,
}

/// The vendor side's shares once every page is in: listing the copies of
/// repeated ids while our side may still stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropListShares {
    /// The sorter of the drop list.
    pub drop_list: u64,
    /// Spill files of id entries merged at once.
    pub id_merge_fan_in: usize,
}

impl MemoryBudget {
    /// A budget of `bytes`, or `None` under [`MIN_BYTES`].
    pub fn new(bytes: u64) -> Option<MemoryBudget> {
        (bytes >= MIN_BYTES).then_some(MemoryBudget(bytes))
    }

    /// The budget in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Extract, while paging: each side half; the vendor half split between
    /// its records and their id entries.
    pub fn paging(self) -> PagingShares {
        let half = self.0 / 2;
        let vendor_ids = half / 100 * ID_ENTRIES_PERCENT;
        PagingShares { vendor_records: half - vendor_ids, vendor_ids, internal: half }
    }

    /// Extract, after paging: the vendor half split between the drop list
    /// and the merge of the id entries.
    pub fn drop_list(self) -> DropListShares {
        let quarter = self.0 / 4;
        DropListShares { drop_list: quarter, id_merge_fan_in: fan_in(quarter, 1) }
    }

    /// Match: spill files merged at once by each of its streams.
    pub fn match_fan_in(self) -> usize {
        fan_in(self.0, MATCH_STREAMS)
    }
}

/// Spill files each of `streams` merges may read at once within `share`.
fn fan_in(share: u64, streams: u64) -> usize {
    let per_stream = share / streams / SPILL_READ_BUFFER_BYTES as u64;
    usize::try_from(per_stream).unwrap_or(usize::MAX).clamp(MIN_FAN_IN, MAX_FAN_IN)
}

/// Vendor page bodies held at once with `concurrency` requests in flight:
/// in flight, queued, and the one being sorted.
pub fn pages_held(concurrency: u32) -> u64 {
    2 * u64::from(concurrency.max(1)) + 1
}

/// Largest page body accepted with `concurrency` requests in flight: the
/// page bodies held together stay within [`PAGE_BODIES_BYTES`]. The cap bounds
/// the body and, estimated before the users are built, the parsed page. A
/// typical page of 1,000 users is ~200 KB of JSON and ~250 KB of records; the
/// cap is never under 640 KiB nor over 8 MiB.
pub fn page_body_cap(concurrency: u32) -> u64 {
    (PAGE_BODIES_BYTES / pages_held(concurrency)).clamp(MIN_PAGE_BODY_BYTES, MAX_PAGE_BODY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGETS: [u64; 9] =
        [MIN_BYTES, 100_000, 128 << 10, 1 << 20, 8 << 20, 64 << 20, 999_999_999, 1 << 30, 64 << 30];
    const READ: u64 = SPILL_READ_BUFFER_BYTES as u64;
    /// Sorters writing a spill file at once while paging: vendor records, vendor id entries, ours.
    const PAGING_SORTERS: u64 = 3;

    #[test]
    fn the_shares_of_each_phase_sum_to_at_most_the_budget() {
        for bytes in BUDGETS {
            let budget = MemoryBudget::new(bytes).unwrap();
            let paging = budget.paging();
            assert!(paging.vendor_records + paging.vendor_ids + paging.internal <= bytes, "{bytes}: {paging:?}");
            let drops = budget.drop_list();
            let id_merge = drops.id_merge_fan_in as u64 * READ;
            let floor = MIN_FAN_IN as u64 * READ;
            // Above its floor the id merge is inside its quarter; at the floor it takes from the allowance.
            let id_merge_in_budget = if id_merge > floor { id_merge } else { 0 };
            assert!(drops.drop_list + id_merge_in_budget + paging.internal <= bytes, "{bytes}: {drops:?}");
            assert!(id_merge <= (bytes / 4).max(floor), "{bytes}: id merge {id_merge}");
            let merge = MATCH_STREAMS * budget.match_fan_in() as u64 * READ;
            assert!(merge <= bytes.max(MATCH_STREAMS * floor), "{bytes}: match merge {merge}");
        }
    }

    #[test]
    fn what_the_allowance_holds_fits_in_it() {
        let floors = MATCH_STREAMS * MIN_FAN_IN as u64 * READ;
        assert!(floors <= PAGE_BODIES_BYTES, "the merge floors use the page bodies' part once paging is over");
        let writing = PAGING_SORTERS * WRITE_BUFFER_BYTES as u64;
        for concurrency in 1..=32 {
            let pages = pages_held(concurrency) * page_body_cap(concurrency);
            assert!(pages + writing + PROGRAM_BYTES <= ALLOWANCE_BYTES, "concurrency {concurrency}: pages {pages}");
        }
    }

    #[test]
    fn a_sorter_share_is_never_zero_and_a_budget_below_the_minimum_is_refused() {
        let paging = MemoryBudget::new(MIN_BYTES).unwrap().paging();
        assert!(paging.vendor_records > 0 && paging.vendor_ids > 0 && paging.internal > 0);
        assert_eq!(MemoryBudget::new(MIN_BYTES - 1), None);
    }

    #[test]
    fn fan_in_grows_with_the_budget_within_its_bounds() {
        assert_eq!(MemoryBudget::new(MIN_BYTES).unwrap().match_fan_in(), MIN_FAN_IN);
        assert_eq!(MemoryBudget::new(64 << 20).unwrap().match_fan_in(), MAX_FAN_IN);
        assert_eq!(MemoryBudget::new(24 << 20).unwrap().match_fan_in(), 128);
        assert_eq!(MemoryBudget::new(64 << 20).unwrap().drop_list().id_merge_fan_in, MAX_FAN_IN);
    }

    #[test]
    fn body_cap_shrinks_with_concurrency_within_bounds() {
        assert_eq!(page_body_cap(1), 8 << 20);
        assert_eq!(page_body_cap(8), (40 << 20) / 17);
        assert_eq!(page_body_cap(32), 640 << 10);
        assert!(page_body_cap(0) <= 8 << 20);
    }
}
