//! Damaged run files: whatever is changed, cut, swapped or repeated in a
//! run's directory or its manifest, `resume` either loads the exact rows of
//! the undamaged run or stops with an error naming the file, never other rows.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";
const DATE: &str = "2017-02-02";

struct Fixture {
    db: TestDb,
    _pages: tempfile::TempDir,
    server: Server,
    expected: Vec<WarehouseRow>,
}

fn fixture(name: &str) -> Fixture {
    let db = TestDb::new(name);
    let pages = tempfile::tempdir().unwrap();
    generate(&db, pages.path(), &["--vendor-users", "1200", "--internal-users", "1500", "--page-size", "60"]);
    let server = Server::start(pages.path(), &[]);
    let expected = expected_rows(&vendor_users(pages.path()), &internal_users(&db), DATE, 30);
    Fixture { db, _pages: pages, server, expected }
}

impl Fixture {
    /// The binary in `env`, reading the fixture's vendor and database, with a
    /// budget small enough for several spill files a side.
    fn command(&self, env: &TestEnv, args: &[&str]) -> Command {
        small_budget_command(env, args, &self.server.url, &self.db.url())
    }

    fn run(&self, env: &TestEnv, args: &[&str]) -> Output {
        self.command(env, args).output().unwrap()
    }

    /// The date's rows; none when the table was never made.
    fn rows(&self) -> Vec<WarehouseRow> {
        warehouse_rows_on(self, DATE)
    }

    fn drop_table(&self) {
        self.db.client().batch_execute(&format!("DROP TABLE IF EXISTS {TABLE} CASCADE")).unwrap();
    }
}

/// The one run of `env`'s work dir.
fn run_dir(env: &TestEnv) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(env.work_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.into_iter().next().unwrap()
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn a_changed_row_segment_is_never_loaded_and_the_error_says_how_to_make_it_again() {
    let f = fixture("segment");
    let env = TestEnv::new();
    assert_exit(&f.run(&env, &["extract"]), 0);
    // Extract's files kept: the error then says to make the segments again from them.
    assert_exit(&f.run(&env, &["match", "--keep-intermediate"]), 0);
    let run = run_dir(&env);
    let id = run.file_name().unwrap().to_str().unwrap().to_string();

    // Six bytes of a last name replaced, as a hand or a disk might.
    let name = f.expected.iter().filter_map(|r| r.lastname.clone()).find(|n| n.len() >= 6).unwrap();
    let segment = files(&run.join("match")).into_iter().find(|p| {
        let bytes = std::fs::read(p).unwrap();
        bytes.windows(name.len()).any(|w| w == name.as_bytes())
    });
    let segment = segment.expect("the name is in a segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.windows(name.len()).position(|w| w == name.as_bytes()).unwrap();
    bytes[at..at + 6].copy_from_slice(b"XXXXXX");
    std::fs::write(&segment, &bytes).unwrap();

    let output = f.run(&env, &["resume"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains(&segment.display().to_string()) && err.contains("is damaged"), "{err}");
    let redo = format!("vendor-match match --run-id {id} && vendor-match resume --run-id {id}");
    assert!(err.contains(&redo), "{err}");
    assert!(f.rows().is_empty(), "no row of a damaged run is loaded");

    // Doing what the error says gives the exact rows.
    assert_exit(&f.run(&env, &["match", "--run-id", &id]), 0);
    assert_exit(&f.run(&env, &["resume", "--run-id", &id]), 0);
    assert_rows_eq(&f.rows(), &f.expected);
}

#[test]
fn a_manifest_edited_by_hand_is_refused_not_obeyed() {
    let f = fixture("manifest");
    let env = TestEnv::new();
    assert_exit(&f.run(&env, &["extract"]), 0);
    let manifest_path = run_dir(&env).join("manifest.json");
    let original = std::fs::read(&manifest_path).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 2] = [
        ("the vendor files removed", |m| m["extract_output"]["vendor_spills"] = serde_json::json!([])),
        ("an internal file listed twice", |m| {
            let list = m["extract_output"]["internal_spills"].as_array_mut().unwrap();
            list.push(list[0].clone());
        }),
    ];
    for (what, edit) in edits {
        let mut manifest: serde_json::Value = serde_json::from_slice(&original).unwrap();
        edit(&mut manifest);
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        let output = f.run(&env, &["resume"]);
        assert_exit(&output, 1);
        let err = stderr(&output);
        assert!(err.contains("manifest can't be trusted") && err.contains("manifest.json is damaged"), "{what}: {err}");
        assert!(f.rows().is_empty(), "{what}: nothing is loaded");
    }
    std::fs::write(&manifest_path, &original).unwrap();
    assert_exit(&f.run(&env, &["resume"]), 0);
    assert_rows_eq(&f.rows(), &f.expected);
}

/// One random change to one file.
fn damage(path: &Path, rng: &mut fastrand::Rng, all: &[PathBuf]) -> String {
    let mut bytes = std::fs::read(path).unwrap();
    let original = bytes.clone();
    let kind = rng.u8(0..5);
    let what = match kind {
        0 if !bytes.is_empty() => {
            let flips = rng.usize(1..4);
            for _ in 0..flips {
                let at = rng.usize(..bytes.len());
                bytes[at] ^= 1 << rng.u8(0..8);
            }
            format!("{flips} bit flip(s)")
        }
        1 if !bytes.is_empty() => {
            let len = rng.usize(..bytes.len());
            bytes.truncate(len);
            format!("cut to {len} bytes")
        }
        2 if bytes.len() > 2 => {
            // A run of bytes repeated (an entry or a record written twice).
            let from = rng.usize(..bytes.len() - 1);
            let to = rng.usize(from + 1..=bytes.len().min(from + 200));
            let piece = bytes[from..to].to_vec();
            bytes.splice(to..to, piece);
            format!("bytes {from}..{to} repeated")
        }
        3 if bytes.len() > 4 => {
            // Two stretches swapped (entries or records reordered).
            let half = bytes.len() / 2;
            let len = rng.usize(1..=half.min(200));
            let a = rng.usize(..=half - len);
            let b = rng.usize(half..=bytes.len() - len);
            for i in 0..len {
                bytes.swap(a + i, b + i);
            }
            format!("bytes {a} and {b} ({len}) swapped")
        }
        _ => {
            // Another file of the same kind in its place.
            let kind = |p: &Path| p.extension().map(|e| e.to_owned());
            let others: Vec<&PathBuf> = all.iter().filter(|p| *p != path && kind(p) == kind(path)).collect();
            match (!others.is_empty()).then(|| others[rng.usize(..others.len())]) {
                Some(other) => {
                    bytes = std::fs::read(other).unwrap();
                    format!("replaced by {}", other.file_name().unwrap().to_string_lossy())
                }
                None => {
                    bytes.push(b'\n');
                    "a byte appended".into()
                }
            }
        }
    };
    if bytes == original {
        bytes.push(0);
    }
    std::fs::write(path, &bytes).unwrap();
    what
}

/// Runs made to three points, each then damaged in one file at random many
/// times over: after extract, after match, and inside extract (a checkpoint
/// and the spill files it lists).
#[test]
fn random_damage_to_any_file_of_a_run_gives_the_exact_rows_or_an_error_naming_the_file() {
    let f = fixture("fuzz");
    let made: Vec<(&str, TestEnv)> = ["after extract", "after match", "inside extract"]
        .into_iter()
        .map(|point| {
            let env = TestEnv::new();
            match point {
                "after extract" => assert_exit(&f.run(&env, &["extract"]), 0),
                "after match" => {
                    assert_exit(&f.run(&env, &["extract"]), 0);
                    assert_exit(&f.run(&env, &["match"]), 0);
                }
                _ => {
                    let aborted = f
                        .command(&env, &["run"])
                        .env("VENDOR_MATCH_FAILPOINT", "extract.internal.checkpoint=3")
                        .output();
                    assert_eq!(aborted.unwrap().status.code(), None, "the run should have aborted");
                }
            }
            (point, env)
        })
        .collect();

    let mut rng = fastrand::Rng::with_seed(std::env::var("DAMAGE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(9));
    let (mut loaded, mut refused) = (0, 0);
    for round in 0..60 {
        let (point, template) = &made[round % made.len()];
        let env = TestEnv::new();
        copy_dir(&template.work_dir(), &env.work_dir());
        let run = run_dir(&env);
        // After match, the resume only loads: extract's files are not read again.
        let read_again = |p: &PathBuf| *point != "after match" || !p.starts_with(run.join("extract"));
        let candidates: Vec<PathBuf> =
            files(&run).into_iter().filter(|p| !p.ends_with("lock") && read_again(p)).collect();
        let target = &candidates[rng.usize(..candidates.len())];
        let what = damage(target, &mut rng, &candidates);
        let case = format!("round {round}, {point}: {} {what}", target.strip_prefix(&run).unwrap().display());

        f.drop_table();
        let output = f.run(&env, &["resume"]);
        let rows = f.rows();
        if output.status.code() == Some(0) {
            loaded += 1;
            assert_rows_eq(&rows, &f.expected);
        } else {
            refused += 1;
            assert_exit(&output, 1);
            let err = stderr(&output);
            let name = target.file_name().unwrap().to_string_lossy().into_owned();
            // A file is named; list damage names the extract directory.
            let named = err.contains(&name) || err.contains("extract directory");
            assert!(named && !err.contains("internal error"), "{case}: the error does not name the file\n{err}");
            // Rows loaded before the report (whose sample is damaged) are the exact ones; otherwise none.
            if !rows.is_empty() {
                assert_rows_eq(&rows, &f.expected);
            }
        }
        eprintln!("{case}: exit {:?}", output.status.code());
    }
    eprintln!("{loaded} damaged runs loaded the exact rows, {refused} were refused");
    assert!(refused >= 30, "most damage must be caught: only {refused} of 60 runs were refused");
}

#[test]
fn resume_without_a_run_id_names_an_unreadable_latest_run_and_leaves_the_older_one_alone() {
    let f = fixture("latest");
    let env = TestEnv::new();
    assert_exit(&f.run(&env, &["extract", "--report-date", "2016-01-01"]), 0);
    let older = run_dir(&env);
    // Run ids made in the same second still sort by their creation time.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_exit(&f.run(&env, &["extract", "--new"]), 0);
    let newest = std::fs::read_dir(env.work_dir()).unwrap().map(|e| e.unwrap().path()).find(|p| *p != older).unwrap();
    let manifest = newest.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replacen("\"attempts\": 1", "\"attempts\": 2", 1)).unwrap();

    let output = f.run(&env, &["resume"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    let newest_id = newest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&format!("the latest run {newest_id} can't be read")), "{err}");
    assert!(err.contains("--run-id"), "{err}");
    let status = status_json_of(&env, older.file_name().unwrap().to_str().unwrap());
    assert_eq!(status["next_stage"], "match", "the older run is left as it was: {status}");
    assert!(f.rows().is_empty() && warehouse_rows_on(&f, "2016-01-01").is_empty(), "nothing is loaded");
}

fn status_json_of(env: &TestEnv, id: &str) -> serde_json::Value {
    let output = env.run(&["status", "--json", "--run-id", id]);
    assert_exit(&output, 0);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The rows of `date`; none when the table was never made.
fn warehouse_rows_on(f: &Fixture, date: &str) -> Vec<WarehouseRow> {
    if !table_exists(f) {
        return Vec::new();
    }
    warehouse_rows(&f.db, TABLE, date)
}

fn table_exists(f: &Fixture) -> bool {
    let sql = format!("SELECT to_regclass('{TABLE}') IS NOT NULL");
    f.db.client().query_one(&sql, &[]).unwrap().get(0)
}
