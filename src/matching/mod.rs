//! Stage 2, match: merge each side's runs, merge-join them by key, write one row per source record.
//!
//! ```text
//! extract/vendor-*.run   --k-way merge-->  vendor stream (sorted by key)   \
//!                                                                           merge join --> match/rows-*.pgcopy
//! extract/internal-*.run --k-way merge-->  internal stream (sorted by key) /               match/sample.jsonl
//! ```
//! The vendor stream leaves out the copies of repeated ids that extract
//! listed ([`dedup`]). Unmatchable records have the empty key, which sorts first. For every other
//! key the join reads at most two records per side before deciding the
//! group's status, then streams the rest: memory does not grow with a group.

mod dedup;
pub mod group;
mod rows;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::extract::ExtractOutput;
use crate::load::feed::SegmentFeed;
use crate::model::MatchStatus;
use crate::record::{group_of, Record, UNMATCHABLE_GROUP};
use crate::report::stats::MatchStats;
use crate::run::atomic;
use crate::run::RunDir;
use crate::settings::RunSettings;
use crate::sort::merge::{merge, Merger, DEFAULT_FAN_IN};
use crate::sort::SortError;
use group::{group_status, Presence};
pub use rows::Segment;

/// Matched rows kept as the report's sample.
pub const SAMPLE_ROWS: usize = 10;

/// A failure of the match stage.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// Reading the runs failed.
    #[error(transparent)]
    Sort(#[from] SortError),
    /// A record's payload is not what extract wrote.
    #[error("a {side} record is malformed")]
    Record {
        /// `vendor` or `internal`.
        side: &'static str,
        /// The cause.
        #[source]
        source: crate::record::field::FieldError,
    },
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
    /// The rows, in PostgreSQL's binary COPY format, split into segment
    /// files that the load stage copies over several sessions.
    pub segments: Vec<Segment>,
    /// How many rows, all segments together.
    pub rows: u64,
    /// Up to ten matched rows as JSON lines.
    pub sample_file: PathBuf,
    /// Counts for the report.
    pub stats: MatchStats,
}

impl MatchOutput {
    /// Bytes of all segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

/// Runs the match stage: reads extract's runs, writes `match/rows-*.pgcopy`.
/// Each segment published is also handed to `feed`, when a load runs
/// alongside. `on_records` hears how many source records were consumed, now
/// and then.
pub fn run_match(
    run: &RunDir,
    settings: &RunSettings,
    extract: &ExtractOutput,
    feed: Option<Arc<SegmentFeed>>,
    on_records: &dyn Fn(u64),
) -> Result<MatchOutput, MatchError> {
    let dir = run.reset_stage_dir("match").map_err(|source| MatchError::Io { path: run.stage_dir("match"), source })?;
    let scratch = dir.join("scratch");
    atomic::create_private_dir(&scratch).map_err(|source| MatchError::Io { path: scratch.clone(), source })?;
    let vendor_records = merge(extract.vendor_runs.clone(), &scratch, DEFAULT_FAN_IN, "vendor")?;
    let vendor_drops = merge(extract.vendor_drop_runs.clone(), &scratch, DEFAULT_FAN_IN, "vendor-drops")?;
    let mut vendor = dedup::WithoutDrops::new(vendor_records, vendor_drops)?;
    let mut internal = merge(extract.internal_runs.clone(), &scratch, DEFAULT_FAN_IN, "internal")?;

    let sample_path = dir.join("sample.jsonl");
    let mut writer = rows::RowWriter::create(&dir, run.id(), settings, feed)?;
    let (mut consumed, mut reported) = (0u64, 0u64);
    join(&mut vendor, &mut internal, |status, v, i| -> Result<(), MatchError> {
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
    drop((vendor, internal));
    let (segments, rows, stats, sample) = writer.finish()?;
    atomic::write(&sample_path, &sample).map_err(|source| MatchError::Io { path: sample_path.clone(), source })?;
    std::fs::remove_dir_all(&scratch).map_err(|source| MatchError::Io { path: scratch, source })?;
    Ok(MatchOutput { segments, rows, sample_file: sample_path, stats })
}

/// A key-sorted stream of records, looked at one record at a time.
pub trait Cursor {
    /// The next record, not yet passed.
    fn peek(&self) -> Option<Record<'_>>;
    /// Moves past it.
    fn advance(&mut self) -> Result<(), SortError>;

    /// The next record's key group (hash and match key), if any.
    fn head_group(&self) -> Option<&[u8]> {
        self.peek().map(|r| group_of(r.sort))
    }
}

impl Cursor for Merger {
    fn peek(&self) -> Option<Record<'_>> {
        Merger::peek(self)
    }
    fn advance(&mut self) -> Result<(), SortError> {
        Merger::advance(self)
    }
}

/// Copies the next record of `cursor` into `into` and moves past it, if it
/// is of `group`.
fn take_if<C: Cursor>(cursor: &mut C, group: &[u8], into: &mut Vec<u8>) -> Result<bool, SortError> {
    match cursor.peek() {
        Some(record) if group_of(record.sort) == group => {
            into.clear();
            record.encode_into(into);
            cursor.advance()?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Emits every record of `cursor` of `group`, as `status`, on its side.
fn stream_group<C: Cursor, E: From<SortError>>(
    cursor: &mut C,
    group: &[u8],
    mut emit: impl FnMut(Record<'_>) -> Result<(), E>,
) -> Result<(), E> {
    while let Some(record) = cursor.peek() {
        if group_of(record.sort) != group {
            break;
        }
        emit(record)?;
        cursor.advance()?;
    }
    Ok(())
}

/// Merge-joins two key-sorted streams, calling `emit` once per warehouse row:
/// with both records for a matched pair, with one record otherwise.
pub fn join<E: From<SortError>>(
    vendor: &mut impl Cursor,
    internal: &mut impl Cursor,
    mut emit: impl FnMut(MatchStatus, Option<Record<'_>>, Option<Record<'_>>) -> Result<(), E>,
) -> Result<(), E> {
    let (mut key, mut first_vendor, mut first_internal) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        if vendor.head_group() == Some(UNMATCHABLE_GROUP) {
            stream_group(vendor, UNMATCHABLE_GROUP, |r| emit(MatchStatus::Unmatchable, Some(r), None))?;
            continue;
        }
        if internal.head_group() == Some(UNMATCHABLE_GROUP) {
            stream_group(internal, UNMATCHABLE_GROUP, |r| emit(MatchStatus::Unmatchable, None, Some(r)))?;
            continue;
        }
        // The smaller group comes first in both streams.
        key.clear();
        match (vendor.head_group(), internal.head_group()) {
            (None, None) => return Ok(()),
            (Some(v), Some(i)) => key.extend_from_slice(v.min(i)),
            (Some(v), None) => key.extend_from_slice(v),
            (None, Some(i)) => key.extend_from_slice(i),
        }
        let has_vendor = take_if(vendor, &key, &mut first_vendor)?;
        let has_internal = take_if(internal, &key, &mut first_internal)?;
        let vendor_presence = Presence::from_peek(has_vendor, vendor.head_group() == Some(&key));
        let internal_presence = Presence::from_peek(has_internal, internal.head_group() == Some(&key));
        let Some(status) = group_status(vendor_presence, internal_presence) else {
            continue;
        };
        let first_vendor = has_vendor.then(|| Record::decode(&first_vendor)).flatten();
        let first_internal = has_internal.then(|| Record::decode(&first_internal)).flatten();
        if status == MatchStatus::Matched {
            emit(status, first_vendor, first_internal)?;
            continue;
        }
        if let Some(record) = first_vendor {
            emit(status, Some(record), None)?;
            stream_group(vendor, &key, |r| emit(status, Some(r), None))?;
        }
        if let Some(record) = first_internal {
            emit(status, None, Some(record))?;
            stream_group(internal, &key, |r| emit(status, None, Some(r)))?;
        }
    }
}

#[cfg(test)]
mod tests;
