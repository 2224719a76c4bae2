//! One spill file on disk, its records sorted: `SpillWriter` appends and
//! publishes it, `SpillReader` streams it back.
//!
//! Layout: a header (`vmspl` magic, format version, kind), the encoded
//! records back to back (see [`crate::record`]), then a trailer: eight `0xff`
//! bytes (no record header can hold them), the record count, and a CRC-32 of
//! every byte before it. A file that ends early, holds more, or whose bytes
//! changed is reported as damaged, never read as a shorter file.

use std::fs::File;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use super::error::SortError;
use crate::budget::{SPILL_READ_BUFFER_BYTES, WRITE_BUFFER_BYTES};
use crate::checksummed::Checksummed;
use crate::damage::Damaged;
use crate::disk_full;
use crate::record::{header_lengths, Record, HEADER_BYTES};
use crate::rundir::{atomic, in_dir};

/// The first bytes of every spill file.
pub const MAGIC: &[u8; 5] = b"vmspl";
const VERSION: u8 = 2;
const TRAILER_MARK: [u8; HEADER_BYTES] = [0xff; HEADER_BYTES];
/// Largest sort key or payload a spill file may hold: far above any real
/// record, low enough that a damaged length is refused before allocating.
const MAX_PART_BYTES: usize = 1 << 30;

/// A finished spill file: where it is, how many records it holds, and the
/// CRC its trailer holds. The reader checks the file against all three, so
/// that a file listed twice, swapped or changed is caught.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpillFile {
    /// Where it is.
    pub path: PathBuf,
    /// How many records it holds.
    pub records: u64,
    /// CRC-32 of every byte before it, as its trailer holds it.
    pub crc32: u32,
}

impl SpillFile {
    /// The same spill file found in `dir` (a run directory may have been
    /// reached through another path since the file was recorded).
    pub fn in_dir(&self, dir: &Path) -> SpillFile {
        SpillFile { path: in_dir(&self.path, dir), ..self.clone() }
    }
}

/// Bytes of the CRC at the very end of a spill file; every byte before it is checksummed.
const CRC_BYTES: u64 = 4;

/// Writes records to `<path>.tmp`; `finish` makes it durable under `<path>`.
pub struct SpillWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<Checksummed<File>>,
    records: u64,
}

impl SpillWriter {
    /// Starts a spill file of `kind` records that will be published at `path`.
    pub fn create(path: &Path, kind: &str) -> Result<SpillWriter, SortError> {
        let tmp = atomic::tmp_path(path);
        let file = atomic::create_private(&tmp).map_err(|source| SortError::Io { path: tmp.clone(), source })?;
        let checksummed = Checksummed::writing(file);
        let mut writer = SpillWriter {
            path: path.to_path_buf(),
            tmp,
            out: BufWriter::with_capacity(WRITE_BUFFER_BYTES, checksummed),
            records: 0,
        };
        let kind = &kind.as_bytes()[..kind.len().min(255)];
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&[VERSION, kind.len() as u8]);
        header.extend_from_slice(kind);
        writer.write(&header)?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SortError> {
        self.out.write_all(bytes).map_err(|source| {
            // What the buffer could not hand on, and these bytes, are the least the disk needs.
            let pending = (self.out.buffer().len() + bytes.len()) as u64;
            SortError::Io { path: self.tmp.clone(), source: disk_full::note(source, &self.tmp, pending) }
        })
    }

    /// Appends one encoded record (records must come in sorted order).
    pub fn append_encoded(&mut self, encoded: &[u8]) -> Result<(), SortError> {
        self.records += 1;
        self.write(encoded)
    }

    /// Appends one record (records must come in sorted order).
    pub fn append(&mut self, record: Record<'_>) -> Result<(), SortError> {
        let mut header = [0u8; HEADER_BYTES];
        header[..4].copy_from_slice(&(record.sort.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&(record.payload.len() as u32).to_le_bytes());
        for part in [&header[..], record.sort, record.payload] {
            self.write(part)?;
        }
        self.records += 1;
        Ok(())
    }

    /// Writes the trailer, fsyncs and renames the file into place.
    pub fn finish(mut self) -> Result<SpillFile, SortError> {
        let mut trailer = TRAILER_MARK.to_vec();
        trailer.extend_from_slice(&self.records.to_le_bytes());
        self.write(&trailer)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SortError::Io { source: disk_full::note(source, &path, CRC_BYTES), path }
        };
        let checksummed = self.out.into_inner().map_err(|e| {
            let (error, unwritten) = e.into_parts();
            let pending = unwritten.buffer().len() as u64;
            SortError::Io { path: self.tmp.clone(), source: disk_full::note(error, &self.tmp, pending) }
        })?;
        let crc32 = checksummed.crc32();
        let mut file = checksummed.into_inner();
        file.write_all(&crc32.to_le_bytes()).map_err(io(&self.tmp))?;
        crate::failpoint::hit("sort.spill_unpublished");
        atomic::publish(file, &self.tmp, &self.path).map_err(io(&self.path))?;
        Ok(SpillFile { path: self.path, records: self.records, crc32 })
    }
}

/// Reads `file` to its end: an error when it is not the file recorded.
pub fn verify(file: &SpillFile) -> Result<(), SortError> {
    let mut reader = SpillReader::open(file)?;
    let mut record = Vec::new();
    while reader.next_into(&mut record)? {}
    Ok(())
}

/// Streams the encoded records of one spill file, checking its header and trailer.
pub struct SpillReader {
    /// The file as recorded when it was written; `None` when there is no
    /// record of it to check against (`vendor-match inspect`).
    expected: Option<SpillFile>,
    path: PathBuf,
    /// What the header says the records are (`vendor`, `internal`, ...).
    kind: String,
    input: BufReader<Checksummed<File>>,
    /// Bytes of the file not read yet: a damaged length is caught before
    /// anything is allocated for it.
    unread: u64,
    records: u64,
    done: bool,
}

impl SpillReader {
    /// Opens `file` and checks its header; its end is checked against the
    /// record count and CRC recorded in `file`.
    pub fn open(file: &SpillFile) -> Result<SpillReader, SortError> {
        SpillReader::open_at(&file.path, Some(file.clone()))
    }

    /// Opens the spill file at `path` with no record of it: it is checked
    /// against its own trailer (record count and CRC) only.
    pub fn open_unrecorded(path: &Path) -> Result<SpillReader, SortError> {
        SpillReader::open_at(path, None)
    }

    fn open_at(path: &Path, expected: Option<SpillFile>) -> Result<SpillReader, SortError> {
        let io = |source| SortError::Io { path: path.to_path_buf(), source };
        let input = File::open(path).map_err(io)?;
        let unread = input.metadata().map_err(io)?.len();
        let checksummed = Checksummed::reading(input, unread.saturating_sub(CRC_BYTES));
        let mut reader = SpillReader {
            expected,
            path: path.to_path_buf(),
            kind: String::new(),
            input: BufReader::with_capacity(SPILL_READ_BUFFER_BYTES, checksummed),
            unread,
            records: 0,
            done: false,
        };
        let mut head = [0u8; 7];
        let complete = reader.read_full(&mut head)?;
        if !complete || &head[..5] != MAGIC || head[5] != VERSION {
            return Err(reader.corrupt("not a vendor-match spill file of this version (bad header)".into()));
        }
        let mut kind = vec![0u8; usize::from(head[6])];
        if !reader.read_full(&mut kind)? && !kind.is_empty() {
            return Err(reader.corrupt("truncated header".into()));
        }
        reader.kind = String::from_utf8_lossy(&kind).into_owned();
        Ok(reader)
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kind of records its header names (the sorter's kind: `vendor`, `internal`, ...).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Reads exactly `buf.len()` bytes; `false` at a clean end of file
    /// before the first byte, an error when the file ends inside.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<bool, SortError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => return Err(self.corrupt(format!("truncated inside record {}", self.records + 1))),
                Ok(n) => {
                    filled += n;
                    self.unread = self.unread.saturating_sub(n as u64);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(source) => return Err(SortError::Io { path: self.path.clone(), source }),
            }
        }
        Ok(true)
    }

    /// Reads the next encoded record into `record` (replacing its contents);
    /// `false` at the verified end of the file.
    pub fn next_into(&mut self, record: &mut Vec<u8>) -> Result<bool, SortError> {
        if self.done {
            return Ok(false);
        }
        let mut header = [0u8; HEADER_BYTES];
        if !self.read_full(&mut header)? {
            return Err(self.corrupt(format!("truncated after {} records: no trailer", self.records)));
        }
        if header == TRAILER_MARK {
            self.check_trailer()?;
            return Ok(false);
        }
        let (sort_len, payload_len) = header_lengths(&header).unwrap_or_default();
        let fits_in_file = (sort_len as u64).saturating_add(payload_len as u64) <= self.unread;
        if sort_len > MAX_PART_BYTES || payload_len > MAX_PART_BYTES || !fits_in_file {
            return Err(self.corrupt(format!("record {} has an impossible length", self.records + 1)));
        }
        record.clear();
        record.extend_from_slice(&header);
        record.resize(HEADER_BYTES + sort_len + payload_len, 0);
        if !self.read_full(&mut record[HEADER_BYTES..])? && sort_len + payload_len > 0 {
            return Err(self.corrupt(format!("truncated inside record {}", self.records + 1)));
        }
        self.records += 1;
        Ok(true)
    }

    fn check_trailer(&mut self) -> Result<(), SortError> {
        let mut trailer = [0u8; 12];
        if !self.read_full(&mut trailer)? {
            return Err(self.corrupt("truncated trailer".into()));
        }
        let count = u64::from_le_bytes(trailer[..8].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(trailer[8..].try_into().unwrap_or_default());
        if count != self.records {
            return Err(self.corrupt(format!("trailer says {count} records, read {}", self.records)));
        }
        // Everything before the CRC has been read (and so checksummed) by now.
        let checksummed = self.input.get_ref();
        if checksummed.left() != 0 || crc != checksummed.crc32() {
            return Err(self.corrupt("checksum mismatch: the file's bytes changed".into()));
        }
        if self.read_full(&mut [0u8; 1])? {
            return Err(self.corrupt("data after the trailer".into()));
        }
        if let Some(SpillFile { records, crc32, .. }) = self.expected {
            if (count, crc) != (records, crc32) {
                let reason = format!(
                    "it is not the file recorded: it holds {count} records (CRC {crc:08x}), \
                     the run recorded {records} records (CRC {crc32:08x}) under this name"
                );
                return Err(self.corrupt(reason));
            }
        }
        self.done = true;
        Ok(())
    }

    fn corrupt(&self, reason: String) -> SortError {
        Damaged::new("spill file", &self.path, reason).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> Vec<u8> {
        format!("k{n:04}").into_bytes()
    }

    fn write_spill(dir: &Path, n: u64) -> SpillFile {
        let mut w = SpillWriter::create(&dir.join("r.spill"), "internal").unwrap();
        for i in 0..n {
            w.append(Record { sort: &key(i), payload: b"payload" }).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(file: &SpillFile) -> Result<Vec<Vec<u8>>, SortError> {
        let mut reader = SpillReader::open(file)?;
        let mut out = Vec::new();
        let mut record = Vec::new();
        while reader.next_into(&mut record)? {
            out.push(Record::decode(&record).unwrap().sort.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn a_written_spill_file_reads_back_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_spill(dir.path(), 50);
        assert_eq!(file.records, 50);
        assert!(!atomic::tmp_path(&file.path).exists());
        assert_eq!(read_all(&file).unwrap(), (0..50).map(key).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_spill_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_spill(dir.path(), 0);
        assert_eq!(read_all(&file).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn a_spill_file_cut_anywhere_is_an_error_not_a_short_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_spill(dir.path(), 20);
        let bytes = std::fs::read(&file.path).unwrap();
        for cut in 0..bytes.len() {
            std::fs::write(&file.path, &bytes[..cut]).unwrap();
            assert!(read_all(&file).is_err(), "cut at {cut} of {} read as a spill file", bytes.len());
        }
    }

    proptest::proptest! {
        #[test]
        fn a_changed_byte_is_caught(at in 0usize..10_000, byte in proptest::num::u8::ANY) {
            let dir = tempfile::tempdir().unwrap();
            let file = write_spill(dir.path(), 20);
            let mut bytes = std::fs::read(&file.path).unwrap();
            let at = at % bytes.len();
            proptest::prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            std::fs::write(&file.path, &bytes).unwrap();
            proptest::prop_assert!(read_all(&file).is_err());
        }
    }

    #[test]
    fn a_damaged_length_is_refused_before_anything_is_allocated_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_spill(dir.path(), 3);
        let mut bytes = std::fs::read(&file.path).unwrap();
        // The first record's sort length, just after the 15-byte header ("internal").
        let at = MAGIC.len() + 2 + "internal".len();
        bytes[at..at + 4].copy_from_slice(&(512u32 << 20).to_le_bytes());
        std::fs::write(&file.path, &bytes).unwrap();
        let err = read_all(&file).unwrap_err().to_string();
        assert!(err.contains("impossible length"), "{err}");
    }

    #[test]
    fn an_unrecorded_file_is_checked_against_its_own_trailer_and_names_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_spill(dir.path(), 5);
        let mut reader = SpillReader::open_unrecorded(&file.path).unwrap();
        assert_eq!(reader.kind(), "internal");
        let mut record = Vec::new();
        let mut read = 0;
        while reader.next_into(&mut record).unwrap() {
            read += 1;
        }
        assert_eq!(read, 5);
        let mut bytes = std::fs::read(&file.path).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&file.path, &bytes).unwrap();
        let mut reader = SpillReader::open_unrecorded(&file.path).unwrap();
        let error = loop {
            match reader.next_into(&mut record) {
                Ok(true) => {}
                Ok(false) => panic!("a changed byte read as a sound file"),
                Err(error) => break error,
            }
        };
        assert!(matches!(error, SortError::Damaged(_)), "{error:?}");
    }

    #[test]
    fn foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.spill");
        std::fs::write(&path, "a,b\n").unwrap();
        assert!(SpillReader::open(&SpillFile { path, records: 0, crc32: 0 }).is_err());
    }

    #[test]
    fn a_whole_file_in_place_of_another_is_caught_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let older = std::fs::read(write_spill(dir.path(), 20).path).unwrap();
        let second = write_spill(dir.path(), 21);
        std::fs::write(&second.path, &older).unwrap();
        // Each file is sound on its own, but not the one recorded.
        let error = read_all(&second).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&second.path.display().to_string()) && message.contains("not the file recorded"),
            "{message}"
        );
    }
}
