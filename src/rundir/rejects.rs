//! The run's rejects file: every record that could not be represented, with its source and reason.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::damage::Damaged;
use crate::disk_full;
use crate::model::Side;

/// What the rejects files are called in errors.
const WHAT: &str = "rejects file";

/// One rejected record, as a line of `rejects.jsonl`.
#[derive(Debug, Serialize)]
pub struct Reject<'a> {
    /// `vendor` or `internal`.
    pub source: Side,
    /// The vendor page, for vendor records.
    pub page: Option<u32>,
    /// The record's id, when readable.
    pub id: Option<i64>,
    /// Why it was rejected.
    pub reason: &'a str,
}

/// A source rejected too large a share of its records.
#[derive(Debug, thiserror::Error)]
#[error("{rejects} of {records} {side} records were rejected ({ratio:.4} > --max-reject-ratio {max}); see {path}")]
pub struct RejectRatioExceeded {
    /// The source.
    pub side: &'static str,
    /// Rejected records.
    pub rejects: u64,
    /// Records seen, rejects included.
    pub records: u64,
    /// rejects / records.
    pub ratio: f64,
    /// The limit.
    pub max: f64,
    /// The rejects file.
    pub path: PathBuf,
}

/// A rejects file that can't be written, or does not hold what was written to it.
#[derive(Debug, thiserror::Error)]
pub enum RejectsError {
    /// Reading or writing failed.
    #[error("rejects file {path} could not be accessed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file's bytes are not the ones recorded.
    // Not `transparent`: the `Damaged` must stay in the chain of causes,
    // where the pipeline looks for it.
    #[error("{0}")]
    Damaged(#[from] Damaged),
}

/// What a rejects file holds: its length and the CRC-32 of its bytes, kept
/// in extract's checkpoint so that the file is verified when read back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RejectsMark {
    /// Length.
    pub bytes: u64,
    /// CRC-32 of those bytes.
    pub crc32: u32,
}

/// Appends rejects as JSON lines.
pub struct RejectWriter {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
    crc: crc32fast::Hasher,
}

impl RejectWriter {
    /// Creates (truncating) the rejects file.
    pub fn create(path: &Path) -> Result<RejectWriter, RejectsError> {
        let file = super::atomic::create_private(path).map_err(io(path))?;
        Ok(RejectWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            bytes: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Reopens the rejects file of an interrupted stage, cut back to what its
    /// last checkpoint had made durable (`mark`), once those bytes are found
    /// unchanged, and appends after them.
    pub fn resume(path: &Path, mark: RejectsMark) -> Result<RejectWriter, RejectsError> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io(path))?;
        let crc = checked_prefix(&mut file, path, mark)?;
        file.set_len(mark.bytes).map_err(io(path))?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(io(path))?;
        Ok(RejectWriter { path: path.to_path_buf(), out: BufWriter::new(file), bytes: mark.bytes, crc })
    }

    /// Records one reject.
    pub fn record(&mut self, reject: &Reject<'_>) -> Result<(), RejectsError> {
        let mut line =
            serde_json::to_vec(reject).map_err(|e| RejectsError::Io { path: self.path.clone(), source: e.into() })?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(|source| {
            let pending = (self.out.buffer().len() + line.len()) as u64;
            RejectsError::Io { path: self.path.clone(), source: disk_full::note(source, &self.path, pending) }
        })?;
        self.bytes += line.len() as u64;
        self.crc.update(&line);
        Ok(())
    }

    /// Makes everything recorded so far durable.
    pub fn sync(&mut self) -> Result<(), RejectsError> {
        self.out.flush().map_err(io(&self.path))?;
        self.out.get_ref().sync_data().map_err(io(&self.path))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What has been recorded so far (flushed or not).
    pub fn mark(&self) -> RejectsMark {
        RejectsMark { bytes: self.bytes, crc32: self.crc.clone().finalize() }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RejectsError + '_ {
    move |source| RejectsError::Io { path: path.to_path_buf(), source: disk_full::note(source, path, 0) }
}

/// Reads the first `mark.bytes` of `file` and checks them against `mark`;
/// the CRC state after them, to go on from.
fn checked_prefix(file: &mut File, path: &Path, mark: RejectsMark) -> Result<crc32fast::Hasher, RejectsError> {
    let mut crc = crc32fast::Hasher::new();
    let mut left = mark.bytes;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).map_err(io(path))?;
        if n == 0 {
            let reason = format!("it holds {} bytes, fewer than the {} recorded", mark.bytes - left, mark.bytes);
            return Err(Damaged::new(WHAT, path, reason).into());
        }
        crc.update(&buf[..n]);
        left -= n as u64;
    }
    if crc.clone().finalize() != mark.crc32 {
        return Err(Damaged::new(WHAT, path, "its bytes are not the ones recorded (CRC mismatch)").into());
    }
    Ok(crc)
}

/// Writes the files `parts`, one after the other, as `into`, atomically;
/// each part must be exactly what its mark records.
pub fn combine(parts: &[(&Path, RejectsMark)], into: &Path) -> Result<(), RejectsError> {
    let tmp = super::atomic::tmp_path(into);
    let mut out = BufWriter::new(super::atomic::create_private(&tmp).map_err(io(&tmp))?);
    for &(part, mark) in parts {
        let mut file = File::open(part).map_err(io(part))?;
        checked_prefix(&mut file, part, mark)?;
        if file.metadata().map_err(io(part))?.len() != mark.bytes {
            return Err(
                Damaged::new(WHAT, part, format!("it holds more than the {} bytes recorded", mark.bytes)).into()
            );
        }
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0)).map_err(io(part))?;
        std::io::copy(&mut file, &mut out).map_err(io(into))?;
    }
    let file = out.into_inner().map_err(|e| e.into_error()).map_err(io(&tmp))?;
    super::atomic::publish(file, &tmp, into).map_err(io(into))
}

/// Fails when `rejects` exceed `max` of all records seen from `source`.
pub fn check_ratio(
    source: Side,
    rejects: u64,
    accepted: u64,
    max: f64,
    path: &Path,
) -> Result<(), RejectRatioExceeded> {
    let records = rejects + accepted;
    if records == 0 {
        return Ok(());
    }
    let ratio = rejects as f64 / records as f64;
    if ratio > max {
        return Err(RejectRatioExceeded {
            side: source.name(),
            rejects,
            records,
            ratio,
            max,
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(text: &str) -> RejectsMark {
        RejectsMark { bytes: text.len() as u64, crc32: crc32fast::hash(text.as_bytes()) }
    }

    #[test]
    fn combine_joins_the_parts_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, into) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("all"));
        std::fs::write(&a, "1\n2\n").unwrap();
        std::fs::write(&b, "3\n").unwrap();
        combine(&[(&a, mark("1\n2\n")), (&b, mark("3\n"))], &into).unwrap();
        assert_eq!(std::fs::read_to_string(&into).unwrap(), "1\n2\n3\n");
    }

    #[test]
    fn a_part_changed_cut_or_grown_is_damage_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, into) = (dir.path().join("a"), dir.path().join("all"));
        for on_disk in ["1\n3\n", "1\n", "1\n2\n3\n"] {
            std::fs::write(&a, on_disk).unwrap();
            let error = combine(&[(&a, mark("1\n2\n"))], &into).unwrap_err();
            assert!(matches!(&error, RejectsError::Damaged(d) if d.path == a), "{on_disk:?}: {error:?}");
        }
    }

    #[test]
    fn resume_keeps_the_recorded_bytes_and_refuses_changed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut writer = RejectWriter::create(&path).unwrap();
        let reject = Reject { source: Side::Vendor, page: Some(1), id: Some(7), reason: "bad" };
        writer.record(&reject).unwrap();
        writer.sync().unwrap();
        let durable = writer.mark();
        writer.record(&reject).unwrap();
        writer.sync().unwrap();
        drop(writer);

        let mut resumed = RejectWriter::resume(&path, durable).unwrap();
        assert_eq!(resumed.mark(), durable);
        resumed.record(&reject).unwrap();
        resumed.sync().unwrap();
        assert_eq!(resumed.mark(), mark(&std::fs::read_to_string(&path).unwrap()));

        let mut text = std::fs::read(&path).unwrap();
        text[3] ^= 1;
        std::fs::write(&path, &text).unwrap();
        assert!(matches!(RejectWriter::resume(&path, durable), Err(RejectsError::Damaged(_))));
    }

    #[test]
    fn ratio_at_the_limit_passes_and_above_fails() {
        let p = Path::new("r.jsonl");
        assert!(check_ratio(Side::Vendor, 1, 99, 0.01, p).is_ok());
        let err = check_ratio(Side::Vendor, 2, 98, 0.01, p).unwrap_err();
        assert!(err.to_string().contains("2 of 100 vendor records"), "{err}");
        assert!(check_ratio(Side::Internal, 0, 0, 0.0, p).is_ok());
    }
}
