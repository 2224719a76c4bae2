//! `extract | match | load | report` on an existing run (the latest unless --run-id).

use super::existing;
use crate::cli::StageArgs;
use crate::model::Stage;
use crate::pipeline::preflight::{self, Scope};
use crate::pipeline::{runs, Run, Start};
use crate::settings;

/// Runs one stage. `extract` starts a new run when there is none (or with --new).
pub fn execute(args: &StageArgs, stage: Stage) -> anyhow::Result<()> {
    let mut env = settings::environment(&args.shared)?;
    env.keep_intermediate = args.keep_intermediate;
    let new_run =
        stage == Stage::Extract && (args.new || (args.run_id.is_none() && runs::latest(&env.work_dir)?.is_none()));
    let mut run = if new_run {
        let settings = settings::new_run_settings(&args.shared, &env)?;
        preflight::check(&env, &settings, Scope { stages: &[stage], run: None, extracted_records: None })?;
        Run::create(env, settings, args.run_id.as_deref())?
    } else {
        let run = existing::open(args, env)?;
        run.preflight(&[stage])?;
        run
    };
    Ok(run.run_stage(stage, Start::Fresh)?)
}
