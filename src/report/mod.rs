//! The report: built from the manifest and the match sample, printed and
//! written to `--output` atomically; beside it, the same run as an HTML page
//! with charts (`report.html`).

pub mod charts;
pub mod html;
pub mod markup;
pub mod render;
pub mod sections;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::damage::Damaged;
use crate::manifest::Manifest;
use crate::matching::MatchOutput;
use crate::model::Stage;

/// The report could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("{action} {path} failed")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The match sample is not what match wrote.
    // Not `transparent`: the `Damaged` must stay in the chain of causes,
    // where the pipeline looks for it.
    #[error("{0}")]
    Damaged(#[from] Damaged),
}

/// The HTML report's file name: it is written beside `--output`.
pub const HTML_FILE: &str = "report.html";

/// Where the HTML report of a run reported to `output` goes: `report.html`
/// beside it, unless `output` itself is named so (the text report would
/// then overwrite it), when it is `report.charts.html`.
pub fn html_path(output: &Path) -> PathBuf {
    if output.file_name().is_some_and(|name| name == HTML_FILE) {
        return output.with_file_name("report.charts.html");
    }
    output.with_file_name(HTML_FILE)
}

/// Builds the report text of a run whose match stage is complete.
/// `report_so_far` is the time the report stage itself has taken; `html`,
/// when given, is named at the end of the details.
pub fn build(manifest: &Manifest, report_so_far: Duration, html: Option<&Path>) -> Result<String, ReportError> {
    let sample = match &manifest.match_output {
        Some(output) => read_sample(output)?,
        None => String::new(),
    };
    let total = stages_elapsed(manifest) + report_so_far;
    let table = &manifest.settings.warehouse_table;
    let citus = manifest
        .load_output
        .as_ref()
        .and_then(|load| load.distribution.as_ref())
        .is_some_and(|d| d.column == crate::load::distribution::USER_KEY);
    let ddl = crate::load::ddl::shown(table, citus);
    Ok(render::render(manifest, total, &sample, &ddl, html))
}

/// Builds the HTML report of a run whose match stage is complete; `total`
/// is the run's time so far ([`stages_elapsed`] and the report's own).
pub fn build_html(manifest: &Manifest, total: Duration) -> String {
    html::page(manifest, total)
}

/// The match sample, checked against the CRC match recorded.
fn read_sample(output: &MatchOutput) -> Result<String, ReportError> {
    let path = &output.sample_file;
    let bytes =
        std::fs::read(path).map_err(|source| ReportError::Io { action: "reading", path: path.clone(), source })?;
    let found = crc32fast::hash(&bytes);
    if found != output.sample_crc32 {
        let reason = format!("CRC {found:08x}; match wrote CRC {:08x}", output.sample_crc32);
        return Err(Damaged::new("match sample", path, reason).into());
    }
    String::from_utf8(bytes).map_err(|_| Damaged::new("match sample", path, "not UTF-8").into())
}

/// The time the stages took: the union of their running spans (match and
/// load overlap), so that a run resumed the next day does not count the
/// night in between, nor the overlap twice.
pub fn stages_elapsed(manifest: &Manifest) -> Duration {
    let mut spans: Vec<(f64, f64)> = [Stage::Extract, Stage::Match, Stage::Load]
        .iter()
        .filter_map(|stage| {
            let record = manifest.stage(*stage);
            let elapsed = record.elapsed_secs?;
            let end = record.finished_at.map_or(elapsed, |t| t.timestamp_micros() as f64 / 1e6);
            Some((end - elapsed, end))
        })
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut covered_to = f64::MIN;
    for (start, end) in spans {
        let start = start.max(covered_to);
        if end > start {
            total += end - start;
            covered_to = end;
        }
    }
    Duration::from_secs_f64(total)
}

/// Writes a report (the text or the HTML) to `path` atomically.
pub fn write(path: &Path, text: &str) -> Result<(), ReportError> {
    crate::rundir::atomic::write(path, text.as_bytes()).map_err(|source| ReportError::Io {
        action: "writing",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::StageRecord;

    fn span(finished_at_secs: i64, elapsed_secs: f64) -> StageRecord {
        StageRecord {
            finished_at: chrono::DateTime::from_timestamp(finished_at_secs, 0),
            elapsed_secs: Some(elapsed_secs),
            ..StageRecord::default()
        }
    }

    #[test]
    fn the_html_report_sits_beside_the_text_one_and_never_on_it() {
        assert_eq!(html_path(Path::new("out/output.txt")), Path::new("out/report.html"));
        assert_eq!(html_path(Path::new("output.txt")), Path::new("report.html"));
        assert_eq!(html_path(Path::new("out/report.html")), Path::new("out/report.charts.html"));
    }

    #[test]
    fn overlapping_stages_count_once_and_a_pause_between_not_at_all() {
        let mut manifest = Manifest::example("r");
        manifest.extract = span(1_000_010, 10.0);
        // Load ran alongside match: 10..15 and 11..20.
        manifest.matching = span(1_000_015, 5.0);
        manifest.load = span(1_000_020, 9.0);
        assert_eq!(stages_elapsed(&manifest), Duration::from_secs(20));
        // Resumed a day later.
        manifest.matching = span(1_086_415, 5.0);
        manifest.load = span(1_086_420, 5.0);
        assert_eq!(stages_elapsed(&manifest), Duration::from_secs(20));
    }
}
