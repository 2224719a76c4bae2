//! The HTML report's sections after the headline: each figure's chart made
//! from the match stage's counts, the load's history and the stage records.
//! A section whose data the run does not have is left out, or says so.

use std::fmt::Write;

use super::charts::{self, Bars, Scale, Series, INTERNAL, MATCHED, NEUTRAL, VENDOR};
use super::markup::{count, escape, figure, percent, table};
use super::render::mib;
use crate::load::history::{Churn, ChurnGroup, History};
use crate::load::LoadOutput;
use crate::manifest::Manifest;
use crate::matching::stats::{MatchStats, PlatformCounts, SpecialtyCounts, DAYS_SINCE_BINS};
use crate::model::{MatchStatus, Stage};

/// The label of users without a specialty.
pub const BLANK_SPECIALTY: &str = "(blank)";
/// The label of the specialties past the ones counted one by one.
pub const OTHER_SPECIALTIES: &str = "other";

fn share(counts: &PlatformCounts) -> f64 {
    counts.share().unwrap_or(f64::NAN)
}

fn strings<const N: usize>(texts: [&str; N]) -> Vec<String> {
    texts.iter().map(|t| t.to_string()).collect()
}

const PLATFORMS: [(&str, charts::RGBColor); 2] = [("internal (ours)", INTERNAL), ("vendor", VENDOR)];

/// Every section, in order.
pub fn all(out: &mut String, manifest: &Manifest, stats: &MatchStats) {
    // The product manager's question first, when two dates can answer it.
    if let Some(churn) = manifest.load_output.as_ref().and_then(|l| l.history.as_ref()).and_then(|h| h.churn.as_ref()) {
        out.push_str("<h2 id=\"churn\">Does vendor activity predict churn on ours?</h2>\n");
        churn_figure(out, churn);
    }
    out.push_str("<h2>Active users</h2>\n");
    active_share(out, stats);
    matched_active(out, stats);
    specialties(out, stats);
    days_since(out, stats);
    out.push_str("<h2>The run</h2>\n");
    statuses(out, stats);
    stage_times(out, manifest);
    data_quality(out, manifest, stats);
    out.push_str("<h2 id=\"warehouse\">Warehouse</h2>\n");
    match &manifest.load_output {
        Some(load) => warehouse(out, load),
        None => out.push_str("<p class=\"note\" id=\"not-loaded\">Not loaded.</p>\n"),
    }
}

fn active_share(out: &mut String, stats: &MatchStats) {
    let categories = strings(["internal (ours)", "vendor"]);
    let series = [Series::new("active share", NEUTRAL, vec![share(&stats.internal), share(&stats.vendor)])];
    let chart =
        charts::bars(&Bars { categories: &categories, series: &series, scale: Scale::Share, horizontal: false });
    figure(out, "chart-active-share", "Share of each platform's users active", &[], chart, "");
}

fn matched_active(out: &mut String, stats: &MatchStats) {
    let a = &stats.active;
    let phi = a.phi().map_or("undefined (a margin is empty)".to_string(), |p| format!("{p:.4}"));
    let categories = strings(["active on both", "only on ours", "only on the vendor's", "on neither"]);
    let values = [a.both, a.internal_only, a.vendor_only, a.neither].map(|n| n as f64).to_vec();
    let series = [Series::new("matched pairs", MATCHED, values)];
    let chart =
        charts::bars(&Bars { categories: &categories, series: &series, scale: Scale::Count, horizontal: false });
    let rows = [
        strings(["matched pairs", "vendor active", "vendor inactive"]),
        vec!["internal active".into(), count(a.both), count(a.internal_only)],
        vec!["internal inactive".into(), count(a.vendor_only), count(a.neither)],
    ];
    let caption = format!("Active status of matched pairs (phi coefficient {phi})");
    figure(out, "chart-matched-active", &caption, &[], chart, &table(&rows));
}

/// The specialties, most users first, then "other".
fn ranked_specialties(stats: &MatchStats) -> Vec<(String, &SpecialtyCounts)> {
    let mut ranked: Vec<&SpecialtyCounts> = stats.specialties.iter().collect();
    ranked.sort_by_key(|s| std::cmp::Reverse(s.internal.users + s.vendor.users));
    let mut named: Vec<(String, &SpecialtyCounts)> =
        ranked.into_iter().map(|s| (s.specialty.clone().unwrap_or_else(|| BLANK_SPECIALTY.into()), s)).collect();
    let other = &stats.other_specialties;
    if other.internal.users + other.vendor.users > 0 {
        named.push((OTHER_SPECIALTIES.into(), other));
    }
    named
}

fn specialties(out: &mut String, stats: &MatchStats) {
    let named = ranked_specialties(stats);
    if named.is_empty() {
        return;
    }
    let categories: Vec<String> = named.iter().map(|(name, _)| name.clone()).collect();
    let series = [
        Series::new("internal", INTERNAL, named.iter().map(|(_, s)| share(&s.internal)).collect()),
        Series::new("vendor", VENDOR, named.iter().map(|(_, s)| share(&s.vendor)).collect()),
    ];
    let chart = charts::bars(&Bars { categories: &categories, series: &series, scale: Scale::Share, horizontal: true });
    let mut rows = vec![strings(["specialty", "our users", "active", "vendor users", "active"])];
    for (name, s) in &named {
        let share_of = |c: &PlatformCounts| c.share().map_or("-".to_string(), percent);
        rows.push(vec![
            name.clone(),
            count(s.internal.users),
            share_of(&s.internal),
            count(s.vendor.users),
            share_of(&s.vendor),
        ]);
    }
    let details = format!("<details><summary>Users per specialty</summary>\n{}</details>\n", table(&rows));
    let caption = "Share of users active, by specialty (no bar: no users of it on that platform)";
    figure(out, "chart-specialty", caption, &PLATFORMS, chart, &details);
}

fn days_since(out: &mut String, stats: &MatchStats) {
    let platforms = [&stats.internal_days_since.0, &stats.vendor_days_since.0];
    let shares = |bins: &[u64; DAYS_SINCE_BINS.len()]| {
        let total: u64 = bins.iter().sum();
        bins.iter().map(|n| if total == 0 { f64::NAN } else { *n as f64 / total as f64 }).collect::<Vec<f64>>()
    };
    if platforms.iter().all(|bins| bins.iter().all(|n| *n == 0)) {
        return;
    }
    let categories: Vec<String> = DAYS_SINCE_BINS.iter().map(|(_, _, label)| label.to_string()).collect();
    let series =
        [Series::new("internal", INTERNAL, shares(platforms[0])), Series::new("vendor", VENDOR, shares(platforms[1]))];
    let chart =
        charts::bars(&Bars { categories: &categories, series: &series, scale: Scale::Share, horizontal: false });
    let mut rows = vec![strings(["days since last active", "our users", "share", "vendor users", "share"])];
    let shown = |share: f64| if share.is_finite() { percent(share) } else { "-".into() };
    for (i, label) in categories.iter().enumerate() {
        let (internal, vendor) = (platforms[0][i], platforms[1][i]);
        rows.push(vec![
            label.clone(),
            count(internal),
            shown(series[0].values[i]),
            count(vendor),
            shown(series[1].values[i]),
        ]);
    }
    let details = format!("<details open><summary>Users per bin</summary>\n{}</details>\n", table(&rows));
    let caption = "Days since last active: share of each platform's users with a date on or before the report date";
    figure(out, "chart-days-since", caption, &PLATFORMS, chart, &details);
}

fn statuses(out: &mut String, stats: &MatchStats) {
    let categories: Vec<String> = MatchStatus::ALL.iter().map(|s| s.name().to_string()).collect();
    let values = MatchStatus::ALL.iter().map(|s| stats.rows.get(*s) as f64).collect();
    let series = [Series::new("rows", NEUTRAL, values)];
    let chart =
        charts::bars(&Bars { categories: &categories, series: &series, scale: Scale::Count, horizontal: false });
    let caption =
        format!("Warehouse rows by match status ({} rows; a matched pair is one row)", count(stats.rows.total()));
    figure(out, "chart-statuses", &caption, &[], chart, "");
}

fn stage_times(out: &mut String, manifest: &Manifest) {
    let stages = [Stage::Extract, Stage::Match, Stage::Load];
    let records: Vec<_> = stages.iter().map(|s| manifest.stage(*s)).collect();
    if records.iter().all(|r| r.elapsed_secs.is_none()) {
        return;
    }
    let categories: Vec<String> = stages.iter().map(|s| s.name().to_string()).collect();
    let values = records.iter().map(|r| r.elapsed_secs.unwrap_or(f64::NAN)).collect();
    let series = [Series::new("time", NEUTRAL, values)];
    let chart =
        charts::bars(&Bars { categories: &categories, series: &series, scale: Scale::Seconds, horizontal: true });
    let mut rows = vec![strings(["stage", "time", "rows", "peak RSS", "disk peak"])];
    for (stage, record) in stages.iter().zip(&records) {
        rows.push(vec![
            stage.name().to_string(),
            record.elapsed_secs.map_or("-".into(), |s| format!("{s:.2} s")),
            record.rows.map_or("-".into(), count),
            record.peak_rss_bytes.map_or("-".into(), mib),
            record.disk_peak_bytes.map_or("-".into(), mib),
        ]);
    }
    let caption = "Stage times (match and load run side by side)";
    figure(out, "chart-stage-times", caption, &[], chart, &table(&rows));
}

fn data_quality(out: &mut String, manifest: &Manifest, stats: &MatchStats) {
    let extract = manifest.extract_output.clone().unwrap_or_default();
    let fetch = &extract.fetch;
    let none = || "-".to_string();
    let mut rows = vec![
        strings(["", "vendor", "internal"]),
        vec![
            "rejected records (see rejects.jsonl)".into(),
            count(extract.vendor_rejects),
            count(extract.internal_rejects),
        ],
        vec!["duplicate vendor ids (later page kept)".into(), count(extract.duplicate_vendor_ids), none()],
        vec![
            "last_active_date after the report date".into(),
            count(stats.vendor_future_dates),
            count(stats.internal_future_dates),
        ],
        vec!["last_active_date missing".into(), count(stats.vendor_null_dates), count(stats.internal_null_dates)],
        vec![
            "vendor pages fetched (retries)".into(),
            format!("{} ({})", count(fetch.pages.into()), count(fetch.retries)),
            none(),
        ],
        vec![
            "vendor page-count changes (first total_pages, largest)".into(),
            format!("{} ({}, {})", fetch.page_count_changes, fetch.first_total_pages, fetch.max_total_pages),
            none(),
        ],
        vec!["vendor pages with no users".into(), count(fetch.empty_pages.into()), none()],
    ];
    if fetch.pages_resumed > 0 || extract.internal_rows_resumed > 0 || extract.source_reconnects > 0 {
        rows.push(vec![
            "taken from the checkpoint on resume (vendor pages, our rows)".into(),
            count(fetch.pages_resumed.into()),
            count(extract.internal_rows_resumed),
        ]);
        rows.push(vec!["source stream reconnects".into(), none(), extract.source_reconnects.to_string()]);
    }
    let _ = write!(out, "<section id=\"data-quality\">\n<h3>Data quality</h3>\n{}</section>\n", table(&rows));
}

fn warehouse(out: &mut String, load: &LoadOutput) {
    let _ = writeln!(
        out,
        "<p>Table <code>{}</code>: {} rows loaded, {} replaced.</p>",
        escape(&load.table),
        count(load.rows_loaded),
        count(load.rows_replaced)
    );
    match (&load.history, &load.history_error) {
        (Some(history), _) => {
            trend(out, history);
            if history.churn.is_none() {
                out.push_str("<p class=\"note\">Churn: needs an earlier report date loaded for the same users.</p>\n");
            }
        }
        (None, Some(error)) => {
            let _ = writeln!(out, "<p class=\"note\">The history of loads could not be read: {}</p>", escape(error));
        }
        (None, None) => out.push_str("<p class=\"note\">No history of loads beside this table.</p>\n"),
    }
}

fn trend(out: &mut String, history: &History) {
    if history.dates.len() < 2 {
        out.push_str("<p class=\"note\">One report date loaded so far: the trend shows from the second.</p>\n");
        return;
    }
    let dates: Vec<String> = history.dates.iter().map(|d| d.report_date.to_string()).collect();
    let series = [
        Series::new("internal", INTERNAL, history.dates.iter().map(|d| share(&d.internal)).collect()),
        Series::new("vendor", VENDOR, history.dates.iter().map(|d| share(&d.vendor)).collect()),
    ];
    let chart = charts::lines(&dates, &series, Scale::Share);
    figure(out, "chart-trend-active", "Share of users active, by report date", &PLATFORMS, chart, "");
    let series = [Series::new("matched pairs", MATCHED, history.dates.iter().map(|d| d.matched as f64).collect())];
    let chart = charts::lines(&dates, &series, Scale::Count);
    figure(out, "chart-trend-matched", "Matched pairs, by report date", &[], chart, "");
}

fn churn_figure(out: &mut String, churn: &Churn) {
    let groups = [("vendor active", &churn.vendor_active), ("vendor inactive", &churn.vendor_inactive)];
    let categories: Vec<String> = groups.iter().map(|(name, _)| name.to_string()).collect();
    let series = [Series {
        name: "share inactive".into(),
        color: VENDOR,
        values: groups.iter().map(|(_, g)| g.share().unwrap_or(f64::NAN)).collect(),
        intervals: Some(groups.iter().map(|(_, g)| g.interval95().unwrap_or((f64::NAN, f64::NAN))).collect()),
    }];
    let chart =
        charts::bars(&Bars { categories: &categories, series: &series, scale: Scale::Share, horizontal: false });
    let mut text = String::from("<ul>\n");
    for ((name, group), category) in groups.iter().zip(&categories) {
        let _ = writeln!(text, "<li>{category} on {}: {}</li>", churn.since, escape(&churn_line(name, group, churn)));
    }
    text.push_str("</ul>\n");
    let caption = format!(
        "Among our users matched and active on {}, the share inactive on {}, by vendor status on {} \
         (error bars: 95 % Wilson intervals)",
        churn.since, churn.until, churn.since
    );
    figure(out, "chart-churn", &caption, &[], chart, &text);
}

fn churn_line(name: &str, group: &ChurnGroup, churn: &Churn) -> String {
    match (group.share(), group.interval95()) {
        (Some(share), Some((low, high))) => format!(
            "{} of {} inactive on {} ({}, 95 % interval {} to {})",
            count(group.churned),
            count(group.users),
            churn.until,
            percent(share),
            percent(low),
            percent(high)
        ),
        _ => format!("no users {name} on {}", churn.since),
    }
}
