//! K-way merge of spill files into one sorted stream; ties go to the lower file index.
//!
//! At most `fan_in` files are open at once (the budget sets it: see
//! [`crate::budget`]). With more files, they are merged level by level: each
//! group of `fan_in` consecutive files becomes one intermediate file, in
//! order (so ties still resolve the same way), until few enough remain for
//! the final streaming merge. Records are moved as encoded bytes between
//! reusable buffers: a merge allocates nothing per record.

use std::cmp::Ordering;
use std::collections::binary_heap::{BinaryHeap, PeekMut};
use std::path::Path;

use super::error::SortError;
use super::spill_file::{SpillFile, SpillReader, SpillWriter};
use crate::record::{header_lengths, sort_prefix, Record, HEADER_BYTES};

/// The next record of one spill file, with the first 8 bytes of its sort key.
struct Head {
    prefix: u64,
    record: Vec<u8>,
    file: usize,
}

impl Head {
    fn new(record: Vec<u8>, file: usize) -> Head {
        let mut head = Head { prefix: 0, record, file };
        head.update_prefix();
        head
    }

    /// Recomputes the prefix after `record` changed.
    fn update_prefix(&mut self) {
        self.prefix = sort_prefix(self.sort_key());
    }

    fn sort_key(&self) -> &[u8] {
        let sort_len = header_lengths(&self.record).map_or(0, |(sort, _)| sort);
        &self.record[HEADER_BYTES..HEADER_BYTES + sort_len]
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse, so the smallest key (then the
        // lowest file index) comes out first.
        other
            .prefix
            .cmp(&self.prefix)
            .then_with(|| other.sort_key().cmp(self.sort_key()))
            .then_with(|| other.file.cmp(&self.file))
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

/// A sorted stream over several spill files, read one record at a time.
pub struct Merger {
    readers: Vec<SpillReader>,
    heap: BinaryHeap<Head>,
    /// Intermediate files of [`merge`] it reads, deleted when it is dropped.
    intermediates: Vec<std::path::PathBuf>,
}

impl Merger {
    /// Opens every spill file and reads its first record.
    pub fn open(files: &[SpillFile]) -> Result<Merger, SortError> {
        let mut readers = Vec::with_capacity(files.len());
        let mut heap = BinaryHeap::with_capacity(files.len());
        for (index, file) in files.iter().enumerate() {
            let mut reader = SpillReader::open(file)?;
            let mut record = Vec::new();
            if reader.next_into(&mut record)? {
                heap.push(Head::new(record, index));
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
        // Refill the head's buffer from its own file; the heap re-sorts it on drop.
        if self.readers[head.file].next_into(&mut head.record)? {
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

/// Whether a spill file was written by [`merge`] itself (and may be deleted by it).
fn is_intermediate(file: &SpillFile) -> bool {
    file.path.file_name().is_some_and(|name| name.to_string_lossy().contains("-merge-"))
}

/// Merges `files` into one sorted stream. With more than `fan_in` files,
/// they are first merged level by level: each group of `fan_in` consecutive
/// files becomes one file in `scratch_dir`, in order (so ties still go to the
/// earlier file), until at most `fan_in` remain. Every record is rewritten
/// once per level: log_fan_in(files) times. Intermediate files are deleted
/// once merged; the input files are left alone.
pub fn merge(mut files: Vec<SpillFile>, scratch_dir: &Path, fan_in: usize, kind: &str) -> Result<Merger, SortError> {
    let fan_in = fan_in.max(2);
    let mut level = 0;
    while files.len() > fan_in {
        level += 1;
        let mut next = Vec::with_capacity(files.len().div_ceil(fan_in));
        for (group_index, group) in files.chunks(fan_in).enumerate() {
            if group.len() == 1 {
                next.push(group[0].clone());
                continue;
            }
            let path = scratch_dir.join(format!("{kind}-merge-{level:02}-{group_index:06}.spill"));
            let mut writer = SpillWriter::create(&path, kind)?;
            let mut merger = Merger::open(group)?;
            while let Some(encoded) = merger.peek_encoded() {
                writer.append_encoded(encoded)?;
                merger.advance()?;
            }
            next.push(writer.finish()?);
            for old in group.iter().filter(|file| is_intermediate(file)) {
                std::fs::remove_file(&old.path).map_err(|source| SortError::Io { path: old.path.clone(), source })?;
            }
        }
        files = next;
    }
    let mut merger = Merger::open(&files)?;
    merger.intermediates = files.iter().filter(|file| is_intermediate(file)).map(|file| file.path.clone()).collect();
    Ok(merger)
}
