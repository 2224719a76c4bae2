//! Publishing files atomically: write `<name>.tmp`, fsync it, rename, fsync the directory.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The temporary name of `path`: same directory, `.tmp` appended.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Creates (truncating) a file readable by its owner only.
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

/// Makes `file`, written at `tmp`, durable and visible as `path`.
pub fn publish(file: File, tmp: &Path, path: &Path) -> io::Result<()> {
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)?;
    sync_dir(path)
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, bytes, || ())
}

/// Like [`write`], calling `before_rename` once the temp file is durable.
pub fn write_with(path: &Path, bytes: &[u8], before_rename: impl FnOnce()) -> io::Result<()> {
    let tmp = tmp_path(path);
    let full = |error| crate::disk_full::note(error, &tmp, bytes.len() as u64);
    let mut file = create_private(&tmp).map_err(full)?;
    file.write_all(bytes).map_err(full)?;
    file.sync_all().map_err(full)?;
    before_rename();
    publish(file, &tmp, path)
}

/// Fsyncs the directory holding `path`, so a rename into it survives a crash.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_directory(p),
        _ => sync_directory(Path::new(".")),
    }
}

/// Fsyncs a directory itself.
pub fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a directory (and parents) readable by its owner only.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!tmp_path(&path).exists());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
