use std::time::Duration;

use super::*;
use crate::load::history::{Churn, ChurnGroup, DateSummary, History};
use crate::load::LoadOutput;
use crate::manifest::StageRecord;
use crate::matching::stats::{ActiveTable, DaysSince, MatchStats, SpecialtyCounts, StatusCounts};
use crate::matching::MatchOutput;

const ALL_IDS: [&str; 10] = [
    "chart-active-share",
    "chart-matched-active",
    "chart-specialty",
    "chart-days-since",
    "chart-statuses",
    "chart-stage-times",
    "data-quality",
    "chart-trend-active",
    "chart-trend-matched",
    "chart-churn",
];

fn platform(users: u64, active: u64) -> PlatformCounts {
    PlatformCounts { users, active }
}

fn specialty(name: Option<&str>, internal: u64, vendor: u64) -> SpecialtyCounts {
    SpecialtyCounts {
        specialty: name.map(str::to_string),
        internal: platform(internal, internal / 3),
        vendor: platform(vendor, vendor / 2),
    }
}

fn stats() -> MatchStats {
    MatchStats {
        rows: StatusCounts {
            matched: 972_615,
            ambiguous: 24_870,
            internal_only: 9_950,
            vendor_only: 4_975,
            unmatchable: 9_975,
        },
        active: ActiveTable { both: 300_000, internal_only: 100_000, vendor_only: 200_000, neither: 372_615 },
        internal: platform(1_000_000, 420_000),
        vendor: platform(1_010_000, 515_000),
        internal_days_since: DaysSince([10, 20, 30, 40, 50, 60, 70, 80]),
        vendor_days_since: DaysSince([80, 70, 60, 50, 40, 30, 20, 10]),
        specialties: vec![
            specialty(None, 10, 20),
            specialty(Some("Cardiology"), 500, 400),
            specialty(Some("Dermatology"), 0, 7),
        ],
        other_specialties: specialty(None, 5, 6),
        vendor_future_dates: 3,
        internal_null_dates: 4,
        ..MatchStats::default()
    }
}

fn date(day: &str, matched: u64) -> DateSummary {
    DateSummary { report_date: day.parse().unwrap(), internal: platform(100, 40), vendor: platform(90, 50), matched }
}

fn history() -> History {
    History {
        dates: vec![date("2017-01-02", 80), date("2017-02-02", 85), date("2017-03-02", 83)],
        churn: Some(Churn {
            since: "2017-02-02".parse().unwrap(),
            until: "2017-03-02".parse().unwrap(),
            vendor_active: ChurnGroup { users: 100, churned: 10 },
            vendor_inactive: ChurnGroup { users: 50, churned: 20 },
        }),
    }
}

fn stage(secs: f64) -> StageRecord {
    StageRecord {
        elapsed_secs: Some(secs),
        rows: Some(1_000),
        peak_rss_bytes: Some(50 << 20),
        ..StageRecord::default()
    }
}

/// A run with everything: counts, stage times, a load with three dates and churn.
fn full() -> Manifest {
    let mut manifest = Manifest::example("20170202-120000-abcd");
    manifest.match_output = Some(MatchOutput { rows: 1_022_385, stats: stats(), ..MatchOutput::default() });
    (manifest.extract, manifest.matching, manifest.load) = (stage(1.95), stage(0.81), stage(1.56));
    manifest.load_output =
        Some(LoadOutput { table: "public.t".into(), history: Some(history()), ..LoadOutput::default() });
    manifest
}

fn page_of(manifest: &Manifest) -> String {
    page(manifest, Duration::from_secs(125))
}

#[test]
fn every_figure_is_there_with_its_chart_when_the_run_has_all_data() {
    let html = page_of(&full());
    for id in ALL_IDS {
        assert_eq!(html.matches(&format!("id=\"{id}\"")).count(), 1, "{id}");
    }
    assert_eq!(html.matches("<figure").count(), ALL_IDS.len() - 1, "each chart a figure; data quality a table");
    let figures: Vec<&str> = html.split("<figure").skip(1).collect();
    assert!(figures.iter().all(|f| f.contains("<figcaption>") && f.contains("<svg")));
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
}

#[test]
fn the_headline_gives_the_counts_shares_and_phi() {
    let html = page_of(&full());
    assert!(html.contains("id=\"total-matches\">972,615<"), "{html}");
    assert!(html.contains("id=\"internal-users\">1,000,000<"));
    assert!(html.contains("id=\"internal-active-share\">42.0 %<"));
    assert!(html.contains("id=\"vendor-users\">1,010,000<"));
    assert!(html.contains("id=\"vendor-active-share\">51.0 %<"));
    let phi = stats().active.phi().unwrap();
    assert!(html.contains(&format!("id=\"phi\">{phi:.4}<")));
    assert!(html.contains("id=\"run-id\">20170202-120000-abcd<") && html.contains("id=\"report-date\">2017-02-02<"));
    assert!(html.contains("Elapsed") || html.contains("elapsed 2 minutes, 5 seconds"));
}

#[test]
fn text_from_the_data_is_escaped() {
    let mut manifest = full();
    let evil = "<script>alert('x')</script> & \"co\"";
    let output = manifest.match_output.as_mut().unwrap();
    output.stats.specialties.push(specialty(Some(evil), 900, 900));
    manifest.run_id = "<b>run</b>".into();
    manifest.load_output.as_mut().unwrap().table = "<i>t</i>".into();
    let html = page_of(&manifest);
    assert!(!html.contains("<script") && !html.contains("<b>") && !html.contains("<i>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;"));
    assert!(html.contains("&lt;b&gt;run&lt;/b&gt;"));
    let error = "relation \"<loads>\" does not exist";
    manifest.load_output.as_mut().unwrap().history = None;
    manifest.load_output.as_mut().unwrap().history_error = Some(error.into());
    let html = page_of(&manifest);
    assert!(html.contains("could not be read: relation &quot;&lt;loads&gt;&quot; does not exist"), "{html}");
}

#[test]
fn blank_and_other_specialties_are_named_and_ordered_by_users() {
    let html = page_of(&full());
    let chart = html.split("id=\"chart-specialty\"").nth(1).unwrap().split("</figure>").next().unwrap();
    for label in ["(blank)", "other", "Cardiology", "Dermatology"] {
        assert!(chart.contains(&format!(">{label}</td>")), "{label}");
    }
    let at = |label: &str| chart.find(&format!(">{label}</td>")).unwrap();
    assert!(at("Cardiology") < at("(blank)") && at("(blank)") < at("other"));
    let mut manifest = full();
    manifest.match_output.as_mut().unwrap().stats.other_specialties = SpecialtyCounts::default();
    assert!(!page_of(&manifest).contains(">other</td>"));
}

#[test]
fn missing_data_leaves_its_section_out() {
    // No load yet, no counts from match (an old run).
    let mut manifest = Manifest::example("r");
    manifest.match_output = Some(MatchOutput::default());
    let html = page_of(&manifest);
    assert!(html.contains("id=\"not-loaded\">Not loaded."));
    for id in ["chart-specialty", "chart-days-since", "chart-stage-times", "chart-trend-active", "chart-churn"] {
        assert!(!html.contains(id), "{id}");
    }
    assert!(html.contains("id=\"phi\">undefined<"));
    // One date loaded, no churn: no trend yet.
    let mut manifest = full();
    let history = manifest.load_output.as_mut().unwrap().history.as_mut().unwrap();
    history.dates.truncate(1);
    history.churn = None;
    let html = page_of(&manifest);
    assert!(
        !html.contains("chart-trend") && !html.contains("chart-churn") && html.contains("trend shows from the second")
    );
}

#[test]
fn churn_gives_counts_and_intervals_in_text() {
    let html = page_of(&full());
    let (low, high) = ChurnGroup { users: 100, churned: 10 }.interval95().unwrap();
    let line = format!(
        "10 of 100 inactive on 2017-03-02 (10.0 %, 95 % interval {:.1} % to {:.1} %)",
        low * 100.0,
        high * 100.0
    );
    assert!(html.contains(&line), "{line}\n{html}");
    assert!(html.contains("20 of 50 inactive"));
    // The two error bars, each a line and two caps, 2 pixels wide.
    let chart = html.split("id=\"chart-churn\"").nth(1).unwrap().split("</figure>").next().unwrap();
    assert_eq!(chart.matches("stroke-width=\"2\"").count(), 6, "{chart}");
}

#[test]
fn the_page_is_self_contained() {
    let html = page_of(&full());
    for fetching in ["<script", "src=", "href=", "url(", "@import", "<link"] {
        assert!(!html.contains(fetching), "{fetching}");
    }
    // The one address is SVG's namespace, which nothing fetches.
    let addresses: Vec<&str> = html.match_indices("http").map(|(at, _)| &html[at..at + 26]).collect();
    assert!(addresses.iter().all(|a| *a == "http://www.w3.org/2000/svg"), "{addresses:?}");
}
