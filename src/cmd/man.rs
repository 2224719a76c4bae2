//! `man`: the manual page (roff), generated from the clap definitions.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};

/// Prints the top page, or writes one page per command into `--out`.
pub fn execute(args: &ManArgs) -> anyhow::Result<()> {
    let command = Cli::command();
    let Some(dir) = &args.out else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page).context("rendering the man page")?;
        let _ = std::io::stdout().lock().write_all(&page);
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(command, dir).with_context(|| format!("writing man pages into {}", dir.display()))?;
    println!("man pages written into {}", dir.display());
    Ok(())
}
