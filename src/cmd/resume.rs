//! `resume`: continue a run from its first unfinished stage.

use super::existing;
use crate::cli::ResumeArgs;
use crate::pipeline::{preflight, Start};
use crate::settings;

/// Runs the first stage that is not completed and every stage after it
/// (whose connections are checked all at once as it starts).
pub fn execute(args: &ResumeArgs, quiet: bool) -> anyhow::Result<()> {
    let options = args.options();
    let env = settings::environment(&options, quiet)?;
    let mut run = existing::open(args.run_id.as_deref(), &options, env)?;
    match run.manifest().first_unfinished() {
        Some(stage) => {
            run.preflight(&preflight::stages_from(stage))?;
            Ok(run.run_from(stage, Start::Continue)?)
        }
        None => {
            eprintln!("run {} is already complete; nothing to resume", run.id());
            Ok(())
        }
    }
}
