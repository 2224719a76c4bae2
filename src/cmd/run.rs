//! `run`: a new run, then extract -> match -> load -> report.

use crate::cli::RunArgs;
use crate::model::Stage;
use crate::pipeline::preflight::{self, Scope};
use crate::pipeline::{Run, Start};
use crate::rundir;
use crate::settings;

/// Validates every setting, then checks what the run needs (the preflight),
/// so that a bad one fails before any work and before the run is made.
pub fn execute(args: &RunArgs) -> anyhow::Result<()> {
    let env = settings::environment(&args.shared)?;
    let settings = settings::new_run_settings(&args.shared, &env)?;
    if let Some(id) = &args.run_id {
        rundir::check_new_id(&env.work_dir, id)?;
    }
    preflight::check(&env, &settings, Scope { stages: &Stage::ALL, run: None, extracted_records: None })?;
    let mut run = Run::create(env, settings, args.run_id.as_deref())?;
    Ok(run.run_from(Stage::Extract, Start::Fresh)?)
}
