//! K-way merge of sorted runs into one sorted stream; ties go to the lower run index.
//!
//! At most `fan_in` runs are open at once. With more runs, they are merged
//! level by level: each group of `fan_in` consecutive runs becomes one
//! intermediate run, in order (so ties still resolve the same way), until few
//! enough remain for the final streaming merge.

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

/// Whether a run was written by [`merge`] itself (and may be deleted by it).
fn is_intermediate(run: &RunFile) -> bool {
    run.path.file_name().is_some_and(|name| name.to_string_lossy().contains("-merge-"))
}

/// Merges `runs` into one sorted stream. With more than `fan_in` runs, they
/// are first merged level by level: each group of `fan_in` consecutive runs
/// becomes one run in `scratch_dir`, in order (so ties still go to the
/// earlier run), until at most `fan_in` remain. Every record is rewritten
/// once per level: log_fan_in(runs) times. Intermediate runs are deleted once
/// merged; the input runs are left alone.
pub fn merge<R: RunRecord>(
    mut runs: Vec<RunFile>,
    scratch_dir: &Path,
    fan_in: usize,
    kind: &str,
) -> Result<MergeIter<R>, SortError> {
    let fan_in = fan_in.max(2);
    let mut level = 0;
    while runs.len() > fan_in {
        level += 1;
        let mut next = Vec::with_capacity(runs.len().div_ceil(fan_in));
        for (group_index, group) in runs.chunks(fan_in).enumerate() {
            if group.len() == 1 {
                next.push(group[0].clone());
                continue;
            }
            let path = scratch_dir.join(format!("{kind}-merge-{level:02}-{group_index:06}.run"));
            let mut writer = RunWriter::<R>::create(&path, kind)?;
            for record in MergeIter::<R>::open(group)? {
                writer.append(&record?)?;
            }
            next.push(writer.finish()?);
            for old in group.iter().filter(|run| is_intermediate(run)) {
                std::fs::remove_file(&old.path).map_err(|source| SortError::Io { path: old.path.clone(), source })?;
            }
        }
        runs = next;
    }
    MergeIter::open(&runs)
}
