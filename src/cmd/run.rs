//! `run`: extract -> match -> load -> report, for a new run or again for the
//! same `--run-id` (a scheduler's retry): an unfinished run is resumed, a
//! finished one only prints its report.

use super::{existing, status};
use crate::cli::{Options, RunArgs};
use crate::model::Stage;
use crate::pipeline::preflight::{self, Scope};
use crate::pipeline::{Run, Start};
use crate::rundir;
use crate::settings::{self, Environment};

/// Validates every setting, then checks what the run needs (the preflight),
/// so that a bad one fails before any work and before the run is made.
pub fn execute(args: &RunArgs, quiet: bool) -> anyhow::Result<()> {
    let options = args.options();
    let env = settings::environment(&options, quiet)?;
    // Every missing connection in one error, before the run's settings are checked.
    env.connections.require(Stage::ALL)?;
    if let Some(id) = &args.run_id {
        rundir::check_id(id)?;
        if rundir::run_ids(&env.work_dir)?.iter().any(|existing| existing == id) {
            return again(args, &options, env, id);
        }
        // A retry after a run killed as it was made starts it again.
        rundir::clear_unborn(&env.work_dir, id)?;
    }
    let settings = settings::new_run_settings(&options, &env)?;
    preflight::check(&env, &settings, Scope { stages: &Stage::ALL, run: None, extracted_records: None })?;
    let mut run = Run::create(env, settings, args.run_id.as_deref())?;
    finish(args, &mut run, Stage::Extract, Start::Fresh)
}

/// The run `id` exists: its recorded settings hold (a run-defining one given
/// differently is exit 2); an unfinished run continues where it stopped, a
/// finished one prints its report again and loads nothing.
fn again(args: &RunArgs, options: &Options, env: Environment, id: &str) -> anyhow::Result<()> {
    let mut run = existing::open(Some(id), options, env)?;
    let (first, start) = match run.manifest().first_unfinished() {
        Some(stage) => {
            tracing::info!(run_id = id, "run {id} exists and is unfinished: continuing it at {}", stage.name());
            (stage, Start::Continue)
        }
        None => {
            tracing::info!(run_id = id, "run {id} is complete: its report again, nothing loaded");
            (Stage::Report, Start::Fresh)
        }
    };
    run.preflight(&preflight::stages_from(first))?;
    finish(args, &mut run, first, start)
}

/// Runs from `first` to the end; with --json, the status document is
/// printed at the end instead of the report, whatever the outcome.
fn finish(args: &RunArgs, run: &mut Run, first: Stage, start: Start) -> anyhow::Result<()> {
    if args.json {
        run.print_report_on_stdout(false);
    }
    let result = run.run_from(first, start);
    if args.json {
        // The run has ended: nobody holds it once this process exits.
        let document = status::json_line(&status::view(run.manifest(), false))?;
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), document.as_bytes());
    }
    Ok(result?)
}
