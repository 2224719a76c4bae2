//! What analysts read in the warehouse (issue 11): cleaned values beside the
//! raw ones, a comment on every column, the loads table written with the
//! swap, the summary and churn views, and the planted churn found again.

use std::path::Path;

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";
const FAILPOINT: &str = "VENDOR_MATCH_FAILPOINT";

/// The run's manifest (what the report is built from).
fn manifest(env: &TestEnv) -> serde_json::Value {
    let run_id = status_json(env)["run_id"].as_str().unwrap().to_string();
    serde_json::from_slice(&std::fs::read(env.work_dir().join(run_id).join("manifest.json")).unwrap()).unwrap()
}

/// Generates snapshot `snapshot` into `db` and `pages`, runs it, and returns
/// (expected.json, the run's manifest).
fn run_snapshot(db: &TestDb, pages: &Path, snapshot: u32) -> (serde_json::Value, serde_json::Value) {
    let snapshot = snapshot.to_string();
    let sizes = ["--vendor-users", "3000", "--internal-users", "5000", "--page-size", "100", "--quirk-rate", "0.05"];
    let mut args = sizes.to_vec();
    args.extend(["--snapshot", &snapshot]);
    let planted = generate(db, pages, &args);
    let server = Server::start(pages, &[]);
    let env = TestEnv::new();
    let url = db.url();
    let date = planted["report_date"].as_str().unwrap().to_string();
    let mut run = vec!["run", "--quiet", "--vendor-url", &server.url, "--source-url", &url, "--warehouse-url", &url];
    run.extend(["--report-date", &date, "--max-reject-ratio", "0.5"]);
    assert_exit(&env.run(&run), 0);
    assert_rows_eq(
        &warehouse_rows(db, TABLE, &date),
        &expected_rows(&vendor_users(pages), &internal_users(db), &date, 30),
    );
    (planted, manifest(&env))
}

fn count(value: &serde_json::Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("not a count: {value}"))
}

#[test]
fn two_snapshots_give_the_planted_churn_and_the_summary_view_agrees_with_each_report() {
    let db = TestDb::new("history");
    let scratch = TestEnv::new();
    let pages = scratch.path().join("fixtures");
    let runs = [run_snapshot(&db, &pages, 0), run_snapshot(&db, &pages, 1)];
    let mut client = db.client();

    // The churn found in the warehouse is the churn planted.
    let (planted, later) = &runs[1];
    let churn = &planted["churn"];
    let row = client
        .query_one(
            "SELECT since_date::text, vendor_active_users, vendor_active_churned, vendor_inactive_users, \
             vendor_inactive_churned FROM public.platform_user_activity_churn WHERE report_date = $1::text::date",
            &[&planted["report_date"].as_str().unwrap()],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), churn["since"].as_str().unwrap());
    let found = [row.get::<_, i64>(1), row.get(2), row.get(3), row.get(4)];
    let want = [
        count(&churn["vendor_active"]["users"]),
        count(&churn["vendor_active"]["churned"]),
        count(&churn["vendor_inactive"]["users"]),
        count(&churn["vendor_inactive"]["churned"]),
    ];
    assert_eq!(found, want, "churn view against the planted churn {churn}");
    // Enough users that the planted dependency shows: churn is higher without vendor activity.
    assert!(want[0] > 100 && want[2] > 100, "{churn}");
    assert!(want[1] * want[2] < want[3] * want[0], "planted churn shows no dependency: {churn}");
    // And the report's churn (read by the load) is the planted one too.
    let reported = &later["load_output"]["history"]["churn"];
    assert_eq!(reported["since"], churn["since"]);
    for group in ["vendor_active", "vendor_inactive"] {
        assert_eq!(reported[group], churn[group], "report's churn, {group}");
    }
    assert_eq!(later["load_output"]["history"]["dates"].as_array().map(Vec::len), Some(2), "{later}");

    // One summary line per date, equal to that run's report figures.
    for (planted, manifest) in &runs {
        let date = planted["report_date"].as_str().unwrap();
        let s = client
            .query_one(
                "SELECT internal_users, internal_active, vendor_users, vendor_active, matched_pairs, both_active, \
                 internal_only_active, vendor_only_active, neither_active, phi::float8 \
                 FROM public.platform_user_activity_summary WHERE report_date = $1::text::date",
                &[&date],
            )
            .unwrap();
        let stats = &manifest["match_output"]["stats"];
        let want = [
            &stats["internal"]["users"],
            &stats["internal"]["active"],
            &stats["vendor"]["users"],
            &stats["vendor"]["active"],
            &stats["rows"]["matched"],
            &stats["active"]["both"],
            &stats["active"]["internal_only"],
            &stats["active"]["vendor_only"],
            &stats["active"]["neither"],
        ]
        .map(count);
        let found: Vec<i64> = (0..9).map(|i| s.get(i)).collect();
        assert_eq!(found, want, "summary view against the report of {date}");
        assert_eq!(want[4], count(&planted["total_matches"]));
        // phi from the report's 2x2, as the report computes it, to 4 places.
        let [a, b, c, d] = [want[5], want[6], want[7], want[8]].map(|n| n as f64);
        let phi = (a * d - b * c) / ((a + b) * (c + d) * (a + c) * (b + d)).sqrt();
        assert!((s.get::<_, f64>(9) - phi).abs() < 1e-4, "phi {} vs {phi}", s.get::<_, f64>(9));
    }
    let lines: i64 =
        client.query_one("SELECT count(*) FROM public.platform_user_activity_summary", &[]).unwrap().get(0);
    assert_eq!(lines, 2);

    // The loads table: one row per load, naming its run.
    let loads: Vec<(String, String, i64)> = client
        .query(
            "SELECT report_date::text, run_id, rows_matched FROM public.platform_user_activity_loads ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(String, String, i64)> = runs
        .iter()
        .map(|(planted, manifest)| {
            let date = planted["report_date"].as_str().unwrap().to_string();
            (date, manifest["run_id"].as_str().unwrap().to_string(), count(&planted["total_matches"]))
        })
        .collect();
    assert_eq!(loads, want);

    // GROUP BY specialty gives the planted specialties, whatever their surface.
    let specialties: i64 =
        client.query_one("SELECT count(DISTINCT specialty) FROM public.platform_user_activity", &[]).unwrap().get(0);
    assert_eq!(specialties, count(&runs[0].0["specialties"]));
    let raw: i64 = client
        .query_one(
            "SELECT count(DISTINCT internal_specialty_raw) + count(DISTINCT vendor_specialty_raw) \
             FROM public.platform_user_activity",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(raw > 2 * specialties, "the raw values keep their surface forms: {raw}");
}

#[test]
fn every_column_of_the_table_and_of_the_loads_table_has_a_comment_and_so_do_the_views() {
    let db = seeded_db("comments");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    assert_exit(&env.run(&hand_written_run(&server.url, &url)), 0);
    let mut client = db.client();
    for relation in [
        "public.platform_user_activity",
        "public.platform_user_activity_loads",
        "public.platform_user_activity_summary",
        "public.platform_user_activity_churn",
    ] {
        let described: Option<String> =
            client.query_one("SELECT obj_description($1::text::regclass, 'pg_class')", &[&relation]).unwrap().get(0);
        assert!(described.is_some_and(|d| d.len() > 40), "{relation} has no comment");
    }
    for table in ["public.platform_user_activity", "public.platform_user_activity_loads"] {
        let bare: Vec<String> = client
            .query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0 \
                 AND NOT attisdropped AND coalesce(col_description(attrelid, attnum), '') = ''",
                &[&table],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(bare.is_empty(), "{table}: columns without a comment: {bare:?}");
    }
    // The new partition was analyzed before it was attached: only ANALYZE writes pg_stats.
    let columns_with_statistics: i64 = client
        .query_one("SELECT count(*) FROM pg_stats WHERE tablename = 'platform_user_activity_20170202'", &[])
        .unwrap()
        .get(0);
    assert!(columns_with_statistics > 10, "the partition has no statistics");
}

#[test]
fn a_load_that_dies_before_its_commit_records_no_load_and_the_resume_records_one() {
    let db = seeded_db("loads_atomic");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let aborted = env.command(&hand_written_run(&server.url, &url)).env(FAILPOINT, "load.committing").output().unwrap();
    assert_eq!(aborted.status.code(), None, "the run should have aborted\n{}", stderr(&aborted));
    let mut client = db.client();
    let loads = |client: &mut postgres::Client| -> i64 {
        client.query_one("SELECT count(*) FROM public.platform_user_activity_loads", &[]).unwrap().get(0)
    };
    let rows: i64 = client.query_one("SELECT count(*) FROM public.platform_user_activity", &[]).unwrap().get(0);
    assert_eq!((loads(&mut client), rows), (0, 0), "a swap that did not commit left a record or rows");
    let resume = ["resume", "--quiet", "--vendor-url", &server.url, "--source-url", &url, "--warehouse-url", &url];
    assert_exit(&env.run(&resume), 0);
    assert_eq!(loads(&mut client), 1);
    assert_rows_eq(
        &warehouse_rows(&db, TABLE, "2017-02-02"),
        &expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(&db), "2017-02-02", 30),
    );
}

#[test]
fn a_table_made_by_the_earlier_version_gets_the_raw_columns_and_its_old_dates_keep_their_rows() {
    let db = seeded_db("upgrade");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    // The first layout: the contract's 17 columns, partitioned by date, one old date loaded.
    db.client()
        .batch_execute(
            "CREATE TABLE platform_user_activity (
              report_date date NOT NULL, run_id text NOT NULL, match_status text NOT NULL, match_key text,
              internal_user_id bigint, vendor_user_id bigint, firstname text, lastname text, specialty text,
              practice_location text, internal_classification text, internal_platform_registered_on text,
              internal_last_active_date date, internal_is_active boolean, vendor_classification text,
              vendor_last_active_date date, vendor_is_active boolean) PARTITION BY LIST (report_date);
             CREATE TABLE platform_user_activity_20170101 PARTITION OF platform_user_activity FOR VALUES IN ('2017-01-01');
             INSERT INTO platform_user_activity (report_date, run_id, match_status) VALUES ('2017-01-01', 'old', 'unmatchable');",
        )
        .unwrap();
    assert_exit(&env.run(&hand_written_run(&server.url, &url)), 0);
    let expected = expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);
    let old: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM platform_user_activity WHERE run_id = 'old' AND vendor_firstname_raw IS NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(old, 1);
}

#[test]
fn a_name_taken_beside_the_table_leaves_the_load_unrecorded_but_loaded() {
    let db = seeded_db("companions_taken");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    db.client().batch_execute("CREATE TABLE platform_user_activity_summary (dba_owned int)").unwrap();
    let output = env.run(&hand_written_run(&server.url, &url));
    assert_exit(&output, 0);
    let expected = expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);
    let report = std::fs::read_to_string(env.output()).unwrap();
    assert!(
        report.contains("Across report dates: not read (the loads table and views could not be created beside"),
        "{report}"
    );
    // The DBA's table is untouched, and nothing of the tool's half-made stays.
    let mut client = db.client();
    let theirs: i64 = client
        .query_one("SELECT count(*) FROM pg_attribute WHERE attrelid = 'platform_user_activity_summary'::regclass AND attname = 'dba_owned'", &[])
        .unwrap()
        .get(0);
    let loads: bool =
        client.query_one("SELECT to_regclass('platform_user_activity_loads') IS NULL", &[]).unwrap().get(0);
    assert_eq!((theirs, loads), (1, true));
}
