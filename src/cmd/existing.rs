//! An existing run for `resume` and the stage commands: the run named by
//! --run-id (or the latest), its recorded settings with the options given
//! again in force.

use crate::cli::Options;
use crate::pipeline::Run;
use crate::settings::{self, Environment};

/// Opens the run `run_id` (or the latest), checking the options given again against it.
pub(super) fn open(run_id: Option<&str>, options: &Options, env: Environment) -> anyhow::Result<Run> {
    let mut run = Run::open(env, run_id)?;
    run.set_settings(settings::resumed_run_settings(run.id(), &run.manifest().settings, options)?);
    Ok(run)
}
