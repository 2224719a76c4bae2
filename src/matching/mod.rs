//! Stage 2, match: merge each side's runs, merge-join them by key, write one row per source record.
//!
//! ```text
//! extract/vendor-*.run   --k-way merge-->  vendor stream (sorted by key)   \
//!                                                                           merge join --> match/combined.rows
//! extract/internal-*.run --k-way merge-->  internal stream (sorted by key) /               match/sample.jsonl
//! ```
//! Unmatchable records have the empty key, which sorts first. For every other
//! key the join reads at most two records per side before deciding the
//! group's status, then streams the rest: memory does not grow with a group.

pub mod group;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::activity::{is_active, is_future};
use crate::extract::ExtractOutput;
use crate::load::copy::write_copy_row;
use crate::model::{CombinedRow, InternalUser, Keyed, MatchStatus, VendorUser};
use crate::report::stats::MatchStats;
use crate::run::atomic;
use crate::run::RunDir;
use crate::settings::RunSettings;
use crate::sort::merge::{merge, DEFAULT_FAN_IN};
use crate::sort::SortError;
use group::{group_status, Presence};

/// Matched rows kept as the report's sample.
pub const SAMPLE_ROWS: usize = 10;

/// A failure of the match stage.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// Reading the runs failed.
    #[error(transparent)]
    Sort(#[from] SortError),
    /// Writing the output failed.
    #[error("writing {path} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What match produced; kept in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MatchOutput {
    /// The rows, in COPY text format, ready for the warehouse.
    pub rows_file: PathBuf,
    /// How many rows.
    pub rows: u64,
    /// Up to ten matched rows as JSON lines.
    pub sample_file: PathBuf,
    /// Counts for the report.
    pub stats: MatchStats,
}

/// Runs the match stage: reads extract's runs, writes `match/combined.rows`.
/// `on_records` hears how many source records were consumed, now and then.
pub fn run_match(
    run: &RunDir,
    settings: &RunSettings,
    extract: &ExtractOutput,
    on_records: &dyn Fn(u64),
) -> Result<MatchOutput, MatchError> {
    let dir = run.reset_stage_dir("match").map_err(|source| MatchError::Io { path: run.stage_dir("match"), source })?;
    let scratch = dir.join("scratch");
    atomic::create_private_dir(&scratch).map_err(|source| MatchError::Io { path: scratch.clone(), source })?;
    let vendor = merge::<Keyed<VendorUser>>(extract.vendor_runs.clone(), &scratch, DEFAULT_FAN_IN, "vendor")?;
    let internal = merge::<Keyed<InternalUser>>(extract.internal_runs.clone(), &scratch, DEFAULT_FAN_IN, "internal")?;

    let rows_path = dir.join("combined.rows");
    let sample_path = dir.join("sample.jsonl");
    let mut writer = RowWriter::create(&rows_path, run.id(), settings)?;
    let vendor = vendor.map(|r| r.map_err(MatchError::from));
    let internal = internal.map(|r| r.map_err(MatchError::from));
    let (mut consumed, mut reported) = (0u64, 0u64);
    join(vendor, internal, |status, v, i| -> Result<(), MatchError> {
        writer.write(status, v, i)?;
        consumed += u64::from(v.is_some()) + u64::from(i.is_some());
        if consumed - reported >= 50_000 {
            on_records(consumed - reported);
            reported = consumed;
        }
        crate::failpoint::hit("match.rows");
        Ok(())
    })?;
    on_records(consumed - reported);
    let (rows, stats, sample) = writer.finish()?;
    atomic::write(&sample_path, &sample).map_err(|source| MatchError::Io { path: sample_path.clone(), source })?;
    std::fs::remove_dir_all(&scratch).map_err(|source| MatchError::Io { path: scratch, source })?;
    Ok(MatchOutput { rows_file: rows_path, rows, sample_file: sample_path, stats })
}

/// A sorted stream with its next record in view.
struct Stream<R, I> {
    iter: I,
    head: Option<R>,
}

impl<R, E, I: Iterator<Item = Result<R, E>>> Stream<R, I> {
    fn new(mut iter: I) -> Result<Self, E> {
        let head = iter.next().transpose()?;
        Ok(Stream { iter, head })
    }

    fn take(&mut self) -> Result<Option<R>, E> {
        let next = self.iter.next().transpose()?;
        Ok(std::mem::replace(&mut self.head, next))
    }
}

impl<T, E, I: Iterator<Item = Result<Keyed<T>, E>>> Stream<Keyed<T>, I> {
    fn head_key(&self) -> Option<&str> {
        self.head.as_ref().map(|r| r.key.as_str())
    }

    /// The next record if it has `key`.
    fn take_if(&mut self, key: &str) -> Result<Option<Keyed<T>>, E> {
        if self.head_key() == Some(key) {
            self.take()
        } else {
            Ok(None)
        }
    }
}

/// Merge-joins two key-sorted streams, calling `emit` once per warehouse row:
/// with both records for a matched pair, with one record otherwise.
pub fn join<E>(
    vendor: impl Iterator<Item = Result<Keyed<VendorUser>, E>>,
    internal: impl Iterator<Item = Result<Keyed<InternalUser>, E>>,
    mut emit: impl FnMut(MatchStatus, Option<&Keyed<VendorUser>>, Option<&Keyed<InternalUser>>) -> Result<(), E>,
) -> Result<(), E> {
    let mut vendor = Stream::new(vendor)?;
    let mut internal = Stream::new(internal)?;
    loop {
        if let Some(record) = vendor.take_if("")? {
            emit(MatchStatus::Unmatchable, Some(&record), None)?;
            continue;
        }
        if let Some(record) = internal.take_if("")? {
            emit(MatchStatus::Unmatchable, None, Some(&record))?;
            continue;
        }
        let key = match (vendor.head_key(), internal.head_key()) {
            (None, None) => return Ok(()),
            (Some(v), Some(i)) => v.min(i).to_string(),
            (Some(v), None) => v.to_string(),
            (None, Some(i)) => i.to_string(),
        };
        let first_vendor = vendor.take_if(&key)?;
        let first_internal = internal.take_if(&key)?;
        let vendor_presence = Presence::from_peek(first_vendor.is_some(), vendor.head_key() == Some(key.as_str()));
        let internal_presence =
            Presence::from_peek(first_internal.is_some(), internal.head_key() == Some(key.as_str()));
        let Some(status) = group_status(vendor_presence, internal_presence) else {
            continue;
        };
        if status == MatchStatus::Matched {
            emit(status, first_vendor.as_ref(), first_internal.as_ref())?;
            continue;
        }
        let mut next_vendor = first_vendor;
        while let Some(record) = next_vendor {
            emit(status, Some(&record), None)?;
            next_vendor = vendor.take_if(&key)?;
        }
        let mut next_internal = first_internal;
        while let Some(record) = next_internal {
            emit(status, None, Some(&record))?;
            next_internal = internal.take_if(&key)?;
        }
    }
}

/// Writes rows in COPY format, counting them and keeping the sample.
struct RowWriter<'a> {
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
    run_id: &'a str,
    settings: &'a RunSettings,
    rows: u64,
    stats: MatchStats,
    sample: Vec<u8>,
    sampled: usize,
}

impl<'a> RowWriter<'a> {
    fn create(path: &std::path::Path, run_id: &'a str, settings: &'a RunSettings) -> Result<Self, MatchError> {
        let tmp = atomic::tmp_path(path);
        let file = atomic::create_private(&tmp).map_err(|source| MatchError::Io { path: tmp, source })?;
        Ok(RowWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(256 * 1024, file),
            line: Vec::with_capacity(512),
            run_id,
            settings,
            rows: 0,
            stats: MatchStats::default(),
            sample: Vec::new(),
            sampled: 0,
        })
    }

    fn write(
        &mut self,
        status: MatchStatus,
        vendor: Option<&Keyed<VendorUser>>,
        internal: Option<&Keyed<InternalUser>>,
    ) -> Result<(), MatchError> {
        let row = self.combine(
            status,
            vendor.map(|k| &k.user),
            internal.map(|k| &k.user),
            vendor.map(|k| k.key.as_str()).or(internal.map(|k| k.key.as_str())),
        );
        self.count(&row, vendor.is_some(), internal.is_some());
        self.line.clear();
        write_copy_row(&row, &mut self.line);
        let io_error = |source| MatchError::Io { path: atomic::tmp_path(&self.path), source };
        self.out.write_all(&self.line).map_err(io_error)?;
        if status == MatchStatus::Matched && self.sampled < SAMPLE_ROWS {
            serde_json::to_writer(&mut self.sample, &row)
                .map_err(|e| MatchError::Io { path: self.path.clone(), source: e.into() })?;
            self.sample.push(b'\n');
            self.sampled += 1;
        }
        self.rows += 1;
        Ok(())
    }

    fn combine<'r>(
        &self,
        status: MatchStatus,
        vendor: Option<&'r VendorUser>,
        internal: Option<&'r InternalUser>,
        key: Option<&'r str>,
    ) -> CombinedRow<'r>
    where
        'a: 'r,
    {
        let (today, days) = (self.settings.report_date, self.settings.active_days);
        let pick = |ours: Option<&'r Option<String>>, theirs: Option<&'r Option<String>>| match ours {
            Some(value) => value.as_deref(),
            None => theirs.and_then(|v| v.as_deref()),
        };
        let vendor_location = || vendor.and_then(|v| v.practice_location.as_deref()).map(|l| l.replace('_', " "));
        CombinedRow {
            report_date: today,
            run_id: self.run_id,
            match_status: status,
            match_key: key.filter(|k| !k.is_empty()),
            internal_user_id: internal.map(|u| u.id),
            vendor_user_id: vendor.map(|u| u.id),
            firstname: pick(internal.map(|u| &u.firstname), vendor.map(|u| &u.firstname)),
            lastname: pick(internal.map(|u| &u.lastname), vendor.map(|u| &u.lastname)),
            specialty: pick(internal.map(|u| &u.specialty), vendor.map(|u| &u.specialty)),
            practice_location: match internal {
                Some(u) => u.location.clone(),
                None => vendor_location(),
            },
            internal_classification: internal.and_then(|u| u.classification.as_deref()),
            internal_platform_registered_on: internal.and_then(|u| u.platform_registered_on.as_deref()),
            internal_last_active_date: internal.and_then(|u| u.last_active_date),
            internal_is_active: internal.map(|u| is_active(u.last_active_date, today, days)),
            vendor_classification: vendor.and_then(|u| u.classification.as_deref()),
            vendor_last_active_date: vendor.and_then(|u| u.last_active_date),
            vendor_is_active: vendor.map(|u| is_active(u.last_active_date, today, days)),
        }
    }

    fn count(&mut self, row: &CombinedRow<'_>, has_vendor: bool, has_internal: bool) {
        let today = self.settings.report_date;
        let stats = &mut self.stats;
        stats.rows.add(row.match_status);
        if has_vendor {
            stats.vendor_records.add(row.match_status);
            stats.vendor_future_dates += u64::from(is_future(row.vendor_last_active_date, today));
            stats.vendor_null_dates += u64::from(row.vendor_last_active_date.is_none());
        }
        if has_internal {
            stats.internal_records.add(row.match_status);
            stats.internal_future_dates += u64::from(is_future(row.internal_last_active_date, today));
            stats.internal_null_dates += u64::from(row.internal_last_active_date.is_none());
        }
        if let (Some(i), Some(v)) = (row.internal_is_active, row.vendor_is_active) {
            stats.active.add(i, v);
        }
    }

    fn finish(self) -> Result<(u64, MatchStats, Vec<u8>), MatchError> {
        let tmp = atomic::tmp_path(&self.path);
        let file = self.out.into_inner().map_err(|e| MatchError::Io { path: tmp.clone(), source: e.into_error() })?;
        atomic::publish(file, &tmp, &self.path).map_err(|source| MatchError::Io { path: self.path.clone(), source })?;
        Ok((self.rows, self.stats, self.sample))
    }
}

#[cfg(test)]
mod tests;
