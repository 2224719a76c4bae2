//! The run's rejects file: every record that could not be represented, with its source and reason.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::Side;

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

/// Appends rejects as JSON lines.
pub struct RejectWriter {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
}

impl RejectWriter {
    /// Creates (truncating) the rejects file.
    pub fn create(path: &Path) -> std::io::Result<RejectWriter> {
        let file = super::atomic::create_private(path)?;
        Ok(RejectWriter { path: path.to_path_buf(), out: BufWriter::new(file), bytes: 0 })
    }

    /// Reopens the rejects file of an interrupted stage, cut back to the
    /// `bytes` its last checkpoint had made durable, and appends after them.
    pub fn resume(path: &Path, bytes: u64) -> std::io::Result<RejectWriter> {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
        file.set_len(bytes)?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
        Ok(RejectWriter { path: path.to_path_buf(), out: BufWriter::new(file), bytes })
    }

    /// Records one reject.
    pub fn record(&mut self, reject: &Reject<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(reject)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Makes everything recorded so far durable; returns the file's length.
    pub fn sync(&mut self) -> std::io::Result<u64> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        Ok(self.bytes)
    }

    /// Flushes and fsyncs.
    pub fn finish(self) -> std::io::Result<()> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes recorded so far (flushed or not).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Writes the files `parts`, one after the other, as `into`, atomically.
pub fn combine(parts: &[&Path], into: &Path) -> std::io::Result<()> {
    let tmp = super::atomic::tmp_path(into);
    let mut out = BufWriter::new(super::atomic::create_private(&tmp)?);
    for part in parts {
        std::io::copy(&mut File::open(part)?, &mut out)?;
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    super::atomic::publish(file, &tmp, into)
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

    #[test]
    fn combine_joins_the_parts_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, into) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("all"));
        std::fs::write(&a, "1\n2\n").unwrap();
        std::fs::write(&b, "3\n").unwrap();
        combine(&[&a, &b], &into).unwrap();
        assert_eq!(std::fs::read_to_string(&into).unwrap(), "1\n2\n3\n");
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
