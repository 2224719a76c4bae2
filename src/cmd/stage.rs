//! `extract | match | load | report` on an existing run (the latest unless --run-id).

use super::existing;
use crate::cli::Options;
use crate::model::Stage;
use crate::pipeline::preflight::{self, Scope};
use crate::pipeline::{runs, Run, Start};
use crate::settings;

/// Runs one stage of the run `run_id` (or the latest). `extract` starts a
/// new run when there is none (or with `new`).
pub fn execute(options: &Options, run_id: Option<&str>, new: bool, stage: Stage, quiet: bool) -> anyhow::Result<()> {
    let env = settings::environment(options, quiet)?;
    // Every missing connection at once, before a run is made or opened.
    env.connections.require([stage])?;
    let new_run = stage == Stage::Extract && (new || (run_id.is_none() && runs::latest(&env.work_dir)?.is_none()));
    let mut run = if new_run {
        let settings = settings::new_run_settings(options, &env)?;
        preflight::check(&env, &settings, Scope { stages: &[stage], run: None, extracted_records: None })?;
        Run::create(env, settings, run_id)?
    } else {
        let run = existing::open(run_id, options, env)?;
        run.preflight(&[stage])?;
        run
    };
    Ok(run.run_stage(stage, Start::Fresh)?)
}
