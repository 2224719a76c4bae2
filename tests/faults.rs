//! Vendor faults: every transient kind is retried to the same rows; a page that
//! keeps failing fails the run with exit 1, and `resume` finishes it later.

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";

struct Fixture {
    db: TestDb,
    env: TestEnv,
    pages: std::path::PathBuf,
}

fn fixture(name: &str) -> Fixture {
    let db = TestDb::new(name);
    let env = TestEnv::new();
    let pages = env.path().join("fixtures");
    generate(&db, &pages, &["--vendor-users", "1500", "--internal-users", "2000", "--page-size", "100", "--seed", "7"]);
    Fixture { db, env, pages }
}

impl Fixture {
    fn expected(&self) -> Vec<WarehouseRow> {
        expected_rows(&vendor_users(&self.pages), &internal_users(&self.db), "2017-02-02", 30)
    }

    fn run(&self, command: &str, server: &Server, extra: &[&str]) -> std::process::Output {
        let url = self.db.url();
        let mut args =
            vec![command, "--quiet", "--vendor-url", &server.url, "--source-url", &url, "--warehouse-url", &url];
        args.extend(extra);
        self.env.run(&args)
    }
}

#[test]
fn every_transient_fault_is_retried_to_the_same_rows() {
    let f = fixture("faults");
    let faults = [
        "2:500:2",
        "3:503",
        "4:429",
        "5:truncate:2",
        "6:reset:2",
        "7:notjson",
        "8:slow=3000",
        "9:drift=1",
        "10:drift=-1",
        "11:429date=1",
        "12:wrongpage",
        "13:drift=3",
    ];
    let mut args = Vec::new();
    for fault in &faults {
        args.extend(["--fault", *fault]);
    }
    let server = Server::start(&f.pages, &args);
    let output = f.run("run", &server, &["--request-timeout-secs", "1", "--concurrency", "4"]);
    assert_exit(&output, 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &f.expected());
    let report = stdout(&output);
    // drift=+1 then back, then -1 and back: the changes are seen and reported.
    assert!(!report.contains("vendor page-count changes: 0 "), "{report}");
    assert!(!report.contains(", 0 retries)"), "{report}");
}

#[test]
fn random_faults_on_a_fifth_of_requests_still_give_the_same_rows() {
    let f = fixture("random");
    let server = Server::start(&f.pages, &["--random-fault-rate", "0.2", "--seed", "3"]);
    let output = f.run("run", &server, &["--max-retries", "8"]);
    assert_exit(&output, 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &f.expected());
}

#[test]
fn a_page_that_keeps_failing_exits_1_and_resume_finishes_after_recovery() {
    let f = fixture("resume");
    let broken = Server::start(&f.pages, &["--fault", "3:503:always"]);
    let output = f.run("run", &broken, &["--max-retries", "2"]);
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    let err = stderr(&output);
    assert!(err.contains("stopped in extract") && err.contains("vendor-match resume --run-id"), "{err}");
    assert!(err.contains("vendor page 3 failed after 3 attempt(s)") && err.contains("HTTP status 503"), "{err}");
    let status = status_json(&f.env);
    assert_eq!(status["stages"][0]["state"], "failed", "{status}");
    let exists: bool =
        f.db.client().query_one("SELECT to_regclass('public.platform_user_activity') IS NOT NULL", &[]).unwrap().get(0);
    assert!(!exists, "nothing loaded by a failed run");
    drop(broken);

    // The vendor recovers, on another port: the URL is read again, the rest comes from the manifest.
    let healthy = Server::start(&f.pages, &[]);
    let output = f.run("resume", &healthy, &[]);
    assert_exit(&output, 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &f.expected());
    let status = status_json(&f.env);
    assert_eq!(status["stages"][0]["attempts"], 2, "{status}");
}

#[test]
fn a_404_is_not_retried() {
    let f = fixture("notfound");
    let server = Server::start(&f.pages, &["--fault", "2:404:always"]);
    let output = f.run("run", &server, &["--max-retries", "5"]);
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    assert!(stderr(&output).contains("vendor page 2 failed after 1 attempt(s)"), "{}", stderr(&output));
}

fn assert_fails_at_once(f: &Fixture, fault: &str, extra: &[&str], messages: &[&str]) {
    let server = Server::start(&f.pages, &["--fault", fault]);
    let output = f.run("run", &server, extra);
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    for message in messages {
        assert!(stderr(&output).contains(message), "want {message:?} in\n{}", stderr(&output));
    }
}

#[test]
fn a_body_over_the_cap_fails_without_retrying() {
    let f = fixture("huge");
    // 8 requests in flight: each body may hold 40 MiB / 17.
    let cap = format!("body larger than {} bytes", (40 << 20) / 17);
    assert_fails_at_once(
        &f,
        "2:huge:always",
        &["--concurrency", "8"],
        &["vendor page 2 failed after 1 attempt(s)", &cap],
    );
}

#[test]
fn an_absurd_total_pages_fails_clearly() {
    let f = fixture("maxpages");
    assert_fails_at_once(&f, "1:drift=5000000", &[], &["more than --max-pages 1000000"]);
}

#[test]
fn a_page_that_keeps_answering_for_another_page_fails_after_its_retries() {
    let f = fixture("wrongpage");
    assert_fails_at_once(&f, "3:wrongpage:always", &["--max-retries", "1"], &["asked for page 3, got page 4"]);
}

#[test]
fn a_body_that_trickles_is_given_up_at_the_request_timeout() {
    let f = fixture("trickle");
    // Page 2's body a byte every 200 ms: about half an hour for the page.
    let server = Server::start(&f.pages, &["--fault", "2:trickle=200:always"]);
    let url = f.db.url();
    let args = ["run", "--quiet", "--vendor-url", &server.url, "--source-url", &url, "--warehouse-url", &url];
    let extra = ["--request-timeout-secs", "1", "--max-retries", "1"];
    let mut watched = Watched::spawn(f.env.command(&args).args(extra));
    // Two attempts of a second each, and the retry's wait: far within the minute `wait_for` allows.
    watched.wait_for("stopped in extract");
    let output = watched.finish();
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("vendor page 2 failed after 2 attempt(s)"), "{err}");
    assert!(err.contains("no complete answer within the request timeout of 1 s"), "{err}");
}
