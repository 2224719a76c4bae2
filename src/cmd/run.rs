//! `run`: a new run, then extract -> match -> load -> report.

use crate::cli::RunArgs;
use crate::db;
use crate::model::Stage;
use crate::pipeline::{Run, Start};
use crate::rundir;
use crate::settings;

/// Validates every setting and connection first, so a bad one fails before any work.
pub fn execute(args: &RunArgs, quiet: bool) -> anyhow::Result<()> {
    let options = args.options();
    let env = settings::environment(&options, quiet)?;
    // Every missing connection in one error, before the run's settings are checked.
    env.connections.require(Stage::ALL)?;
    let settings = settings::new_run_settings(&options, &env)?;
    if let Some(id) = &args.run_id {
        rundir::check_new_id(&env.work_dir, id)?;
    }
    let connections = &env.connections;
    // Connect to both databases now: a wrong URL should fail in a second, not after the extract.
    crate::extract::internal::connect(connections.source()?)?;
    db::connect(connections.warehouse()?, "warehouse")?;
    let mut run = Run::create(env, settings, args.run_id.as_deref())?;
    Ok(run.run_from(Stage::Extract, Start::Fresh)?)
}
