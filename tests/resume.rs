//! Crash consistency: a run aborted at any failpoint, or killed with SIGKILL at
//! random moments, resumes to exactly the rows of an uninterrupted run; broken
//! database connections are continued or retried.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";
const FAILPOINT: &str = "VENDOR_MATCH_FAILPOINT";

struct Fixture {
    db: TestDb,
    dir: tempfile::TempDir,
    server: Server,
    /// expected.json of the generated data.
    planted: serde_json::Value,
}

fn fixture(name: &str, size: &[&str], serve: &[&str]) -> Fixture {
    let db = TestDb::new(name);
    let dir = tempfile::tempdir().unwrap();
    let planted = generate(&db, dir.path(), size);
    let server = Server::start(dir.path(), serve);
    Fixture { db, dir, server, planted }
}

impl Fixture {
    fn expected(&self, days: i64) -> Vec<WarehouseRow> {
        expected_rows(&vendor_users(self.dir.path()), &internal_users(&self.db), "2017-02-02", days)
    }

    fn command(&self, env: &TestEnv, args: &[&str]) -> Command {
        small_budget_command(env, args, &self.server.url, &self.db.url())
    }

    fn manifest(&self, env: &TestEnv) -> serde_json::Value {
        let status = status_json(env);
        let id = status["run_id"].as_str().unwrap();
        serde_json::from_slice(&std::fs::read(env.work_dir().join(id).join("manifest.json")).unwrap()).unwrap()
    }
}

const SMALL: [&str; 6] = ["--vendor-users", "1500", "--internal-users", "3000", "--page-size", "100"];

#[test]
fn every_failpoint_aborts_and_resume_gives_the_uninterrupted_rows() {
    let f = fixture("failpoints", &SMALL, &[]);
    let expected = f.expected(30);
    let points = [
        "extract.vendor.fetching=5",
        "extract.vendor.page=7",
        "sort.spill_unpublished=3",
        "extract.vendor.checkpoint=2",
        "extract.vendor.done",
        "extract.internal.rows=1500",
        "extract.internal.checkpoint=2",
        "match.rows=2000",
        "load.copying=1",
        "load.copied",
        "load.committing",
        "manifest.tmp_written=3",
        "stage.completed=2",
    ];
    // Every abort point of the binary is walked.
    for name in vendor_match::failpoint::POINTS {
        assert!(points.iter().any(|p| p.split('=').next() == Some(*name)), "failpoint {name} is not walked");
    }
    for point in points {
        let env = TestEnv::new();
        let aborted = f.command(&env, &["run"]).env(FAILPOINT, point).output().unwrap();
        assert_eq!(aborted.status.code(), None, "{point}: the process should have aborted\n{}", stderr(&aborted));
        let resumed = f.command(&env, &["resume"]).output().unwrap();
        assert_exit(&resumed, 0);
        assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &expected);
        // Extract continued from its checkpoint instead of starting over.
        let extract = &f.manifest(&env)["extract_output"];
        if point.starts_with("extract.vendor.page") {
            assert!(extract["fetch"]["pages_resumed"].as_u64().unwrap() > 0, "{point}: finished pages fetched again");
        }
        if point.starts_with("extract.internal.checkpoint") {
            assert!(extract["internal_rows_resumed"].as_u64().unwrap() > 0, "{point}: finished rows read again");
        }
        // Pages read again after the crash are not counted as repeated ids.
        assert_eq!(extract["duplicate_vendor_ids"], f.planted["duplicate_vendor_ids"], "{point}");
    }
}

#[test]
fn killed_at_random_moments_then_resumed_gives_the_uninterrupted_rows() {
    let f = fixture(
        "kill9",
        &["--vendor-users", "8000", "--internal-users", "50000", "--page-size", "50"],
        &["--latency-ms", "30"],
    );
    let expected = f.expected(30);
    let env = TestEnv::new();
    let mut rng = fastrand::Rng::with_seed(20170202);
    let mut kills = 0;
    for round in 0..6 {
        let command = if round == 0 { "run" } else { "resume" };
        let mut child = f.command(&env, &[command, "--concurrency", "2"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(100..700)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    eprintln!("{kills} of 6 rounds were killed before finishing");
    assert!(kills >= 3, "only {kills} kills landed: make the run longer");
    let resumed = f.command(&env, &["resume"]).output().unwrap();
    assert_exit(&resumed, 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &expected);
}

#[test]
fn a_match_that_fails_leaves_the_load_pending_and_resume_finishes_once_it_can_read() {
    let f = fixture("matchfail", &SMALL, &[]);
    let env = TestEnv::new();
    assert_exit(&f.command(&env, &["extract", "--new"]).output().unwrap(), 0);
    // Damage a vendor spill file: match must fail rather than lose its rows.
    let manifest = f.manifest(&env);
    let spill = std::path::PathBuf::from(manifest["extract_output"]["vendor_spills"][0]["path"].as_str().unwrap());
    let original = std::fs::read(&spill).unwrap();
    let mut damaged = original.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    std::fs::write(&spill, &damaged).unwrap();
    let failed = f.command(&env, &["resume"]).output().unwrap();
    assert_exit(&failed, 1);
    assert!(stderr(&failed).contains("damaged"), "{}", stderr(&failed));
    let status = status_json(&env);
    let state = |stage: usize| status["stages"][stage]["state"].as_str().unwrap().to_string();
    assert_eq!((state(1), state(2)), ("failed".to_string(), "pending".to_string()), "{status}");
    let tables: i64 =
        f.db.client()
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname LIKE 'platform_user_activity%' AND relkind IN ('r', 'p') \
                 AND relname <> 'platform_user_activity_loads'",
                &[],
            )
            .unwrap()
            .get(0);
    assert_eq!(tables, 1, "only the (empty) table: no partition, no staging table left");
    std::fs::write(&spill, &original).unwrap();
    assert_exit(&f.command(&env, &["resume"]).output().unwrap(), 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &f.expected(30));
}

#[test]
fn a_source_connection_ended_mid_stream_is_continued_on_a_new_one() {
    // Enough rows that the stream can't have arrived whole before the session ends.
    let f = fixture("sourcedrop", &["--vendor-users", "1500", "--internal-users", "200000", "--page-size", "100"], &[]);
    let env = TestEnv::new();
    let mut run = Watched::spawn(f.command(&env, &["run"]).env(FAILPOINT, "extract.internal.rows=1500:pause=3000"));
    // While the stream waits at its 1,500th row, the server ends the session.
    run.wait_for("failpoint extract.internal.rows: pausing");
    assert_eq!(end_sessions(&f.db, "query LIKE 'COPY (SELECT%'"), 1);
    let output = run.finish();
    assert_exit(&output, 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &f.expected(30));
    assert_eq!(f.manifest(&env)["extract_output"]["source_reconnects"], 1);
    // The reconnect is a log line of its own (a warning: shown even with --quiet).
    let reconnects = stderr(&output).lines().filter(|l| l.contains("database session lost; reconnecting")).count();
    assert_eq!(reconnects, 1, "{}", stderr(&output));
}

#[test]
fn a_failed_load_keeps_the_old_rows_and_a_dropped_one_is_retried() {
    let f = fixture("loadfault", &SMALL, &[]);
    let env = TestEnv::new();
    // Old rows: the same date with a 10-day window.
    assert_exit(&f.command(&env, &["run", "--active-days", "10"]).output().unwrap(), 0);
    let old = warehouse_rows(&f.db, TABLE, "2017-02-02");
    assert_rows_eq(&old, &f.expected(10));

    let env = TestEnv::new();
    let aborted = f.command(&env, &["run"]).env(FAILPOINT, "load.copied").output().unwrap();
    assert_eq!(aborted.status.code(), None);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &old);

    // The warehouse ends the session before the commit: the load is tried again.
    let mut load = Watched::spawn(f.command(&env, &["load"]).env(FAILPOINT, "load.committing:pause=3000"));
    load.wait_for("failpoint load.committing: pausing");
    assert_eq!(end_sessions(&f.db, "state = 'idle in transaction'"), 1);
    let dropped = load.finish();
    assert_exit(&dropped, 0);
    assert_rows_eq(&warehouse_rows(&f.db, TABLE, "2017-02-02"), &f.expected(30));
}

#[test]
fn overlapping_loads_of_one_date_take_turns_and_a_run_in_use_is_refused() {
    let db = seeded_db("overlap");
    let server = hand_written_server();
    let (first, second) = (TestEnv::new(), TestEnv::new());
    let url = db.url();
    let args = hand_written_run(&server.url, &url);
    // The first load holds its transaction open for 3 s before committing.
    let mut slow = first
        .command(&args)
        .env(FAILPOINT, "load.committing:pause=3000")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Nobody else may work on a run while its process lives.
    let status = status_json(&first);
    let busy = first.run(&["resume", "--quiet", "--run-id", status["run_id"].as_str().unwrap()]);
    assert_exit(&busy, 1);
    assert!(stderr(&busy).contains("in use by another vendor-match process"), "{}", stderr(&busy));
    // A second run of the same date reaches its load while the first holds its transaction.
    assert_exit(&second.run(&args), 0);
    assert!(slow.wait().unwrap().success());
    let expected = expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);
}

#[test]
fn rejects_recorded_before_a_crash_are_kept_by_the_resume() {
    let db = seeded_db("rejects_resume");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let args = hand_written_run(&server.url, &url);
    // The vendor side has finished (its two rejects recorded) when the run dies.
    let aborted = env.command(&args).env(FAILPOINT, "extract.vendor.done").output().unwrap();
    assert_eq!(aborted.status.code(), None, "the run should have aborted\n{}", stderr(&aborted));
    let mut resume = args.clone();
    resume[0] = "resume";
    assert_exit(&env.run(&resume), 0);
    let run_id = status_json(&env)["run_id"].as_str().unwrap().to_string();
    let rejects = std::fs::read_to_string(env.work_dir().join(run_id).join("rejects.jsonl")).unwrap();
    let ids: Vec<serde_json::Value> =
        rejects.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].clone()).collect();
    assert_eq!(ids.len(), 2, "{rejects}");
    assert!(ids.contains(&serde_json::json!(114)), "{rejects}");
}

/// A tmpfs of `size` mounted on `dir` (made first) while it lives: a disk
/// that fills. Mounting needs root, as CI runs the tests.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let status =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "mounting a tmpfs on {} failed: this test needs root",
            dir.display()
        );
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_names_the_file_being_written_and_status_says_interrupted() {
    let f = fixture("fulldisk", &SMALL, &[]);
    let env = TestEnv::new();
    // Room enough for the preflight's estimate; the disk fills once the
    // extract has started (down to 96 KiB free), as another process might fill it.
    let _disk = SmallDisk::mount(&env.work_dir(), "16m");
    let mut running = Watched::spawn(f.command(&env, &["run"]).env(FAILPOINT, "extract.vendor.page=1:pause=3000"));
    running.wait_for("failpoint extract.vendor.page: pausing");
    fill_leaving(&env.work_dir().join(".filler"), 96 << 10);
    let output = running.finish();
    assert_exit(&output, 1);
    let err = stderr(&output);
    // The error and its causes: the stage's own failure, naming the file it
    // was writing, not the manifest (which a warning line may mention).
    let error: Vec<&str> = err.lines().skip_while(|l| !l.starts_with("error:")).collect();
    assert!(error[0].contains("stopped in extract"), "{err}");
    let error = error.join("\n");
    assert!(error.contains("No space left on device") && !error.contains("manifest"), "{err}");
    assert!(error.contains(".spill") || error.contains(".jsonl") || error.contains("checkpoint"), "{err}");
    // Whether or not the failure could be recorded, no stage reads as running.
    let status = status_json(&env);
    let states: Vec<&str> = status["stages"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert!(!states.contains(&"running"), "{status}");
    assert!(states[0] == "failed" || states[0] == "interrupted", "{status}");
}
