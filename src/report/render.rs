//! The report's text layout (SPEC §7): the four fixed sections first, then the details.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::extract::ExtractOutput;
use crate::manifest::Manifest;
use crate::matching::stats::{ActiveTable, MatchStats};
use crate::model::MatchStatus;
use crate::model::Stage;

/// The assignment's form, always both parts in whole seconds and always
/// plural, so that one pattern parses every report: "2 minutes, 5 seconds",
/// "0 minutes, 4 seconds", "1 minutes, 1 seconds".
pub fn elapsed(duration: Duration) -> String {
    let whole = duration.as_secs();
    format!("{} minutes, {} seconds", whole / 60, whole % 60)
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The whole report text; `html` is the HTML report's file, named last.
pub fn render(manifest: &Manifest, total_elapsed: Duration, sample: &str, ddl: &str, html: Option<&Path>) -> String {
    let mut out = String::new();
    let stats = manifest.match_output.as_ref().map(|m| m.stats.clone()).unwrap_or_default();
    // writeln! into a String cannot fail.
    let _ = writeln!(out, "Elapsed Time: {}", elapsed(total_elapsed));
    let _ = writeln!(out, "Total Matches: {}", stats.rows.matched);
    let _ = writeln!(out, "Sample Output:");
    out.push_str(sample);
    if !sample.is_empty() && !sample.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "SQL DDL:");
    let _ = writeln!(out, "{ddl}");
    out.push('\n');
    details(&mut out, manifest);
    if let Some(html) = html {
        let _ = writeln!(out, "HTML report with charts: {}", html.display());
    }
    out
}

fn details(out: &mut String, manifest: &Manifest) {
    let stats = manifest.match_output.as_ref().map(|m| m.stats.clone()).unwrap_or_default();
    let extract = manifest.extract_output.clone().unwrap_or_default();
    run_summary(out, manifest);
    status_table(out, &stats);
    platform_table(out, &stats);
    active_table(out, &stats.active);
    history(out, manifest);
    data_quality(out, &extract, &stats);
    stage_table(out, manifest);
}

fn run_summary(out: &mut String, manifest: &Manifest) {
    let settings = &manifest.settings;
    let _ = writeln!(out, "Run: {}", manifest.run_id);
    let _ = writeln!(
        out,
        "Report date: {}; active: last active within {} days; matched on: {}",
        settings.report_date,
        settings.active_days,
        crate::key::KeyField::list(&settings.match_on)
    );
    if let Some(load) = &manifest.load_output {
        let _ = writeln!(
            out,
            "Warehouse table: {} ({} rows loaded, {} replaced)",
            load.table, load.rows_loaded, load.rows_replaced
        );
        if let Some(d) = &load.distribution {
            let _ = writeln!(out, "Citus: distributed by {}, {} shards on {} nodes", d.column, d.shards, d.nodes);
        }
    }
}

fn status_table(out: &mut String, stats: &MatchStats) {
    let _ = writeln!(out, "\nRows by match status:");
    let _ = writeln!(out, "  {:<14} {:>10} {:>10} {:>10}", "status", "rows", "internal", "vendor");
    for status in MatchStatus::ALL {
        let _ = writeln!(
            out,
            "  {:<14} {:>10} {:>10} {:>10}",
            status.name(),
            stats.rows.get(status),
            stats.internal_records.get(status),
            stats.vendor_records.get(status)
        );
    }
    let _ = writeln!(
        out,
        "  {:<14} {:>10} {:>10} {:>10}",
        "total",
        stats.rows.total(),
        stats.internal_records.total(),
        stats.vendor_records.total()
    );
}

fn platform_table(out: &mut String, stats: &MatchStats) {
    let _ = writeln!(out, "\nActive users per platform:");
    for (name, counts) in [("ours", stats.internal), ("vendor's", stats.vendor)] {
        let _ = writeln!(
            out,
            "  {:<9} {:>10} users, {:>10} active ({})",
            name,
            counts.users,
            counts.active,
            percent(counts.share())
        );
    }
}

/// A share as a percentage with one decimal; `-` when undefined.
pub fn percent(share: Option<f64>) -> String {
    share.map_or("-".to_string(), |s| format!("{:.1} %", 100.0 * s))
}

/// The loaded report dates and the churn into this one, as the load read them.
fn history(out: &mut String, manifest: &Manifest) {
    let Some(load) = &manifest.load_output else { return };
    if let Some(error) = &load.history_error {
        let _ = writeln!(out, "\nAcross report dates: not read ({error})");
        return;
    }
    let Some(history) = &load.history else {
        if !load.recorded {
            let _ = writeln!(out, "\nAcross report dates: no loads table beside the warehouse table, so none recorded");
        }
        return;
    };
    let _ = writeln!(out, "\nAcross report dates (the loads table, latest load of each date):");
    let _ = writeln!(
        out,
        "  {:<12} {:>14} {:>14} {:>14}",
        "report date", "ours active", "vendor's active", "matched pairs"
    );
    for date in &history.dates {
        let _ = writeln!(
            out,
            "  {:<12} {:>14} {:>14} {:>14}",
            date.report_date.to_string(),
            percent(date.internal.share()),
            percent(date.vendor.share()),
            date.matched
        );
    }
    let Some(churn) = &history.churn else {
        let _ = writeln!(out, "  churn: needs an earlier report date loaded for the same users");
        return;
    };
    let _ = writeln!(
        out,
        "\nChurn from {} to {}: of our users matched and active on {}, inactive on {}:",
        churn.since, churn.until, churn.since, churn.until
    );
    for (name, group) in
        [("vendor account active", churn.vendor_active), ("vendor account inactive", churn.vendor_inactive)]
    {
        let interval = group.interval95().map_or("-".to_string(), |(low, high)| {
            format!("95 % CI {} to {}", percent(Some(low)), percent(Some(high)))
        });
        let _ = writeln!(
            out,
            "  {:<24} {:>9} of {:>9} ({}; {interval})",
            name,
            group.churned,
            group.users,
            percent(group.share())
        );
    }
}

fn active_table(out: &mut String, active: &ActiveTable) {
    let _ = writeln!(out, "\nActive status of matched pairs (internal x vendor):");
    let _ = writeln!(out, "  {:<20} {:>14} {:>16}", "", "vendor active", "vendor inactive");
    let _ = writeln!(out, "  {:<20} {:>14} {:>16}", "internal active", active.both, active.internal_only);
    let _ = writeln!(out, "  {:<20} {:>14} {:>16}", "internal inactive", active.vendor_only, active.neither);
    let _ = writeln!(
        out,
        "  both: {}, only ours: {}, only vendor's: {}, neither: {}",
        active.both, active.internal_only, active.vendor_only, active.neither
    );
    let phi = active.phi().map_or("undefined (a margin is empty)".to_string(), |p| format!("{p:.4}"));
    let _ = writeln!(out, "  phi coefficient: {phi}");
}

fn data_quality(out: &mut String, extract: &ExtractOutput, stats: &MatchStats) {
    let _ = writeln!(out, "\nData quality:");
    let _ = writeln!(
        out,
        "  rejected records: vendor {}, internal {} (see rejects.jsonl)",
        extract.vendor_rejects, extract.internal_rejects
    );
    let _ = writeln!(out, "  duplicate vendor ids (later page kept): {}", extract.duplicate_vendor_ids);
    let _ = writeln!(
        out,
        "  vendor page-count changes: {} (first total_pages {}, largest {}; {} pages fetched, {} retries)",
        extract.fetch.page_count_changes,
        extract.fetch.first_total_pages,
        extract.fetch.max_total_pages,
        extract.fetch.pages,
        extract.fetch.retries
    );
    let _ = writeln!(out, "  vendor pages with no users: {}", extract.fetch.empty_pages);
    if extract.fetch.pages_resumed > 0 || extract.internal_rows_resumed > 0 || extract.source_reconnects > 0 {
        let _ = writeln!(
            out,
            "  resumed: {} vendor pages and {} of our rows taken from the checkpoint; source stream reconnected {} time(s)",
            extract.fetch.pages_resumed, extract.internal_rows_resumed, extract.source_reconnects
        );
    }
    let _ = writeln!(
        out,
        "  last_active_date after the report date: vendor {}, internal {}",
        stats.vendor_future_dates, stats.internal_future_dates
    );
    let _ = writeln!(
        out,
        "  last_active_date missing: vendor {}, internal {}",
        stats.vendor_null_dates, stats.internal_null_dates
    );
}

fn stage_table(out: &mut String, manifest: &Manifest) {
    let _ = writeln!(out, "\nStages:");
    let _ = writeln!(out, "  {:<8} {:>10} {:>12} {:>12}", "stage", "time", "rows", "peak RSS");
    for stage in [Stage::Extract, Stage::Match, Stage::Load] {
        let record = manifest.stage(stage);
        let _ = writeln!(
            out,
            "  {:<8} {:>10} {:>12} {:>12}",
            stage.name(),
            record.elapsed_secs.map_or("-".into(), |s| format!("{s:.2} s")),
            record.rows.map_or("-".into(), |r| r.to_string()),
            record.peak_rss_bytes.map_or("-".into(), mib)
        );
    }
    if let Some((stage, bytes)) = manifest.disk_high_water() {
        let _ = writeln!(out, "Disk high-water: {} ({})", mib(bytes), stage.name());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn elapsed_formats() {
        assert_eq!(elapsed(Duration::from_secs(125)), "2 minutes, 5 seconds");
        assert_eq!(elapsed(Duration::from_millis(4_240)), "0 minutes, 4 seconds");
        assert_eq!(elapsed(Duration::from_millis(61_999)), "1 minutes, 1 seconds");
    }

    #[test]
    fn report_begins_with_the_four_sections_in_order() {
        let manifest = Manifest::example("r1");
        let text = render(&manifest, Duration::from_secs(125), "{\"a\":1}\n", "CREATE TABLE t ();", None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Elapsed Time: 2 minutes, 5 seconds");
        assert_eq!(lines[1], "Total Matches: 0");
        assert_eq!(lines[2], "Sample Output:");
        assert_eq!(lines[3], "{\"a\":1}");
        assert_eq!(lines[4], "SQL DDL:");
        assert_eq!(lines[5], "CREATE TABLE t ();");
        assert!(text.contains("phi coefficient"));
        assert!(!text.contains("Disk high-water"), "no stage measured yet");
    }

    #[test]
    fn the_disk_high_water_names_its_stage() {
        let mut manifest = Manifest::example("r1");
        manifest.extract.disk_peak_bytes = Some(3 << 20);
        manifest.matching.disk_peak_bytes = Some(5 << 20);
        let text = render(&manifest, Duration::from_secs(1), "", "", None);
        assert!(text.contains("\nDisk high-water: 5.0 MiB (match)\n"), "{text}");
    }
}
