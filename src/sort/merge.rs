//! K-way merge of sorted runs into one sorted stream; ties go to the lower run index.
//!
//! At most `fan_in` runs are open at once. With more runs, the first `fan_in`
//! are merged into one intermediate run that takes their place at the front of
//! the list (keeping run order, so ties still resolve the same way), until
//! few enough remain for the final streaming merge.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::Path;

use super::codec::RunRecord;
use super::run_file::{RunFile, RunReader, RunWriter};
use super::SortError;

/// Runs merged at once.
pub const DEFAULT_FAN_IN: usize = 64;

struct Head<R> {
    record: R,
    run: usize,
}

impl<R: Ord> Ord for Head<R> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse, so the smallest record (then the
        // lowest run index) comes out first.
        other.record.cmp(&self.record).then_with(|| other.run.cmp(&self.run))
    }
}
impl<R: Ord> PartialOrd for Head<R> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<R: Ord> PartialEq for Head<R> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<R: Ord> Eq for Head<R> {}

/// A sorted stream over several runs.
pub struct MergeIter<R> {
    readers: Vec<RunReader<R>>,
    heap: BinaryHeap<Head<R>>,
    failed: bool,
}

impl<R: RunRecord> MergeIter<R> {
    /// Opens every run and reads its first record.
    fn open(runs: &[RunFile]) -> Result<MergeIter<R>, SortError> {
        let mut readers = Vec::with_capacity(runs.len());
        let mut heap = BinaryHeap::with_capacity(runs.len());
        for (run, file) in runs.iter().enumerate() {
            let mut reader = RunReader::open(&file.path)?;
            if let Some(record) = reader.next_record()? {
                heap.push(Head { record, run });
            }
            readers.push(reader);
        }
        Ok(MergeIter { readers, heap, failed: false })
    }

    fn advance(&mut self) -> Result<Option<R>, SortError> {
        let Some(Head { record, run }) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(next) = self.readers[run].next_record()? {
            heap_push(&mut self.heap, next, run);
        }
        Ok(Some(record))
    }
}

fn heap_push<R: Ord>(heap: &mut BinaryHeap<Head<R>>, record: R, run: usize) {
    heap.push(Head { record, run });
}

impl<R: RunRecord> Iterator for MergeIter<R> {
    type Item = Result<R, SortError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.advance().transpose();
        self.failed = matches!(item, Some(Err(_)));
        item
    }
}

/// Merges `runs` into one sorted stream, first reducing them to at most
/// `fan_in` with intermediate runs written to `scratch_dir` (deleted once merged).
pub fn merge<R: RunRecord>(
    mut runs: Vec<RunFile>,
    scratch_dir: &Path,
    fan_in: usize,
    kind: &str,
) -> Result<MergeIter<R>, SortError> {
    let fan_in = fan_in.max(2);
    let mut pass = 0;
    while runs.len() > fan_in {
        pass += 1;
        let path = scratch_dir.join(format!("{kind}-merge-{pass:04}.run"));
        let group: Vec<RunFile> = runs.drain(..fan_in).collect();
        let mut writer = RunWriter::<R>::create(&path, kind)?;
        for record in MergeIter::<R>::open(&group)? {
            writer.append(&record?)?;
        }
        let merged = writer.finish()?;
        for old in &group {
            if old.path.starts_with(scratch_dir)
                && old.path.file_name().is_some_and(|n| n.to_string_lossy().contains("-merge-"))
            {
                std::fs::remove_file(&old.path).map_err(|source| SortError::Io { path: old.path.clone(), source })?;
            }
        }
        runs.insert(0, merged);
    }
    MergeIter::open(&runs)
}
