//! The report: built from the manifest and the match sample, printed and written to `--output` atomically.

pub mod render;
pub mod stats;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run::manifest::{Manifest, StageName};

/// The report could not be built or written.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path} failed")]
pub struct ReportError {
    /// What was being done.
    pub action: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Builds the report text of a run whose match stage is complete.
/// `report_so_far` is the time the report stage itself has taken.
pub fn build(manifest: &Manifest, report_so_far: Duration) -> Result<String, ReportError> {
    let sample = match &manifest.match_output {
        Some(output) => std::fs::read_to_string(&output.sample_file).map_err(|source| ReportError {
            action: "reading",
            path: output.sample_file.clone(),
            source,
        })?,
        None => String::new(),
    };
    let stages: f64 = [StageName::Extract, StageName::Match, StageName::Load]
        .iter()
        .filter_map(|s| manifest.stage(*s).elapsed_secs)
        .sum();
    let total = Duration::from_secs_f64(stages) + report_so_far;
    let ddl = crate::load::ddl::create_table(&manifest.settings.warehouse_table);
    Ok(render::render(manifest, total, &sample, &ddl))
}

/// Writes the report to `path` atomically.
pub fn write(path: &Path, text: &str) -> Result<(), ReportError> {
    crate::run::atomic::write(path, text.as_bytes()).map_err(|source| ReportError {
        action: "writing",
        path: path.to_path_buf(),
        source,
    })
}
