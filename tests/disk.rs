//! Disk use (issue 10): intermediate files removed once consumed (kept with
//! --keep-intermediate), a stage whose inputs were removed says how to make
//! them again, the run directory's high-water measured, and a full disk
//! named with the file and the space needed, then resumed once space is freed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";
const DATE: &str = "2017-02-02";

struct Fixture {
    db: TestDb,
    pages: tempfile::TempDir,
    server: Server,
}

fn fixture(name: &str, size: &[&str]) -> Fixture {
    let db = TestDb::new(name);
    let pages = tempfile::tempdir().unwrap();
    generate(&db, pages.path(), size);
    let server = Server::start(pages.path(), &[]);
    Fixture { db, pages, server }
}

impl Fixture {
    fn expected(&self) -> Vec<WarehouseRow> {
        expected_rows(&vendor_users(self.pages.path()), &internal_users(&self.db), DATE, 30)
    }

    fn command(&self, env: &TestEnv, args: &[&str]) -> Command {
        small_budget_command(env, args, &self.server.url, &self.db.url())
    }

    fn run(&self, env: &TestEnv, args: &[&str]) -> Output {
        self.command(env, args).output().unwrap()
    }

    fn rows(&self) -> Vec<WarehouseRow> {
        warehouse_rows(&self.db, TABLE, DATE)
    }
}

const SMALL: [&str; 6] = ["--vendor-users", "1500", "--internal-users", "3000", "--page-size", "100"];

/// The run's directory and its manifest.
fn run_of(env: &TestEnv) -> (PathBuf, serde_json::Value) {
    let status = status_json(env);
    let dir = env.work_dir().join(status["run_id"].as_str().unwrap());
    let manifest = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    (dir, manifest)
}

/// The names of the files in `dir` ending in `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// The file names a manifest lists under `output`/`lists` (paths of objects).
fn listed(manifest: &serde_json::Value, output: &str, lists: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = lists
        .iter()
        .flat_map(|list| manifest[output][*list].as_array().unwrap().iter())
        .map(|file| Path::new(file["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const SPILL_LISTS: [&str; 3] = ["vendor_spills", "vendor_drop_spills", "internal_spills"];

#[test]
fn a_run_removes_its_sorted_runs_and_segments_unless_told_to_keep_them() {
    let f = fixture("diskremove", &SMALL);
    let expected = f.expected();

    let env = TestEnv::new();
    assert_exit(&f.run(&env, &["run"]), 0);
    assert_rows_eq(&f.rows(), &expected);
    let (dir, manifest) = run_of(&env);
    assert!(listed(&manifest, "extract_output", &SPILL_LISTS).len() > 3, "several spill files a side");
    assert_eq!(files_ending(&dir.join("extract"), ".spill"), Vec::<String>::new());
    assert_eq!(files_ending(&dir.join("match"), ".pgcopy"), Vec::<String>::new());
    assert!(dir.join("match/sample.jsonl").exists(), "the report's sample stays");
    for stage in ["extract", "match"] {
        assert!(manifest[stage]["intermediate_removed_at"].is_string(), "{stage}: {manifest:#}");
    }
    assert!(manifest["load"]["intermediate_removed_at"].is_null());
    // Every stage measured the run directory; the high-water is the largest.
    let status = status_json(&env);
    let peaks: Vec<u64> =
        status["stages"].as_array().unwrap().iter().map(|s| s["disk_peak_bytes"].as_u64().unwrap()).collect();
    let high = &status["disk_high_water"];
    assert_eq!(high["bytes"].as_u64(), peaks.iter().max().copied(), "{status:#}");
    assert!(high["bytes"].as_u64().unwrap() > 100_000, "the spill files alone are larger: {status:#}");
    let stage = high["stage"].as_str().unwrap();
    let text = stdout(&env.run(&["status"]));
    assert!(text.contains("disk high-water: ") && text.contains(&format!(" ({stage})\n")), "{text}");
    let report = std::fs::read_to_string(env.output()).unwrap();
    let line = report.lines().find(|l| l.starts_with("Disk high-water: ")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.ends_with(&format!(" MiB ({stage})")), "{line}");

    // Kept: every file the manifest lists is still there, and the same rows loaded.
    let kept = TestEnv::new();
    assert_exit(&f.run(&kept, &["run", "--keep-intermediate"]), 0);
    assert_rows_eq(&f.rows(), &expected);
    let (dir, manifest) = run_of(&kept);
    assert_eq!(files_ending(&dir.join("extract"), ".spill"), listed(&manifest, "extract_output", &SPILL_LISTS));
    assert_eq!(files_ending(&dir.join("match"), ".pgcopy"), listed(&manifest, "match_output", &["segments"]));
    assert!(manifest["extract"]["intermediate_removed_at"].is_null());
}

#[test]
fn a_stage_whose_inputs_were_removed_says_which_commands_make_them_again() {
    let f = fixture("diskredo", &SMALL);
    let env = TestEnv::new();
    assert_exit(&f.run(&env, &["run"]), 0);
    let (_, manifest) = run_of(&env);
    let id = manifest["run_id"].as_str().unwrap().to_string();
    let redo = format!("vendor-match extract --run-id {id} && vendor-match resume --run-id {id}");
    for stage in ["match", "load"] {
        let output = f.run(&env, &[stage, "--run-id", &id]);
        assert_exit(&output, 2);
        assert_one_error_line(&output);
        let err = stderr(&output);
        assert!(err.starts_with("error: ") && err.contains("were removed") && err.contains(&redo), "{stage}: {err}");
    }
    // Nothing was changed by the refusals.
    assert_eq!(run_of(&env).1, manifest);

    // Doing what the error says gives the same rows.
    f.db.client().batch_execute(&format!("DROP TABLE {TABLE} CASCADE")).unwrap();
    assert_exit(&f.run(&env, &["extract", "--run-id", &id]), 0);
    assert_exit(&f.run(&env, &["resume", "--run-id", &id]), 0);
    assert_rows_eq(&f.rows(), &f.expected());
    // A completed run resumes to nothing.
    assert_exit(&f.run(&env, &["resume", "--run-id", &id]), 0);
}

#[test]
fn a_load_killed_before_its_commit_resumes_from_the_segments() {
    let f = fixture("diskkill", &SMALL);
    let env = TestEnv::new();
    let aborted = f.command(&env, &["run"]).env("VENDOR_MATCH_FAILPOINT", "load.committing").output().unwrap();
    assert_eq!(aborted.status.code(), None, "the run should have aborted\n{}", stderr(&aborted));
    let (dir, manifest) = run_of(&env);
    // Match completed: its inputs are gone, its segments are what the load needs.
    assert_eq!(manifest["match"]["state"], "completed", "{manifest:#}");
    assert_eq!(files_ending(&dir.join("extract"), ".spill"), Vec::<String>::new());
    let segments = listed(&manifest, "match_output", &["segments"]);
    assert!(!segments.is_empty());
    assert_eq!(files_ending(&dir.join("match"), ".pgcopy"), segments);

    assert_exit(&f.run(&env, &["resume"]), 0);
    assert_rows_eq(&f.rows(), &f.expected());
    assert_eq!(files_ending(&dir.join("match"), ".pgcopy"), Vec::<String>::new());
}

/// A tmpfs mounted on a directory for the test's length (we are root).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, bytes: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let size = format!("size={}k", bytes / 1024);
        let status = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "mounting a tmpfs on {} failed: this test needs root",
            dir.display()
        );
        Tmpfs(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status();
        assert!(status.is_ok_and(|s| s.success()), "remounting {} failed", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_disk_that_fills_mid_run_is_named_with_the_space_needed_and_resume_finishes_once_freed() {
    let f = fixture("diskfull", &["--vendor-users", "12000", "--internal-users", "24000", "--page-size", "200"]);
    // How much a run needs at its peak, measured on a roomy disk.
    let roomy = TestEnv::new();
    assert_exit(&f.run(&roomy, &["run"]), 0);
    let high = status_json(&roomy)["disk_high_water"]["bytes"].as_u64().unwrap();
    assert!(high > 4 << 20, "the run should need megabytes: {high}");

    // Another date, so that its rows are told apart from the roomy run's.
    let date = "2017-02-03";
    let rows = || warehouse_rows(&f.db, TABLE, date);
    let env = TestEnv::new();
    // Room for the preflight's estimate; once the extract has started, the
    // disk is filled down to half of the run's need (as another process
    // might fill it): it fills while extract or match writes its files.
    let disk = Tmpfs::mount(&env.work_dir(), 64 << 20);
    let mut command = f.command(&env, &["run", "--report-date", date]);
    let mut running = Watched::spawn(command.env("VENDOR_MATCH_FAILPOINT", "extract.vendor.page=1:pause=2000"));
    running.wait_for("failpoint extract.vendor.page: pausing");
    fill_leaving(&env.work_dir().join(".filler"), high / 2);
    let output = running.finish();
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    let err = stderr(&output);
    eprintln!("{err}");
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    let work = env.work_dir().canonicalize().unwrap();
    let written = format!("no space left on device writing {}/", work.display());
    assert!(line.contains(&written), "the error line names the file: {err}");
    assert!(line.contains(" more needed)") && line.contains("at least "), "and the space needed: {err}");
    assert!(line.contains("continue with: vendor-match resume --run-id "), "{err}");
    assert!(rows().is_empty(), "nothing loaded");

    disk.resize("512m");
    let resumed = f.run(&env, &["resume"]);
    assert_exit(&resumed, 0);
    let expected = expected_rows(&vendor_users(f.pages.path()), &internal_users(&f.db), date, 30);
    assert_rows_eq(&rows(), &expected);
}
