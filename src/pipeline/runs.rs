//! The runs of a work dir: which one a command acts on when none is named.

use std::path::Path;

use crate::manifest::Manifest;
use crate::rundir::{self, RunDirError};

/// The run created last in `work_dir`, if any. Named runs (`run --run-id`)
/// don't sort by age, so this goes by the manifests' creation times.
pub fn latest(work_dir: &Path) -> Result<Option<String>, RunDirError> {
    let latest = rundir::run_ids(work_dir)?
        .into_iter()
        .filter_map(|id| {
            let manifest = Manifest::load(&work_dir.join(&id).join(rundir::MANIFEST)).ok()?;
            Some((manifest.created_at, id))
        })
        .max()
        .map(|(_, id)| id);
    Ok(latest)
}
