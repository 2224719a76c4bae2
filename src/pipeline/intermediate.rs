//! Intermediate files: the outputs of a stage that only the stage after it
//! reads (extract's sorted runs, match's row segments), removed once that
//! stage is recorded completed, and the error a stage gets that needs them
//! again after they were removed.
//!
//! Removal goes:
//!
//! 1. the reading stage is recorded `completed` in the manifest (saved);
//! 2. the maker's record gets `intermediate_removed_at` (saved);
//! 3. the files are removed.
//!
//! A crash between 1 and 3 leaves files on disk, never a manifest listing
//! files it still needs that are gone; the next removal on the run removes
//! what a crash left.

use std::path::PathBuf;

use crate::manifest::{Manifest, StageState};
use crate::model::Stage;
use crate::settings::ConfigError;

/// The stages whose files only the next stage reads: (maker, reader).
const CONSUMED: [(Stage, Stage); 2] = [(Stage::Extract, Stage::Match), (Stage::Match, Stage::Load)];

/// What the files of `maker` are called in messages.
fn what(maker: Stage) -> &'static str {
    match maker {
        Stage::Extract => "sorted run files",
        _ => "row segments",
    }
}

/// The intermediate files `maker` recorded in `manifest`.
fn files(manifest: &Manifest, maker: Stage) -> Vec<PathBuf> {
    match maker {
        Stage::Extract => {
            manifest.extract_output.iter().flat_map(|o| o.spill_files()).map(|f| f.path.clone()).collect()
        }
        Stage::Match => manifest.match_output.iter().flat_map(|o| &o.segments).map(|s| s.path.clone()).collect(),
        Stage::Load | Stage::Report => Vec::new(),
    }
}

/// Marks in `manifest` the intermediate files that `completed` (the stage
/// just recorded completed) has read as removed, and returns every file
/// marked removed, those of an earlier removal included (a crash may have
/// left some). The caller saves the manifest, then removes them.
///
/// Only the reader's own completion marks files: files an earlier command
/// kept (`--keep-intermediate`) stay when a later one, without the flag,
/// runs another stage (the report again, say).
pub fn mark_removable(manifest: &mut Manifest, completed: Stage) -> (bool, Vec<PathBuf>) {
    let mut marked = false;
    let mut doomed = Vec::new();
    for (maker, reader) in CONSUMED {
        let done = |s: Stage| manifest.stage(s).state == StageState::Completed;
        let already = manifest.stage(maker).intermediate_removed_at.is_some();
        let read_now = reader == completed && done(maker) && done(reader);
        if !(already || read_now) {
            continue;
        }
        let record = manifest.stage_mut(maker);
        if record.intermediate_removed_at.is_none() {
            record.intermediate_removed_at = Some(chrono::Utc::now());
            marked = true;
        }
        doomed.extend(files(manifest, maker));
    }
    (marked, doomed)
}

/// Removes `files`; one already gone is not an error. Returns the first
/// failure, after trying every file.
pub fn remove(files: &[PathBuf]) -> Result<(), (PathBuf, std::io::Error)> {
    let mut first = None;
    for path in files {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                first.get_or_insert((path.clone(), e));
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// The stage to run again to make `maker`'s files again: `maker` itself,
/// or, when the files it reads were removed too, the earliest stage before
/// it whose inputs are still there.
pub fn remade_by(manifest: &Manifest, maker: Stage) -> Stage {
    let mut stage = maker;
    while let Some((before, _)) = CONSUMED.into_iter().find(|(_, reader)| *reader == stage) {
        if manifest.stage(before).intermediate_removed_at.is_none() {
            break;
        }
        stage = before;
    }
    stage
}

/// A stage that reads intermediate files can run only while they are there:
/// when they were removed, the error names the commands that make them
/// again and continue the run.
pub fn check_inputs(manifest: &Manifest, stage: Stage) -> Result<(), ConfigError> {
    let Some((maker, _)) = CONSUMED.into_iter().find(|(_, reader)| *reader == stage) else {
        return Ok(());
    };
    if manifest.stage(maker).intermediate_removed_at.is_none() {
        return Ok(());
    }
    let redo = remade_by(manifest, maker);
    let id = &manifest.run_id;
    Err(ConfigError::NoRun(format!(
        "the {} of run {id} that {} reads were removed once it had completed (keep them with \
         --keep-intermediate); make them again, then continue, with: vendor-match {} --run-id {id} && \
         vendor-match resume --run-id {id}",
        what(maker),
        stage.name(),
        redo.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::ExtractOutput;
    use crate::matching::segment::Segment;
    use crate::matching::MatchOutput;
    use crate::sort::spill_file::SpillFile;

    fn completed(manifest: &mut Manifest, stages: &[Stage]) {
        for stage in stages {
            manifest.stage_mut(*stage).state = StageState::Completed;
        }
    }

    fn with_files() -> Manifest {
        let mut manifest = Manifest::example("r1");
        let spill = |name: &str| SpillFile { path: PathBuf::from("/r/extract").join(name), records: 1, crc32: 0 };
        manifest.extract_output = Some(ExtractOutput {
            vendor_spills: vec![spill("vendor-000001.spill")],
            vendor_drop_spills: vec![spill("vendor-drops-000001.spill")],
            internal_spills: vec![spill("internal-000001.spill")],
            ..ExtractOutput::default()
        });
        let segment = Segment { path: PathBuf::from("/r/match/rows-000001.pgcopy"), rows: 1, bytes: 1, crc32: 0 };
        manifest.match_output = Some(MatchOutput { segments: vec![segment], ..MatchOutput::default() });
        manifest
    }

    #[test]
    fn files_go_only_once_their_reader_completed() {
        let mut manifest = with_files();
        completed(&mut manifest, &[Stage::Extract]);
        assert_eq!(mark_removable(&mut manifest, Stage::Extract), (false, vec![]));
        completed(&mut manifest, &[Stage::Match]);
        // Kept by the command that ran match: another stage's end leaves them.
        assert_eq!(mark_removable(&mut manifest, Stage::Report), (false, vec![]));
        let (marked, files) = mark_removable(&mut manifest, Stage::Match);
        assert!(marked);
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(manifest.extract.intermediate_removed_at.is_some());
        assert!(manifest.matching.intermediate_removed_at.is_none());
        completed(&mut manifest, &[Stage::Load]);
        let (marked, files) = mark_removable(&mut manifest, Stage::Load);
        assert!(marked);
        assert_eq!(files.len(), 4, "a crash's leftovers are removed again: {files:?}");
        assert!(!mark_removable(&mut manifest, Stage::Report).0, "marked once");
    }

    #[test]
    fn a_stage_whose_inputs_were_removed_names_the_commands_that_make_them() {
        let mut manifest = with_files();
        completed(&mut manifest, &[Stage::Extract, Stage::Match]);
        assert!(check_inputs(&manifest, Stage::Match).is_ok());
        mark_removable(&mut manifest, Stage::Match);
        let error = check_inputs(&manifest, Stage::Match).unwrap_err().to_string();
        assert!(error.contains("sorted run files of run r1 that match reads were removed"), "{error}");
        assert!(error.contains("vendor-match extract --run-id r1 && vendor-match resume --run-id r1"), "{error}");
        assert!(check_inputs(&manifest, Stage::Load).is_ok(), "the segments are still there");
        completed(&mut manifest, &[Stage::Load]);
        mark_removable(&mut manifest, Stage::Load);
        let error = check_inputs(&manifest, Stage::Load).unwrap_err().to_string();
        assert!(error.contains("row segments of run r1 that load reads"), "{error}");
        assert!(error.contains("vendor-match extract --run-id r1"), "match can't remake them: {error}");
        manifest.extract.intermediate_removed_at = None;
        let error = check_inputs(&manifest, Stage::Load).unwrap_err().to_string();
        assert!(error.contains("vendor-match match --run-id r1"), "{error}");
    }
}
