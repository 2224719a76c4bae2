//! `fixtures generate | serve`.

use crate::cli::FixturesCommand;
use crate::fixtures::{FixtureError, Target};
use crate::settings::{parse_source_url, ConfigError};
use crate::{db, mysql_db};

/// Runs a fixtures command.
pub fn execute(command: FixturesCommand) -> anyhow::Result<()> {
    match command {
        FixturesCommand::Generate(args) => {
            let url = parse_source_url("source-url", args.source_url.as_deref())?
                .ok_or(ConfigError::Missing { flag: "source-url", env: crate::env::SOURCE_DATABASE_URL })?;
            let started = std::time::Instant::now();
            let generated = if mysql_db::is_mysql(&url) {
                crate::fixtures::generate(&args.generate, Target::MySql(&mut mysql_db::connect(&url, "source")?))
            } else {
                crate::fixtures::generate(&args.generate, Target::Postgres(&mut db::connect(&url, "source")?))
            };
            let summary = generated.map_err(|error| match error {
                // One line: the table and the flag that would replace it.
                FixtureError::NotOurs { .. } => anyhow::Error::new(ConfigError::NotOurs(error)),
                other => anyhow::Error::new(other).context(format!("generating fixtures into {url}")),
            })?;
            eprintln!(
                "generated {} vendor entries on {} pages and {} internal users in {:.1} s",
                summary.vendor_entries,
                summary.vendor_pages,
                summary.internal_users,
                started.elapsed().as_secs_f64()
            );
            println!("{}", serde_json::to_string_pretty(&summary.expected)?);
            Ok(())
        }
        FixturesCommand::Serve(args) => crate::fixtures::serve(&args).map_err(config_or_runtime),
    }
}

/// Bad fixture settings are configuration errors (exit 2); the rest are failures.
fn config_or_runtime(error: FixtureError) -> anyhow::Error {
    match error {
        FixtureError::Config(reason) => ConfigError::Invalid { flag: "fixtures", reason }.into(),
        other => other.into(),
    }
}
