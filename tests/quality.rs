//! Data quality at the sources (issue 9): vendor paging that contradicts
//! itself, the vendor's dates read as its contract says, every date our
//! PostgreSQL holds kept, and rejects that say whose record they were.

use std::path::Path;

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";

/// Generated data: `vendor` users on pages of `page_size`, 2,000 of ours.
fn generated(name: &str, vendor: &str, page_size: &str) -> (TestDb, TestEnv, std::path::PathBuf) {
    let db = TestDb::new(name);
    let env = TestEnv::new();
    let pages = env.path().join("fixtures");
    generate(
        &db,
        &pages,
        &["--vendor-users", vendor, "--internal-users", "2000", "--page-size", page_size, "--seed", "7"],
    );
    (db, env, pages)
}

fn run(env: &TestEnv, db: &TestDb, server: &Server, extra: &[&str]) -> std::process::Output {
    let url = db.url();
    let mut args = vec!["run", "--quiet", "--vendor-url", &server.url, "--source-url", &url, "--warehouse-url", &url];
    args.extend(extra);
    env.run(&args)
}

fn assert_fails_with(output: &std::process::Output, messages: &[&str]) {
    assert_exit(output, 1);
    assert_one_error_line(output);
    for message in messages {
        assert!(stderr(output).contains(message), "want {message:?} in\n```stderr\n{}\n```", stderr(output));
    }
}

// See: issue 9 (total_pages 0 with users on the page was accepted).
#[test]
fn issue_9_users_on_a_page_of_a_zero_page_answer_fail_the_run() {
    let (db, env, pages) = generated("zeropages", "1500", "100");
    // 15 pages: page 1 says there are 0, every time it is asked.
    let server = Server::start(&pages, &["--fault", "1:drift=-15:always"]);
    let output = run(&env, &db, &server, &["--max-retries", "1"]);
    assert_fails_with(
        &output,
        &["vendor page 1 failed after 2 attempt(s)", "page 1 holds 100 users but its answer says there are 0 pages"],
    );
}

// See: issue 9 (a total_pages growing by one on every page was followed one page per round up to --max-pages).
#[test]
fn issue_9_a_total_pages_that_keeps_growing_fails_after_a_bounded_number_of_rounds() {
    let (db, env, pages) = generated("growing", "1500", "50");
    // 30 pages, each answering that there is one more after it.
    let server = Server::start(&pages, &["--fault", "*:grow:always"]);
    let output = run(&env, &db, &server, &["--max-pages", "200"]);
    assert_fails_with(&output, &["total_pages kept growing", "2 pages in the first answer"]);
    let served = requests_served(&server);
    assert!(served <= 20, "{served} page requests: the growth was chased too far");
}

// See: issue 9 (29 of 30 pages empty while total_pages stayed 30 gave exit 0 and no warning).
#[test]
fn issue_9_empty_pages_before_the_last_fail_the_run() {
    let (db, env, pages) = generated("emptypages", "1500", "50");
    let faults: Vec<String> = (2..=30).flat_map(|p| ["--fault".to_string(), format!("{p}:empty:always")]).collect();
    let server = Server::start(&pages, &faults.iter().map(String::as_str).collect::<Vec<_>>());
    let output = run(&env, &db, &server, &["--max-retries", "1"]);
    assert_fails_with(&output, &["failed after 2 attempt(s)", "holds no users but its answer says there are 30 pages"]);
}

// See: issue 9. An empty last page (the listing shrank while paging) loses
// nobody: the run completes, and the page is counted and warned about.
#[test]
fn issue_9_an_empty_last_page_is_counted_and_warned_about() {
    let (db, env, pages) = generated("emptylast", "1500", "100");
    let server = Server::start(&pages, &["--fault", "15:empty:always"]);
    let output = run(&env, &db, &server, &[]);
    assert_exit(&output, 0);
    let err = stderr(&output);
    assert!(err.contains("warning: the vendor answered 1 page(s) with no users"), "```stderr\n{err}\n```");
    let run_id = status_json(&env)["run_id"].as_str().unwrap().to_string();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.work_dir().join(run_id).join("manifest.json")).unwrap()).unwrap();
    let fetch = &manifest["extract_output"]["fetch"];
    assert_eq!((fetch["empty_pages"].as_u64(), fetch["pages"].as_u64()), (Some(1), Some(15)), "{fetch}");
    let report = std::fs::read_to_string(env.output()).unwrap();
    assert!(report.contains("vendor pages with no users: 1"), "{report}");
    // The rows are those of the other 14 pages.
    let served = env.path().join("served");
    std::fs::create_dir(&served).unwrap();
    for page in 1..=14 {
        let name = format!("page-{page:06}.json");
        std::fs::copy(pages.join(&name), served.join(&name)).unwrap();
    }
    let expected = expected_rows(&vendor_users(&served), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);
}

const DATES_SQL: &str = r#"
CREATE TABLE user_practice (id bigint PRIMARY KEY, name text, location text);
CREATE TABLE "user" (
  id bigint PRIMARY KEY, practice_id bigint REFERENCES user_practice (id),
  firstname text, lastname text, classification text, specialty text,
  platform_registered_on text, last_active_date date);
INSERT INTO user_practice VALUES (1, 'Clinic', 'bon air');
INSERT INTO "user" VALUES
  (1, 1, 'Fern', 'Angelovich', 'Leader', 'Neurology', 'web', '5874897-12-31'),
  (2, 1, 'Ancient', 'One', 'Leader', 'Neurology', 'web', '4713-01-01 BC'),
  (3, 1, 'Earliest', 'Day', 'Leader', 'Neurology', 'web', '4714-11-24 BC'),
  (4, 1, 'Plus', 'Infinity', 'Leader', 'Neurology', 'web', 'infinity'),
  (5, 1, 'Minus', 'Infinity', 'Leader', 'Neurology', 'web', '-infinity'),
  (6, 1, 'Recent', 'User', 'Leader', 'Neurology', 'web', '2017-01-20'),
  (7, 1, 'No', 'Date', 'Leader', 'Neurology', 'web', NULL);
"#;

const DATES_PAGE: &str = r#"{"current_page": 1, "total_pages": 1, "users": [
  {"id": 1, "firstname": "Fern", "lastname": "Angelovich", "practice_location": "bon_air", "specialty": "Neurology", "last_active_date": "2017-01-20"},
  {"id": 2, "firstname": "A", "lastname": "Short", "practice_location": "x", "specialty": "N", "last_active_date": "2017-1-5"},
  {"id": 3, "firstname": "B", "lastname": "Space", "practice_location": "x", "specialty": "N", "last_active_date": " 2017-01-20"},
  {"id": 4, "firstname": "C", "lastname": "Signed", "practice_location": "x", "specialty": "N", "last_active_date": "+12345-01-01"},
  {"id": 5, "firstname": "Ann\ud800", "lastname": "Surrogate", "practice_location": "x", "specialty": "N", "last_active_date": "2017-01-20"},
  {"id": 6, "firstname": "Good", "lastname": "Vendor", "practice_location": "x", "specialty": "N", "last_active_date": "2017-01-31"}
]}"#;

fn write_page(dir: &Path, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("page-000001.json"), body).unwrap();
}

/// Rows of `sql` as text, in the order the query gives.
fn text_rows(db: &TestDb, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut client = db.client();
    client.batch_execute("SET DateStyle = 'ISO, YMD'").unwrap();
    let rows = client.query(sql, &[]).unwrap();
    rows.iter().map(|r| (0..r.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect()
}

// See: issue 9 (loose vendor dates were accepted; dates PostgreSQL holds became rejects; a lone surrogate's reject had no id).
#[test]
fn issue_9_vendor_dates_are_strict_and_every_postgresql_date_is_kept() {
    let db = TestDb::new("dates");
    db.client().batch_execute(DATES_SQL).unwrap();
    let env = TestEnv::new();
    let pages = env.path().join("pages");
    write_page(&pages, DATES_PAGE);
    let server = Server::start(&pages, &[]);
    let output = run(&env, &db, &server, &["--max-reject-ratio", "0.9"]);
    assert_exit(&output, 0);

    // The vendor's: one reject per record off its contract, with its id and why.
    let run_id = status_json(&env)["run_id"].as_str().unwrap().to_string();
    let rejects = std::fs::read_to_string(env.work_dir().join(&run_id).join("rejects.jsonl")).unwrap();
    let mut seen: Vec<(String, i64, String)> = rejects
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| (r["source"].as_str().unwrap().into(), r["id"].as_i64().unwrap_or(-1), r["reason"].to_string()))
        .collect();
    seen.sort();
    let ids: Vec<(&str, i64)> = seen.iter().map(|(s, id, _)| (s.as_str(), *id)).collect();
    assert_eq!(ids, [("vendor", 2), ("vendor", 3), ("vendor", 4), ("vendor", 5)], "{rejects}");
    for (_, id, reason) in &seen[..3] {
        assert!(reason.contains("is not a date in the form YYYY-MM-DD"), "{id}: {reason}");
    }
    assert!(seen[3].2.contains("hex escape"), "{}", seen[3].2);

    // Ours: every row loaded with its date as PostgreSQL holds it, active as SQL computes it.
    let source = text_rows(
        &db,
        "SELECT id::text, last_active_date::text, \
         (coalesce(last_active_date BETWEEN date '2017-02-02' - 30 AND date '2017-02-02', false))::text \
         FROM \"user\" ORDER BY id",
    );
    let loaded = text_rows(
        &db,
        &format!(
            "SELECT internal_user_id::text, internal_last_active_date::text, internal_is_active::text \
             FROM {TABLE} WHERE internal_user_id IS NOT NULL ORDER BY internal_user_id"
        ),
    );
    assert_eq!(loaded, source);
    let vendor = text_rows(
        &db,
        &format!("SELECT vendor_user_id::text FROM {TABLE} WHERE vendor_user_id IS NOT NULL ORDER BY 1"),
    );
    assert_eq!(vendor, [[Some("1".to_string())], [Some("6".to_string())]]);

    // The matched pair's sample row shows our date as PostgreSQL writes it.
    let report = std::fs::read_to_string(env.output()).unwrap();
    let sample = report.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no sample row in\n{report}"));
    let sample: serde_json::Value = serde_json::from_str(sample).unwrap();
    assert_eq!(sample["internal_last_active_date"], "5874897-12-31", "{sample}");
    assert!(report.contains("last_active_date after the report date: vendor 0, internal 2"), "{report}");
}
