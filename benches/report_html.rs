//! The HTML report's render time: `report::build_html` on a manifest whose
//! counts are those of 1,000 users a side and of 10,000,000, the rest alike
//! (every status, all 100 specialties counted one by one plus "other" and
//! blank, every bin of days since last active, 30 loaded report dates, churn).
//!
//! `cargo bench --bench report_html -- [RENDERS] [--write DIR]` (default 20
//! renders of each; `--write` also saves both pages in DIR).
//!
//! The page is drawn from the match stage's counts, never from rows: its
//! time and size do not grow with the users, which the two columns show.

use std::hint::black_box;
use std::time::{Duration, Instant};

use vendor_match::budget::MemoryBudget;
use vendor_match::key::KeyField;
use vendor_match::load::history::{Churn, ChurnGroup, DateSummary, History};
use vendor_match::load::LoadOutput;
use vendor_match::manifest::{Manifest, StageRecord};
use vendor_match::matching::stats::{
    ActiveTable, DaysSince, MatchStats, PlatformCounts, SpecialtyCounts, StatusCounts, MAX_SPECIALTIES,
};
use vendor_match::matching::MatchOutput;
use vendor_match::report;
use vendor_match::settings::RunSettings;
use vendor_match::table::TableName;

/// `part` of `n` in thousandths.
fn per_mille(n: u64, part: u64) -> u64 {
    n / 1000 * part + n % 1000 * part / 1000
}

fn platform(users: u64, active_per_mille: u64) -> PlatformCounts {
    PlatformCounts { users, active: per_mille(users, active_per_mille) }
}

/// The counts of a run with `users` users a side.
fn stats(users: u64) -> MatchStats {
    let matched = per_mille(users, 972);
    let specialty = |i: usize| {
        let share = users / (MAX_SPECIALTIES as u64 + 2);
        SpecialtyCounts {
            specialty: (i > 0).then(|| format!("Specialty number {i} of the generated kind")),
            internal: platform(share, 300 + i as u64 * 3),
            vendor: platform(share, 600 - i as u64 * 2),
        }
    };
    let bins = |first: u64| DaysSince(std::array::from_fn(|i| per_mille(users, first + 10 * i as u64)));
    MatchStats {
        rows: StatusCounts {
            matched,
            ambiguous: per_mille(users, 25),
            internal_only: per_mille(users, 10),
            vendor_only: per_mille(users, 5),
            unmatchable: per_mille(users, 10),
        },
        active: ActiveTable {
            both: per_mille(matched, 300),
            internal_only: per_mille(matched, 120),
            vendor_only: per_mille(matched, 230),
            neither: matched - per_mille(matched, 300) - per_mille(matched, 120) - per_mille(matched, 230),
        },
        internal: platform(users, 420),
        vendor: platform(users, 530),
        internal_days_since: bins(50),
        vendor_days_since: bins(90),
        // The first MAX_SPECIALTIES seen (a blank one among them); the rest as "other".
        specialties: (0..MAX_SPECIALTIES).map(specialty).collect(),
        other_specialties: SpecialtyCounts { specialty: None, ..specialty(MAX_SPECIALTIES) },
        vendor_future_dates: per_mille(users, 1),
        internal_future_dates: per_mille(users, 1),
        vendor_null_dates: per_mille(users, 2),
        internal_null_dates: per_mille(users, 2),
        ..MatchStats::default()
    }
}

fn history(users: u64) -> History {
    let first: chrono::NaiveDate = "2017-01-01".parse().unwrap();
    let dates = (0..30u64)
        .map(|day| DateSummary {
            report_date: first + chrono::Days::new(day),
            internal: platform(users, 400 + day),
            vendor: platform(users, 520 - day),
            matched: per_mille(users, 960 + day / 3),
        })
        .collect();
    let group = |per: u64| ChurnGroup { users: per_mille(users, 300), churned: per_mille(per_mille(users, 300), per) };
    let since = first + chrono::Days::new(28);
    let churn =
        Churn { since, until: since + chrono::Days::new(1), vendor_active: group(80), vendor_inactive: group(150) };
    History { dates, churn: Some(churn) }
}

fn stage(secs: f64, rows: u64) -> StageRecord {
    StageRecord { elapsed_secs: Some(secs), rows: Some(rows), peak_rss_bytes: Some(88 << 20), ..StageRecord::default() }
}

/// A finished run of `users` users a side, loaded, with its history.
fn manifest(users: u64) -> Manifest {
    let settings = RunSettings {
        report_date: "2017-01-30".parse().unwrap(),
        active_days: 30,
        match_on: KeyField::ALL.to_vec(),
        warehouse_table: TableName::parse("public.platform_user_activity").unwrap(),
        memory_budget: MemoryBudget::new(64 << 20).unwrap(),
        concurrency: 8,
        max_retries: 5,
        retry_delay: Duration::from_millis(500),
        request_timeout: Duration::from_secs(30),
        max_reject_ratio: 0.01,
        max_pages: 100_000,
        vendor_url_masked: None,
        load_sessions: 2,
    };
    let mut manifest = Manifest::new("20170130-120000-bench".into(), settings);
    let stats = stats(users);
    let rows = stats.rows.total();
    manifest.match_output = Some(MatchOutput { rows, stats, ..MatchOutput::default() });
    manifest.extract = stage(18.67, 2 * users);
    manifest.matching = stage(11.15, rows);
    manifest.load = stage(17.77, rows);
    manifest.load_output = Some(LoadOutput {
        table: "public.platform_user_activity".into(),
        rows_loaded: rows,
        history: Some(history(users)),
        ..LoadOutput::default()
    });
    manifest
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let mut renders = 20usize;
    let mut write_to = None;
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--write" => write_to = args.next().map(std::path::PathBuf::from),
            n => renders = n.parse().expect("usage: report_html [RENDERS] [--write DIR]"),
        }
    }
    println!(
        "# cargo bench --bench report_html | report::build_html, {renders} renders each after one warm-up | median"
    );
    println!(
        "{:<16} {:>10} {:>8} {:>8} {:>12} {:>8}",
        "users a side", "median ms", "min ms", "max ms", "page bytes", "figures"
    );
    println!("{}", "-".repeat(67));
    for users in [1_000u64, 10_000_000] {
        let manifest = manifest(users);
        let page = report::build_html(&manifest, Duration::from_secs(48));
        let times: Vec<Duration> = (0..renders)
            .map(|_| {
                let start = Instant::now();
                black_box(report::build_html(black_box(&manifest), Duration::from_secs(48)));
                start.elapsed()
            })
            .collect();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (min, max) = (times.iter().min().copied().unwrap(), times.iter().max().copied().unwrap());
        println!(
            "{:<16} {:>10.2} {:>8.2} {:>8.2} {:>12} {:>8}",
            report::charts::thousands(users),
            ms(median(times)),
            ms(min),
            ms(max),
            report::charts::thousands(page.len() as u64),
            page.matches("<figure").count()
        );
        if let Some(dir) = &write_to {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("report-{users}.html")), &page).unwrap();
        }
    }
}
