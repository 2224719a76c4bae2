//! The run's record, `<run-id>/manifest.json`: each stage's state, counts,
//! times and outputs, and the run's settings. The pipeline writes it; the
//! report and `status` read it.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::damage::Damaged;
use crate::extract::ExtractOutput;
use crate::load::LoadOutput;
use crate::matching::MatchOutput;
use crate::model::Stage;
use crate::rundir::{atomic, sealed, RunDir};
use crate::settings::RunSettings;

/// Version of the manifest layout (5: row segments with cleaned and raw values, issue 11; an
/// older run's segments do not fit the table's columns, so it is refused, never resumed).
pub const FORMAT_VERSION: u32 = 5;

/// Where a stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageState {
    /// Not started.
    #[default]
    Pending,
    /// Started and not finished (or the process died).
    Running,
    /// Finished; its outputs are complete.
    Completed,
    /// Stopped with an error.
    Failed,
    /// Stopped by a signal (SIGINT, SIGTERM); also what `status` shows for a
    /// stage the manifest marks running while no process holds the run (it
    /// was killed, or could not record its end).
    Interrupted,
}

/// Where a run is as a whole: what `status`, `runs` and a scheduler go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// A process holds the run's lock now.
    Running,
    /// Every stage is completed.
    Completed,
    /// A stage failed; `resume` continues the run.
    Failed,
    /// Stopped before its end without a failure (a signal, a kill, or only
    /// some stages run); `resume` continues the run.
    Interrupted,
}

impl RunState {
    /// The state's name, as in `status --json`.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
        }
    }
}

/// One stage's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// State.
    pub state: StageState,
    /// When it last started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last finished or failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time of the last attempt, in seconds.
    pub elapsed_secs: Option<f64>,
    /// Rows the stage produced.
    pub rows: Option<u64>,
    /// Peak resident memory of the process during the stage.
    pub peak_rss_bytes: Option<u64>,
    /// The error of a failed attempt (password-free).
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Largest size on disk of the run directory seen during the stage (its
    /// disk high-water), sampled while it ran and once at its end.
    #[serde(default)]
    pub disk_peak_bytes: Option<u64>,
    /// When the stage's intermediate files (extract's sorted runs, match's
    /// row segments) were removed, once the stage reading them had completed;
    /// a stage that needs them again must make them again first.
    #[serde(default)]
    pub intermediate_removed_at: Option<DateTime<Utc>>,
}

/// A manifest that can't be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading or writing failed.
    #[error("manifest {path} could not be accessed")]
    Io {
        /// The manifest file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Its JSON is invalid.
    #[error("manifest {path} is not valid")]
    Json {
        /// The manifest file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Its checksum does not match: changed by hand, or torn.
    #[error("the run's manifest can't be trusted; start a new run with `vendor-match run`")]
    Damaged(#[from] Damaged),
    /// Written by another version.
    #[error("manifest {path} has format version {found}; this program reads version {FORMAT_VERSION}")]
    Version {
        /// The manifest file.
        path: std::path::PathBuf,
        /// Its version.
        found: u32,
    },
}

/// Everything known about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub format_version: u32,
    /// The run id.
    pub run_id: String,
    /// When the run was created.
    pub created_at: DateTime<Utc>,
    /// The run's settings.
    pub settings: RunSettings,
    /// Stage 1.
    pub extract: StageRecord,
    /// Stage 2.
    #[serde(rename = "match")]
    pub matching: StageRecord,
    /// Stage 3.
    pub load: StageRecord,
    /// The report.
    pub report: StageRecord,
    /// What extract produced.
    pub extract_output: Option<ExtractOutput>,
    /// What match produced.
    pub match_output: Option<MatchOutput>,
    /// What load did.
    pub load_output: Option<LoadOutput>,
}

impl Manifest {
    /// A new run with every stage pending.
    pub fn new(run_id: String, settings: RunSettings) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            run_id,
            created_at: Utc::now(),
            settings,
            extract: StageRecord::default(),
            matching: StageRecord::default(),
            load: StageRecord::default(),
            report: StageRecord::default(),
            extract_output: None,
            match_output: None,
            load_output: None,
        }
    }

    /// A stage's record.
    pub fn stage(&self, stage: Stage) -> &StageRecord {
        match stage {
            Stage::Extract => &self.extract,
            Stage::Match => &self.matching,
            Stage::Load => &self.load,
            Stage::Report => &self.report,
        }
    }

    /// A stage's record, to change.
    pub fn stage_mut(&mut self, stage: Stage) -> &mut StageRecord {
        match stage {
            Stage::Extract => &mut self.extract,
            Stage::Match => &mut self.matching,
            Stage::Load => &mut self.load,
            Stage::Report => &mut self.report,
        }
    }

    /// The first stage that is not completed, if any.
    pub fn first_unfinished(&self) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| self.stage(*s).state != StageState::Completed)
    }

    /// The run's state as a whole; `in_use` is whether a process holds its
    /// lock now ([`RunDir::in_use`]): a run nobody holds is never running.
    pub fn state(&self, in_use: bool) -> RunState {
        if in_use {
            RunState::Running
        } else if self.first_unfinished().is_none() {
            RunState::Completed
        } else if Stage::ALL.iter().any(|s| self.stage(*s).state == StageState::Failed) {
            RunState::Failed
        } else {
            RunState::Interrupted
        }
    }

    /// The run directory's largest size on disk in any stage so far, with
    /// the (first) stage that reached it.
    pub fn disk_high_water(&self) -> Option<(Stage, u64)> {
        Stage::ALL.into_iter().filter_map(|s| self.stage(s).disk_peak_bytes.map(|bytes| (s, bytes))).fold(
            None,
            |best, (s, bytes)| match best {
                Some((_, top)) if top >= bytes => best,
                _ => Some((s, bytes)),
            },
        )
    }

    /// Points every recorded file at `run`'s directory as reached now.
    pub fn rebase(&mut self, run: &RunDir) {
        if let Some(output) = &mut self.extract_output {
            output.rebase(&run.stage_dir(Stage::Extract.name()));
        }
        if let Some(output) = &mut self.match_output {
            output.rebase(&run.stage_dir(Stage::Match.name()));
        }
    }

    /// Reads a manifest, refusing one whose checksum does not match.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let bytes = std::fs::read(path).map_err(|source| ManifestError::Io { path: path.to_path_buf(), source })?;
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        // The version first: an older layout gets its own message, not a checksum's.
        if let Ok(Version { format_version }) = serde_json::from_slice(&bytes) {
            if format_version != FORMAT_VERSION {
                return Err(ManifestError::Version { path: path.to_path_buf(), found: format_version });
            }
        }
        let json = sealed::unseal(&bytes, "manifest", path)?;
        serde_json::from_slice(&json).map_err(|source| ManifestError::Json { path: path.to_path_buf(), source })
    }

    /// Writes the manifest atomically, sealed with its checksum.
    pub fn save(&self, path: &Path) -> Result<(), ManifestError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|source| ManifestError::Json { path: path.to_path_buf(), source })?;
        atomic::write_with(path, &sealed::seal(&json), || crate::failpoint::hit("manifest.tmp_written"))
            .map_err(|source| ManifestError::Io { path: path.to_path_buf(), source })
    }

    /// A new run with example settings, for tests.
    #[cfg(test)]
    pub(crate) fn example(run_id: &str) -> Manifest {
        let settings = RunSettings {
            report_date: "2017-02-02".parse().unwrap(),
            active_days: 30,
            match_on: crate::key::KeyField::ALL.to_vec(),
            warehouse_table: crate::table::TableName::parse("t").unwrap(),
            memory_budget: crate::budget::MemoryBudget::new(1 << 20).unwrap(),
            concurrency: 1,
            max_retries: 0,
            retry_delay: std::time::Duration::ZERO,
            request_timeout: std::time::Duration::from_secs(1),
            max_reject_ratio: 0.0,
            max_pages: 10,
            vendor_url_masked: None,
            load_sessions: 1,
        };
        Manifest::new(run_id.into(), settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_manifest_reads_back_and_a_hand_edit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let manifest = Manifest::example("r1");
        manifest.save(&path).unwrap();
        assert_eq!(Manifest::load(&path).unwrap(), manifest);

        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"max_pages\": 10", "\"max_pages\": 11")).unwrap();
        let error = Manifest::load(&path).unwrap_err();
        assert!(matches!(error, ManifestError::Damaged(_)), "{error:?}");
        let damage = crate::damage::Damaged::find(&error).unwrap();
        assert!(damage.to_string().contains("manifest.json is damaged"), "{error}");
    }

    #[test]
    fn a_run_nobody_holds_is_never_running() {
        let mut manifest = Manifest::example("r1");
        assert_eq!(manifest.state(true), RunState::Running);
        assert_eq!(manifest.state(false), RunState::Interrupted);
        manifest.extract.state = StageState::Running;
        assert_eq!(manifest.state(false), RunState::Interrupted);
        manifest.extract.state = StageState::Failed;
        assert_eq!(manifest.state(false), RunState::Failed);
        for stage in Stage::ALL {
            manifest.stage_mut(stage).state = StageState::Completed;
        }
        assert_eq!(manifest.state(false), RunState::Completed);
        assert_eq!(manifest.state(true), RunState::Running);
    }

    #[test]
    fn the_disk_high_water_is_the_largest_stage_peak() {
        let mut manifest = Manifest::example("r1");
        assert_eq!(manifest.disk_high_water(), None);
        manifest.extract.disk_peak_bytes = Some(300);
        manifest.matching.disk_peak_bytes = Some(500);
        manifest.load.disk_peak_bytes = Some(500);
        manifest.report.disk_peak_bytes = Some(20);
        assert_eq!(manifest.disk_high_water(), Some((Stage::Match, 500)));
    }

    #[test]
    fn a_stage_record_without_the_disk_fields_still_reads() {
        let old = r#"{"state":"completed","started_at":null,"finished_at":null,"elapsed_secs":1.0,
            "rows":3,"peak_rss_bytes":null,"error":null,"attempts":1}"#;
        let record: StageRecord = serde_json::from_str(old).unwrap();
        assert_eq!((record.disk_peak_bytes, record.intermediate_removed_at), (None, None));
        assert_eq!(record.rows, Some(3));
    }

    #[test]
    fn another_version_is_named_before_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, r#"{"format_version": 3, "run_id": "old"}"#).unwrap();
        assert!(matches!(Manifest::load(&path), Err(ManifestError::Version { found: 3, .. })));
    }
}
