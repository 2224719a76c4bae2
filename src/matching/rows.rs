//! The match stage's output: warehouse rows built by copying payload fields
//! into binary COPY tuples, counted for the report, sampled as JSON, and
//! written to segment files that are published (fsync, rename) on a
//! background thread while the join goes on.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::{MatchError, SAMPLE_ROWS};
use crate::load::copy::{self as pgcopy, COLUMN_COUNT};
use crate::load::feed::SegmentFeed;
use crate::model::MatchStatus;
use crate::record::{field, internal, match_key_of, vendor, Record};
use crate::report::stats::MatchStats;
use crate::run::atomic;
use crate::settings::RunSettings;

/// A segment is closed once it holds this many bytes: small enough for
/// several load sessions to share the work (and for a load running alongside
/// to start early), large enough to be few.
const SEGMENT_BYTES: u64 = 16 << 20;
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// One file of rows: a complete binary COPY stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Where it is.
    pub path: PathBuf,
    /// Rows it holds.
    pub rows: u64,
    /// Its size.
    pub bytes: u64,
}

impl Segment {
    /// The same segment found in `dir`.
    pub fn in_dir(&self, dir: &Path) -> Segment {
        Segment { path: crate::sort::run_file::in_dir(&self.path, dir), ..self.clone() }
    }
}

/// The segment being written.
struct OpenSegment {
    out: BufWriter<File>,
    tmp: PathBuf,
    segment: Segment,
}

/// A closed segment for the publishing thread: its file, temp path and record.
type Publish = (File, PathBuf, Segment);

/// Writes rows into segments, counting them and keeping the sample.
pub(super) struct RowWriter {
    dir: PathBuf,
    /// The report date and run id fields, the same in every row.
    constant: Vec<u8>,
    report_days: i32,
    active_days: i32,
    open: Option<OpenSegment>,
    segments: Vec<Segment>,
    publish: Option<mpsc::Sender<Publish>>,
    published: mpsc::Receiver<Result<(), (PathBuf, std::io::Error)>>,
    publisher: Option<JoinHandle<()>>,
    tuple: Vec<u8>,
    rows: u64,
    stats: MatchStats,
    sample: Vec<u8>,
    sampled: usize,
}

impl RowWriter {
    /// A writer into `dir`; each published segment is also handed to `feed`
    /// (a load running alongside), when there is one.
    pub(super) fn create(
        dir: &Path,
        run_id: &str,
        settings: &RunSettings,
        feed: Option<Arc<SegmentFeed>>,
    ) -> Result<RowWriter, MatchError> {
        let report_days = field::days_from_date(settings.report_date);
        let mut constant = Vec::new();
        field::put_date(&mut constant, Some(report_days));
        field::put_text(&mut constant, Some(run_id.as_bytes()));
        let (publish, jobs) = mpsc::channel::<Publish>();
        let (done, published) = mpsc::channel();
        let publisher = std::thread::Builder::new()
            .name("match-publish".into())
            .spawn(move || {
                for (file, tmp, segment) in jobs {
                    let result = atomic::publish(file, &tmp, &segment.path).map_err(|e| (segment.path.clone(), e));
                    if let (Ok(()), Some(feed)) = (&result, &feed) {
                        feed.push(segment);
                    }
                    if done.send(result).is_err() {
                        return;
                    }
                }
            })
            .map_err(|source| MatchError::Io { path: dir.to_path_buf(), source })?;
        Ok(RowWriter {
            dir: dir.to_path_buf(),
            constant,
            report_days,
            active_days: i32::try_from(settings.active_days).unwrap_or(i32::MAX),
            open: None,
            segments: Vec::new(),
            publish: Some(publish),
            published,
            publisher: Some(publisher),
            tuple: Vec::with_capacity(512),
            rows: 0,
            stats: MatchStats::default(),
            sample: Vec::new(),
            sampled: 0,
        })
    }

    /// Writes the row of one matched pair, or of one record.
    pub(super) fn write(
        &mut self,
        status: MatchStatus,
        vendor: Option<Record<'_>>,
        internal: Option<Record<'_>>,
    ) -> Result<(), MatchError> {
        let malformed = |side| move |source| MatchError::Record { side, source };
        let v =
            vendor.map(|r| field::split::<{ vendor::FIELDS }>(r.payload)).transpose().map_err(malformed("vendor"))?;
        let i = internal
            .map(|r| field::split::<{ internal::FIELDS }>(r.payload))
            .transpose()
            .map_err(malformed("internal"))?;
        let key = vendor.or(internal).map(|r| match_key_of(r.sort)).filter(|k| !k.is_empty());
        self.build_tuple(status, key, v.as_ref(), i.as_ref());
        self.count(status, v.as_ref(), i.as_ref());
        if status == MatchStatus::Matched && self.sampled < SAMPLE_ROWS {
            let row = pgcopy::tuple_to_json(&self.tuple).ok_or_else(|| MatchError::Io {
                path: self.dir.clone(),
                source: std::io::ErrorKind::InvalidData.into(),
            })?;
            self.sample.extend_from_slice(row.to_string().as_bytes());
            self.sample.push(b'\n');
            self.sampled += 1;
        }
        self.append_tuple()
    }

    /// Builds the tuple in table column order (SPEC §6): our values when we
    /// have the user, else the vendor's.
    fn build_tuple(
        &mut self,
        status: MatchStatus,
        key: Option<&[u8]>,
        v: Option<&[&[u8]; vendor::FIELDS]>,
        i: Option<&[&[u8]; internal::FIELDS]>,
    ) {
        let t = &mut self.tuple;
        t.clear();
        t.extend_from_slice(&(COLUMN_COUNT as i16).to_be_bytes());
        t.extend_from_slice(&self.constant);
        field::put_text(t, Some(status.name().as_bytes()));
        field::put_text(t, key);
        let null = |t: &mut Vec<u8>| field::put_text(t, None);
        let copy = |t: &mut Vec<u8>, f: Option<&[u8]>| match f {
            Some(f) => t.extend_from_slice(f),
            None => null(t),
        };
        copy(t, i.map(|i| i[internal::ID]));
        copy(t, v.map(|v| v[vendor::ID]));
        let shared = [
            (internal::FIRSTNAME, vendor::FIRSTNAME),
            (internal::LASTNAME, vendor::LASTNAME),
            (internal::SPECIALTY, vendor::SPECIALTY),
            (internal::LOCATION, vendor::LOCATION),
        ];
        for (ours, theirs) in shared {
            copy(t, i.map(|i| i[ours]).or(v.map(|v| v[theirs])));
        }
        copy(t, i.map(|i| i[internal::CLASSIFICATION]));
        copy(t, i.map(|i| i[internal::PLATFORM]));
        copy(t, i.map(|i| i[internal::LAST_ACTIVE]));
        let (today, window) = (self.report_days, self.active_days);
        let active = |date: &[u8]| is_active(field::date_days(date), today, window);
        field::put_bool(t, i.map(|i| active(i[internal::LAST_ACTIVE])));
        copy(t, v.map(|v| v[vendor::CLASSIFICATION]));
        copy(t, v.map(|v| v[vendor::LAST_ACTIVE]));
        field::put_bool(t, v.map(|v| active(v[vendor::LAST_ACTIVE])));
    }

    fn count(
        &mut self,
        status: MatchStatus,
        v: Option<&[&[u8]; vendor::FIELDS]>,
        i: Option<&[&[u8]; internal::FIELDS]>,
    ) {
        let today = self.report_days;
        let stats = &mut self.stats;
        stats.rows.add(status);
        if let Some(v) = v {
            let date = field::date_days(v[vendor::LAST_ACTIVE]);
            stats.vendor_records.add(status);
            stats.vendor_future_dates += u64::from(date.is_some_and(|d| d > today));
            stats.vendor_null_dates += u64::from(date.is_none());
        }
        if let Some(i) = i {
            let date = field::date_days(i[internal::LAST_ACTIVE]);
            stats.internal_records.add(status);
            stats.internal_future_dates += u64::from(date.is_some_and(|d| d > today));
            stats.internal_null_dates += u64::from(date.is_none());
        }
        if let (Some(v), Some(i)) = (v, i) {
            let window = self.active_days;
            let active = |date: &[u8]| is_active(field::date_days(date), today, window);
            stats.active.add(active(i[internal::LAST_ACTIVE]), active(v[vendor::LAST_ACTIVE]));
        }
    }

    /// Appends the tuple to the open segment, opening one if needed and
    /// closing it once it is full.
    fn append_tuple(&mut self) -> Result<(), MatchError> {
        if self.open.is_none() {
            self.open = Some(self.open_segment()?);
        }
        let Some(open) = self.open.as_mut() else { return Ok(()) };
        open.out.write_all(&self.tuple).map_err(|source| MatchError::Io { path: open.tmp.clone(), source })?;
        open.segment.rows += 1;
        open.segment.bytes += self.tuple.len() as u64;
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
        let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        out.write_all(pgcopy::HEADER).map_err(|source| MatchError::Io { path: tmp.clone(), source })?;
        let segment = Segment { path, rows: 0, bytes: pgcopy::HEADER.len() as u64 };
        Ok(OpenSegment { out, tmp, segment })
    }

    /// Ends the open segment and hands it to the publishing thread.
    fn close_segment(&mut self) -> Result<(), MatchError> {
        let Some(mut open) = self.open.take() else { return Ok(()) };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MatchError::Io { path, source }
        };
        open.out.write_all(pgcopy::TRAILER).map_err(io(&open.tmp))?;
        open.segment.bytes += pgcopy::TRAILER.len() as u64;
        let file =
            open.out.into_inner().map_err(|e| MatchError::Io { path: open.tmp.clone(), source: e.into_error() })?;
        let sent = self.publish.as_ref().is_some_and(|p| p.send((file, open.tmp, open.segment.clone())).is_ok());
        if !sent {
            return Err(self.publisher_failed());
        }
        self.segments.push(open.segment);
        Ok(())
    }

    fn publisher_failed(&self) -> MatchError {
        MatchError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other("the segment publishing thread stopped"),
        }
    }

    /// Closes the last segment and waits until every segment is published.
    pub(super) fn finish(mut self) -> Result<(Vec<Segment>, u64, MatchStats, Vec<u8>), MatchError> {
        self.close_segment()?;
        self.publish = None;
        for _ in 0..self.segments.len() {
            match self.published.recv() {
                Ok(Ok(())) => {}
                Ok(Err((path, source))) => return Err(MatchError::Io { path, source }),
                Err(_) => return Err(self.publisher_failed()),
            }
        }
        if let Some(publisher) = self.publisher.take() {
            publisher.join().map_err(|_| self.publisher_failed())?;
        }
        Ok((std::mem::take(&mut self.segments), self.rows, self.stats, std::mem::take(&mut self.sample)))
    }
}

impl Drop for RowWriter {
    fn drop(&mut self) {
        self.publish = None;
        if let Some(publisher) = self.publisher.take() {
            let _ = publisher.join();
        }
    }
}

/// The active rule (SPEC §5) on days from 2000-01-01: within `window` days
/// before the report date, inclusive; a null or future date is inactive.
fn is_active(date: Option<i32>, today: i32, window: i32) -> bool {
    date.is_some_and(|d| d <= today && d >= today.saturating_sub(window))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity;

    #[test]
    fn the_active_rule_on_days_agrees_with_the_one_on_dates() {
        let today: chrono::NaiveDate = "2017-02-02".parse().unwrap();
        let days = field::days_from_date(today);
        for offset in -40..5 {
            for window in [0u32, 1, 30] {
                let date = today + chrono::Duration::days(offset);
                assert_eq!(
                    is_active(Some(field::days_from_date(date)), days, window as i32),
                    activity::is_active(Some(date), today, window),
                    "{date} with a {window}-day window"
                );
            }
        }
        assert!(!is_active(None, days, 30));
    }
}
