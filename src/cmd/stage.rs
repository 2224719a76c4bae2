//! `extract | match | load | report` on an existing run (the latest unless --run-id).

use crate::cli::StageArgs;
use crate::run::manifest::{Manifest, StageName};
use crate::run::RunDir;
use crate::settings;

use super::pipeline::{Pipeline, Start};

/// Runs one stage. `extract` starts a new run when there is none (or with --new).
pub fn run(args: &StageArgs, stage: StageName) -> anyhow::Result<()> {
    let env = settings::environment(&args.shared)?;
    if stage == StageName::Extract
        && (args.new || (args.run_id.is_none() && RunDir::open(&env.work_dir, None).is_err()))
    {
        let settings = settings::new_run_settings(&args.shared, &env)?;
        if let Some(id) = &args.run_id {
            crate::run::check_new_id(&env.work_dir, id)?;
        }
        let mut pipeline = Pipeline::create(env, settings, args.run_id.as_deref())?;
        return pipeline.run_stage(stage, Start::Fresh);
    }
    let mut pipeline = open(args, env)?;
    pipeline.run_stage(stage, Start::Fresh)
}

/// Opens the run named by `args`, with its recorded settings and the given overrides.
pub fn open(args: &StageArgs, env: settings::Environment) -> anyhow::Result<Pipeline> {
    let run = RunDir::open(&env.work_dir, args.run_id.as_deref())?;
    let lock = run.lock()?;
    let mut manifest = Manifest::load(&run.manifest())?;
    manifest.rebase(&run);
    manifest.settings = settings::resumed_run_settings(run.id(), &manifest.settings, &args.shared)?;
    Ok(Pipeline::open(env, run, manifest, lock))
}
