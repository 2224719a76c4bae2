//! Stage 2, match: merge each side's spill files, merge-join them by key, write one row per source record.
//!
//! ```text
//! extract/vendor-*.spill   --k-way merge-->  vendor stream (sorted by key)   \
//!                                                                             merge join --> match/rows-*.pgcopy
//! extract/internal-*.spill --k-way merge-->  internal stream (sorted by key) /               match/sample.jsonl
//! ```
//! The vendor stream leaves out the copies of repeated ids that extract
//! listed ([`dedup`]). Unmatchable records have the empty key, which sorts
//! first. For every other key the join ([`join`]) reads at most two records
//! per side before deciding the group's status, then streams the rest:
//! memory does not grow with a group. Each segment of rows is handed on as
//! soon as it is published, so that a load can run alongside.

mod dedup;
mod error;
pub mod group;
pub mod join;
pub mod pgcopy;
mod rows;
pub mod segment;
pub mod stats;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::MatchError;
use segment::{OnPublished, Segment};
use stats::MatchStats;

use crate::extract::ExtractOutput;
use crate::model::Stage;
use crate::rundir::{atomic, in_dir, RunDir};
use crate::settings::RunSettings;
use crate::sort::merge::merge;

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

    /// Points every file at `dir`, the match directory as reached now.
    pub fn rebase(&mut self, dir: &Path) {
        for segment in &mut self.segments {
            *segment = segment.in_dir(dir);
        }
        self.sample_file = in_dir(&self.sample_file, dir);
    }
}

/// Runs the match stage: reads extract's spill files, writes
/// `match/rows-*.pgcopy`. Each segment published is also handed to
/// `on_published` (a load running alongside), when given. `on_records` hears
/// how many source records were consumed, now and then.
pub fn match_sides(
    run: &RunDir,
    settings: &RunSettings,
    extract: &ExtractOutput,
    on_published: Option<OnPublished>,
    on_records: &dyn Fn(u64),
) -> Result<MatchOutput, MatchError> {
    let name = Stage::Match.name();
    let dir = run.reset_stage_dir(name).map_err(|source| MatchError::Io { path: run.stage_dir(name), source })?;
    let scratch = dir.join("scratch");
    atomic::create_private_dir(&scratch).map_err(|source| MatchError::Io { path: scratch.clone(), source })?;
    let fan_in = settings.memory_budget.match_fan_in();
    let vendor_records = merge(extract.vendor_spills.clone(), &scratch, fan_in, "vendor")?;
    let vendor_drops = merge(extract.vendor_drop_spills.clone(), &scratch, fan_in, "vendor-drops")?;
    let mut vendor = dedup::WithoutDrops::new(vendor_records, vendor_drops)?;
    let mut internal = merge(extract.internal_spills.clone(), &scratch, fan_in, "internal")?;

    let sample_path = dir.join("sample.jsonl");
    let mut writer = rows::RowWriter::create(&dir, run.id(), settings, on_published)?;
    let (mut consumed, mut reported) = (0u64, 0u64);
    join::join(&mut vendor, &mut internal, |status, v, i| -> Result<(), MatchError> {
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
