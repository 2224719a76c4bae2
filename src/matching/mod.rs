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
mod specialties;
pub mod stats;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::MatchError;
use segment::{OnPublished, Segment};
use stats::MatchStats;

use crate::damage::Damaged;
use crate::extract::ExtractOutput;
use crate::model::Stage;
use crate::rundir::{atomic, in_dir, RunDir};
use crate::settings::RunSettings;
use crate::sort::merge::merge;
use crate::sort::spill_file::SpillFile;

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
    /// CRC-32 of the sample file.
    pub sample_crc32: u32,
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

/// Checks extract's list of files against its counts before anything is
/// read: each file listed once, and as many records as users (the vendor
/// files less the copies listed to leave out).
fn check_listed(extract: &ExtractOutput, dir: &Path) -> Result<(), Damaged> {
    let mut names = std::collections::BTreeSet::new();
    for file in extract.spill_files() {
        if !names.insert(file.path.file_name()) {
            return Err(Damaged::new("spill file", &file.path, "it is listed more than once"));
        }
    }
    let records = |list: &[SpillFile]| list.iter().map(|file| file.records).sum::<u64>();
    let vendor = records(&extract.vendor_spills).checked_sub(records(&extract.vendor_drop_spills));
    let internal = records(&extract.internal_spills);
    if vendor != Some(extract.vendor_users) || internal != extract.internal_users {
        let reason = format!(
            "the files listed hold {} vendor records less {} to leave out, and {internal} internal records; \
             extract recorded {} vendor and {} internal users",
            records(&extract.vendor_spills),
            records(&extract.vendor_drop_spills),
            extract.vendor_users,
            extract.internal_users
        );
        return Err(Damaged::new("extract directory", dir, reason));
    }
    Ok(())
}

/// The first of extract's files that is not the file recorded, if any.
fn first_damaged(extract: &ExtractOutput) -> Option<Damaged> {
    extract.spill_files().find_map(|file| match crate::sort::spill_file::verify(file) {
        Err(crate::sort::SortError::Damaged(damaged)) => Some(damaged),
        _ => None,
    })
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
    let extract_dir = run.stage_dir(Stage::Extract.name());
    check_listed(extract, &extract_dir)?;
    let fan_in = settings.memory_budget.match_fan_in();
    let vendor_records = merge(extract.vendor_spills.clone(), &scratch, fan_in, "vendor")?;
    let vendor_drops = merge(extract.vendor_drop_spills.clone(), &scratch, fan_in, "vendor-drops")?;
    let mut vendor = dedup::WithoutDrops::new(vendor_records, vendor_drops, &extract_dir)?;
    let mut internal = merge(extract.internal_spills.clone(), &scratch, fan_in, "internal")?;

    let sample_path = dir.join("sample.jsonl");
    let mut writer = rows::RowWriter::create(&dir, run.id(), settings, on_published)?;
    let (mut consumed, mut reported, mut checked) = (0u64, 0u64, 0u64);
    let mut read = [0u64; 2];
    let joined = join::join(&mut vendor, &mut internal, |status, v, i| -> Result<(), MatchError> {
        writer.write(status, v, i)?;
        read[0] += u64::from(v.is_some());
        read[1] += u64::from(i.is_some());
        consumed += u64::from(v.is_some()) + u64::from(i.is_some());
        if consumed - reported >= 50_000 {
            on_records(consumed - reported);
            reported = consumed;
        }
        // Every thousand records or so: a stop is seen within milliseconds.
        if consumed - checked >= 1_024 {
            crate::stop::check()?;
            checked = consumed;
        }
        crate::failpoint::hit("match.rows");
        Ok(())
    });
    if let Err(MatchError::Record { .. } | MatchError::Bug(_)) = &joined {
        // A record read back malformed (or not the kind expected) comes from
        // a damaged file, met before the file's end and its CRC: name the file.
        if let Some(damaged) = first_damaged(extract) {
            return Err(damaged.into());
        }
    }
    joined?;
    on_records(consumed - reported);
    drop((vendor, internal));
    if read != [extract.vendor_users, extract.internal_users] {
        let reason = format!(
            "they held {} vendor and {} internal users; extract recorded {} and {}",
            read[0], read[1], extract.vendor_users, extract.internal_users
        );
        return Err(Damaged::new("extract directory", &extract_dir, reason).into());
    }
    let (segments, rows, stats, sample) = writer.finish()?;
    atomic::write(&sample_path, &sample).map_err(|source| MatchError::Io { path: sample_path.clone(), source })?;
    std::fs::remove_dir_all(&scratch).map_err(|source| MatchError::Io { path: scratch, source })?;
    Ok(MatchOutput { segments, rows, sample_file: sample_path, sample_crc32: crc32fast::hash(&sample), stats })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, records: u64) -> SpillFile {
        SpillFile { path: PathBuf::from("/r/extract").join(name), records, crc32: 0 }
    }

    fn listed() -> ExtractOutput {
        ExtractOutput {
            vendor_spills: vec![file("vendor-000001.spill", 6), file("vendor-000002.spill", 4)],
            vendor_drop_spills: vec![file("vendor-drops-000001.spill", 2)],
            internal_spills: vec![file("internal-000001.spill", 7)],
            vendor_users: 8,
            internal_users: 7,
            ..ExtractOutput::default()
        }
    }

    #[test]
    fn a_list_that_disagrees_with_the_counts_is_damage() {
        let dir = Path::new("/r/extract");
        assert_eq!(check_listed(&listed(), dir), Ok(()));
        let edits: [fn(&mut ExtractOutput); 4] = [
            |e| e.vendor_spills.clear(),
            |e| e.internal_spills.push(e.internal_spills[0].clone()),
            |e| e.vendor_drop_spills.clear(),
            |e| e.internal_spills[0].records = 6,
        ];
        for edit in edits {
            let mut extract = listed();
            edit(&mut extract);
            assert!(check_listed(&extract, dir).is_err(), "{extract:?}");
        }
    }
}
