//! Segment files of warehouse rows (`match/rows-NNNNNN.pgcopy`), each a
//! complete binary COPY stream: written by match, closed at about 16 MiB, and
//! published (fsync, rename) on a background thread while the join goes on.
//! Each published segment is handed to the caller's listener, so that a load
//! running alongside can COPY it at once.

use std::fs::File;
use std::io::{BufWriter, Write};
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
