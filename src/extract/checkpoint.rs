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
    pub vendor_pages_done: BTreeSet<u32>,
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
        serde_json::from_slice(&bytes).map(Some).map_err(|e| error(e.into()))
    }

    /// Writes the checkpoint atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), CheckpointError> {
        let path = dir.join(FILE_NAME);
        let error = |source| CheckpointError { action: "written", path: path.clone(), source };
        let json = serde_json::to_vec(self).map_err(|e| error(e.into()))?;
        atomic::write(&path, &json).map_err(error)
    }

    /// Deletes every file in `dir` that this checkpoint does not list:
    /// runs and temp files of the interrupted attempt.
    pub fn remove_leftovers(&self, dir: &Path) -> Result<(), CheckpointError> {
        let keep: BTreeSet<PathBuf> = self
            .vendor_by_id_runs
            .iter()
            .chain(&self.internal_runs)
            .chain(&self.output.vendor_runs)
            .map(|r| r.path.clone())
            .chain([dir.join(FILE_NAME)])
            .collect();
        let error =
            |source| CheckpointError { action: "applied (cleaning the extract dir)", path: dir.to_path_buf(), source };
        for entry in std::fs::read_dir(dir).map_err(error)? {
            let path = entry.map_err(error)?.path();
            if !keep.contains(&path) {
                std::fs::remove_file(&path).map_err(error)?;
            }
        }
        Ok(())
    }
}
