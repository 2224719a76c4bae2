//! `run`: a new run directory, then extract -> match -> load -> report.

use crate::cli::SharedArgs;
use crate::run::manifest::StageName;
use crate::settings;

use super::pipeline::{Pipeline, Start};

/// Validates every setting and connection first, so a bad one fails before any work.
pub fn run(args: &SharedArgs) -> anyhow::Result<()> {
    let env = settings::environment(args)?;
    let settings = settings::new_run_settings(args, &env)?;
    let connections = &env.connections;
    connections.vendor()?;
    // Connect to both databases now: a wrong URL should fail in a second, not after the extract.
    crate::db::connect(connections.source()?, "source")?;
    crate::db::connect(connections.warehouse()?, "warehouse")?;
    let mut pipeline = Pipeline::create(env, settings)?;
    pipeline.run_from(StageName::Extract, Start::Fresh)
}
