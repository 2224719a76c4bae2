//! The runs of a work dir: which one a command acts on when none is named.

use std::path::Path;

use super::error::PipelineError;
use crate::manifest::Manifest;
use crate::rundir::{self, RunDirError};
use crate::settings::ConfigError;

/// The run a command acts on: `id` when given, else the latest run of `work_dir`.
pub fn chosen(work_dir: &Path, id: Option<&str>) -> Result<String, PipelineError> {
    if let Some(id) = id {
        return Ok(id.to_string());
    }
    let latest = latest(work_dir)?;
    latest.ok_or_else(|| {
        ConfigError::NoRun(format!("no run in work dir {}; start one with `vendor-match run`", work_dir.display()))
            .into()
    })
}

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
