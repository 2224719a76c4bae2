//! `resume`: continue a run from its first unfinished stage.

use crate::cli::StageArgs;
use crate::settings;

use super::pipeline::Start;

/// Runs the first stage that is not completed and every stage after it.
pub fn run(args: &StageArgs) -> anyhow::Result<()> {
    let env = settings::environment(&args.shared)?;
    let mut pipeline = super::stage::open(args, env)?;
    match pipeline.manifest().first_unfinished() {
        Some(stage) => pipeline.run_from(stage, Start::Continue),
        None => {
            eprintln!("run {} is already complete; nothing to resume", pipeline.id());
            Ok(())
        }
    }
}
