//! The HTML report in a real browser: `scripts/browser-check.sh` opens the
//! report.html of real runs in headless Chromium, which must log no console
//! message, and the rendered DOM must hold every chart and the headline
//! figures of the naive join.
//!
//! Without Chromium (and no way to install it) the tests say they are
//! skipped, unless `VENDOR_MATCH_REQUIRE_BROWSER=1` (CI), where they fail.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::naive::{churn, expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";
const REQUIRE: &str = "VENDOR_MATCH_REQUIRE_BROWSER";
/// The script's exit code when Chromium is missing and can't be installed.
const NO_BROWSER: i32 = 3;

/// Every figure of a run loaded on its second report date, and the data quality table.
const IDS: [&str; 10] = [
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

/// `scripts/browser-check.sh` on `html`; `None` when there is no browser and
/// the environment does not require one.
fn browser_check(html: &Path, screenshot: Option<&Path>) -> Option<Output> {
    let mut cmd = Command::new("bash");
    cmd.arg(repo("scripts/browser-check.sh")).arg(html);
    if let Some(png) = screenshot {
        cmd.arg(png);
    }
    let output = cmd.output().unwrap();
    if output.status.code() == Some(NO_BROWSER) {
        assert!(
            std::env::var(REQUIRE).as_deref() != Ok("1"),
            "{REQUIRE}=1 and Chromium is not available\n```stderr\n{}\n```",
            stderr(&output)
        );
        eprintln!("skipped: no Chromium for scripts/browser-check.sh ({})", stderr(&output).trim());
        return None;
    }
    Some(output)
}

/// The text of the element with `id` in a DOM (its first text, up to the next tag).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\">");
    let at = dom.find(&marker).unwrap_or_else(|| panic!("no element {id} in the DOM\n```html\n{dom}\n```"));
    let rest = &dom[at + marker.len()..];
    &rest[..rest.find('<').unwrap()]
}

fn with_separators(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn percent(part: usize, whole: usize) -> String {
    format!("{:.1} %", part as f64 / whole as f64 * 100.0)
}

/// Generates snapshot `snapshot` into `db` and `pages` and runs it in `env`; its report date.
fn run_snapshot(env: &TestEnv, db: &TestDb, pages: &Path, snapshot: &str) -> String {
    let sizes = ["--vendor-users", "2000", "--internal-users", "3000", "--page-size", "100", "--quirk-rate", "0.05"];
    let mut args = sizes.to_vec();
    args.extend(["--snapshot", snapshot]);
    let planted = generate(db, pages, &args);
    let server = Server::start(pages, &[]);
    let url = db.url();
    let date = planted["report_date"].as_str().unwrap().to_string();
    let mut run = vec!["run", "--quiet", "--vendor-url", &server.url, "--source-url", &url, "--warehouse-url", &url];
    run.extend(["--report-date", &date, "--max-reject-ratio", "0.5"]);
    assert_exit(&env.run(&run), 0);
    date
}

#[test]
fn report_html_of_a_second_report_date_shows_every_chart_and_the_naive_join_s_figures_in_chromium() {
    let db = TestDb::new("html");
    let env = TestEnv::new();
    let pages = env.path().join("fixtures");
    let earlier = run_snapshot(&env, &db, &pages, "0");
    let earlier_rows = warehouse_rows(&db, TABLE, &earlier);
    let date = run_snapshot(&env, &db, &pages, "1");

    // The figures, from the naive join of the second snapshot's sources.
    let rows = expected_rows(&vendor_users(&pages), &internal_users(&db), &date, 30);
    assert_rows_eq(&warehouse_rows(&db, TABLE, &date), &rows);
    let matched: Vec<_> = rows.iter().filter(|r| r.status == "matched").collect();
    let side = |active: fn(&WarehouseRow) -> Option<bool>| {
        let users = rows.iter().filter(|r| active(r).is_some()).count();
        (users, rows.iter().filter(|r| active(r) == Some(true)).count())
    };
    let (internal_users, internal_active) = side(|r| r.internal_active);
    let (vendor_users, vendor_active) = side(|r| r.vendor_active);
    let cell = |i: bool, v: bool| {
        matched.iter().filter(|r| r.internal_active == Some(i) && r.vendor_active == Some(v)).count() as f64
    };
    let [a, b, c, d] = [cell(true, true), cell(true, false), cell(false, true), cell(false, false)];
    let phi = (a * d - b * c) / ((a + b) * (c + d) * (a + c) * (b + d)).sqrt();
    let [active_users, active_churned, inactive_users, inactive_churned] =
        churn(&earlier_rows, &warehouse_rows(&db, TABLE, &date));

    let html = env.path().join("report.html");
    let text = std::fs::read_to_string(env.output()).unwrap();
    assert!(text.trim_end().ends_with(&format!("HTML report with charts: {}", html.display())), "{text}");
    let png = env.path().join("report.png");
    let Some(output) = browser_check(&html, Some(&png)) else { return };
    assert_exit(&output, 0);
    let dom = stdout(&output);
    for id in IDS {
        assert!(dom.contains(&format!("id=\"{id}\"")), "no {id} in the DOM\n```html\n{dom}\n```");
    }
    assert_eq!(dom.matches("<svg").count(), IDS.len() - 1, "one chart per figure");
    assert_eq!(text_of(&dom, "report-date"), date);
    assert_eq!(text_of(&dom, "total-matches"), with_separators(matched.len()));
    assert_eq!(text_of(&dom, "internal-users"), with_separators(internal_users));
    assert_eq!(text_of(&dom, "vendor-users"), with_separators(vendor_users));
    assert_eq!(text_of(&dom, "internal-active-share"), percent(internal_active, internal_users));
    assert_eq!(text_of(&dom, "vendor-active-share"), percent(vendor_active, vendor_users));
    assert_eq!(text_of(&dom, "phi"), format!("{phi:.4}"));
    for (users, churned) in [(active_users, active_churned), (inactive_users, inactive_churned)] {
        let line =
            format!("{} of {} inactive on {date}", with_separators(churned as usize), with_separators(users as usize));
        assert!(dom.contains(&line), "no churn line {line:?}\n```html\n{dom}\n```");
    }
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "screenshot of {} bytes", bytes.len());
}

#[test]
fn browser_check_fails_on_a_console_error_and_passes_a_clean_page() {
    let env = TestEnv::new();
    let bad = env.path().join("bad.html");
    std::fs::write(&bad, "<!DOCTYPE html><html><body><p>x</p><script>throw new Error(\"x\")</script></body></html>")
        .unwrap();
    let Some(output) = browser_check(&bad, None) else { return };
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("Uncaught Error: x"), "{}", stderr(&output));
    let good = env.path().join("good.html");
    std::fs::write(&good, "<!DOCTYPE html><html><body><p id=\"p\">fine</p></body></html>").unwrap();
    let output = browser_check(&good, None).unwrap();
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("<p id=\"p\">fine</p>"), "{}", stdout(&output));
}
