//! External sort under a byte budget: buffer records, spill sorted runs, merge them later.
//!
//! The spill loop of [`ExternalSorter`]:
//! 1. `push` counts the record's bytes (its size plus what it owns on the heap,
//!    plus the buffer's own capacity) against the budget;
//! 2. when the next record would not fit, the buffer is sorted in place
//!    (`sort_unstable`: no extra memory) and written as one run file;
//! 3. the buffer is emptied and filling goes on;
//! 4. `finish` spills what is left and returns the runs in order.
//!
//! The runs are then merged with [`merge::merge`].

pub mod codec;
pub mod merge;
pub mod run_file;

use std::mem::size_of;
use std::path::{Path, PathBuf};

use codec::RunRecord;
use run_file::{RunFile, RunWriter};

/// A failure of the sorter or of reading its runs.
#[derive(Debug, thiserror::Error)]
pub enum SortError {
    /// A file operation failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The csv layer failed.
    #[error("CSV error on {path}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: csv::Error,
    },
    /// A run file is not what the sorter wrote.
    #[error("run file {path} is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Figures of one sort.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SortStats {
    /// Records pushed.
    pub records: u64,
    /// Run files written.
    pub runs_written: u64,
    /// Most bytes held at once.
    pub peak_bytes: u64,
}

/// Sorts any number of records under `budget_bytes`, spilling runs to a directory.
pub struct ExternalSorter<R> {
    dir: PathBuf,
    kind: String,
    budget_bytes: usize,
    buffer: Vec<R>,
    heap_bytes: usize,
    runs: Vec<RunFile>,
    stats: SortStats,
}

impl<R: RunRecord> ExternalSorter<R> {
    /// A sorter writing runs named `<kind>-NNNNNN.run` into `dir`.
    pub fn new(dir: &Path, kind: &str, budget_bytes: u64) -> ExternalSorter<R> {
        ExternalSorter {
            dir: dir.to_path_buf(),
            kind: kind.to_string(),
            budget_bytes: usize::try_from(budget_bytes).unwrap_or(usize::MAX),
            buffer: Vec::new(),
            heap_bytes: 0,
            runs: Vec::new(),
            stats: SortStats::default(),
        }
    }

    /// A sorter that continues after `runs` (from a checkpoint): new runs are
    /// numbered after them.
    pub fn with_runs(dir: &Path, kind: &str, budget_bytes: u64, runs: Vec<RunFile>) -> ExternalSorter<R> {
        let mut sorter = ExternalSorter::new(dir, kind, budget_bytes);
        sorter.stats.runs_written = runs.len() as u64;
        sorter.stats.records = runs.iter().map(|r| r.records).sum();
        sorter.runs = runs;
        sorter
    }

    /// The runs written so far, in order.
    pub fn runs(&self) -> &[RunFile] {
        &self.runs
    }

    /// Whether records owning `bytes` more would overflow the budget: the
    /// caller may spill first, to keep a batch (a page) within one run.
    pub fn needs_spill_for(&self, bytes: usize) -> bool {
        !self.buffer.is_empty() && self.reserved_bytes() + bytes > self.budget_bytes
    }

    /// Bytes held now: the buffer's capacity plus what its records own.
    pub fn reserved_bytes(&self) -> usize {
        self.buffer.capacity() * size_of::<R>() + self.heap_bytes
    }

    /// Adds a record, spilling a run first if it would not fit.
    pub fn push(&mut self, record: R) -> Result<(), SortError> {
        let owned = record.memory_bytes() - size_of::<R>();
        if !self.buffer.is_empty() && self.reserved_bytes() + owned + self.growth_bytes() > self.budget_bytes {
            self.spill()?;
        }
        if self.buffer.len() == self.buffer.capacity() {
            self.grow(owned);
        }
        self.heap_bytes += owned;
        self.buffer.push(record);
        self.stats.records += 1;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.reserved_bytes() as u64);
        Ok(())
    }

    /// Extra bytes the next push would need for the buffer to grow.
    fn growth_bytes(&self) -> usize {
        if self.buffer.len() < self.buffer.capacity() {
            0
        } else {
            size_of::<R>()
        }
    }

    /// Grows the buffer by up to double, never past what the budget leaves.
    fn grow(&mut self, incoming: usize) {
        let slot = size_of::<R>().max(1);
        let left = self.budget_bytes.saturating_sub(self.heap_bytes + incoming) / slot;
        let needed = self.buffer.len() + 1;
        let wanted = (self.buffer.capacity() * 2).max(16).min(left).max(needed);
        self.buffer.reserve_exact(wanted - self.buffer.len());
    }

    /// Sorts the buffer and writes it as the next run (nothing when empty).
    pub fn spill(&mut self) -> Result<(), SortError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.buffer.sort_unstable();
        let path = self.dir.join(format!("{}-{:06}.run", self.kind, self.runs.len() + 1));
        let mut writer = RunWriter::create(&path, &self.kind)?;
        for record in &self.buffer {
            writer.append(record)?;
        }
        self.runs.push(writer.finish()?);
        self.stats.runs_written += 1;
        self.buffer.clear();
        self.heap_bytes = 0;
        Ok(())
    }

    /// Spills what is left and returns the runs (in the order written) with
    /// the sort's figures. Frees the buffer.
    pub fn finish(mut self) -> Result<(Vec<RunFile>, SortStats), SortError> {
        self.spill()?;
        Ok((std::mem::take(&mut self.runs), self.stats))
    }
}

#[cfg(test)]
mod tests {
    use super::merge::merge;
    use super::*;
    use crate::model::{InternalUser, Keyed};

    fn user(id: i64, key: String) -> Keyed<InternalUser> {
        let firstname = Some("x".repeat((id % 7) as usize));
        Keyed { key, user: InternalUser { firstname, ..InternalUser::with_id(id) } }
    }

    fn shuffled(n: i64) -> Vec<Keyed<InternalUser>> {
        let mut rng = fastrand::Rng::with_seed(7);
        (0..n).map(|id| user(id, format!("k{}", rng.u32(0..500)))).collect()
    }

    #[test]
    fn tiny_budget_spills_many_runs_and_merges_to_a_plain_sort() {
        let dir = tempfile::tempdir().unwrap();
        let input = shuffled(5_000);
        let mut sorter = ExternalSorter::new(dir.path(), "internal", 64 * 1024);
        for r in input.clone() {
            sorter.push(r).unwrap();
            assert!(sorter.reserved_bytes() <= 64 * 1024, "over budget: {}", sorter.reserved_bytes());
        }
        let (runs, stats) = sorter.finish().unwrap();
        assert!(stats.runs_written > 1, "{stats:?}");
        assert_eq!(runs.len() as u64, stats.runs_written);
        assert_eq!(runs.iter().map(|r| r.records).sum::<u64>(), 5_000);
        // fan-in 3 forces several intermediate passes.
        let merged: Vec<_> =
            merge::<Keyed<InternalUser>>(runs, dir.path(), 3, "internal").unwrap().collect::<Result<_, _>>().unwrap();
        let mut expected = input;
        expected.sort();
        assert_eq!(merged, expected);
    }

    #[test]
    fn level_merge_keeps_input_runs_and_equals_a_plain_sort() {
        let dir = tempfile::tempdir().unwrap();
        let input = shuffled(4_000);
        let mut runs = Vec::new();
        // 10 runs with fan-in 3: levels of 4, then 2, then the final merge.
        for (n, chunk) in input.chunks(400).enumerate() {
            let mut sorted = chunk.to_vec();
            sorted.sort();
            let mut writer = run_file::RunWriter::create(&dir.path().join(format!("in-{n:02}.run")), "t").unwrap();
            for r in &sorted {
                writer.append(r).unwrap();
            }
            runs.push(writer.finish().unwrap());
        }
        let merged: Vec<_> =
            merge::<Keyed<InternalUser>>(runs.clone(), dir.path(), 3, "t").unwrap().collect::<Result<_, _>>().unwrap();
        let mut expected = input;
        expected.sort();
        assert_eq!(merged, expected);
        assert!(runs.iter().all(|r| r.path.exists()), "an input run was deleted");
    }

    #[test]
    fn budget_is_released_after_a_spill() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = ExternalSorter::new(dir.path(), "internal", 64 * 1024);
        for r in shuffled(3_000) {
            sorter.push(r).unwrap();
        }
        sorter.spill().unwrap();
        assert_eq!(sorter.heap_bytes, 0);
        assert!(sorter.buffer.is_empty());
    }

    #[test]
    fn empty_input_writes_no_run() {
        let dir = tempfile::tempdir().unwrap();
        let sorter = ExternalSorter::<Keyed<InternalUser>>::new(dir.path(), "internal", 1 << 20);
        let (runs, stats) = sorter.finish().unwrap();
        assert!(runs.is_empty());
        assert_eq!(stats.records, 0);
        let merged: Vec<_> = merge::<Keyed<InternalUser>>(runs, dir.path(), 64, "internal").unwrap().collect();
        assert!(merged.is_empty());
    }

    #[test]
    fn merge_of_a_damaged_run_fails_instead_of_losing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = ExternalSorter::new(dir.path(), "internal", 64 * 1024);
        for r in shuffled(3_000) {
            sorter.push(r).unwrap();
        }
        let (runs, _) = sorter.finish().unwrap();
        // Cut exactly the end row: every record left is whole.
        let victim = &runs[1].path;
        let text = std::fs::read_to_string(victim).unwrap();
        let end_row = text.trim_end().rfind('\n').unwrap() + 1;
        assert!(text[end_row..].starts_with("end,"));
        std::fs::write(victim, &text[..end_row]).unwrap();
        let result: Result<Vec<_>, _> =
            merge::<Keyed<InternalUser>>(runs, dir.path(), 64, "internal").unwrap().collect();
        assert!(result.is_err());
    }
}
