//! Segment files of warehouse rows (`match/rows-NNNNNN.pgcopy`), each a
//! complete binary COPY stream: written by match, closed at about 16 MiB, and
//! published (fsync, rename) on a background thread while the join goes on.
//! Each published segment is handed to the caller's listener, so that a load
//! running alongside can COPY it at once. [`SegmentReader`] reads one back
//! row by row, for a person (`vendor-match inspect`).

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::error::MatchError;
use super::pgcopy;
use crate::budget::WRITE_BUFFER_BYTES;
use crate::bug::Bug;
use crate::checksummed::Checksummed;
use crate::damage::Damaged;
use crate::disk_full;
use crate::rundir::{atomic, in_dir};

/// A segment is closed once it holds this many bytes: small enough for
/// several load sessions to share the work (and for a load running alongside
/// to start early), large enough to be few.
const SEGMENT_BYTES: u64 = 16 << 20;

/// One file of rows: a complete binary COPY stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Where it is.
    pub path: PathBuf,
    /// Rows it holds.
    pub rows: u64,
    /// Its size.
    pub bytes: u64,
    /// CRC-32 of its bytes: the file is verified as it is read back.
    pub crc32: u32,
}

impl Segment {
    /// The same segment found in `dir`.
    pub fn in_dir(&self, dir: &Path) -> Segment {
        Segment { path: in_dir(&self.path, dir), ..self.clone() }
    }

    /// Checks the bytes of this segment's file as they are read back.
    pub fn check(&self) -> SegmentCheck<'_> {
        SegmentCheck { segment: self, crc: crc32fast::Hasher::new(), bytes: 0 }
    }
}

/// The bytes of a segment's file, read back in order, compared with what
/// match wrote.
pub struct SegmentCheck<'a> {
    segment: &'a Segment,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl SegmentCheck<'_> {
    /// The next bytes read.
    pub fn update(&mut self, chunk: &[u8]) {
        self.crc.update(chunk);
        self.bytes += chunk.len() as u64;
    }

    /// At the file's end: an error naming it unless its bytes are the ones written.
    pub fn finish(self) -> Result<(), Damaged> {
        let Segment { bytes, crc32, .. } = *self.segment;
        let found = self.crc.finalize();
        if (self.bytes, found) == (bytes, crc32) {
            return Ok(());
        }
        let reason =
            format!("it holds {} bytes (CRC {found:08x}); match wrote {bytes} bytes (CRC {crc32:08x})", self.bytes);
        Err(Damaged::new("row segment", &self.segment.path, reason))
    }
}

/// Bytes read from a segment at a time by [`SegmentReader`].
const READ_BYTES: usize = 64 << 10;

/// A segment's rows read back one by one: its header checked, each tuple
/// whole and of the table's columns, the trailer last with nothing after it,
/// and, when the segment's record is known (from the manifest), its length
/// and CRC ([`Segment::check`]). A damaged file is a [`Damaged`] naming it,
/// never a shorter stream. (The load does not parse rows: it streams the
/// file's bytes into COPY under the same check.)
pub struct SegmentReader<'a> {
    path: PathBuf,
    input: File,
    /// Bytes read and not handed out yet start at `at`.
    buffer: Vec<u8>,
    at: usize,
    check: Option<SegmentCheck<'a>>,
    rows: u64,
    ended: bool,
}

impl<'a> SegmentReader<'a> {
    /// Opens the segment file at `path` and checks its header; `recorded`
    /// is what match wrote there, when known.
    pub fn open(path: &Path, recorded: Option<&'a Segment>) -> Result<SegmentReader<'a>, MatchError> {
        let input = File::open(path).map_err(|source| MatchError::Io { path: path.to_path_buf(), source })?;
        let mut reader = SegmentReader {
            path: path.to_path_buf(),
            input,
            buffer: Vec::with_capacity(READ_BYTES),
            at: 0,
            check: recorded.map(Segment::check),
            rows: 0,
            ended: false,
        };
        while reader.buffer.len() < pgcopy::HEADER.len() && reader.fill()? {}
        if !reader.buffer.starts_with(pgcopy::HEADER) {
            return Err(reader.damaged("not a binary COPY stream of vendor-match rows (bad header)".into()));
        }
        reader.at = pgcopy::HEADER.len();
        Ok(reader)
    }

    /// The next row as a JSON object in column order ([`pgcopy::tuple_to_json`]);
    /// `None` at the verified end of the file.
    pub fn next_row(&mut self) -> Result<Option<serde_json::Value>, MatchError> {
        if self.ended {
            return Ok(None);
        }
        loop {
            let rest = &self.buffer[self.at..];
            if rest.starts_with(pgcopy::TRAILER) {
                self.at += pgcopy::TRAILER.len();
                self.finish()?;
                return Ok(None);
            }
            if let Some(len) = pgcopy::tuple_len(rest) {
                let row = pgcopy::tuple_to_json(&rest[..len]);
                self.at += len;
                self.rows += 1;
                let reason = || format!("row {} holds a value that is not of its column's type", self.rows);
                return row.map(Some).ok_or_else(|| self.damaged(reason()));
            }
            let empty = rest.is_empty();
            if !self.fill()? {
                let reason = match empty {
                    true => format!("truncated after {} rows: no trailer", self.rows),
                    false => format!("row {} is cut short or not a row of the table's columns", self.rows + 1),
                };
                return Err(self.damaged(reason));
            }
        }
    }

    /// After the trailer: nothing may follow, and the whole file must be the one recorded.
    fn finish(&mut self) -> Result<(), MatchError> {
        let mut extra = (self.buffer.len() - self.at) as u64;
        self.at = self.buffer.len();
        while self.fill()? {
            extra += (self.buffer.len() - self.at) as u64;
            self.at = self.buffer.len();
        }
        if extra > 0 {
            return Err(self.damaged(format!("{extra} bytes follow the trailer")));
        }
        if let Some(check) = self.check.take() {
            check.finish()?;
        }
        self.ended = true;
        Ok(())
    }

    /// Reads more of the file after what is buffered; `false` at its end.
    fn fill(&mut self) -> Result<bool, MatchError> {
        if self.at > 0 && self.at >= self.buffer.len() / 2 {
            self.buffer.drain(..self.at);
            self.at = 0;
        }
        let start = self.buffer.len();
        self.buffer.resize(start + READ_BYTES, 0);
        let read = loop {
            match self.input.read(&mut self.buffer[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(source) => {
                    self.buffer.truncate(start);
                    return Err(MatchError::Io { path: self.path.clone(), source });
                }
            }
        };
        self.buffer.truncate(start + read);
        if let Some(check) = &mut self.check {
            check.update(&self.buffer[start..]);
        }
        Ok(read > 0)
    }

    fn damaged(&self, reason: String) -> MatchError {
        Damaged::new("row segment", &self.path, reason).into()
    }
}

/// Hears of every segment once it is published.
pub type OnPublished = Box<dyn Fn(Segment) + Send>;

/// The segment being written.
struct OpenSegment {
    out: BufWriter<Checksummed<File>>,
    tmp: PathBuf,
    segment: Segment,
}

/// A closed segment for the publishing thread: its file, temp path and record.
type Publish = (File, PathBuf, Segment);

/// Writes tuples into segments and has them published.
pub(super) struct SegmentWriter {
    dir: PathBuf,
    open: Option<OpenSegment>,
    segments: Vec<Segment>,
    publish: Option<mpsc::Sender<Publish>>,
    published: mpsc::Receiver<Result<(), (PathBuf, std::io::Error)>>,
    publisher: Option<JoinHandle<()>>,
    rows: u64,
}

impl SegmentWriter {
    /// A writer into `dir`; each published segment is also handed to
    /// `on_published`, when there is one.
    pub(super) fn create(dir: &Path, on_published: Option<OnPublished>) -> Result<SegmentWriter, MatchError> {
        let (publish, jobs) = mpsc::channel::<Publish>();
        let (done, published) = mpsc::channel();
        let publisher = std::thread::Builder::new()
            .name("match-publish".into())
            .spawn(move || {
                for (file, tmp, segment) in jobs {
                    let result = atomic::publish(file, &tmp, &segment.path).map_err(|e| (segment.path.clone(), e));
                    if let (Ok(()), Some(on_published)) = (&result, &on_published) {
                        on_published(segment);
                    }
                    if done.send(result).is_err() {
                        return;
                    }
                }
            })
            .map_err(|source| MatchError::Io { path: dir.to_path_buf(), source })?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            open: None,
            segments: Vec::new(),
            publish: Some(publish),
            published,
            publisher: Some(publisher),
            rows: 0,
        })
    }

    /// Appends one tuple to the open segment, opening one if needed and
    /// closing it once it is full.
    pub(super) fn append(&mut self, tuple: &[u8]) -> Result<(), MatchError> {
        if self.open.is_none() {
            self.open = Some(self.open_segment()?);
        }
        let Some(open) = self.open.as_mut() else { return Ok(()) };
        open.out.write_all(tuple).map_err(|source| {
            let pending = (open.out.buffer().len() + tuple.len()) as u64;
            MatchError::Io { path: open.tmp.clone(), source: disk_full::note(source, &open.tmp, pending) }
        })?;
        open.segment.rows += 1;
        open.segment.bytes += tuple.len() as u64;
        self.rows += 1;
        if open.segment.bytes >= SEGMENT_BYTES {
            self.close_segment()?;
        }
        Ok(())
    }

    fn open_segment(&self) -> Result<OpenSegment, MatchError> {
        let path = self.dir.join(format!("rows-{:06}.pgcopy", self.segments.len() + 1));
        let tmp = atomic::tmp_path(&path);
        let file = atomic::create_private(&tmp).map_err(|source| MatchError::Io { path: tmp.clone(), source })?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, Checksummed::writing(file));
        out.write_all(pgcopy::HEADER).map_err(|source| MatchError::Io { path: tmp.clone(), source })?;
        let segment = Segment { path, rows: 0, bytes: pgcopy::HEADER.len() as u64, crc32: 0 };
        Ok(OpenSegment { out, tmp, segment })
    }

    /// Ends the open segment and hands it to the publishing thread.
    fn close_segment(&mut self) -> Result<(), MatchError> {
        let Some(mut open) = self.open.take() else { return Ok(()) };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            let trailer = pgcopy::TRAILER.len() as u64;
            move |source| MatchError::Io { source: disk_full::note(source, &path, trailer), path }
        };
        open.out.write_all(pgcopy::TRAILER).map_err(io(&open.tmp))?;
        open.segment.bytes += pgcopy::TRAILER.len() as u64;
        let checksummed = open.out.into_inner().map_err(|e| {
            let (error, unwritten) = e.into_parts();
            let pending = unwritten.buffer().len() as u64;
            MatchError::Io { path: open.tmp.clone(), source: disk_full::note(error, &open.tmp, pending) }
        })?;
        open.segment.crc32 = checksummed.crc32();
        let file = checksummed.into_inner();
        let sent = self.publish.as_ref().is_some_and(|p| p.send((file, open.tmp, open.segment.clone())).is_ok());
        if !sent {
            return Err(publisher_failed());
        }
        self.segments.push(open.segment);
        Ok(())
    }

    /// Closes the last segment and waits until every segment is published;
    /// returns them, in order, and the rows they hold.
    pub(super) fn finish(mut self) -> Result<(Vec<Segment>, u64), MatchError> {
        self.close_segment()?;
        self.publish = None;
        for _ in 0..self.segments.len() {
            match self.published.recv() {
                Ok(Ok(())) => {}
                Ok(Err((path, source))) => return Err(MatchError::Io { path, source }),
                Err(_) => return Err(publisher_failed()),
            }
        }
        if let Some(publisher) = self.publisher.take() {
            publisher.join().map_err(|_| publisher_failed())?;
        }
        Ok((std::mem::take(&mut self.segments), self.rows))
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        self.publish = None;
        if let Some(publisher) = self.publisher.take() {
            let _ = publisher.join();
        }
    }
}

fn publisher_failed() -> MatchError {
    Bug::new("the segment publishing thread stopped without an answer").into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::field;
    use crate::table::COLUMNS;

    /// A tuple of the table's columns, each value made from `n`.
    fn tuple(n: i64) -> Vec<u8> {
        let mut tuple = (COLUMNS.len() as i16).to_be_bytes().to_vec();
        for column in COLUMNS {
            match column.sql_type.split_whitespace().next() {
                Some("date") => field::put_date(&mut tuple, Some(n as i32)),
                Some("bigint") => field::put_int8(&mut tuple, Some(n)),
                Some("boolean") => field::put_bool(&mut tuple, Some(n % 2 == 0)),
                _ => field::put_text(&mut tuple, Some(format!("{}-{n}", column.name).as_bytes())),
            }
        }
        tuple
    }

    fn write_segment(dir: &Path, rows: i64) -> Segment {
        let mut writer = SegmentWriter::create(dir, None).unwrap();
        for n in 0..rows {
            writer.append(&tuple(n)).unwrap();
        }
        let (mut segments, _) = writer.finish().unwrap();
        segments.remove(0)
    }

    fn read_all(path: &Path, recorded: Option<&Segment>) -> Result<Vec<serde_json::Value>, MatchError> {
        let mut reader = SegmentReader::open(path, recorded)?;
        let mut rows = Vec::new();
        while let Some(row) = reader.next_row()? {
            rows.push(row);
        }
        Ok(rows)
    }

    #[test]
    fn a_segment_reads_back_row_by_row() {
        let dir = tempfile::tempdir().unwrap();
        let segment = write_segment(dir.path(), 300);
        let rows = read_all(&segment.path, Some(&segment)).unwrap();
        let expected: Vec<_> = (0..300).map(|n| pgcopy::tuple_to_json(&tuple(n)).unwrap()).collect();
        assert_eq!(rows, expected);
        assert_eq!(read_all(&segment.path, None).unwrap(), expected);
    }

    #[test]
    fn a_changed_value_is_caught_by_the_recorded_crc_after_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let segment = write_segment(dir.path(), 10);
        let mut bytes = std::fs::read(&segment.path).unwrap();
        let at = bytes.windows(7).position(|w| w == b"run_id-").unwrap();
        bytes[at] = b'R';
        std::fs::write(&segment.path, &bytes).unwrap();
        // Sound in form: only the record can tell.
        assert_eq!(read_all(&segment.path, None).unwrap().len(), 10);
        let mut reader = SegmentReader::open(&segment.path, Some(&segment)).unwrap();
        for _ in 0..10 {
            assert!(reader.next_row().unwrap().is_some());
        }
        let error = reader.next_row().unwrap_err();
        let damaged = Damaged::find(&error).unwrap();
        assert_eq!(damaged.path, segment.path);
        assert!(damaged.reason.contains("CRC"), "{damaged}");
    }

    #[test]
    fn a_segment_cut_anywhere_or_with_bytes_added_is_damaged_without_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let segment = write_segment(dir.path(), 3);
        let bytes = std::fs::read(&segment.path).unwrap();
        for cut in 0..bytes.len() {
            std::fs::write(&segment.path, &bytes[..cut]).unwrap();
            let error = read_all(&segment.path, None).unwrap_err();
            assert!(Damaged::find(&error).is_some(), "cut at {cut}: {error}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&segment.path, &longer).unwrap();
        let error = read_all(&segment.path, None).unwrap_err();
        assert!(error.to_string().contains("1 bytes follow the trailer"), "{error}");
    }
}
