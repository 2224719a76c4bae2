//! The pipeline: one run's stages in order, each with its bookkeeping in the
//! manifest, and the match -> load hand-off. `run`, `resume` and the
//! single-stage commands all go through [`Run`].
//!
//! Every stage goes:
//!
//! 1. check that the stage before it is complete and its connections given;
//! 2. mark it `running` in the manifest (the stages after it become pending:
//!    their outputs were made from the old ones);
//! 3. do the work: its outputs are published atomically;
//! 4. record counts, time and peak memory, mark it `completed` (or `failed`
//!    with the error), and save the manifest.
//!
//! Only then are a stage's outputs trusted by the stages after it. When match
//! and load both lie ahead ([`Run::run_from`]), they run side by side: match
//! hands each published segment of rows to the load's [`SegmentFeed`], whose
//! sessions COPY it at once, and match is recorded complete as soon as it is,
//! so that a crash from then on resumes with the load alone.

mod bars;
mod error;
pub mod runs;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use bars::{ExtractBars, MatchLoadBars};
pub use error::{PipelineError, StageError};

use crate::bug::Bug;
use crate::causes;
use crate::damage::Damaged;
use crate::extract::{self, ExtractOutput};
use crate::load::feed::{MatchFailed, SegmentFeed};
use crate::load::{self, LoadOutput};
use crate::manifest::{Manifest, StageState};
use crate::matching::segment::OnPublished;
use crate::matching::{self, MatchOutput};
use crate::metrics;
use crate::model::Stage;
use crate::progress;
use crate::report;
use crate::rundir::{self, RunDir};
use crate::secret::SecretUrl;
use crate::settings::{ConfigError, Environment, RunSettings};

/// How a stage starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From nothing: earlier outputs of the stage are discarded.
    Fresh,
    /// From the stage's last checkpoint, when it has one (`resume`).
    Continue,
}

/// One run, open and locked by this process.
pub struct Run {
    dir: RunDir,
    manifest: Manifest,
    env: Environment,
    // Held while the run is open: one process per run.
    _lock: std::fs::File,
}

impl Run {
    /// Creates a new run (named `id`, or a fresh id) and its manifest.
    pub fn create(env: Environment, settings: RunSettings, id: Option<&str>) -> Result<Run, PipelineError> {
        if let Some(id) = id {
            rundir::check_new_id(&env.work_dir, id)?;
        }
        let dir = RunDir::create(&env.work_dir, id)?;
        let lock = dir.lock()?;
        let manifest = Manifest::new(dir.id().to_string(), settings);
        manifest.save(&dir.manifest())?;
        Ok(Run { dir, manifest, env, _lock: lock })
    }

    /// Opens the run `id`, or the latest run of the work dir, with the
    /// settings its manifest records.
    pub fn open(env: Environment, id: Option<&str>) -> Result<Run, PipelineError> {
        let id = runs::chosen(&env.work_dir, id)?;
        let dir = RunDir::open(&env.work_dir, &id)?;
        let lock = dir.lock()?;
        let mut manifest = Manifest::load(&dir.manifest())?;
        manifest.rebase(&dir);
        Ok(Run { dir, manifest, env, _lock: lock })
    }

    /// The run id.
    pub fn id(&self) -> &str {
        self.dir.id()
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Puts `settings` in force from now on (options given again to `resume`
    /// or a stage command).
    pub fn set_settings(&mut self, settings: RunSettings) {
        self.manifest.settings = settings;
    }

    /// Runs `first` (continuing it from its checkpoint when `start` says so)
    /// and every stage after it, match and load side by side.
    pub fn run_from(&mut self, first: Stage, start: Start) -> Result<(), PipelineError> {
        // Every connection the stages ahead need, all named at once if missing.
        self.env.connections.require(Stage::ALL.into_iter().filter(|s| *s >= first))?;
        let mut stages = Stage::ALL.into_iter().filter(|s| *s >= first).peekable();
        let mut start = start;
        while let Some(stage) = stages.next() {
            if stage == Stage::Match && stages.next_if_eq(&Stage::Load).is_some() {
                self.run_match_and_load()?;
            } else {
                self.run_stage(stage, start)?;
            }
            start = Start::Fresh;
        }
        Ok(())
    }

    /// Runs one stage with its bookkeeping.
    pub fn run_stage(&mut self, stage: Stage, start: Start) -> Result<(), PipelineError> {
        self.check_ready(stage)?;
        self.begin(stage)?;
        let peak = metrics::PeakSampler::start();
        let started = Instant::now();
        let rows = match stage {
            Stage::Extract => self.extract(start),
            Stage::Match => self.match_alone(),
            Stage::Load => self.load_alone(),
            Stage::Report => self.report(started),
        };
        self.end(stage, started.elapsed(), peak.peak_bytes(), rows)
    }

    /// Match, with load fed its segments as they are published.
    fn run_match_and_load(&mut self) -> Result<(), PipelineError> {
        self.check_ready(Stage::Match)?;
        let warehouse = self.env.connections.warehouse()?.clone();
        let (dir, settings, extracted, run_id) = (
            self.dir.clone(),
            self.manifest.settings.clone(),
            self.extract_output()?.clone(),
            self.manifest.run_id.clone(),
        );
        self.begin(Stage::Match)?;
        self.begin(Stage::Load)?;
        // One sampler for both: they run at once, so each one's peak is the process's while it ran.
        let peak = metrics::PeakSampler::start();
        let bars = MatchLoadBars::new(self.env.quiet, extracted.records());
        let feed = Arc::new(SegmentFeed::open());
        let to_load = Arc::clone(&feed);
        let on_published: OnPublished = Box::new(move |segment| to_load.push(segment));
        let started = Instant::now();
        let (match_ended, loaded, load_time) = std::thread::scope(|scope| {
            let load =
                scope.spawn(|| (load_rows(&run_id, &settings, &warehouse, &feed, &bars.bytes), started.elapsed()));
            // A panic must still close the feed: the load waits on it.
            let matched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                match_rows(&dir, &settings, &extracted, Some(on_published), &bars.records)
            }))
            .unwrap_or_else(|_| Err(Bug::new("the match stage panicked").into()));
            feed.close(matched.as_ref().map(|m| (m.rows, m.stats.clone())).map_err(|_| MatchFailed));
            bars.records.finish_and_clear();
            // Match is complete (or failed) while the load goes on: a crash
            // from here on resumes with the load alone.
            let match_ended = self.end_match(matched, started.elapsed(), peak.peak_bytes());
            let (loaded, load_time) =
                load.join().unwrap_or_else(|_| (Err(Bug::new("the load thread panicked").into()), started.elapsed()));
            (match_ended, loaded, load_time)
        });
        bars.bytes.finish_and_clear();
        match_ended?;
        let rows = self.keep_load(loaded);
        self.end(Stage::Load, load_time, peak.peak_bytes(), rows)
    }

    /// Records how match ended; when it failed, the load that only waited
    /// for its rows did not run: it goes back to pending.
    fn end_match(
        &mut self,
        matched: Result<MatchOutput, StageError>,
        elapsed: Duration,
        peak_rss_bytes: Option<u64>,
    ) -> Result<(), PipelineError> {
        let failed = matched.is_err();
        let rows = self.keep_match(matched);
        if failed {
            *self.manifest.stage_mut(Stage::Load) = Default::default();
        }
        self.end(Stage::Match, elapsed, peak_rss_bytes, rows)
    }

    fn match_alone(&mut self) -> Result<u64, StageError> {
        let extracted = self.extract_output()?;
        let bar = progress::bar(self.env.quiet, "match", extracted.records(), "records");
        let matched = match_rows(&self.dir, &self.manifest.settings, extracted, None, &bar);
        bar.finish_and_clear();
        self.keep_match(matched)
    }

    fn load_alone(&mut self) -> Result<u64, StageError> {
        let matched = self.match_output()?;
        let feed = SegmentFeed::finished(matched.segments.clone(), matched.rows, matched.stats.clone());
        let bar = progress::bytes_bar(self.env.quiet, "load", matched.bytes());
        let loaded =
            load_rows(&self.manifest.run_id, &self.manifest.settings, self.env.connections.warehouse()?, &feed, &bar);
        bar.finish_and_clear();
        self.keep_load(loaded)
    }

    fn extract(&mut self, start: Start) -> Result<u64, StageError> {
        let bars = ExtractBars::new(self.env.quiet);
        let connections = &self.env.connections;
        let sources = extract::Sources {
            vendor_url: connections.vendor()?,
            vendor_ca_pem: connections.vendor_ca_pem.as_deref(),
            source_url: connections.source()?,
        };
        let output = extract::extract(&self.dir, &self.manifest.settings, sources, &bars, start == Start::Continue);
        bars.finish();
        let output = output?;
        // Progress bars are done: a warning line stands on its own on stderr.
        for line in output.warnings() {
            eprintln!("warning: {line}");
        }
        let rows = output.records();
        self.manifest.extract_output = Some(output);
        Ok(rows)
    }

    fn keep_match(&mut self, matched: Result<MatchOutput, StageError>) -> Result<u64, StageError> {
        let output = matched?;
        let rows = output.rows;
        self.manifest.match_output = Some(output);
        Ok(rows)
    }

    fn keep_load(&mut self, loaded: Result<LoadOutput, StageError>) -> Result<u64, StageError> {
        let output = loaded?;
        let rows = output.rows_loaded;
        self.manifest.load_output = Some(output);
        Ok(rows)
    }

    fn report(&self, started: Instant) -> Result<u64, StageError> {
        // The page first: the text names it, and is what the run prints.
        let so_far = started.elapsed();
        let html_path = report::html_path(&self.env.output);
        let html = report::build_html(&self.manifest, report::stages_elapsed(&self.manifest) + so_far);
        report::write(&html_path, &html)?;
        let text = report::build(&self.manifest, so_far, Some(&html_path))?;
        report::write(&self.env.output, &text)?;
        Ok(0)
    }

    fn extract_output(&self) -> Result<&ExtractOutput, Bug> {
        self.manifest.extract_output.as_ref().ok_or_else(|| Bug::new("extract is complete but left no output"))
    }

    fn match_output(&self) -> Result<&MatchOutput, Bug> {
        self.manifest.match_output.as_ref().ok_or_else(|| Bug::new("match is complete but left no output"))
    }

    /// Marks `stage` running; the stages after it become pending.
    fn begin(&mut self, stage: Stage) -> Result<(), PipelineError> {
        for later in Stage::ALL.into_iter().filter(|s| *s > stage) {
            *self.manifest.stage_mut(later) = Default::default();
            match later {
                Stage::Match => self.manifest.match_output = None,
                Stage::Load => self.manifest.load_output = None,
                Stage::Extract | Stage::Report => {}
            }
        }
        let record = self.manifest.stage_mut(stage);
        record.state = StageState::Running;
        record.started_at = Some(chrono::Utc::now());
        record.finished_at = None;
        record.error = None;
        record.rows = None;
        record.elapsed_secs = None;
        record.peak_rss_bytes = None;
        record.attempts += 1;
        self.save()
    }

    /// Records how `stage` ended, with its time and peak memory, and saves
    /// the manifest; a failure names the command that continues the run.
    fn end(
        &mut self,
        stage: Stage,
        elapsed: Duration,
        peak_rss_bytes: Option<u64>,
        result: Result<u64, StageError>,
    ) -> Result<(), PipelineError> {
        let record = self.manifest.stage_mut(stage);
        record.elapsed_secs = Some(elapsed.as_secs_f64());
        record.finished_at = Some(chrono::Utc::now());
        record.peak_rss_bytes = peak_rss_bytes;
        match &result {
            Ok(rows) => {
                record.state = StageState::Completed;
                record.rows = Some(*rows);
            }
            Err(error) => {
                record.state = StageState::Failed;
                record.error = Some(causes::one_line(error));
            }
        }
        let saved = self.save();
        if let (Err(error), Err(_)) = (&saved, &result) {
            // The stage's own failure is the one to report (a full disk fails
            // the file being written first); the manifest's comes second.
            eprintln!("warning: the failure could not be recorded: {}", causes::one_line(error));
        } else {
            saved?;
        }
        if result.is_ok() {
            crate::failpoint::hit("stage.completed");
        }
        if stage == Stage::Report && result.is_ok() {
            self.print_report()?;
        }
        result.map(|_| ()).map_err(|source| self.stopped(stage, source))
    }

    /// The error of a failed stage: the command that continues the run, or,
    /// when a file of the run is damaged, the commands that make it again
    /// and continue.
    fn stopped(&self, stage: Stage, source: StageError) -> PipelineError {
        let run_id = self.dir.id().to_string();
        let made_by = Damaged::find(&source).and_then(|damaged| {
            Stage::ALL.into_iter().find(|made_by| damaged.path.starts_with(self.dir.stage_dir(made_by.name())))
        });
        let source = Box::new(source);
        match made_by {
            Some(made_by) => PipelineError::Damaged { run_id, stage: stage.name(), redo: made_by.name(), source },
            None => PipelineError::Stopped { run_id, stage: stage.name(), source },
        }
    }

    /// A stage can run once the one before it is complete, and its connections are given.
    fn check_ready(&self, stage: Stage) -> Result<(), ConfigError> {
        let needs = match stage {
            Stage::Extract => None,
            Stage::Match => Some(Stage::Extract),
            Stage::Load | Stage::Report => Some(Stage::Match),
        };
        if let Some(before) = needs.filter(|b| self.manifest.stage(*b).state != StageState::Completed) {
            return Err(ConfigError::NoRun(format!(
                "stage {} of run {} needs {} to be completed first (continue with: vendor-match resume --run-id {})",
                stage.name(),
                self.dir.id(),
                before.name(),
                self.dir.id()
            )));
        }
        self.env.connections.require([stage])
    }

    fn save(&self) -> Result<(), PipelineError> {
        Ok(self.manifest.save(&self.dir.manifest())?)
    }

    fn print_report(&self) -> Result<(), PipelineError> {
        let path = &self.env.output;
        let text = std::fs::read_to_string(path)
            .map_err(|source| PipelineError::PrintReport { path: path.clone(), source })?;
        // A closed stdout (e.g. `| head`) is not a failure: the report is in the file.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        Ok(())
    }
}

/// The match stage's work, its segments handed to `on_published` if given.
fn match_rows(
    dir: &RunDir,
    settings: &RunSettings,
    extracted: &ExtractOutput,
    on_published: Option<OnPublished>,
    bar: &ProgressBar,
) -> Result<MatchOutput, StageError> {
    Ok(matching::match_sides(dir, settings, extracted, on_published, &|n| bar.inc(n))?)
}

/// The load stage's work, on the segments of `feed`.
fn load_rows(
    run_id: &str,
    settings: &RunSettings,
    warehouse: &SecretUrl,
    feed: &SegmentFeed,
    bar: &ProgressBar,
) -> Result<LoadOutput, StageError> {
    Ok(load::load(run_id, settings, warehouse, feed, &|n| bar.inc(n))?)
}
