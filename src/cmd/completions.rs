//! `completions`: the shell completion script, generated from the clap definitions.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Prints the completion script of the shell asked for.
pub fn execute(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    let _ = std::io::stdout().lock().write_all(&script);
    Ok(())
}
