//! External sort under a byte budget: buffer encoded records, spill them
//! sorted to files from a background thread, merge the files later.
//!
//! The sorter's share of the budget is split into [`SORT_BUFFERS`] buffers.
//! While the caller fills one, the sorter's own thread sorts the other and
//! writes it as a spill file, so the source being read (a PostgreSQL COPY
//! stream, vendor pages) keeps flowing while a file is written:
//!
//! 1. `push` appends a record to the filling buffer; `fits` tells whether the
//!    next one would pass the buffer's limit;
//! 2. `seal(token)` hands the full buffer to the spill thread and takes the
//!    other one (waiting for it if its file is still being written);
//! 3. the spill thread sorts the buffer, writes the spill file, publishes it
//!    (fsync, rename) and hands the buffer back with the caller's token: the
//!    token says what the file covers (vendor pages, the last internal id),
//!    so the caller can checkpoint exactly what is durable;
//! 4. `finish` seals what is left and waits for every file.
//!
//! The spill files are then merged with [`merge::merge`].

pub mod buffer;
mod error;
pub mod merge;
pub mod spill_file;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use buffer::Buffer;
pub use error::SortError;
use spill_file::{SpillFile, SpillWriter};

use crate::budget::SORT_BUFFERS;
use crate::bug::Bug;
use crate::record::Record;

/// Figures of one sort.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SortStats {
    /// Records pushed.
    pub records: u64,
    /// Spill files written.
    pub files_written: u64,
    /// Most bytes held at once, both buffers together.
    pub peak_bytes: u64,
    /// Seconds the spill thread spent sorting and writing spill files.
    #[serde(default)]
    pub spill_secs: f64,
    /// Seconds the caller waited for the spill thread (files written slower
    /// than records arrived).
    #[serde(default)]
    pub wait_secs: f64,
}

/// What [`Sorter::finish`] returns: the last spills, every spill file in
/// order, and the sort's figures.
pub type Finished<T> = (Vec<Spilled<T>>, Vec<SpillFile>, SortStats);

/// A sealed buffer whose spill file is now published; `file` is `None`
/// when the buffer held no record. `token` is what the caller sealed it with.
#[derive(Debug)]
pub struct Spilled<T> {
    /// The spill file written.
    pub file: Option<SpillFile>,
    /// The caller's token.
    pub token: T,
}

struct Job<T> {
    buffer: Buffer,
    path: PathBuf,
    token: T,
}

struct Done<T> {
    result: Result<Option<SpillFile>, SortError>,
    buffer: Buffer,
    token: T,
    spill_secs: f64,
}

/// Sorts any number of records under a byte budget, spilling files to a directory.
pub struct Sorter<T: Send + 'static = ()> {
    dir: PathBuf,
    kind: String,
    filling: Buffer,
    spare: Option<Buffer>,
    /// Bytes of the buffer the spill thread holds.
    spilling_bytes: usize,
    jobs: Option<mpsc::Sender<Job<T>>>,
    done: mpsc::Receiver<Done<T>>,
    worker: Option<JoinHandle<()>>,
    files: Vec<SpillFile>,
    stats: SortStats,
}

impl<T: Send + 'static> Sorter<T> {
    /// A sorter writing spill files named `<kind>-NNNNNN.spill` into `dir`,
    /// holding at most `budget_bytes` of records ([`SORT_BUFFERS`] buffers).
    pub fn new(dir: &Path, kind: &str, budget_bytes: u64) -> Result<Sorter<T>, SortError> {
        Sorter::with_files(dir, kind, budget_bytes, Vec::new())
    }

    /// A sorter that continues after `files` (from a checkpoint): new spill
    /// files are numbered after them.
    pub fn with_files(
        dir: &Path,
        kind: &str,
        budget_bytes: u64,
        files: Vec<SpillFile>,
    ) -> Result<Sorter<T>, SortError> {
        let buffer_bytes = usize::try_from(budget_bytes / SORT_BUFFERS).unwrap_or(usize::MAX);
        let (jobs, job_queue) = mpsc::channel::<Job<T>>();
        let (done_sender, done) = mpsc::channel::<Done<T>>();
        let spill_kind = kind.to_string();
        let worker = std::thread::Builder::new()
            .name(format!("sort-{kind}"))
            .spawn(move || {
                for job in job_queue {
                    let Job { mut buffer, path, token } = job;
                    let started = std::time::Instant::now();
                    let result = spill(&mut buffer, &path, &spill_kind);
                    buffer.clear();
                    let spill_secs = started.elapsed().as_secs_f64();
                    if done_sender.send(Done { result, buffer, token, spill_secs }).is_err() {
                        return;
                    }
                }
            })
            .map_err(|source| SortError::SpillThread { kind: kind.to_string(), source })?;
        let stats = SortStats {
            records: files.iter().map(|f| f.records).sum(),
            files_written: files.len() as u64,
            ..SortStats::default()
        };
        Ok(Sorter {
            dir: dir.to_path_buf(),
            kind: kind.to_string(),
            filling: Buffer::new(buffer_bytes),
            spare: Some(Buffer::new(buffer_bytes)),
            spilling_bytes: 0,
            jobs: Some(jobs),
            done,
            worker: Some(worker),
            files,
            stats,
        })
    }

    /// Whether a record of `encoded_len` bytes fits in the filling buffer.
    /// An empty buffer takes any record (see [`push`](Sorter::push)).
    pub fn fits(&self, encoded_len: usize) -> bool {
        self.filling.is_empty() || self.filling.fits(encoded_len)
    }

    /// Appends a record to the filling buffer. Callers seal first when it
    /// does not [`fit`](Sorter::fits); a record larger than a whole buffer
    /// goes into an empty one, and the next `fits` says no, so it is sealed
    /// before the next record.
    pub fn push(&mut self, record: Record<'_>) {
        self.filling.push(record);
        self.stats.records += 1;
        let held = self.filling.reserved_bytes() + self.spilling_bytes;
        let held = held + self.spare.as_ref().map_or(0, Buffer::reserved_bytes);
        self.stats.peak_bytes = self.stats.peak_bytes.max(held as u64);
    }

    /// Hands the filling buffer to the spill thread with `token`, waiting
    /// for the other buffer if its file is still being written. Returns the
    /// spills that completed meanwhile, in order.
    pub fn seal(&mut self, token: T) -> Result<Vec<Spilled<T>>, SortError> {
        let mut completed = Vec::new();
        let next = match self.spare.take() {
            Some(buffer) => buffer,
            None => self.receive(&mut completed)?,
        };
        let full = std::mem::replace(&mut self.filling, next);
        self.spilling_bytes = full.reserved_bytes();
        let path = self.dir.join(format!("{}-{:06}.spill", self.kind, self.stats.files_written + 1));
        // Numbered now: files are published in the order they are sealed.
        self.stats.files_written += u64::from(!full.is_empty());
        let job = Job { buffer: full, path, token };
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            return Err(self.thread_failed());
        }
        while let Ok(done) = self.done.try_recv() {
            self.spare = Some(self.complete(done, &mut completed)?);
        }
        Ok(completed)
    }

    /// Seals what is left with `token`, waits for every file, and returns the
    /// last spills, all spill files (in order) and the sort's figures.
    pub fn finish(mut self, token: T) -> Result<Finished<T>, SortError> {
        let mut completed = self.seal(token)?;
        self.jobs = None;
        while self.spare.is_none() {
            let buffer = self.receive(&mut completed)?;
            self.spare = Some(buffer);
        }
        if let Some(worker) = self.worker.take() {
            worker.join().map_err(|_| self.thread_failed())?;
        }
        Ok((completed, std::mem::take(&mut self.files), self.stats))
    }

    /// Waits for the spill thread's next completion; returns its buffer.
    fn receive(&mut self, completed: &mut Vec<Spilled<T>>) -> Result<Buffer, SortError> {
        let started = std::time::Instant::now();
        let done = self.done.recv().map_err(|_| self.thread_failed())?;
        self.stats.wait_secs += started.elapsed().as_secs_f64();
        self.complete(done, completed)
    }

    fn complete(&mut self, done: Done<T>, completed: &mut Vec<Spilled<T>>) -> Result<Buffer, SortError> {
        let file = done.result?;
        self.spilling_bytes = 0;
        self.stats.spill_secs += done.spill_secs;
        if let Some(file) = &file {
            self.files.push(file.clone());
        }
        completed.push(Spilled { file, token: done.token });
        Ok(done.buffer)
    }

    fn thread_failed(&self) -> SortError {
        Bug::new(format!("the {} sorter's spill thread ended without an answer", self.kind)).into()
    }
}

impl Sorter<()> {
    /// Appends a record, sealing the filling buffer first when it would not fit.
    pub fn push_auto(&mut self, record: Record<'_>) -> Result<(), SortError> {
        if !self.fits(record.encoded_len()) {
            self.seal(())?;
        }
        self.push(record);
        Ok(())
    }
}

impl<T: Send + 'static> Drop for Sorter<T> {
    fn drop(&mut self) {
        // Stop the spill thread after the job it has (if any).
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Sorts `buffer` and writes it as the spill file at `path` (nothing when empty).
fn spill(buffer: &mut Buffer, path: &Path, kind: &str) -> Result<Option<SpillFile>, SortError> {
    if buffer.is_empty() {
        return Ok(None);
    }
    buffer.sort();
    let mut writer = SpillWriter::create(path, kind)?;
    buffer.for_each_encoded(|encoded| writer.append_encoded(encoded))?;
    writer.finish().map(Some)
}

#[cfg(test)]
mod tests {
    use super::merge::{merge, Merger};
    use super::*;

    /// Records with random, unique sort keys (a counter follows the random part).
    fn shuffled(n: usize, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|i| {
                let sort = format!("k{:03}-{i:06}", rng.u32(0..500)).into_bytes();
                let payload = vec![b'p'; rng.usize(0..40)];
                (sort, payload)
            })
            .collect()
    }

    type Records = Vec<(Vec<u8>, Vec<u8>)>;

    fn drain(mut merger: Merger) -> Result<Records, SortError> {
        let mut out = Vec::new();
        while let Some(record) = merger.peek() {
            out.push((record.sort.to_vec(), record.payload.to_vec()));
            merger.advance()?;
        }
        Ok(out)
    }

    fn sort_all(dir: &Path, input: &[(Vec<u8>, Vec<u8>)], budget: u64) -> (Vec<SpillFile>, SortStats) {
        let mut sorter = Sorter::new(dir, "t", budget).unwrap();
        for (sort, payload) in input {
            sorter.push_auto(Record { sort, payload }).unwrap();
        }
        let (_, files, stats) = sorter.finish(()).unwrap();
        (files, stats)
    }

    #[test]
    fn tiny_budget_spills_many_files_and_merges_to_a_plain_sort() {
        let dir = tempfile::tempdir().unwrap();
        let input = shuffled(5_000, 7);
        let (files, stats) = sort_all(dir.path(), &input, 64 * 1024);
        assert!(stats.files_written > 3, "{stats:?}");
        assert!(stats.peak_bytes <= 64 * 1024, "{stats:?}");
        assert_eq!(files.len() as u64, stats.files_written);
        assert_eq!(files.iter().map(|r| r.records).sum::<u64>(), 5_000);
        // Fan-in 3 forces several intermediate passes.
        let merged = drain(merge(files.clone(), dir.path(), 3, "t").unwrap()).unwrap();
        let mut expected = input;
        expected.sort();
        assert_eq!(merged, expected);
        assert!(files.iter().all(|r| r.path.exists()), "an input spill file was deleted");
    }

    #[test]
    fn tokens_come_back_in_order_each_with_the_file_it_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter: Sorter<usize> = Sorter::new(dir.path(), "t", 1 << 20).unwrap();
        let mut spilled = Vec::new();
        for batch in 0..5 {
            for (sort, payload) in shuffled(10 * batch, batch as u64) {
                sorter.push(Record { sort: &sort, payload: &payload });
            }
            spilled.extend(sorter.seal(batch).unwrap());
        }
        let (last, files, _) = sorter.finish(99).unwrap();
        spilled.extend(last);
        let tokens: Vec<usize> = spilled.iter().map(|s| s.token).collect();
        assert_eq!(tokens, vec![0, 1, 2, 3, 4, 99]);
        // Empty buffers (batch 0, the final seal) publish no file.
        let records: Vec<Option<u64>> = spilled.iter().map(|s| s.file.as_ref().map(|r| r.records)).collect();
        assert_eq!(records, vec![None, Some(10), Some(20), Some(30), Some(40), None]);
        assert_eq!(files.len(), 4);
    }

    #[test]
    fn a_record_larger_than_a_buffer_is_sorted_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut input = shuffled(500, 3);
        input.push((b"k250-big".to_vec(), vec![b'x'; 100_000]));
        let (files, _) = sort_all(dir.path(), &input, 64 * 1024);
        let mut expected = input;
        expected.sort();
        assert_eq!(drain(merge(files, dir.path(), 64, "t").unwrap()).unwrap(), expected);
    }

    #[test]
    fn empty_input_writes_no_spill_file() {
        let dir = tempfile::tempdir().unwrap();
        let (files, stats) = sort_all(dir.path(), &[], 1 << 20);
        assert!(files.is_empty());
        assert_eq!(stats.records, 0);
        assert!(drain(merge(files, dir.path(), 64, "t").unwrap()).unwrap().is_empty());
    }

    #[test]
    fn a_continued_sorter_numbers_its_files_after_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (old, _) = sort_all(dir.path(), &shuffled(100, 1), 1 << 20);
        let mut sorter = Sorter::with_files(dir.path(), "t", 1 << 20, old.clone()).unwrap();
        sorter.push(Record { sort: b"z", payload: b"" });
        let (_, files, stats) = sorter.finish(()).unwrap();
        assert_eq!(files.len(), old.len() + 1);
        assert_eq!(files[..old.len()], old[..]);
        assert!(files.last().unwrap().path.ends_with(format!("t-{:06}.spill", old.len() + 1)));
        assert_eq!(stats.records, 101);
    }

    #[test]
    fn merge_of_a_damaged_spill_file_fails_instead_of_losing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = sort_all(dir.path(), &shuffled(3_000, 9), 64 * 1024);
        let victim = &files[1].path;
        let bytes = std::fs::read(victim).unwrap();
        // Cut exactly the trailer: every record left is whole.
        std::fs::write(victim, &bytes[..bytes.len() - 20]).unwrap();
        assert!(drain(merge(files, dir.path(), 64, "t").unwrap()).is_err());
    }
}
