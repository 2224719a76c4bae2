//! `resume`: continue a run from its first unfinished stage.

use super::existing;
use crate::cli::StageArgs;
use crate::pipeline::{preflight, Start};
use crate::settings;

/// Runs the first stage that is not completed and every stage after it.
pub fn execute(args: &StageArgs) -> anyhow::Result<()> {
    let mut env = settings::environment(&args.shared)?;
    env.keep_intermediate = args.keep_intermediate;
    let mut run = existing::open(args, env)?;
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
