//! Room for a run's files: whether a directory takes new files, and how
//! many bytes its file system has free for them.

use std::path::{Path, PathBuf};

/// The directory where `path` would be made: `path` itself when it exists,
/// else its nearest ancestor that does (`.` for a relative path with none).
pub fn nearest_existing(path: &Path) -> PathBuf {
    let mut at = path;
    loop {
        if at.exists() {
            return at.to_path_buf();
        }
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => return PathBuf::from("."),
        }
    }
}

/// Bytes an unprivileged process may still write on the file system that
/// holds `dir` (statvfs: available blocks times the fragment size).
pub fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Proves that `dir` takes new files and directories: makes a directory
/// and a file in it, then removes both.
pub fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = tempfile::Builder::new().prefix(".vendor-match-preflight-").tempdir_in(dir)?;
    std::fs::File::create(probe.path().join("probe"))?;
    probe.close()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_existing_directory_of_a_path_to_be_made_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(nearest_existing(dir.path()), dir.path());
        assert_eq!(nearest_existing(&dir.path().join("a/b/c")), dir.path());
        assert_eq!(nearest_existing(Path::new("no-such-dir-here/x")), Path::new("."));
    }

    #[test]
    fn a_directory_that_takes_files_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        probe_writable(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(probe_writable(&dir.path().join("missing")).is_err());
        assert!(available_bytes(dir.path()).unwrap() > 0);
    }
}
