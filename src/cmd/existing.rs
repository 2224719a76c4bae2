//! An existing run for `resume` and the stage commands: the run named by
//! --run-id (or the latest), its recorded settings with the options given
//! again in force.

use crate::cli::StageArgs;
use crate::pipeline::Run;
use crate::settings::{self, Environment};

/// Opens the run `args` names, checking the options given again against it.
pub(super) fn open(args: &StageArgs, env: Environment) -> anyhow::Result<Run> {
    let mut run = Run::open(env, args.run_id.as_deref())?;
    run.set_settings(settings::resumed_run_settings(run.id(), &run.manifest().settings, &args.shared)?);
    Ok(run)
}
