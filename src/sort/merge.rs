//! K-way merge of sorted runs into one sorted stream; ties go to the lower run index.
//!
//! At most `fan_in` runs are open at once. With more runs, they are merged
//! level by level: each group of `fan_in` consecutive runs becomes one
//! intermediate run, in order (so ties still resolve the same way), until few
//! enough remain for the final streaming merge. Records are moved as encoded
//! bytes between reusable buffers: a merge allocates nothing per record.

use std::cmp::Ordering;
use std::collections::binary_heap::{BinaryHeap, PeekMut};
use std::path::Path;

use super::run_file::{RunFile, RunReader, RunWriter};
use super::SortError;
use crate::record::{header_lengths, Record, HEADER_BYTES};

/// Runs merged at once: the merge holds one read buffer and one open file
/// per run, so this bounds its memory (256 × 64 KiB = 16 MiB a stream) and
/// its file descriptors.
pub const DEFAULT_FAN_IN: usize = 256;

/// The next record of one run, with the first 8 bytes of its sort key.
struct Head {
    prefix: u64,
    record: Vec<u8>,
    run: usize,
}

impl Head {
    fn new(record: Vec<u8>, run: usize) -> Head {
        let mut head = Head { prefix: 0, record, run };
        head.update_prefix();
        head
    }

    /// Recomputes the prefix after `record` changed.
    fn update_prefix(&mut self) {
        let mut prefix = [0u8; 8];
        let key = self.sort_key();
        let n = key.len().min(8);
        prefix[..n].copy_from_slice(&key[..n]);
        self.prefix = u64::from_be_bytes(prefix);
    }

    fn sort_key(&self) -> &[u8] {
        let sort_len = header_lengths(&self.record).map_or(0, |(sort, _)| sort);
        &self.record[HEADER_BYTES..HEADER_BYTES + sort_len]
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse, so the smallest key (then the
        // lowest run index) comes out first.
        other
            .prefix
            .cmp(&self.prefix)
            .then_with(|| other.sort_key().cmp(self.sort_key()))
            .then_with(|| other.run.cmp(&self.run))
    }
}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}

/// A sorted stream over several runs, read one record at a time.
pub struct Merger {
    readers: Vec<RunReader>,
    heap: BinaryHeap<Head>,
    /// Intermediate runs of [`merge`] it reads, deleted when it is dropped.
    intermediates: Vec<std::path::PathBuf>,
}

impl Merger {
    /// Opens every run and reads its first record.
    pub fn open(runs: &[RunFile]) -> Result<Merger, SortError> {
        let mut readers = Vec::with_capacity(runs.len());
        let mut heap = BinaryHeap::with_capacity(runs.len());
        for (run, file) in runs.iter().enumerate() {
            let mut reader = RunReader::open(&file.path)?;
            let mut record = Vec::new();
            if reader.next_into(&mut record)? {
                heap.push(Head::new(record, run));
            }
            readers.push(reader);
        }
        Ok(Merger { readers, heap, intermediates: Vec::new() })
    }

    /// The smallest record not yet passed, encoded.
    pub fn peek_encoded(&self) -> Option<&[u8]> {
        self.heap.peek().map(|head| head.record.as_slice())
    }

    /// The smallest record not yet passed.
    pub fn peek(&self) -> Option<Record<'_>> {
        self.peek_encoded().and_then(Record::decode)
    }

    /// Moves past the smallest record.
    pub fn advance(&mut self) -> Result<(), SortError> {
        let Some(mut head) = self.heap.peek_mut() else {
            return Ok(());
        };
        // Refill the head's buffer from its own run; the heap re-sorts it on drop.
        if self.readers[head.run].next_into(&mut head.record)? {
            head.update_prefix();
        } else {
            PeekMut::pop(head);
        }
        Ok(())
    }
}

impl Drop for Merger {
    fn drop(&mut self) {
        // Best effort: a leftover is also removed with its stage directory.
        for path in &self.intermediates {
            let _ = std::fs::remove_file(path);
        }
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
pub fn merge(mut runs: Vec<RunFile>, scratch_dir: &Path, fan_in: usize, kind: &str) -> Result<Merger, SortError> {
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
            let mut writer = RunWriter::create(&path, kind)?;
            let mut merger = Merger::open(group)?;
            while let Some(encoded) = merger.peek_encoded() {
                writer.append_encoded(encoded)?;
                merger.advance()?;
            }
            next.push(writer.finish()?);
            for old in group.iter().filter(|run| is_intermediate(run)) {
                std::fs::remove_file(&old.path).map_err(|source| SortError::Io { path: old.path.clone(), source })?;
            }
        }
        runs = next;
    }
    let mut merger = Merger::open(&runs)?;
    merger.intermediates = runs.iter().filter(|run| is_intermediate(run)).map(|run| run.path.clone()).collect();
    Ok(merger)
}
