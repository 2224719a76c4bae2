//! End-to-end runs whose warehouse rows are compared with a naive in-memory join.

use crate::util::naive::{expected_rows, expected_rows_on, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";

#[test]
fn hand_written_quirks_match_a_naive_in_memory_join() {
    let db = seeded_db("quirks");
    let pages = repo("fixtures").join("vendor");
    let server = Server::start(&pages, &[]);
    let env = TestEnv::new();
    let url = db.url();
    let args = hand_written_run(&server.url, &url);
    let output = env.run(&args);
    assert_exit(&output, 0);

    let expected = expected_rows(&vendor_users(&pages), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);

    // The two unrepresentable vendor records are recorded, with page and reason.
    let status = status_json(&env);
    let run_id = status["run_id"].as_str().unwrap();
    let rejects = std::fs::read_to_string(env.work_dir().join(run_id).join("rejects.jsonl")).unwrap();
    // A finished extract leaves no checkpoint for a later redo to continue from.
    assert!(!env.work_dir().join(run_id).join("extract/checkpoint.json").exists());
    let lines: Vec<serde_json::Value> = rejects.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    assert!(lines.iter().all(|l| l["source"] == "vendor" && l["page"] == 1), "{rejects}");
    assert!(lines.iter().any(|l| l["id"] == 114 && l["reason"].as_str().unwrap().contains("date")), "{rejects}");

    let report = std::fs::read_to_string(env.output()).unwrap();
    assert_eq!(report, stdout(&output), "stdout and output.txt hold the same report");
    let matched = expected.iter().filter(|r| r.status == "matched").count();
    assert!(report.contains(&format!("\nTotal Matches: {matched}\n")), "{report}");
    assert!(report.contains("duplicate vendor ids (later page kept): 1"), "{report}");
}

#[test]
fn report_starts_with_the_four_sections_and_sample_rows_are_matched_json() {
    let db = seeded_db("report");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let args = hand_written_run(&server.url, &url);
    assert_exit(&env.run(&args), 0);
    let report = std::fs::read_to_string(env.output()).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    let elapsed = lines[0].strip_prefix("Elapsed Time: ").expect("Elapsed Time first");
    let parts: Vec<&str> = elapsed.split(' ').collect();
    assert!(
        matches!(parts.as_slice(), [m, "minutes,", s, "seconds"] if m.parse::<u64>().is_ok() && s.parse::<u64>().is_ok_and(|s| s < 60)),
        "Elapsed Time not in the form `X minutes, X seconds`: {report}"
    );
    assert!(lines[1].starts_with("Total Matches: "), "{report}");
    assert_eq!(lines[2], "Sample Output:");
    let ddl_at = lines.iter().position(|l| *l == "SQL DDL:").expect("SQL DDL section");
    let total: usize = lines[1]["Total Matches: ".len()..].parse().unwrap();
    assert_eq!(ddl_at - 3, total.min(10), "sample holds min(10, matches) rows");
    for line in &lines[3..ddl_at] {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["match_status"], "matched");
        assert_eq!(row["report_date"], "2017-02-02");
    }
    assert!(lines[ddl_at + 1].starts_with("CREATE TABLE IF NOT EXISTS \"public\".\"platform_user_activity\""));
    assert!(report.contains("phi coefficient"));
}

#[test]
fn generated_fixtures_match_the_naive_join_and_the_planted_counts() {
    let db = TestDb::new("generated");
    let env = TestEnv::new();
    let pages = env.path().join("fixtures");
    let planted = generate(&db, &pages, &["--vendor-users", "3000", "--internal-users", "5000", "--page-size", "100"]);
    let server = Server::start(&pages, &[]);
    let url = db.url();
    let output =
        env.run(&["run", "--quiet", "--vendor-url", &server.url, "--source-url", &url, "--warehouse-url", &url]);
    assert_exit(&output, 0);

    let expected = expected_rows(&vendor_users(&pages), &internal_users(&db), "2017-02-02", 30);
    let actual = warehouse_rows(&db, TABLE, "2017-02-02");
    assert_rows_eq(&actual, &expected);
    for status in ["matched", "ambiguous", "internal_only", "vendor_only", "unmatchable"] {
        let count = actual.iter().filter(|r| r.status == status).count() as u64;
        assert_eq!(Some(count), planted["rows"][status].as_u64(), "planted {status} rows");
    }
    let report = stdout(&output);
    assert!(report.contains(&format!("\nTotal Matches: {}\n", planted["total_matches"])), "{report}");
    // The figures a benchmark reads: the vendor fetch's own time, each side's.
    let run_id = status_json(&env)["run_id"].as_str().unwrap().to_string();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.work_dir().join(run_id).join("manifest.json")).unwrap()).unwrap();
    let extract = &manifest["extract_output"];
    for figure in [&extract["fetch"]["elapsed_secs"], &extract["vendor_secs"], &extract["internal_secs"]] {
        assert!(figure.as_f64().is_some_and(|secs| secs > 0.0), "{extract}");
    }
}

#[test]
fn rerunning_a_report_date_replaces_its_rows_and_leaves_other_dates_alone() {
    let db = seeded_db("rerun");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let run = |date: &str| {
        let mut args = hand_written_run(&server.url, &url);
        args.extend(["--report-date", date]);
        assert_exit(&env.run(&args), 0);
    };
    run("2017-02-02");
    let first = warehouse_rows(&db, TABLE, "2017-02-02");
    run("2017-01-15");
    let other = warehouse_rows(&db, TABLE, "2017-01-15");
    run("2017-02-02");
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &first);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-01-15"), &other);
    let total: i64 = db.client().query_one(&format!("SELECT count(*) FROM {TABLE}"), &[]).unwrap().get(0);
    assert_eq!(total as usize, first.len() + other.len());
    // The active flags follow each run's own report date.
    let expected_other =
        expected_rows(&vendor_users(&repo("fixtures").join("vendor")), &internal_users(&db), "2017-01-15", 30);
    assert_rows_eq(&other, &expected_other);
}

#[test]
fn single_stage_commands_give_the_same_rows_as_run() {
    let db = seeded_db("stages");
    let pages = repo("fixtures").join("vendor");
    let server = Server::start(&pages, &[]);
    let env = TestEnv::new();
    let url = db.url();
    // Each stage is given the connections it uses, and only those.
    let stage = |name: &str| {
        let mut args = vec![name, "--quiet"];
        match name {
            "extract" => args.extend([
                "--vendor-url",
                server.url.as_str(),
                "--source-url",
                &url,
                "--max-reject-ratio",
                "0.5",
                "--warehouse-table",
                "stages_out",
            ]),
            "load" => args.extend(["--warehouse-url", url.as_str()]),
            _ => {}
        }
        assert_exit(&env.run(&args), 0);
    };
    stage("extract");
    let status = status_json(&env);
    assert_eq!(status["next_stage"], "match");
    stage("match");
    stage("load");
    stage("report");
    let status = status_json(&env);
    assert!(status["next_stage"].is_null(), "{status}");
    for s in status["stages"].as_array().unwrap() {
        assert_eq!(s["state"], "completed", "{status}");
    }
    let expected = expected_rows(&vendor_users(&pages), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, "stages_out", "2017-02-02"), &expected);
    assert!(env.output().exists());
}

#[test]
fn too_many_rejects_fail_the_run_naming_the_source_and_the_file() {
    let db = seeded_db("rejects");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    // The hand-written pages hold 2 unrepresentable records of 19: over the default 1%.
    let output =
        env.run(&["run", "--quiet", "--vendor-url", &server.url, "--source-url", &url, "--warehouse-url", &url]);
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    let err = stderr(&output);
    assert!(err.contains("2 of 19 vendor records were rejected") && err.contains("rejects.jsonl"), "{err}");
}

#[test]
fn match_on_a_subset_of_fields_matches_the_naive_join_on_those_fields() {
    let db = seeded_db("matchon");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let mut args = hand_written_run(&server.url, &url);
    // Given out of order: the key order stays lastname, firstname.
    args.extend(["--match-on", "firstname,lastname"]);
    assert_exit(&env.run(&args), 0);
    let (vendor, internal) = (vendor_users(&repo("fixtures/vendor")), internal_users(&db));
    let expected = expected_rows_on(&["lastname", "firstname"], &vendor, &internal, "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);
    assert_ne!(expected, expected_rows(&vendor, &internal, "2017-02-02", 30), "the subset must change the outcome");
}
