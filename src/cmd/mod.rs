//! Dispatch: one arm per command, nothing else.

mod completions;
mod existing;
mod fixtures;
mod gc;
mod inspect;
mod man;
mod resume;
mod run;
mod runs;
mod stage;
mod status;

use crate::cli::{Cli, Command};
use crate::model::Stage;

/// Runs the command the user asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if matches!(
        cli.command,
        Command::Run(_)
            | Command::Extract(_)
            | Command::Match(_)
            | Command::Load(_)
            | Command::Report(_)
            | Command::Resume(_)
    ) {
        // A run stops cleanly on SIGINT / SIGTERM; other commands keep the default (end at once).
        crate::stop::install().map_err(|e| anyhow::anyhow!("the signal handlers could not be installed: {e}"))?;
    }
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
        Command::Inspect(args) => inspect::execute(&args),
        Command::Runs(args) => runs::execute(&args),
        Command::Gc(args) => gc::execute(&args),
        Command::Completions(args) => completions::execute(&args),
        Command::Man(args) => man::execute(&args),
    }
}
