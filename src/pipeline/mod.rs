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
mod intermediate;
pub mod preflight;
pub mod runs;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use bars::{ExtractBars, MatchLoadBars};
pub use error::{PipelineError, PreflightError, StageError};

use crate::bug::Bug;
use crate::causes;
use crate::damage::Damaged;
use crate::disk_full;
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

/// How often the run directory's size on disk is read while a stage runs:
/// reading it walks a few hundred files, so a few times a second is cheap.
const DISK_SAMPLE_EVERY: Duration = Duration::from_millis(300);

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
    /// Whether the report stage prints the report on stdout (not with `run --json`).
    print_report: bool,
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
        Ok(Run { dir, manifest, env, print_report: true, _lock: lock })
    }

    /// Opens the run `id`, or the latest run of the work dir, with the
    /// settings its manifest records.
    pub fn open(env: Environment, id: Option<&str>) -> Result<Run, PipelineError> {
        let id = runs::chosen(&env.work_dir, id)?;
        let dir = RunDir::open(&env.work_dir, &id)?;
        let lock = dir.lock()?;
        let mut manifest = Manifest::load(&dir.manifest())?;
        manifest.rebase(&dir);
        Ok(Run { dir, manifest, env, print_report: true, _lock: lock })
    }

    /// The run id.
    pub fn id(&self) -> &str {
        self.dir.id()
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether the report stage prints the report on stdout, besides writing it (the default).
    pub fn print_report_on_stdout(&mut self, print: bool) {
        self.print_report = print;
    }

    /// Puts `settings` in force from now on (options given again to `resume`
    /// or a stage command).
    pub fn set_settings(&mut self, settings: RunSettings) {
        self.manifest.settings = settings;
    }

    /// Checks what `stages` (about to run, in order) need before anything
    /// is fetched or loaded ([`preflight`]); the first must be ready to run.
    pub fn preflight(&self, stages: &[Stage]) -> Result<preflight::Preflight, PipelineError> {
        // Every missing connection of the stages ahead in one error.
        self.env.connections.require(stages.iter().copied())?;
        if let Some(first) = stages.first() {
            self.check_ready(*first)?;
        }
        let scope = preflight::Scope {
            stages,
            run: Some(&self.dir),
            extracted_records: self.manifest.extract_output.as_ref().map(ExtractOutput::records),
        };
        preflight::check(&self.env, &self.manifest.settings, scope)
    }

    /// Runs `first` (continuing it from its checkpoint when `start` says so)
    /// and every stage after it, match and load side by side.
    pub fn run_from(&mut self, first: Stage, start: Start) -> Result<(), PipelineError> {
        // Every connection the stages ahead need, all named at once if missing.
        self.env.connections.require(Stage::ALL.into_iter().filter(|s| *s >= first))?;
        let mut stages = Stage::ALL.into_iter().filter(|s| *s >= first).peekable();
        let mut start = start;
        while let Some(stage) = stages.next() {
            // Between stages too: a stop asked for during one ends the run before the next.
            if let Some(interrupted) = crate::stop::requested() {
                return Err(PipelineError::Interrupted {
                    run_id: self.id().to_string(),
                    stage: stage.name(),
                    interrupted,
                });
            }
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
        let _span = self.span(stage).entered();
        self.check_ready(stage)?;
        self.begin(stage)?;
        let peak = metrics::PeakSampler::start();
        let disk = self.disk_sampler();
        let started = Instant::now();
        let rows = match stage {
            Stage::Extract => self.extract(start),
            Stage::Match => self.match_alone(),
            Stage::Load => self.load_alone(),
            Stage::Report => self.report(started),
        };
        self.manifest.stage_mut(stage).disk_peak_bytes = disk.largest();
        self.end(stage, started.elapsed(), peak.peak_bytes(), rows)
    }

    /// Match, with load fed its segments as they are published.
    fn run_match_and_load(&mut self) -> Result<(), PipelineError> {
        let match_span = self.span(Stage::Match);
        let load_span = self.span(Stage::Load);
        let _span = match_span.enter();
        self.check_ready(Stage::Match)?;
        let warehouse = self.env.connections.warehouse()?.clone();
        let (dir, settings, extracted, run_id) = (
            self.dir.clone(),
            self.manifest.settings.clone(),
            self.extract_output()?.clone(),
            self.manifest.run_id.clone(),
        );
        self.begin(Stage::Match)?;
        load_span.in_scope(|| self.begin(Stage::Load))?;
        // One sampler for both: they run at once, so each one's peak is the process's while it ran.
        let peak = metrics::PeakSampler::start();
        let disk = self.disk_sampler();
        let bars = MatchLoadBars::new(self.env.quiet, extracted.records());
        let feed = Arc::new(SegmentFeed::open());
        let to_load = Arc::clone(&feed);
        let on_published: OnPublished = Box::new(move |segment| to_load.push(segment));
        let started = Instant::now();
        let (match_ended, loaded, load_time) = std::thread::scope(|scope| {
            let load = scope.spawn(|| {
                let _span = load_span.enter();
                (load_rows(&run_id, &settings, &warehouse, &feed, &bars.bytes), started.elapsed())
            });
            // A panic must still close the feed: the load waits on it.
            let matched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                match_rows(&dir, &settings, &extracted, Some(on_published), &bars.records)
            }))
            .unwrap_or_else(|_| Err(Bug::new("the match stage panicked").into()));
            feed.close(matched.as_ref().map(|m| (m.rows, m.stats.clone())).map_err(|_| MatchFailed));
            bars.records.finish_and_clear();
            // Match is complete (or failed) while the load goes on: a crash
            // from here on resumes with the load alone.
            self.manifest.stage_mut(Stage::Match).disk_peak_bytes = disk.largest();
            let match_ended = self.end_match(matched, started.elapsed(), peak.peak_bytes());
            let (loaded, load_time) =
                load.join().unwrap_or_else(|_| (Err(Bug::new("the load thread panicked").into()), started.elapsed()));
            (match_ended, loaded, load_time)
        });
        bars.bytes.finish_and_clear();
        match_ended?;
        self.manifest.stage_mut(Stage::Load).disk_peak_bytes = disk.largest();
        let rows = self.keep_load(loaded);
        let _span = load_span.enter();
        self.end(Stage::Load, load_time, peak.peak_bytes(), rows)
    }

    /// The span of `stage`'s log lines: they name the run and the stage.
    fn span(&self, stage: Stage) -> tracing::Span {
        tracing::info_span!("stage", run_id = %self.id(), stage = %stage.name())
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
        let log = progress::log_progress(&[&bar]);
        let matched = match_rows(&self.dir, &self.manifest.settings, extracted, None, &bar);
        drop(log);
        bar.finish_and_clear();
        self.keep_match(matched)
    }

    fn load_alone(&mut self) -> Result<u64, StageError> {
        let matched = self.match_output()?;
        let feed = SegmentFeed::finished(matched.segments.clone(), matched.rows, matched.stats.clone());
        let bar = progress::bytes_bar(self.env.quiet, "load", matched.bytes());
        let log = progress::log_progress(&[&bar]);
        let loaded =
            load_rows(&self.manifest.run_id, &self.manifest.settings, self.env.connections.warehouse()?, &feed, &bar);
        drop(log);
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
        record.disk_peak_bytes = None;
        record.intermediate_removed_at = None;
        record.attempts += 1;
        tracing::info!(attempt = record.attempts, "{} started", stage.name());
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
        let interrupted = crate::stop::requested();
        match (&result, interrupted) {
            (Ok(rows), _) => {
                record.state = StageState::Completed;
                record.rows = Some(*rows);
            }
            // Whatever the stage ran into once asked to stop, it stopped because it was asked.
            (Err(_), Some(interrupted)) => {
                record.state = StageState::Interrupted;
                record.error = Some(interrupted.to_string());
            }
            (Err(error), None) => {
                record.state = StageState::Failed;
                record.error = Some(causes::one_line(error));
            }
        }
        self.log_end(stage, elapsed, &result);
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
            self.remove_intermediate(stage)?;
        }
        if stage == Stage::Report && result.is_ok() && self.print_report {
            self.print_report()?;
        }
        result.map(|_| ()).map_err(|source| self.stopped(stage, source))
    }

    /// The stage's end line: its rows, time and bytes, or why it stopped.
    fn log_end(&self, stage: Stage, elapsed: Duration, result: &Result<u64, StageError>) {
        let name = stage.name();
        // Milliseconds are plenty in a log line.
        let secs = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        match result {
            Ok(rows) => {
                let rows_per_sec = if secs > 0.0 { (*rows as f64 / secs).round() as u64 } else { 0 };
                let bytes = self.stage_bytes(stage);
                tracing::info!(rows, secs, rows_per_sec, bytes, "{name} completed");
            }
            Err(_) if crate::stop::requested().is_some() => {
                tracing::warn!(secs, "{name} interrupted")
            }
            Err(error) => tracing::error!(secs, error = %causes::one_line(error), "{name} failed"),
        }
    }

    /// Bytes a completed stage wrote (extract, match) or sent (load).
    fn stage_bytes(&self, stage: Stage) -> u64 {
        match stage {
            Stage::Extract => rundir::disk_usage(&self.dir.stage_dir(stage.name())).unwrap_or(0),
            Stage::Match | Stage::Load => self.manifest.match_output.as_ref().map_or(0, MatchOutput::bytes),
            Stage::Report => 0,
        }
    }

    /// The error of a failed stage: the command that continues the run, or,
    /// when a file of the run is damaged, the commands that make it again
    /// and continue.
    fn stopped(&self, stage: Stage, source: StageError) -> PipelineError {
        let run_id = self.dir.id().to_string();
        if let Some(interrupted) = crate::stop::requested() {
            return PipelineError::Interrupted { run_id, stage: stage.name(), interrupted };
        }
        if let Some(full) = disk_full::find(&source) {
            let (path, bytes) = match full {
                Ok(full) => (full.path.clone(), full.bytes),
                // A write that did not say what it wrote: the run's directory.
                Err(_) => (self.dir.root().to_path_buf(), 0),
            };
            return PipelineError::DiskFull { run_id, stage: stage.name(), path, bytes, source: Box::new(source) };
        }
        let made_by = Damaged::find(&source).and_then(|damaged| {
            Stage::ALL.into_iter().find(|made_by| damaged.path.starts_with(self.dir.stage_dir(made_by.name())))
        });
        // A file made of removed files is made again from the stage that made those.
        let made_by = made_by.map(|stage| intermediate::remade_by(&self.manifest, stage));
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
        intermediate::check_inputs(&self.manifest, stage)?;
        self.env.connections.require([stage])
    }

    /// Samples the run directory's size on disk until dropped.
    fn disk_sampler(&self) -> metrics::MaxSampler {
        let root = self.dir.root().to_path_buf();
        metrics::MaxSampler::start("disk-peak", DISK_SAMPLE_EVERY, move || rundir::disk_usage(&root).ok())
    }

    /// Removes the intermediate files whose reading stage is recorded
    /// completed, unless `--keep-intermediate` ([`intermediate`]): marked
    /// removed in the saved manifest first, then removed. A file that can't
    /// be removed is a warning: the run's data is complete.
    fn remove_intermediate(&mut self, completed: Stage) -> Result<(), PipelineError> {
        if self.env.keep_intermediate {
            return Ok(());
        }
        let (marked, files) = intermediate::mark_removable(&mut self.manifest, completed);
        if marked {
            self.save()?;
        }
        if let Err((path, error)) = intermediate::remove(&files) {
            eprintln!("warning: {} could not be removed: {}", path.display(), causes::one_line(&error));
        }
        Ok(())
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
