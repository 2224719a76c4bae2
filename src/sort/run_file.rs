//! One sorted run on disk: `RunWriter` appends and publishes it, `RunReader` streams it back.
//!
//! Layout (CSV): a header row `vendor-match-run,<version>,<kind>`, one row per
//! record, then an end row `end,<count>`. A run without its end row, or whose
//! count disagrees, is reported as truncated instead of read as a short run.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use csv::ByteRecord;

use super::codec::{CodecError, RowDecoder, RowEncoder, RunRecord};
use super::SortError;
use crate::run::atomic;

const MAGIC: &[u8] = b"vendor-match-run";
const VERSION: &[u8] = b"1";
const END: &[u8] = b"end";
const IO_BUFFER_BYTES: usize = 64 * 1024;

/// A finished run file and how many records it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunFile {
    /// Where it is.
    pub path: PathBuf,
    /// How many records it holds.
    pub records: u64,
}

impl RunFile {
    /// The same run file found in `dir` (a run directory may have been
    /// reached through another path since the file was recorded).
    pub fn in_dir(&self, dir: &Path) -> RunFile {
        RunFile { path: in_dir(&self.path, dir), records: self.records }
    }
}

/// `path`'s file name inside `dir`.
pub fn in_dir(path: &Path, dir: &Path) -> PathBuf {
    match path.file_name() {
        Some(name) => dir.join(name),
        None => path.to_path_buf(),
    }
}

/// Writes records to `<path>.tmp`; `finish` makes it durable under `<path>`.
pub struct RunWriter<R> {
    path: PathBuf,
    tmp: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    encoder: RowEncoder,
    records: u64,
    _record: PhantomData<R>,
}

impl<R: RunRecord> RunWriter<R> {
    /// Starts a run of `kind` records that will be published at `path`.
    pub fn create(path: &Path, kind: &str) -> Result<RunWriter<R>, SortError> {
        let tmp = atomic::tmp_path(path);
        let file = atomic::create_private(&tmp).map_err(|source| SortError::Io { path: tmp.clone(), source })?;
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_writer(BufWriter::with_capacity(IO_BUFFER_BYTES, file));
        writer
            .write_record([MAGIC, VERSION, kind.as_bytes()])
            .map_err(|source| SortError::Csv { path: tmp.clone(), source })?;
        Ok(RunWriter {
            path: path.to_path_buf(),
            tmp,
            writer,
            encoder: RowEncoder::default(),
            records: 0,
            _record: PhantomData,
        })
    }

    /// Appends one record (records must come in sorted order).
    pub fn append(&mut self, record: &R) -> Result<(), SortError> {
        self.encoder.clear();
        record.encode(&mut self.encoder);
        self.writer
            .write_byte_record(self.encoder.row())
            .map_err(|source| SortError::Csv { path: self.tmp.clone(), source })?;
        self.records += 1;
        Ok(())
    }

    /// Writes the end row, fsyncs and renames the file into place.
    pub fn finish(mut self) -> Result<RunFile, SortError> {
        let count = self.records.to_string();
        self.writer
            .write_record([END, count.as_bytes()])
            .map_err(|source| SortError::Csv { path: self.tmp.clone(), source })?;
        let buffered =
            self.writer.into_inner().map_err(|e| SortError::Io { path: self.tmp.clone(), source: e.into_error() })?;
        let file =
            buffered.into_inner().map_err(|e| SortError::Io { path: self.tmp.clone(), source: e.into_error() })?;
        crate::failpoint::hit("sort.run_unpublished");
        atomic::publish(file, &self.tmp, &self.path)
            .map_err(|source| SortError::Io { path: self.path.clone(), source })?;
        Ok(RunFile { path: self.path, records: self.records })
    }
}

/// Streams the records of one run file, checking its header and end row.
pub struct RunReader<R> {
    path: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    row: ByteRecord,
    records: u64,
    done: bool,
    _record: PhantomData<R>,
}

impl<R: RunRecord> RunReader<R> {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<RunReader<R>, SortError> {
        let file = File::open(path).map_err(|source| SortError::Io { path: path.to_path_buf(), source })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(IO_BUFFER_BYTES, file));
        let mut row = ByteRecord::new();
        let ok =
            reader.read_byte_record(&mut row).map_err(|source| SortError::Csv { path: path.to_path_buf(), source })?;
        if !ok || row.get(0) != Some(MAGIC) || row.get(1) != Some(VERSION) {
            return Err(SortError::Corrupt {
                path: path.to_path_buf(),
                reason: "not a vendor-match run file (bad header)".into(),
            });
        }
        Ok(RunReader { path: path.to_path_buf(), reader, row, records: 0, done: false, _record: PhantomData })
    }

    /// The next record, `None` at a verified end, or an error.
    pub fn next_record(&mut self) -> Result<Option<R>, SortError> {
        if self.done {
            return Ok(None);
        }
        let more = self
            .reader
            .read_byte_record(&mut self.row)
            .map_err(|source| SortError::Csv { path: self.path.clone(), source })?;
        if !more {
            return Err(self.corrupt(format!("truncated after {} records: no end row", self.records)));
        }
        if self.row.len() == 2 && self.row.get(0) == Some(END) {
            return self.check_end().map(|()| None);
        }
        let record = R::decode(&mut RowDecoder::new(&self.row))
            .map_err(|e: CodecError| self.corrupt(format!("record {}: {e}", self.records + 1)))?;
        self.records += 1;
        Ok(Some(record))
    }

    fn check_end(&mut self) -> Result<(), SortError> {
        let expected = std::str::from_utf8(&self.row[1]).ok().and_then(|s| s.parse::<u64>().ok());
        if expected != Some(self.records) {
            return Err(self.corrupt(format!("end row says {:?} records, read {}", expected, self.records)));
        }
        let mut extra = ByteRecord::new();
        let trailing = self
            .reader
            .read_byte_record(&mut extra)
            .map_err(|source| SortError::Csv { path: self.path.clone(), source })?;
        if trailing {
            return Err(self.corrupt("data after the end row".into()));
        }
        self.done = true;
        Ok(())
    }

    fn corrupt(&self, reason: String) -> SortError {
        SortError::Corrupt { path: self.path.clone(), reason }
    }
}

impl<R: RunRecord> Iterator for RunReader<R> {
    type Item = Result<R, SortError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InternalUser, Keyed};

    fn user(id: i64) -> Keyed<InternalUser> {
        Keyed {
            key: format!("k{id:03}"),
            user: InternalUser { firstname: Some("a".into()), ..InternalUser::with_id(id) },
        }
    }

    fn write_run(dir: &Path, n: i64) -> RunFile {
        let mut w = RunWriter::create(&dir.join("r.run"), "internal").unwrap();
        for id in 0..n {
            w.append(&user(id)).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn written_run_reads_back_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let run = write_run(dir.path(), 50);
        assert_eq!(run.records, 50);
        assert!(!atomic::tmp_path(&run.path).exists());
        let back: Vec<_> =
            RunReader::<Keyed<InternalUser>>::open(&run.path).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(back, (0..50).map(user).collect::<Vec<_>>());
    }

    #[test]
    fn truncated_run_is_an_error_not_a_short_read() {
        let dir = tempfile::tempdir().unwrap();
        let run = write_run(dir.path(), 50);
        let bytes = std::fs::read(&run.path).unwrap();
        std::fs::write(&run.path, &bytes[..bytes.len() / 2]).unwrap();
        let result: Result<Vec<_>, _> = RunReader::<Keyed<InternalUser>>::open(&run.path).unwrap().collect();
        let err = result.unwrap_err().to_string();
        assert!(err.contains("truncated") || err.contains("record"), "{err}");
    }

    #[test]
    fn run_missing_only_its_end_row_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let run = write_run(dir.path(), 3);
        let text = std::fs::read_to_string(&run.path).unwrap();
        let cut = text.trim_end().rfind('\n').unwrap();
        std::fs::write(&run.path, &text[..=cut]).unwrap();
        let result: Result<Vec<_>, _> = RunReader::<Keyed<InternalUser>>::open(&run.path).unwrap().collect();
        assert!(result.unwrap_err().to_string().contains("truncated"));
    }

    proptest::proptest! {
        #[test]
        fn a_damaged_run_reads_as_records_or_an_error_never_a_panic(
            cut in 0usize..2_000,
            byte in proptest::num::u8::ANY,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let run = write_run(dir.path(), 20);
            let mut bytes = std::fs::read(&run.path).unwrap();
            let at = cut % bytes.len();
            bytes[at] = byte;
            std::fs::write(&run.path, &bytes).unwrap();
            if let Ok(reader) = RunReader::<Keyed<InternalUser>>::open(&run.path) {
                let read: Result<Vec<_>, _> = reader.collect();
                // Either the damage is caught, or the byte changed a value in place.
                if let Ok(records) = read {
                    proptest::prop_assert_eq!(records.len(), 20);
                }
            }
        }
    }

    #[test]
    fn foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.run");
        std::fs::write(&path, "a,b\n").unwrap();
        assert!(RunReader::<Keyed<InternalUser>>::open(&path).is_err());
    }
}
