//! `run`: a new run directory, then extract -> match -> load -> report.

use crate::cli::RunArgs;
use crate::run::manifest::StageName;
use crate::settings;

use super::pipeline::{Pipeline, Start};

/// Validates every setting and connection first, so a bad one fails before any work.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let env = settings::environment(&args.shared)?;
    let settings = settings::new_run_settings(&args.shared, &env)?;
    if let Some(id) = &args.run_id {
        crate::run::check_new_id(&env.work_dir, id)?;
    }
    let connections = &env.connections;
    connections.vendor()?;
    // Connect to both databases now: a wrong URL should fail in a second, not after the extract.
    crate::db::connect(connections.source()?, "source")?;
    crate::db::connect(connections.warehouse()?, "warehouse")?;
    let mut pipeline = Pipeline::create(env, settings, args.run_id.as_deref())?;
    pipeline.run_from(StageName::Extract, Start::Fresh)
}
