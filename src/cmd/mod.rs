//! Dispatch: one arm per command, nothing else.

mod fixtures;
mod pipeline;
mod resume;
mod run;
mod stage;
mod status;

use crate::cli::{Cli, Command};
use crate::run::manifest::StageName;

/// Runs the command the user asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Extract(args) => stage::run(&args, StageName::Extract),
        Command::Match(args) => stage::run(&args, StageName::Match),
        Command::Load(args) => stage::run(&args, StageName::Load),
        Command::Report(args) => stage::run(&args, StageName::Report),
        Command::Resume(args) => resume::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Fixtures(command) => fixtures::run(command),
    }
}
