//! Run directories: run-id creation, the paths under `<work-dir>/<run-id>/`,
//! listing the runs of a work dir, and the files a run writes (atomically).

pub mod atomic;
pub mod rejects;
pub mod sealed;
pub mod space;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::settings::ConfigError;

/// The name of a run's manifest in its directory.
pub const MANIFEST: &str = "manifest.json";

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
    id: String,
}

/// A work dir or run directory that can't be read, created or locked.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The work dir can't be read or created.
    #[error("work dir {path} could not be accessed")]
    WorkDir {
        /// The work dir.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A run's directory or lock can't be made, read or taken.
    #[error("run directory {path} could not be accessed")]
    Run {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A run id that is not one, or no such run (a usage error: exit 2).
    /// Not `transparent`: the `ConfigError` must stay in the chain of
    /// causes, where the exit code is looked for.
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl RunDir {
    /// Creates the directory of a new run, named `id` or else with a fresh id
    /// (UTC start time and a random suffix, so ids sort by age).
    pub fn create(work_dir: &Path, id: Option<&str>) -> Result<RunDir, RunDirError> {
        atomic::create_private_dir(work_dir)
            .map_err(|source| RunDirError::WorkDir { path: work_dir.to_path_buf(), source })?;
        let Some(id) = id else {
            // Two runs started in the same second may draw the same suffix:
            // the later one draws again rather than fail.
            let mut tries = 0;
            loop {
                let id = format!("{}-{:04x}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), fastrand::u16(..));
                match Self::create_named(work_dir, &id) {
                    Err(RunDirError::Run { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists && tries < 16 =>
                    {
                        tries += 1
                    }
                    created => return created,
                }
            }
        };
        Self::create_named(work_dir, id)
    }

    /// Creates the directory of the new run `id` in an existing work dir.
    fn create_named(work_dir: &Path, id: &str) -> Result<RunDir, RunDirError> {
        let root = work_dir.join(id);
        // Not recursive: a directory that exists already (a taken id) is an error.
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&root)
                .map_err(|source| RunDirError::Run { path: root.clone(), source })?;
        }
        // Absolute, so the paths kept in the manifest hold from any current directory.
        let root = root.canonicalize().map_err(|source| RunDirError::Run { path: root.clone(), source })?;
        Ok(RunDir { root, id: id.to_string() })
    }

    /// The existing run `id` of `work_dir`.
    pub fn open(work_dir: &Path, id: &str) -> Result<RunDir, RunDirError> {
        check_id(id)?;
        let root = work_dir.join(id);
        let found = root.join(MANIFEST).try_exists();
        match found {
            Ok(true) => {}
            Ok(false) => {
                return Err(ConfigError::NoRun(format!("no run `{id}` in work dir {}", work_dir.display())).into())
            }
            Err(source) => return Err(RunDirError::WorkDir { path: work_dir.to_path_buf(), source }),
        }
        let root = root.canonicalize().unwrap_or(root);
        Ok(RunDir { root, id: id.to_string() })
    }

    /// The run id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The run's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `manifest.json`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }
    /// `rejects.jsonl`.
    pub fn rejects(&self) -> PathBuf {
        self.root.join("rejects.jsonl")
    }
    /// A stage's own directory (`extract`, `match`, ...).
    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.root.join(stage)
    }

    /// Takes the run's lock for this process's lifetime (released when the
    /// file is dropped, or by the kernel when the process dies): two processes
    /// working on one run would delete each other's files.
    pub fn lock(&self) -> Result<std::fs::File, RunDirError> {
        self.try_lock()?.ok_or_else(|| RunDirError::Run {
            path: self.root.join("lock"),
            source: std::io::Error::other(format!("run {} is in use by another vendor-match process", self.id)),
        })
    }

    /// Removes the run's directory and everything in it, holding the run's
    /// lock throughout; `Ok(false)`, removing nothing, when another process
    /// holds it. The manifest goes first: a removal cut short leaves a
    /// directory that is no longer taken for a run.
    pub fn remove(&self) -> Result<bool, RunDirError> {
        let Some(_lock) = self.try_lock()? else { return Ok(false) };
        let error = |source| RunDirError::Run { path: self.root.clone(), source };
        match std::fs::remove_file(self.manifest()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(error(e)),
            _ => {}
        }
        std::fs::remove_dir_all(&self.root).map_err(error)?;
        Ok(true)
    }

    /// Whether a process holds the run's lock now. Probed read-only with a
    /// shared lock, released at once: it works on a run this user may only
    /// read, and never stands in the way of a process taking the run.
    pub fn in_use(&self) -> Result<bool, RunDirError> {
        let path = self.root.join("lock");
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            // No lock file: no process ever took the run.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(RunDirError::Run { path, source }),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(source)) => Err(RunDirError::Run { path, source }),
        }
    }

    /// The run's lock, or `None` when another process holds it.
    fn try_lock(&self) -> Result<Option<std::fs::File>, RunDirError> {
        let path = self.root.join("lock");
        let error = |source| RunDirError::Run { path: path.clone(), source };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(error)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(error(e)),
        }
    }

    /// Empties and recreates a stage's directory, so a redone stage starts clean.
    pub fn reset_stage_dir(&self, stage: &str) -> std::io::Result<PathBuf> {
        let dir = self.stage_dir(stage);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        atomic::create_private_dir(&dir)?;
        Ok(dir)
    }
}

/// A run id for a new run in `work_dir`: a plain name not taken yet.
pub fn check_new_id(work_dir: &Path, id: &str) -> Result<(), ConfigError> {
    check_id(id)?;
    if work_dir.join(id).exists() {
        return Err(ConfigError::Invalid {
            flag: "run-id",
            reason: format!("run `{id}` already exists in {}", work_dir.display()),
        });
    }
    Ok(())
}

/// Removes the directory `id` of `work_dir` when a `run` made it but ended
/// before its first manifest was written (killed, or the disk full, in
/// between): then the same `run --run-id` starts the run again instead of
/// finding the id taken. Only a directory holding nothing but the run's lock
/// and the manifest's temporary file is removed; one another process holds
/// is in use (exit 1, as any run in use); anything else is left alone.
pub fn clear_unborn(work_dir: &Path, id: &str) -> Result<(), RunDirError> {
    check_id(id)?;
    let root = work_dir.join(id);
    if !root.is_dir() || root.join(MANIFEST).exists() {
        return Ok(());
    }
    let error = |source| RunDirError::Run { path: root.clone(), source };
    let unborn = [std::ffi::OsString::from("lock"), atomic::tmp_path(Path::new(MANIFEST)).into_os_string()];
    for entry in std::fs::read_dir(&root).map_err(error)? {
        if !unborn.contains(&entry.map_err(error)?.file_name()) {
            return Ok(());
        }
    }
    let run = RunDir { root: root.clone(), id: id.to_string() };
    // Held: the run that made it is still starting.
    let _lock = run.lock()?;
    std::fs::remove_dir_all(&root).map_err(error)
}

/// A run id is one plain directory name.
pub fn check_id(id: &str) -> Result<(), ConfigError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > 100 || id.starts_with('.') || !id.chars().all(plain) {
        return Err(ConfigError::Invalid {
            flag: "run-id",
            reason: format!("`{id}` is not a run id (1 to 100 letters, digits, `-`, `_`, `.`; not starting with `.`)"),
        });
    }
    Ok(())
}

/// The ids of the runs in `work_dir` (directories holding a manifest), in no
/// particular order; none when the work dir does not exist yet.
pub fn run_ids(work_dir: &Path) -> Result<Vec<String>, RunDirError> {
    let entries = match std::fs::read_dir(work_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(RunDirError::WorkDir { path: work_dir.to_path_buf(), source }),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| RunDirError::WorkDir { path: work_dir.to_path_buf(), source })?;
        if entry.path().join(MANIFEST).exists() {
            ids.extend(entry.file_name().into_string());
        }
    }
    Ok(ids)
}

/// Bytes `path` takes on disk (allocated blocks, so a sparse file counts
/// what it holds), the files under it included; 0 when it does not exist.
/// Symbolic links are counted, not followed.
pub fn disk_usage(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut bytes = meta.blocks() * 512;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            // A file removed while we walk is no longer on disk.
            match entry {
                Ok(entry) => bytes += disk_usage(&entry.path())?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(bytes)
}

/// `path`'s file name inside `dir`: where a file recorded in a manifest is
/// found when the run directory is reached through another path.
pub fn in_dir(path: &Path, dir: &Path) -> PathBuf {
    match path.file_name() {
        Some(name) => dir.join(name),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod create_tests {
    use super::*;

    #[test]
    fn a_run_directory_left_before_its_manifest_is_cleared_and_nothing_else() {
        let work = tempfile::tempdir().unwrap();
        let unborn = RunDir::create(work.path(), Some("d1")).unwrap();
        std::fs::write(unborn.root().join("manifest.json.tmp"), "{").unwrap();
        let lock = unborn.lock().unwrap();
        // Still held by the process making it: in use.
        assert!(matches!(clear_unborn(work.path(), "d1"), Err(RunDirError::Run { .. })));
        drop(lock);
        clear_unborn(work.path(), "d1").unwrap();
        assert!(!work.path().join("d1").exists());
        assert!(check_new_id(work.path(), "d1").is_ok());
        // A directory holding anything else, or a run with its manifest, stays.
        for (id, file) in [("other", "notes.txt"), ("run", MANIFEST)] {
            std::fs::create_dir(work.path().join(id)).unwrap();
            std::fs::write(work.path().join(id).join(file), "x").unwrap();
            clear_unborn(work.path(), id).unwrap();
            assert!(work.path().join(id).join(file).exists(), "{id} removed");
        }
        clear_unborn(work.path(), "none").unwrap();
    }

    #[test]
    fn disk_usage_counts_the_files_under_a_directory() {
        let work = tempfile::tempdir().unwrap();
        let empty = disk_usage(work.path()).unwrap();
        std::fs::create_dir(work.path().join("a")).unwrap();
        std::fs::write(work.path().join("a/x"), vec![7u8; 100_000]).unwrap();
        let used = disk_usage(work.path()).unwrap();
        assert!(used >= empty + 100_000, "{empty} -> {used}");
        assert_eq!(disk_usage(&work.path().join("none")).unwrap(), 0);
    }

    #[test]
    fn a_run_is_removed_unless_another_holds_its_lock() {
        let work = tempfile::tempdir().unwrap();
        let run = RunDir::create(work.path(), Some("r1")).unwrap();
        std::fs::write(run.manifest(), "{}").unwrap();
        std::fs::create_dir(run.stage_dir("extract")).unwrap();
        std::fs::write(run.stage_dir("extract").join("a.spill"), "x").unwrap();
        // A lock held through another open file description, as another process holds it.
        let held = std::fs::File::create(run.root().join("lock")).unwrap();
        held.try_lock().unwrap();
        assert!(!run.remove().unwrap());
        assert!(run.manifest().exists() && run.stage_dir("extract").join("a.spill").exists());
        drop(held);
        assert!(run.remove().unwrap());
        assert!(!work.path().join("r1").exists());
        assert!(work.path().exists());
    }

    #[test]
    fn runs_started_in_the_same_second_get_distinct_ids() {
        // 2,000 ids in a second or two from 65,536 suffixes: some draws
        // repeat (about 30 by the birthday bound); each run still gets a directory.
        let work = tempfile::tempdir().unwrap();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..2000 {
            let run = RunDir::create(work.path(), None).unwrap();
            assert!(ids.insert(run.id.clone()), "{} given twice", run.id);
        }
    }
}
