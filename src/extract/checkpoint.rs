//! Extract checkpoints: what an interrupted extract had made durable, so `resume` continues from there.
//!
//! A checkpoint is written (atomically) right after a run is spilled at a
//! page or row boundary. It lists every run file written so far, the vendor
//! pages whose users are all in those runs, the last internal id in them,
//! the counters as of that moment, and the length of `rejects.jsonl` then.
//! On resume, files the checkpoint does not list are deleted, the rejects file
//! is cut back, and extraction continues with the pages and rows not covered.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::vendor::FetchStats;
use super::ExtractOutput;
use crate::run::atomic;
use crate::sort::run_file::RunFile;

/// Name of the checkpoint file in the extract directory.
pub const FILE_NAME: &str = "checkpoint.json";

/// The durable state of an unfinished extract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Vendor runs sorted by id, while pages are still being fetched.
    pub vendor_by_id_runs: Vec<RunFile>,
    /// Vendor pages whose users are all in `vendor_by_id_runs`.
    pub vendor_pages_done: PageSet,
    /// Paging figures as of those pages.
    pub fetch: FetchStats,
    /// Whether the vendor side is finished (its key-sorted runs are in `output`).
    pub vendor_done: bool,
    /// Internal runs sorted by key written so far.
    pub internal_runs: Vec<RunFile>,
    /// The highest internal id in those runs.
    pub internal_last_id: Option<i64>,
    /// Counters and (once the vendor side is done) its runs.
    pub output: ExtractOutput,
    /// Length of rejects.jsonl covered by this checkpoint.
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
        for file in checkpoint
            .vendor_by_id_runs
            .iter_mut()
            .chain(checkpoint.internal_runs.iter_mut())
            .chain(checkpoint.output.vendor_runs.iter_mut())
        {
            *file = file.in_dir(dir);
        }
        Ok(Some(checkpoint))
    }

    /// Writes the checkpoint atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), CheckpointError> {
        let path = dir.join(FILE_NAME);
        let error = |source| CheckpointError { action: "written", path: path.clone(), source };
        let json = serde_json::to_vec(self).map_err(|e| error(e.into()))?;
        atomic::write(&path, &json).map_err(error)
    }

    /// Deletes every file in `dir` that this checkpoint does not list:
    /// runs and temp files of the interrupted attempt. Files are compared by
    /// name, so a run opened through another spelling of its path is safe.
    pub fn remove_leftovers(&self, dir: &Path) -> Result<(), CheckpointError> {
        let keep: BTreeSet<std::ffi::OsString> = self
            .vendor_by_id_runs
            .iter()
            .chain(&self.internal_runs)
            .chain(&self.output.vendor_runs)
            .filter_map(|r| r.path.file_name().map(|n| n.to_os_string()))
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
