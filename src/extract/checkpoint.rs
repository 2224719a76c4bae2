//! Extract checkpoints: what an interrupted extract had made durable, so `resume` continues from there.
//!
//! Each side writes the checkpoint (atomically) when one of its spill files
//! is published. The checkpoint lists every spill file published so far, the
//! vendor pages whose users are all in those files, the last internal id in
//! them, each side's counters as of that moment, and the length of each
//! side's rejects file then. On resume, files the checkpoint does not list
//! are deleted, the rejects files are cut back, and each side continues with
//! the pages and rows not covered.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::vendor_api::{FetchStats, PageSet};
use crate::damage::Damaged;
use crate::rundir::rejects::RejectsMark;
use crate::rundir::{atomic, sealed};
use crate::sort::spill_file::SpillFile;
use crate::sort::SortStats;

/// Name of the checkpoint file in the extract directory.
pub const FILE_NAME: &str = "checkpoint.json";
/// What the checkpoint is called in errors.
const WHAT: &str = "extract checkpoint";

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
    /// Spill files of records sorted by key, while pages are still being fetched.
    pub record_spills: Vec<SpillFile>,
    /// Spill files of their id entries, sorted by (id, page, position).
    pub id_spills: Vec<SpillFile>,
    /// Vendor pages whose users are all in those files.
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
    /// What the vendor rejects file holds.
    pub rejects_file: RejectsMark,
}

/// The vendor side's result: every record sorted by key, and the sort keys
/// of the copies to leave out (one user per id is kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VendorDone {
    /// Spill files of records sorted by match key, copies of an id included.
    pub spills: Vec<SpillFile>,
    /// Spill files of the sort keys of the records to leave out, in the same order.
    pub drop_spills: Vec<SpillFile>,
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
    /// Spill files sorted by match key written so far.
    pub spills: Vec<SpillFile>,
    /// Counters as of the last row in those files.
    pub counters: InternalCounters,
    /// Set once every row is in the files.
    pub done: Option<SortStats>,
}

/// Our side's figures as of a row boundary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct InternalCounters {
    /// The highest id read (users and rejects alike: rows come in id order).
    pub last_id: Option<i64>,
    /// The highest id read beyond `i64` (MySQL's `BIGINT UNSIGNED`, rejects
    /// all); such ids sort after every other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_unsigned_id: Option<u64>,
    /// Users kept.
    pub users: u64,
    /// Rows rejected.
    pub rejects: u64,
    /// What the internal rejects file holds.
    pub rejects_file: RejectsMark,
}

/// A checkpoint that can't be read or written, or is damaged.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing or applying it failed.
    #[error("extract checkpoint {path} could not be {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Its checksum does not match, or it is not a checkpoint.
    // Not `transparent`: the `Damaged` must stay in the chain of causes,
    // where the pipeline looks for it.
    #[error("{0}")]
    Damaged(#[from] Damaged),
}

impl Checkpoint {
    /// Reads the checkpoint of `dir`, if there is one.
    pub fn load(dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = dir.join(FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { action: "read", path, source }),
        };
        let json = sealed::unseal(&bytes, WHAT, &path)?;
        let mut checkpoint: Checkpoint =
            serde_json::from_slice(&json).map_err(|e| Damaged::new(WHAT, &path, format!("not a checkpoint: {e}")))?;
        for file in checkpoint.spills_mut() {
            *file = file.in_dir(dir);
        }
        Ok(Some(checkpoint))
    }

    fn spills_mut(&mut self) -> impl Iterator<Item = &mut SpillFile> {
        let done = self.vendor.done.as_mut().map(|d| d.spills.iter_mut().chain(d.drop_spills.iter_mut()));
        let vendor = self.vendor.record_spills.iter_mut().chain(self.vendor.id_spills.iter_mut());
        vendor.chain(done.into_iter().flatten()).chain(self.internal.spills.iter_mut())
    }

    fn spills(&self) -> impl Iterator<Item = &SpillFile> {
        let done = self.vendor.done.as_ref().map(|d| d.spills.iter().chain(d.drop_spills.iter()));
        let vendor = self.vendor.record_spills.iter().chain(self.vendor.id_spills.iter());
        vendor.chain(done.into_iter().flatten()).chain(self.internal.spills.iter())
    }

    /// Writes the checkpoint atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), CheckpointError> {
        let path = dir.join(FILE_NAME);
        let error = |source| CheckpointError::Io { action: "written", path: path.clone(), source };
        let json = serde_json::to_vec_pretty(self).map_err(|e| error(e.into()))?;
        atomic::write(&path, &sealed::seal(&json)).map_err(error)
    }

    /// Deletes every file in `dir` that this checkpoint does not list (spill
    /// files and temp files of the interrupted attempt), except the files
    /// named in `keep`. Files are compared by name, so a run dir reached
    /// through another spelling of its path is safe.
    pub fn remove_leftovers(&self, dir: &Path, keep: &[&str]) -> Result<(), CheckpointError> {
        let keep: BTreeSet<std::ffi::OsString> = self
            .spills()
            .filter_map(|r| r.path.file_name().map(|n| n.to_os_string()))
            .chain(keep.iter().map(std::ffi::OsString::from))
            .chain([std::ffi::OsString::from(FILE_NAME)])
            .collect();
        let error = |source| CheckpointError::Io {
            action: "applied (cleaning the extract dir)",
            path: dir.to_path_buf(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(error)? {
            let entry = entry.map_err(error)?;
            if !keep.contains(&entry.file_name()) {
                std::fs::remove_file(entry.path()).map_err(error)?;
            }
        }
        Ok(())
    }
}
