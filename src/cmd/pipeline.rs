//! One run and its stages: bookkeeping shared by `run`, the single-stage commands and `resume`.
//!
//! Every stage goes: mark `running` in the manifest -> do the work (its
//! outputs are published atomically) -> record counts, time and peak memory
//! and mark `completed` (or `failed` with the error) -> save the manifest.
//! Only then are a stage's outputs trusted by the stages after it.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;

use crate::extract::{self, ExtractProgress};
use crate::load::feed::{MatchFailed, SegmentFeed};
use crate::load::LoadError;
use crate::matching;
use crate::matching::{MatchError, MatchOutput};
use crate::metrics;
use crate::progress;
use crate::report;
use crate::run::manifest::{Manifest, StageName, StageState};
use crate::run::RunDir;
use crate::settings::{ConfigError, Environment, RunSettings};

/// How a stage starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From nothing: earlier outputs of the stage are discarded.
    Fresh,
    /// From the stage's last checkpoint, when it has one (`resume`).
    Continue,
}

/// An open run.
pub struct Pipeline {
    run: RunDir,
    manifest: Manifest,
    env: Environment,
    // Held while the run is open: one process per run.
    _lock: std::fs::File,
}

impl Pipeline {
    /// Creates a new run directory (named `id`, or a fresh id) and its manifest.
    pub fn create(env: Environment, settings: RunSettings, id: Option<&str>) -> anyhow::Result<Pipeline> {
        let run = RunDir::create(&env.work_dir, id)?;
        let lock = run.lock()?;
        let manifest = Manifest::new(run.id().to_string(), settings);
        manifest.save(&run.manifest())?;
        Ok(Pipeline { run, manifest, env, _lock: lock })
    }

    /// Opens an existing run (locked by `lock`, from [`RunDir::lock`]), with
    /// the manifest's settings as given in force from now on.
    pub fn open(env: Environment, run: RunDir, manifest: Manifest, lock: std::fs::File) -> Pipeline {
        Pipeline { run, manifest, env, _lock: lock }
    }

    /// The run id.
    pub fn id(&self) -> &str {
        self.run.id()
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Runs `first` (continuing it from its checkpoint when `start` says so)
    /// and every stage after it. Match and load run side by side: the load
    /// COPYs each segment of rows as soon as match has published it.
    pub fn run_from(&mut self, first: StageName, start: Start) -> anyhow::Result<()> {
        let mut stages = StageName::ALL.into_iter().filter(|s| *s >= first).peekable();
        let mut start = start;
        while let Some(stage) = stages.next() {
            if stage == StageName::Match && stages.next_if_eq(&StageName::Load).is_some() {
                self.run_match_and_load()?;
            } else {
                self.run_stage(stage, start)?;
            }
            start = Start::Fresh;
        }
        Ok(())
    }

    /// Runs one stage with its bookkeeping. Stages after it become pending:
    /// their outputs were made from the old ones.
    pub fn run_stage(&mut self, stage: StageName, start: Start) -> anyhow::Result<()> {
        self.check_ready(stage)?;
        self.begin(stage)?;
        metrics::reset_peak_rss();
        let started = Instant::now();
        let result = self.execute(stage, started, start);
        self.end(stage, started.elapsed(), result)
    }

    /// Match, with load fed its segments as they are published.
    fn run_match_and_load(&mut self) -> anyhow::Result<()> {
        self.check_ready(StageName::Match)?;
        let warehouse = self.env.connections.warehouse()?.clone();
        let extracted = self.manifest.extract_output.clone().context("the manifest has no extract output")?;
        self.begin(StageName::Match)?;
        self.begin(StageName::Load)?;
        metrics::reset_peak_rss();
        let (settings, run) = (self.manifest.settings.clone(), self.run.clone());
        let multi = progress::multi(self.env.quiet);
        let match_bar = progress::bar_in(&multi, "match", extracted.vendor_users + extracted.internal_users, "records");
        let load_bar = progress::bar_in(&multi, "load", 0, "bytes");
        let feed = Arc::new(SegmentFeed::open());
        let started = Instant::now();
        let (match_outcome, loaded, load_time) = std::thread::scope(|scope| {
            let load = scope.spawn(|| {
                let loaded = crate::load::load(&settings, &warehouse, &feed, &|n| load_bar.inc(n));
                (loaded, started.elapsed())
            });
            let matched =
                matching::run_match(&run, &settings, &extracted, Some(Arc::clone(&feed)), &|n| match_bar.inc(n));
            feed.close(matched.as_ref().map(|m| m.rows).map_err(|_| MatchFailed));
            match_bar.finish_and_clear();
            // Match is complete (or failed) while the load goes on: a crash
            // from here on resumes with the load alone.
            let match_outcome = self.end_match(matched, started.elapsed());
            let (loaded, load_time) = load.join().unwrap_or((Err(LoadError::Session), started.elapsed()));
            (match_outcome, loaded, load_time)
        });
        load_bar.finish_and_clear();
        match_outcome?;
        let load_rows = loaded.map(|output| {
            let rows = output.rows_loaded;
            self.manifest.load_output = Some(output);
            rows
        });
        self.end(StageName::Load, load_time, load_rows.map_err(anyhow::Error::from))
    }

    /// Records how match ended, its output kept in the manifest.
    fn end_match(&mut self, matched: Result<MatchOutput, MatchError>, elapsed: Duration) -> anyhow::Result<()> {
        let rows = matched.map(|output| {
            let rows = output.rows;
            self.manifest.match_output = Some(output);
            rows
        });
        if rows.is_err() {
            // The load only waited for rows that never came: it did not run.
            *self.manifest.stage_mut(StageName::Load) = Default::default();
        }
        self.end(StageName::Match, elapsed, rows.map_err(anyhow::Error::from))
    }

    /// Marks `stage` running; the stages after it become pending.
    fn begin(&mut self, stage: StageName) -> anyhow::Result<()> {
        for later in StageName::ALL.into_iter().filter(|s| *s > stage) {
            *self.manifest.stage_mut(later) = Default::default();
            match later {
                StageName::Match => self.manifest.match_output = None,
                StageName::Load => self.manifest.load_output = None,
                StageName::Extract | StageName::Report => {}
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

    /// Records how `stage` ended and saves the manifest.
    fn end(&mut self, stage: StageName, elapsed: Duration, result: anyhow::Result<u64>) -> anyhow::Result<()> {
        let record = self.manifest.stage_mut(stage);
        record.elapsed_secs = Some(elapsed.as_secs_f64());
        record.finished_at = Some(chrono::Utc::now());
        record.peak_rss_bytes = metrics::peak_rss_bytes();
        match &result {
            Ok(rows) => {
                record.state = StageState::Completed;
                record.rows = Some(*rows);
            }
            Err(error) => {
                record.state = StageState::Failed;
                record.error = Some(format!("{error:#}"));
            }
        }
        self.save()?;
        if result.is_ok() {
            crate::failpoint::hit("stage.completed");
        }
        if stage == StageName::Report && result.is_ok() {
            self.print_report()?;
        }
        let id = self.run.id().to_string();
        result.map(|_| ()).with_context(|| {
            format!("run {id} stopped in {}; continue with: vendor-match resume --run-id {id}", stage.name())
        })
    }

    /// A stage can run once the one before it is complete, and its connections are given.
    fn check_ready(&self, stage: StageName) -> Result<(), ConfigError> {
        let needs = match stage {
            StageName::Extract => None,
            StageName::Match => Some(StageName::Extract),
            StageName::Load | StageName::Report => Some(StageName::Match),
        };
        if let Some(before) = needs.filter(|b| self.manifest.stage(*b).state != StageState::Completed) {
            return Err(ConfigError::NoRun(format!(
                "stage {} of run {} needs {} to be completed first (continue with: vendor-match resume --run-id {})",
                stage.name(),
                self.run.id(),
                before.name(),
                self.run.id()
            )));
        }
        let connections = &self.env.connections;
        match stage {
            StageName::Extract => connections.vendor().and(connections.source()).map(|_| ()),
            StageName::Load => connections.warehouse().map(|_| ()),
            _ => Ok(()),
        }
    }

    fn save(&self) -> anyhow::Result<()> {
        Ok(self.manifest.save(&self.run.manifest())?)
    }

    /// Does the stage's work; returns the rows it produced.
    fn execute(&mut self, stage: StageName, started: Instant, start: Start) -> anyhow::Result<u64> {
        let settings = self.manifest.settings.clone();
        match stage {
            StageName::Extract => {
                let bars = ExtractBars::new(self.env.quiet);
                let connections = &self.env.connections;
                let sources = extract::Sources {
                    vendor_url: connections.vendor()?,
                    vendor_ca_pem: connections.vendor_ca_pem.as_deref(),
                    source_url: connections.source()?,
                };
                let output = extract::extract(&self.run, &settings, sources, &bars, start == Start::Continue)?;
                bars.finish();
                let rows = output.vendor_users + output.internal_users;
                self.manifest.extract_output = Some(output);
                Ok(rows)
            }
            StageName::Match => {
                let extracted = self.manifest.extract_output.clone().context("the manifest has no extract output")?;
                let total = extracted.vendor_users + extracted.internal_users;
                let bar = progress::bar(self.env.quiet, "match", total, "records");
                let output = matching::run_match(&self.run, &settings, &extracted, None, &|n| bar.inc(n))?;
                bar.finish_and_clear();
                let rows = output.rows;
                self.manifest.match_output = Some(output);
                Ok(rows)
            }
            StageName::Load => {
                let matched = self.manifest.match_output.clone().context("the manifest has no match output")?;
                let bar = progress::bar(self.env.quiet, "load", matched.bytes(), "bytes");
                let feed = SegmentFeed::finished(matched.segments.clone(), matched.rows);
                let output = crate::load::load(&settings, self.env.connections.warehouse()?, &feed, &|n| bar.inc(n))?;
                bar.finish_and_clear();
                let rows = output.rows_loaded;
                self.manifest.load_output = Some(output);
                Ok(rows)
            }
            StageName::Report => {
                let text = report::build(&self.manifest, started.elapsed())?;
                report::write(&self.env.output, &text)?;
                Ok(0)
            }
        }
    }

    fn print_report(&self) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(&self.env.output)
            .with_context(|| format!("reading {}", self.env.output.display()))?;
        // A closed stdout (e.g. `| head`) is not a failure: the report is in the file.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        Ok(())
    }
}

/// The extract stage's two bars: vendor pages and our rows.
struct ExtractBars {
    // Kept alive: the bars draw through it.
    _multi: indicatif::MultiProgress,
    pages: ProgressBar,
    rows: ProgressBar,
}

impl ExtractBars {
    fn new(quiet: bool) -> ExtractBars {
        let multi = progress::multi(quiet);
        let pages = progress::bar_in(&multi, "vendor", 1, "pages");
        let rows = progress::bar_in(&multi, "internal", 0, "rows");
        ExtractBars { _multi: multi, pages, rows }
    }

    fn finish(&self) {
        self.pages.finish_and_clear();
        self.rows.finish_and_clear();
    }
}

impl ExtractProgress for ExtractBars {
    fn vendor_page(&self, planned: u32) {
        self.pages.set_length(u64::from(planned));
        self.pages.inc(1);
    }
    fn internal_rows(&self, n: u64) {
        self.rows.inc(n);
    }
}
