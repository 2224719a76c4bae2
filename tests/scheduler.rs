//! A scheduler's view (issue 10): `run --run-id` retried after SIGTERM or
//! SIGINT mid-extract, mid-match and mid-load gives the uninterrupted rows;
//! a finished run is not loaded again; `status --json` follows its schema.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";
const FAILPOINT: &str = "VENDOR_MATCH_FAILPOINT";
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

struct Fixture {
    db: TestDb,
    dir: tempfile::TempDir,
    server: Server,
}

fn fixture(name: &str) -> Fixture {
    let db = TestDb::new(name);
    let dir = tempfile::tempdir().unwrap();
    generate(&db, dir.path(), &["--vendor-users", "1500", "--internal-users", "3000", "--page-size", "100"]);
    let server = Server::start(dir.path(), &[]);
    Fixture { db, dir, server }
}

impl Fixture {
    fn expected(&self) -> Vec<WarehouseRow> {
        expected_rows(&vendor_users(self.dir.path()), &internal_users(&self.db), "2017-02-02", 30)
    }

    /// The scheduler's command: the same every time it is called.
    fn run(&self, env: &TestEnv, id: &str) -> Command {
        small_budget_command(env, &["run", "--run-id", id], &self.server.url, &self.db.url())
    }

    /// Tables whose name says they are a load's staging table.
    fn staging_tables(&self) -> Vec<String> {
        let rows =
            self.db.client().query("SELECT tablename::text FROM pg_tables WHERE tablename LIKE '%\\_loading'", &[]);
        rows.unwrap().iter().map(|r| r.get(0)).collect()
    }
}

/// Sends `signal` to the process `pid` with kill(1).
fn send(pid: u32, signal: i32) {
    let status = Command::new("kill").args(["-s", &signal.to_string(), &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -s {signal} {pid}");
}

/// Runs `command` until the failpoint `point` pauses it, sends `signal`,
/// and returns how it ended and how long it took to end after the signal.
fn signalled_at(mut command: Command, point: &str, signal: i32) -> (Output, Duration) {
    let name = point.split(['=', ':']).next().unwrap().to_string();
    let mut run = Watched::spawn(command.env(FAILPOINT, point));
    run.wait_for(&format!("failpoint {name}: pausing"));
    let sent = Instant::now();
    send(run.pid(), signal);
    let output = run.finish();
    (output, sent.elapsed())
}

/// The status document of run `id`, checked against docs/status.schema.json.
fn valid_status(env: &TestEnv, id: &str) -> serde_json::Value {
    let output = env.run(&["status", "--json", "--run-id", id]);
    assert_exit(&output, 0);
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("docs/status.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&document).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "status --json does not follow its schema: {errors:#?}\n{document:#}");
    document
}

/// The interrupted run says so in one line naming the resume command, and
/// its status says interrupted, with no staging table left behind.
fn assert_interrupted(f: &Fixture, env: &TestEnv, id: &str, output: &Output, signal: i32, stage: &str) {
    assert_exit(output, 128 + signal);
    assert_one_error_line(output);
    let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
    let line =
        format!("run {id} was interrupted by {name} in {stage}; continue with: vendor-match resume --run-id {id}");
    assert!(stderr(output).contains(&line), "want {line:?}\n{}", stderr(output));
    let status = valid_status(env, id);
    assert_eq!(status["state"], "interrupted", "{status:#}");
    assert_eq!(status["resume_command"], format!("vendor-match resume --run-id {id}"));
    let stages = status["stages"].as_array().unwrap();
    let stopped = stages.iter().find(|s| s["stage"] == stage).unwrap();
    assert_eq!(stopped["state"], "interrupted", "{status:#}");
    assert_eq!(f.staging_tables(), Vec::<String>::new(), "a staging table was left behind");
    assert_exit(&env.run(&["status", "--check", "--run-id", id]), 1);
}

#[test]
fn a_scheduler_retrying_run_after_sigterm_mid_load_gets_the_uninterrupted_rows_and_a_third_call_loads_nothing() {
    let f = fixture("sched");
    let env = TestEnv::new();
    let id = "2017-02-02";
    // Killed by the scheduler while the load is COPYing its first segment.
    let (output, took) = signalled_at(f.run(&env, id), "load.copying=1:pause=1500", SIGTERM);
    assert_interrupted(&f, &env, id, &output, SIGTERM, "load");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert!(warehouse_rows(&f.db, TABLE, "2017-02-02").is_empty(), "rows of an interrupted load are visible");

    // The retry: the same command continues the run and loads the rows.
    let retried = f.run(&env, id).output().unwrap();
    assert_exit(&retried, 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &f.expected());
    let status = valid_status(&env, id);
    assert_eq!((status["state"].as_str(), status["resume_command"].is_null()), (Some("completed"), true));
    assert_eq!(status["warehouse"]["partition"], "public.platform_user_activity_20170202", "{status:#}");
    assert_exit(&env.run(&["status", "--check", "--run-id", id]), 0);
    let partition = |f: &Fixture| -> u32 {
        f.db.client().query_one("SELECT 'platform_user_activity_20170202'::regclass::oid", &[]).unwrap().get(0)
    };
    let loads = |f: &Fixture| -> i64 {
        f.db.client().query_one("SELECT count(*) FROM platform_user_activity_loads", &[]).unwrap().get(0)
    };
    let (partition_before, loads_before) = (partition(&f), loads(&f));
    assert_eq!(loads_before, 1);

    // A third identical call: the report again, nothing loaded.
    let third = f.run(&env, id).output().unwrap();
    assert_exit(&third, 0);
    assert!(stdout(&third).contains("Total Matches:"), "{}", stdout(&third));
    assert_eq!((partition(&f), loads(&f)), (partition_before, loads_before), "the third call loaded again");
    assert_eq!(valid_status(&env, id)["stages"][2]["attempts"], status["stages"][2]["attempts"]);

    // A run-defining setting given differently is still refused.
    let conflict = f.run(&env, id).args(["--active-days", "10"]).output().unwrap();
    assert_exit(&conflict, 2);
}

#[test]
fn sigint_and_sigterm_mid_extract_and_mid_match_stop_the_run_and_resume_gives_the_same_rows() {
    let f = fixture("signals");
    let expected = f.expected();
    let cases = [
        ("extract.vendor.page=3:pause=1500", SIGINT, "extract"),
        ("extract.internal.rows=1500:pause=1500", SIGTERM, "extract"),
        ("match.rows=2000:pause=1500", SIGTERM, "match"),
        ("match.rows=2000:pause=1500", SIGINT, "match"),
        ("load.copying=1:pause=1500", SIGINT, "load"),
    ];
    for (point, signal, stage) in cases {
        let env = TestEnv::new();
        let (output, _) = signalled_at(f.run(&env, "r"), point, signal);
        assert_interrupted(&f, &env, "r", &output, signal, stage);
        let resumed = small_budget_command(&env, &["resume"], &f.server.url, &f.db.url()).output().unwrap();
        assert_exit(&resumed, 0);
        assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &expected);
    }
}

#[test]
fn a_second_signal_ends_the_run_at_once_and_resume_still_gives_the_rows() {
    let f = fixture("twice");
    let env = TestEnv::new();
    let mut run = Watched::spawn(f.run(&env, "r").env(FAILPOINT, "extract.vendor.page=3:pause=30000"));
    run.wait_for("failpoint extract.vendor.page: pausing");
    let sent = Instant::now();
    send(run.pid(), SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    send(run.pid(), SIGTERM);
    let output = run.finish();
    // The first signal alone would wait out the 30 s pause.
    assert!(sent.elapsed() < Duration::from_secs(10), "took {:?}", sent.elapsed());
    assert_exit(&output, 143);
    // Nobody holds the run: status says interrupted, never running.
    assert_eq!(valid_status(&env, "r")["state"], "interrupted");
    let resumed = small_budget_command(&env, &["resume"], &f.server.url, &f.db.url()).output().unwrap();
    assert_exit(&resumed, 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &f.expected());
}

#[test]
fn without_a_terminal_json_log_lines_name_the_run_and_stage_and_are_the_progress() {
    let f = fixture("logs");
    let env = TestEnv::new();
    let mut command = f.run(&env, "logged");
    // Bars are never drawn here (stderr is a pipe): the log lines carry the progress.
    command.args(["--log-format", "json", "--concurrency", "1"]).env("VENDOR_MATCH_PROGRESS_LOG_SECS", "0.01");
    // One log level up from --quiet, which the test command gives.
    command.arg("-v");
    let output = command.output().unwrap();
    assert_exit(&output, 0);
    let lines: Vec<serde_json::Value> = stderr(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect();
    let status = valid_status(&env, "logged");
    for (i, stage) in ["extract", "match", "load", "report"].into_iter().enumerate() {
        let ended = lines
            .iter()
            .find(|l| l["fields"]["message"] == format!("{stage} completed"))
            .unwrap_or_else(|| panic!("no end line of {stage}: {lines:#?}"));
        assert_eq!(ended["span"]["run_id"], "logged");
        assert_eq!(ended["span"]["stage"], stage);
        assert_eq!(ended["fields"]["rows"], status["stages"][i]["rows"], "{ended}");
        assert!(ended["timestamp"].is_string() && ended["fields"]["secs"].is_number(), "{ended}");
        assert!(lines.iter().any(|l| l["fields"]["message"] == format!("{stage} started")), "{stage}");
    }
    let progress = lines.iter().filter(|l| l["fields"]["position"].is_u64()).count();
    assert!(progress > 0, "no progress line: {lines:#?}");
}

#[test]
fn each_vendor_retry_is_a_log_line_with_its_page_status_and_delay() {
    let db = TestDb::new("retrylog");
    let dir = tempfile::tempdir().unwrap();
    generate(&db, dir.path(), &["--vendor-users", "500", "--internal-users", "500", "--page-size", "100"]);
    // Page 3 answers 503 twice, then its users.
    let server = Server::start(dir.path(), &["--fault", "3:503:2"]);
    let env = TestEnv::new();
    let mut command = small_budget_command(&env, &["run", "--log-format", "json"], &server.url, &db.url());
    let output = command.output().unwrap();
    assert_exit(&output, 0);
    let retries: Vec<serde_json::Value> = stderr(&output)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|l| l["fields"]["message"] == "vendor page failed; retrying")
        .collect();
    assert_eq!(retries.len(), 2, "{}", stderr(&output));
    for (i, retry) in retries.iter().enumerate() {
        assert_eq!(retry["fields"]["page"], 3, "{retry}");
        assert_eq!(retry["fields"]["status"], 503, "{retry}");
        assert_eq!(retry["fields"]["attempt"], i + 1, "{retry}");
        assert!(retry["fields"]["delay_ms"].is_u64(), "{retry}");
        assert_eq!(retry["level"], "WARN");
    }
}
