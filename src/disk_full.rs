//! A full disk: the I/O error of a write that found no space left on its
//! file system (ENOSPC, or a quota: EDQUOT), made to name the file and the
//! bytes that could not be written, and found again in an error's chain.

use std::io;
use std::path::{Path, PathBuf};

/// No space left for a write: what `io::Error` carries once [`note`]d.
#[derive(Debug, thiserror::Error)]
#[error("no space left on device writing {}{}", path.display(), needed(*bytes))]
pub struct DiskFull {
    /// The file (or directory) being written.
    pub path: PathBuf,
    /// The bytes that could not be written: the disk needs at least these
    /// (0 when not known).
    pub bytes: u64,
    /// The error as the system gave it.
    #[source]
    pub source: io::Error,
}

/// Whether `error` says the file system (or the user's quota) is full.
pub fn is_full(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
}

/// `error` naming `path` and the `bytes` being written when it is a full
/// disk (its kind kept); any other error, or one noted already, unchanged.
pub fn note(error: io::Error, path: &Path, bytes: u64) -> io::Error {
    if !is_full(&error) || error.get_ref().is_some_and(|inner| inner.is::<DiskFull>()) {
        return error;
    }
    let kind = error.kind();
    io::Error::new(kind, DiskFull { path: path.to_path_buf(), bytes, source: error })
}

/// The full disk in `error`'s chain: the [`DiskFull`] a write noted, or else
/// the bare I/O error of one that did not (`Err`), if any.
pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<Result<&'a DiskFull, &'a io::Error>> {
    let mut bare = None;
    let mut next = Some(error);
    while let Some(cause) = next {
        if let Some(full) = cause.downcast_ref::<DiskFull>() {
            return Some(Ok(full));
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if let Some(full) = io.get_ref().and_then(|inner| inner.downcast_ref::<DiskFull>()) {
                return Some(Ok(full));
            }
            if is_full(io) {
                bare.get_or_insert(io);
            }
        }
        next = cause.source();
    }
    bare.map(Err)
}

/// What the message says of the bytes needed.
fn needed(bytes: u64) -> String {
    match bytes {
        0 => String::new(),
        bytes => format!(" (at least {} more needed)", human_bytes(bytes)),
    }
}

/// Bytes for a person: `512 bytes`, `64.0 KiB`, `1.5 MiB`, `2.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("writing {path} failed")]
    struct Wrapper {
        path: PathBuf,
        #[source]
        source: io::Error,
    }

    fn enospc() -> io::Error {
        io::Error::from_raw_os_error(28)
    }

    #[test]
    fn a_full_disk_is_noted_with_its_file_and_bytes_and_found_again() {
        let noted = note(enospc(), Path::new("/w/r/extract/vendor-000001.spill.tmp"), 3 << 20);
        assert_eq!(noted.kind(), io::ErrorKind::StorageFull);
        assert_eq!(
            noted.to_string(),
            "no space left on device writing /w/r/extract/vendor-000001.spill.tmp (at least 3.0 MiB more needed)"
        );
        let wrapped = Wrapper { path: "/w/r/x".into(), source: note(noted, Path::new("/elsewhere"), 1) };
        let full = find(&wrapped).unwrap().unwrap();
        assert_eq!((full.path.to_str(), full.bytes), (Some("/w/r/extract/vendor-000001.spill.tmp"), 3 << 20));
    }

    #[test]
    fn other_errors_are_left_alone_and_a_bare_full_disk_is_still_found() {
        let other = note(io::Error::from(io::ErrorKind::PermissionDenied), Path::new("/x"), 1);
        assert!(other.get_ref().is_none());
        assert!(find(&Wrapper { path: "/x".into(), source: other }).is_none());
        let bare = Wrapper { path: "/x".into(), source: enospc() };
        assert!(matches!(find(&bare), Some(Err(_))));
        assert!(is_full(&io::Error::from_raw_os_error(122)), "EDQUOT");
    }

    #[test]
    fn bytes_read_as_a_person_would() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(64 << 10), "64.0 KiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }
}
