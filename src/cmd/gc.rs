//! `gc`: removes old runs' directories (never one a process holds), one line per run and the bytes freed.

use std::io::Write;
use std::path::Path;

use indicatif::HumanBytes;

use crate::causes;
use crate::cli::GcArgs;
use crate::pipeline::runs::{self, Retention};
use crate::rundir::{self, RunDir};

/// What became of one run `gc` selected.
enum Outcome {
    /// Removed (or, in a dry run, would be): the bytes it took.
    Removed(u64),
    /// Another process holds it.
    InUse,
    /// The work dir's entry is a symbolic link: not a run directory of its own.
    Link,
}

/// Removes the runs the rule selects and prints what it did.
pub fn execute(args: &GcArgs) -> anyhow::Result<()> {
    let retention =
        Retention { keep: args.keep, older_than: args.older_than.map(|days| chrono::Duration::days(i64::from(days))) };
    let now = chrono::Utc::now();
    let (verb, mut removed, mut freed, mut failed) = (if args.dry_run { "would remove" } else { "removed" }, 0, 0, 0);
    let mut out = std::io::stdout().lock();
    for (position, run) in runs::all(&args.work_dir)?.iter().enumerate() {
        if !retention.removes(position, run.created_at, now) {
            continue;
        }
        // A directory whose manifest can't be read may not be a run at all
        // (a `manifest.json` of something else): never removed.
        if let Err(error) = &run.manifest {
            let _ = writeln!(out, "skipped {}: its manifest can't be read ({})", run.id, causes::one_line(error));
            continue;
        }
        let line = match remove(&args.work_dir, &run.id, args.dry_run) {
            Ok(Outcome::Removed(bytes)) => {
                (removed, freed) = (removed + 1, freed + bytes);
                format!("{verb} {} ({})", run.id, HumanBytes(bytes))
            }
            Ok(Outcome::InUse) => format!("skipped {}: in use by another vendor-match process", run.id),
            Ok(Outcome::Link) => format!("skipped {}: a symbolic link, not a run directory", run.id),
            Err(error) => {
                failed += 1;
                eprintln!("warning: run {} could not be removed: {}", run.id, causes::one_line(error.as_ref()));
                continue;
            }
        };
        let _ = writeln!(out, "{line}");
    }
    let freed_verb = if args.dry_run { "would free" } else { "freed" };
    let runs = if removed == 1 { "run" } else { "runs" };
    let _ = writeln!(out, "{freed_verb} {} ({freed} bytes) from {removed} {runs}", HumanBytes(freed));
    if failed > 0 {
        anyhow::bail!("{failed} of the selected runs could not be removed (see the warnings above)");
    }
    Ok(())
}

/// Removes run `id` under its lock; in a dry run only checks whether it could.
fn remove(work_dir: &Path, id: &str, dry_run: bool) -> anyhow::Result<Outcome> {
    let entry = work_dir.join(id);
    if std::fs::symlink_metadata(&entry)?.file_type().is_symlink() {
        return Ok(Outcome::Link);
    }
    let run = RunDir::open(work_dir, id)?;
    let bytes = rundir::disk_usage(run.root())?;
    let done = if dry_run { !run.in_use()? } else { run.remove()? };
    Ok(if done { Outcome::Removed(bytes) } else { Outcome::InUse })
}
