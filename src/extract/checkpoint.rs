//! Extract checkpoints: what an interrupted extract had made durable, so `resume` continues from there.
//!
//! Each side writes the checkpoint (atomically) when one of its runs is
//! published. The checkpoint lists every run file published so far, the
//! vendor pages whose users are all in those runs, the last internal id in
//! them, each side's counters as of that moment, and the length of each
//! side's rejects file then. On resume, files the checkpoint does not list
//! are deleted, the rejects files are cut back, and each side continues with
//! the pages and rows not covered.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::vendor::FetchStats;
use crate::run::atomic;
use crate::sort::run_file::RunFile;
use crate::sort::SortStats;

/// Name of the checkpoint file in the extract directory.
pub const FILE_NAME: &str = "checkpoint.json";

/// The durable state of an unfinished extract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The vendor side.
    pub vendor: VendorCheckpoint,
    /// Our side.
    pub internal: InternalCheckpoint,
}

/// The vendor side's durable progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VendorCheckpoint {
    /// Runs of records sorted by key, while pages are still being fetched.
    pub record_runs: Vec<RunFile>,
    /// Runs of their id entries, sorted by (id, page, position).
    pub id_runs: Vec<RunFile>,
    /// Vendor pages whose users are all in those runs.
    pub pages_done: PageSet,
    /// Counters as of those pages.
    pub counters: VendorCounters,
    /// Set once every page is in and the users are sorted by key.
    pub done: Option<VendorDone>,
}

/// Vendor figures as of a page boundary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct VendorCounters {
    /// Paging figures.
    pub fetch: FetchStats,
    /// Users received, repeats included.
    pub records: u64,
    /// Users rejected.
    pub rejects: u64,
    /// Length of the vendor rejects file.
    pub rejects_bytes: u64,
}

/// The vendor side's result: every record sorted by key, and the sort keys
/// of the copies to leave out (one user per id is kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VendorDone {
    /// Runs of records sorted by match key, copies of an id included.
    pub runs: Vec<RunFile>,
    /// Runs of the sort keys of the records to leave out, in the same order.
    pub drop_runs: Vec<RunFile>,
    /// Users kept.
    pub users: u64,
    /// Users dropped because their id came again on a later page.
    pub duplicates: u64,
    /// Figures of the id-entry sort, then the record sort.
    pub sorts: [SortStats; 2],
    /// Final counters.
    pub counters: VendorCounters,
}

/// Our side's durable progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InternalCheckpoint {
    /// Runs sorted by match key written so far.
    pub runs: Vec<RunFile>,
    /// Counters as of the last row in those runs.
    pub counters: InternalCounters,
    /// Set once every row is in the runs.
    pub done: Option<SortStats>,
}

/// Our side's figures as of a row boundary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct InternalCounters {
    /// The highest id read (users and rejects alike: rows come in id order).
    pub last_id: Option<i64>,
    /// Users kept.
    pub users: u64,
    /// Rows rejected.
    pub rejects: u64,
    /// Length of the internal rejects file.
    pub rejects_bytes: u64,
}

/// A set of page numbers kept small: every page up to `through`, plus the
/// few finished out of order above it. Its size stays about the number of
/// pages in flight, not the number fetched, so checkpoints stay small.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSet {
    /// Every page in 1..=through is in the set.
    pub through: u32,
    /// Pages above `through + 1` in the set.
    pub above: BTreeSet<u32>,
}

impl PageSet {
    /// Adds a page.
    pub fn insert(&mut self, page: u32) {
        if page > self.through {
            self.above.insert(page);
        }
        while self.above.remove(&(self.through + 1)) {
            self.through += 1;
        }
    }

    /// Whether `page` is in the set.
    pub fn contains(&self, page: u32) -> bool {
        (1..=self.through).contains(&page) || self.above.contains(&page)
    }

    /// How many pages are in the set.
    pub fn len(&self) -> u32 {
        self.through + self.above.len() as u32
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A checkpoint that can't be read or written.
#[derive(Debug, thiserror::Error)]
#[error("extract checkpoint {path} could not be {action}")]
pub struct CheckpointError {
    /// What was being done.
    pub action: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

impl PageSet {
    /// Adds every page of `pages`.
    pub fn extend(&mut self, pages: impl IntoIterator<Item = u32>) {
        for page in pages {
            self.insert(page);
        }
    }
}

impl Checkpoint {
    /// Reads the checkpoint of `dir`, if there is one.
    pub fn load(dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = dir.join(FILE_NAME);
        let error = |source| CheckpointError { action: "read", path: path.clone(), source };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(error(e)),
        };
        let mut checkpoint: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| error(e.into()))?;
        for file in checkpoint.runs_mut() {
            *file = file.in_dir(dir);
        }
        Ok(Some(checkpoint))
    }

    fn runs_mut(&mut self) -> impl Iterator<Item = &mut RunFile> {
        let done = self.vendor.done.as_mut().map(|d| d.runs.iter_mut().chain(d.drop_runs.iter_mut()));
        let vendor = self.vendor.record_runs.iter_mut().chain(self.vendor.id_runs.iter_mut());
        vendor.chain(done.into_iter().flatten()).chain(self.internal.runs.iter_mut())
    }

    fn runs(&self) -> impl Iterator<Item = &RunFile> {
        let done = self.vendor.done.as_ref().map(|d| d.runs.iter().chain(d.drop_runs.iter()));
        let vendor = self.vendor.record_runs.iter().chain(self.vendor.id_runs.iter());
        vendor.chain(done.into_iter().flatten()).chain(self.internal.runs.iter())
    }

    /// Writes the checkpoint atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), CheckpointError> {
        let path = dir.join(FILE_NAME);
        let error = |source| CheckpointError { action: "written", path: path.clone(), source };
        let json = serde_json::to_vec(self).map_err(|e| error(e.into()))?;
        atomic::write(&path, &json).map_err(error)
    }

    /// Deletes every file in `dir` that this checkpoint does not list (runs
    /// and temp files of the interrupted attempt), except the files named in
    /// `keep`. Files are compared by name, so a run opened through another
    /// spelling of its path is safe.
    pub fn remove_leftovers(&self, dir: &Path, keep: &[&str]) -> Result<(), CheckpointError> {
        let keep: BTreeSet<std::ffi::OsString> = self
            .runs()
            .filter_map(|r| r.path.file_name().map(|n| n.to_os_string()))
            .chain(keep.iter().map(std::ffi::OsString::from))
            .chain([std::ffi::OsString::from(FILE_NAME)])
            .collect();
        let error =
            |source| CheckpointError { action: "applied (cleaning the extract dir)", path: dir.to_path_buf(), source };
        for entry in std::fs::read_dir(dir).map_err(error)? {
            let entry = entry.map_err(error)?;
            if !keep.contains(&entry.file_name()) {
                std::fs::remove_file(entry.path()).map_err(error)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_set_folds_consecutive_pages_into_one_number() {
        let mut set = PageSet::default();
        for page in [3, 1, 5, 2] {
            set.insert(page);
        }
        assert_eq!((set.through, set.above.iter().copied().collect::<Vec<_>>()), (3, vec![5]));
        assert!(set.contains(2) && set.contains(5) && !set.contains(4) && !set.contains(0));
        assert_eq!(set.len(), 4);
        set.insert(4);
        assert_eq!((set.through, set.above.len()), (5, 0));
    }
}
