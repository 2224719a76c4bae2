//! External sort under a byte budget: buffer encoded records, spill sorted
//! runs from a background thread, merge them later.
//!
//! The budget is split into two buffers. While the caller fills one, the
//! sorter's own thread sorts the other and writes it as a run file, so the
//! source being read (a PostgreSQL COPY stream, vendor pages) keeps flowing
//! while a run is written:
//!
//! 1. `push` appends a record to the filling buffer; `fits` tells whether the
//!    next one would pass the buffer's limit;
//! 2. `seal(token)` hands the full buffer to the spill thread and takes the
//!    other one (waiting for it if its run is still being written);
//! 3. the spill thread sorts the buffer, writes the run, publishes it (fsync,
//!    rename) and hands the buffer back with the caller's token: the token says
//!    what the run covers (vendor pages, the last internal id), so the caller
//!    can checkpoint exactly what is durable;
//! 4. `finish` seals what is left and waits for every run.
//!
//! The runs are then merged with [`merge::merge`].

pub mod buffer;
pub mod merge;
pub mod run_file;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use buffer::Buffer;
use run_file::{RunFile, RunWriter};

use crate::record::Record;

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
    /// A run file is not what the sorter wrote.
    #[error("run file {path} is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The spill thread could not be started or stopped without answering.
    #[error("the {kind} sorter's spill thread failed")]
    SpillThread {
        /// The sorter's kind.
        kind: String,
    },
}

/// Figures of one sort.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SortStats {
    /// Records pushed.
    pub records: u64,
    /// Run files written.
    pub runs_written: u64,
    /// Most bytes held at once, both buffers together.
    pub peak_bytes: u64,
    /// Seconds the spill thread spent sorting and writing runs.
    #[serde(default)]
    pub spill_secs: f64,
    /// Seconds the caller waited for the spill thread (runs written slower
    /// than records arrived).
    #[serde(default)]
    pub wait_secs: f64,
}

/// What [`Sorter::finish`] returns: the last spills, every run in order,
/// and the sort's figures.
pub type Finished<T> = (Vec<Spilled<T>>, Vec<RunFile>, SortStats);

/// A sealed buffer whose run is now published; `run` is `None` when the
/// buffer held no record. `token` is what the caller sealed it with.
#[derive(Debug)]
pub struct Spilled<T> {
    /// The run written.
    pub run: Option<RunFile>,
    /// The caller's token.
    pub token: T,
}

struct Job<T> {
    buffer: Buffer,
    path: PathBuf,
    token: T,
}

struct Done<T> {
    result: Result<Option<RunFile>, SortError>,
    buffer: Buffer,
    token: T,
    spill_secs: f64,
}

/// Sorts any number of records under a byte budget, spilling runs to a directory.
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
    runs: Vec<RunFile>,
    stats: SortStats,
}

impl<T: Send + 'static> Sorter<T> {
    /// A sorter writing runs named `<kind>-NNNNNN.run` into `dir`, holding at
    /// most `budget_bytes` of records (two buffers of half that).
    pub fn new(dir: &Path, kind: &str, budget_bytes: u64) -> Result<Sorter<T>, SortError> {
        Sorter::with_runs(dir, kind, budget_bytes, Vec::new())
    }

    /// A sorter that continues after `runs` (from a checkpoint): new runs are
    /// numbered after them.
    pub fn with_runs(dir: &Path, kind: &str, budget_bytes: u64, runs: Vec<RunFile>) -> Result<Sorter<T>, SortError> {
        let half = usize::try_from(budget_bytes / 2).unwrap_or(usize::MAX);
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
            .map_err(|_| SortError::SpillThread { kind: kind.to_string() })?;
        let stats = SortStats {
            records: runs.iter().map(|r| r.records).sum(),
            runs_written: runs.len() as u64,
            ..SortStats::default()
        };
        Ok(Sorter {
            dir: dir.to_path_buf(),
            kind: kind.to_string(),
            filling: Buffer::new(half),
            spare: Some(Buffer::new(half)),
            spilling_bytes: 0,
            jobs: Some(jobs),
            done,
            worker: Some(worker),
            runs,
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
    /// for the other buffer if its run is still being written. Returns the
    /// spills that completed meanwhile, in order.
    pub fn seal(&mut self, token: T) -> Result<Vec<Spilled<T>>, SortError> {
        let mut completed = Vec::new();
        let next = match self.spare.take() {
            Some(buffer) => buffer,
            None => self.receive(&mut completed)?,
        };
        let full = std::mem::replace(&mut self.filling, next);
        self.spilling_bytes = full.reserved_bytes();
        let path = self.dir.join(format!("{}-{:06}.run", self.kind, self.stats.runs_written + 1));
        // Numbered now: runs are published in the order they are sealed.
        self.stats.runs_written += u64::from(!full.is_empty());
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

    /// Seals what is left with `token`, waits for every run, and returns the
    /// last spills, all runs (in order) and the sort's figures.
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
        Ok((completed, std::mem::take(&mut self.runs), self.stats))
    }

    /// Waits for the spill thread's next completion; returns its buffer.
    fn receive(&mut self, completed: &mut Vec<Spilled<T>>) -> Result<Buffer, SortError> {
        let started = std::time::Instant::now();
        let done = self.done.recv().map_err(|_| self.thread_failed())?;
        self.stats.wait_secs += started.elapsed().as_secs_f64();
        self.complete(done, completed)
    }

    fn complete(&mut self, done: Done<T>, completed: &mut Vec<Spilled<T>>) -> Result<Buffer, SortError> {
        let run = done.result?;
        self.spilling_bytes = 0;
        self.stats.spill_secs += done.spill_secs;
        if let Some(run) = &run {
            self.runs.push(run.clone());
        }
        completed.push(Spilled { run, token: done.token });
        Ok(done.buffer)
    }

    fn thread_failed(&self) -> SortError {
        SortError::SpillThread { kind: self.kind.clone() }
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

/// Sorts `buffer` and writes it as the run at `path` (nothing when empty).
fn spill(buffer: &mut Buffer, path: &Path, kind: &str) -> Result<Option<RunFile>, SortError> {
    if buffer.is_empty() {
        return Ok(None);
    }
    buffer.sort();
    let mut writer = RunWriter::create(path, kind)?;
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

    fn sort_all(dir: &Path, input: &[(Vec<u8>, Vec<u8>)], budget: u64) -> (Vec<RunFile>, SortStats) {
        let mut sorter = Sorter::new(dir, "t", budget).unwrap();
        for (sort, payload) in input {
            sorter.push_auto(Record { sort, payload }).unwrap();
        }
        let (_, runs, stats) = sorter.finish(()).unwrap();
        (runs, stats)
    }

    #[test]
    fn tiny_budget_spills_many_runs_and_merges_to_a_plain_sort() {
        let dir = tempfile::tempdir().unwrap();
        let input = shuffled(5_000, 7);
        let (runs, stats) = sort_all(dir.path(), &input, 64 * 1024);
        assert!(stats.runs_written > 3, "{stats:?}");
        assert!(stats.peak_bytes <= 64 * 1024, "{stats:?}");
        assert_eq!(runs.len() as u64, stats.runs_written);
        assert_eq!(runs.iter().map(|r| r.records).sum::<u64>(), 5_000);
        // Fan-in 3 forces several intermediate passes.
        let merged = drain(merge(runs.clone(), dir.path(), 3, "t").unwrap()).unwrap();
        let mut expected = input;
        expected.sort();
        assert_eq!(merged, expected);
        assert!(runs.iter().all(|r| r.path.exists()), "an input run was deleted");
    }

    #[test]
    fn tokens_come_back_in_order_each_with_the_run_it_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter: Sorter<usize> = Sorter::new(dir.path(), "t", 1 << 20).unwrap();
        let mut spilled = Vec::new();
        for batch in 0..5 {
            for (sort, payload) in shuffled(10 * batch, batch as u64) {
                sorter.push(Record { sort: &sort, payload: &payload });
            }
            spilled.extend(sorter.seal(batch).unwrap());
        }
        let (last, runs, _) = sorter.finish(99).unwrap();
        spilled.extend(last);
        let tokens: Vec<usize> = spilled.iter().map(|s| s.token).collect();
        assert_eq!(tokens, vec![0, 1, 2, 3, 4, 99]);
        // Empty buffers (batch 0, the final seal) publish no run.
        let records: Vec<Option<u64>> = spilled.iter().map(|s| s.run.as_ref().map(|r| r.records)).collect();
        assert_eq!(records, vec![None, Some(10), Some(20), Some(30), Some(40), None]);
        assert_eq!(runs.len(), 4);
    }

    #[test]
    fn a_record_larger_than_a_buffer_is_sorted_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut input = shuffled(500, 3);
        input.push((b"k250-big".to_vec(), vec![b'x'; 100_000]));
        let (runs, _) = sort_all(dir.path(), &input, 64 * 1024);
        let mut expected = input;
        expected.sort();
        assert_eq!(drain(merge(runs, dir.path(), 64, "t").unwrap()).unwrap(), expected);
    }

    #[test]
    fn empty_input_writes_no_run() {
        let dir = tempfile::tempdir().unwrap();
        let (runs, stats) = sort_all(dir.path(), &[], 1 << 20);
        assert!(runs.is_empty());
        assert_eq!(stats.records, 0);
        assert!(drain(merge(runs, dir.path(), 64, "t").unwrap()).unwrap().is_empty());
    }

    #[test]
    fn a_continued_sorter_numbers_its_runs_after_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (old, _) = sort_all(dir.path(), &shuffled(100, 1), 1 << 20);
        let mut sorter = Sorter::with_runs(dir.path(), "t", 1 << 20, old.clone()).unwrap();
        sorter.push(Record { sort: b"z", payload: b"" });
        let (_, runs, stats) = sorter.finish(()).unwrap();
        assert_eq!(runs.len(), old.len() + 1);
        assert_eq!(runs[..old.len()], old[..]);
        assert!(runs.last().unwrap().path.ends_with(format!("t-{:06}.run", old.len() + 1)));
        assert_eq!(stats.records, 101);
    }

    #[test]
    fn merge_of_a_damaged_run_fails_instead_of_losing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (runs, _) = sort_all(dir.path(), &shuffled(3_000, 9), 64 * 1024);
        let victim = &runs[1].path;
        let bytes = std::fs::read(victim).unwrap();
        // Cut exactly the trailer: every record left is whole.
        std::fs::write(victim, &bytes[..bytes.len() - 20]).unwrap();
        assert!(drain(merge(runs, dir.path(), 64, "t").unwrap()).is_err());
    }
}
