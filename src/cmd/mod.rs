//! Dispatch: one arm per command, nothing else.

mod existing;
mod fixtures;
mod resume;
mod run;
mod stage;
mod status;

use crate::cli::{Cli, Command};
use crate::model::Stage;

/// Runs the command the user asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    // One -q hides the progress bars.
    let quiet = cli.logging.quiet > 0;
    match cli.command {
        Command::Run(args) => run::execute(&args, quiet),
        Command::Extract(args) => {
            let new = args.new;
            stage::execute(&args.options(), args.run_id.as_deref(), new, Stage::Extract, quiet)
        }
        Command::Match(args) => stage::execute(&args.options(), args.run_id.as_deref(), false, Stage::Match, quiet),
        Command::Load(args) => stage::execute(&args.options(), args.run_id.as_deref(), false, Stage::Load, quiet),
        Command::Report(args) => stage::execute(&args.options(), args.run_id.as_deref(), false, Stage::Report, quiet),
        Command::Resume(args) => resume::execute(&args, quiet),
        Command::Status(args) => status::execute(&args),
        Command::Fixtures(command) => fixtures::execute(command),
    }
}
