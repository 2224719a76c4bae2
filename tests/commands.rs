//! The commands around the pipeline: `inspect` (intermediate files as CSV),
//! `runs` and `gc` (a work dir's runs), `completions` and `man`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::naive::{expected_rows, internal_users, vendor_users, Person};
use crate::util::*;

/// CSV on `output`'s stdout: the header, then each row as column -> value.
fn csv_rows(output: &std::process::Output) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|record| header.iter().cloned().zip(record.unwrap().iter().map(String::from)).collect())
        .collect();
    (header, rows)
}

/// An empty CSV field is NULL (and an empty text: `inspect` writes both alike).
fn value(row: &BTreeMap<String, String>, column: &str) -> Option<String> {
    let text = row.get(column).unwrap_or_else(|| panic!("no column {column} in {row:?}"));
    (!text.is_empty()).then(|| text.clone())
}

fn parsed<T: std::str::FromStr>(row: &BTreeMap<String, String>, column: &str) -> Option<T>
where
    T::Err: std::fmt::Debug,
{
    value(row, column).map(|text| text.parse().unwrap())
}

/// A segment's CSV row as the warehouse row it loads as.
fn warehouse_row(row: &BTreeMap<String, String>) -> WarehouseRow {
    let raw = |side: &str| {
        ["firstname", "lastname", "specialty", "practice_location"].map(|f| value(row, &format!("{side}_{f}_raw")))
    };
    WarehouseRow {
        status: value(row, "match_status").unwrap(),
        internal_id: parsed(row, "internal_user_id"),
        vendor_id: parsed(row, "vendor_user_id"),
        match_key: value(row, "match_key"),
        firstname: value(row, "firstname"),
        lastname: value(row, "lastname"),
        specialty: value(row, "specialty"),
        location: value(row, "practice_location"),
        internal_active: parsed(row, "internal_is_active"),
        vendor_active: parsed(row, "vendor_is_active"),
        vendor_last_active: parsed(row, "vendor_last_active_date"),
        internal_last_active: parsed(row, "internal_last_active_date"),
        internal_classification: value(row, "internal_classification"),
        internal_platform: value(row, "internal_platform_registered_on"),
        vendor_classification: value(row, "vendor_classification"),
        internal_raw: raw("internal"),
        vendor_raw: raw("vendor"),
    }
}

/// The naive join's row with empty texts as NULL, as CSV shows them.
fn as_csv_shows(mut row: WarehouseRow) -> WarehouseRow {
    let blank = |v: &mut Option<String>| {
        if v.as_deref() == Some("") {
            *v = None;
        }
    };
    row.internal_raw.iter_mut().chain(row.vendor_raw.iter_mut()).for_each(blank);
    for v in [&mut row.internal_classification, &mut row.internal_platform, &mut row.vendor_classification] {
        blank(v);
    }
    row
}

/// The files of the run's `stage` directory whose names start with `prefix` and end with `suffix`, sorted.
fn stage_files(run_dir: &Path, stage: &str, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(run_dir.join(stage))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    files.sort();
    files
}

fn inspect(env: &TestEnv, path: &Path) -> std::process::Output {
    env.run(&["inspect", path.to_str().unwrap()])
}

/// Flips one bit in the middle of `path`.
fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

fn assert_damage_named(output: &std::process::Output, path: &Path) {
    assert_exit(output, 1);
    assert_one_error_line(output);
    let err = stderr(output);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(line.contains(&path.display().to_string()) && line.contains("damaged"), "{err}");
}

#[test]
fn inspect_prints_sorted_runs_and_segments_whose_rows_are_the_naive_join() {
    let db = TestDb::new("inspect");
    let env = TestEnv::new();
    let pages = env.path().join("fixtures");
    generate(&db, &pages, &["--vendor-users", "1500", "--internal-users", "2500", "--page-size", "100"]);
    let server = Server::start(&pages, &[]);
    let url = db.url();
    // Stage by stage: each stage's files are there until the next stage has used them.
    assert_exit(&small_budget_command(&env, &["extract"], &server.url, &url).output().unwrap(), 0);
    let status = status_json(&env);
    let run_dir = env.work_dir().join(status["run_id"].as_str().unwrap());

    // Our records: every user once, with the key the naive join gives and the fields as read.
    let internal: BTreeMap<i64, Person> = internal_users(&db).into_iter().map(|p| (p.id, p)).collect();
    let expected =
        expected_rows(&vendor_users(&pages), &internal.values().cloned().collect::<Vec<_>>(), "2017-02-02", 30);
    let internal_files = stage_files(&run_dir, "extract", "internal-", ".spill");
    assert!(internal_files.len() > 1, "a small budget writes several sorted runs: {internal_files:?}");
    let mut seen = Vec::new();
    for file in &internal_files {
        let output = inspect(&env, file);
        assert_exit(&output, 0);
        let (header, rows) = csv_rows(&output);
        assert_eq!(header[..2], ["match_key", "id"]);
        let keys: Vec<String> = rows.iter().map(|r| r["match_key"].clone()).collect();
        for row in &rows {
            let id: i64 = parsed(row, "id").unwrap();
            let person = &internal[&id];
            let key = expected.iter().find(|r| r.internal_id == Some(id)).unwrap().match_key.clone();
            assert_eq!(value(row, "match_key"), key, "{row:?}");
            assert_eq!(value(row, "firstname"), person.firstname.clone().filter(|s| !s.is_empty()), "{row:?}");
            assert_eq!(value(row, "location"), person.location.clone().filter(|s| !s.is_empty()), "{row:?}");
            assert_eq!(parsed(row, "last_active_date"), person.last_active, "{row:?}");
            seen.push(id);
        }
        // Sorted by key: the records of one key come together.
        let mut groups = keys.clone();
        groups.dedup();
        let mut distinct = groups.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(groups.len(), distinct.len(), "{file:?}: a key's records are apart");
    }
    seen.sort();
    assert_eq!(seen, internal.keys().copied().collect::<Vec<_>>());
    let vendor_files = stage_files(&run_dir, "extract", "vendor-0", ".spill");
    let (header, vendor_rows) = csv_rows(&inspect(&env, &vendor_files[0]));
    assert_eq!(header[..5], ["match_key", "page", "position", "id", "firstname"]);
    let vendor_ids: Vec<i64> = vendor_users(&pages).iter().map(|p| p.id).collect();
    assert!(!vendor_rows.is_empty());
    assert!(vendor_rows.iter().all(|r| vendor_ids.contains(&parsed(r, "id").unwrap())));

    // A changed byte, a cut: the file is named as damaged, exit 1, the rows
    // before a cut printed first. (Put back after: match reads the files.)
    let file = &internal_files[0];
    let bytes = std::fs::read(file).unwrap();
    flip_a_byte(file);
    assert_damage_named(&inspect(&env, file), file);
    std::fs::write(file, &bytes[..bytes.len() - 20]).unwrap();
    let output = inspect(&env, file);
    assert_damage_named(&output, file);
    assert!(csv_rows(&output).1.len() > 1, "the rows before the cut are printed");
    std::fs::write(file, &bytes).unwrap();

    assert_exit(&small_budget_command(&env, &["match"], &server.url, &url).output().unwrap(), 0);
    let segments = stage_files(&run_dir, "match", "rows-", ".pgcopy");
    assert!(!segments.is_empty());
    let mut rows = Vec::new();
    for segment in &segments {
        let output = inspect(&env, segment);
        assert_exit(&output, 0);
        assert_eq!(stderr(&output), "", "a listed segment is checked against the manifest, no warning");
        let (header, segment_rows) = csv_rows(&output);
        assert_eq!(header[..4], ["report_date", "run_id", "match_status", "match_key"]);
        assert!(segment_rows.iter().all(|r| r["report_date"] == "2017-02-02" && r["run_id"] == status["run_id"]));
        rows.extend(segment_rows.iter().map(warehouse_row));
    }
    rows.sort();
    let mut expected: Vec<WarehouseRow> = expected.into_iter().map(as_csv_shows).collect();
    expected.sort();
    assert_rows_eq(&rows, &expected);

    // A changed byte: the file is named as damaged, exit 1.
    let segment = &segments[0];
    flip_a_byte(segment);
    assert_damage_named(&inspect(&env, segment), segment);
    // Copied out of its run, only its form can be checked, and a warning says so.
    let copy = env.path().join("copy.pgcopy");
    std::fs::copy(segment, &copy).unwrap();
    let output = inspect(&env, &copy);
    assert!(stderr(&output).starts_with("warning: "), "{}", stderr(&output));
    // Not a file of ours: exit 1, one line.
    let output = inspect(&env, &env.path().join("fixtures").join("expected.json"));
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("neither a sorted run"), "{}", stderr(&output));
}

/// Bytes `path` takes on disk, the files under it included.
fn blocks_under(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).unwrap();
    let inner: u64 = match meta.is_dir() {
        true => std::fs::read_dir(path).unwrap().map(|e| blocks_under(&e.unwrap().path())).sum(),
        false => 0,
    };
    meta.blocks() * 512 + inner
}

fn runs_json(env: &TestEnv) -> Vec<serde_json::Value> {
    let output = env.run(&["runs", "--json"]);
    assert_exit(&output, 0);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json["runs"].as_array().unwrap().clone()
}

fn states(runs: &[serde_json::Value]) -> Vec<(String, String)> {
    runs.iter().map(|r| (r["run_id"].as_str().unwrap().into(), r["state"].as_str().unwrap().into())).collect()
}

fn pair(id: &str, state: &str) -> (String, String) {
    (id.to_string(), state.to_string())
}

/// Holds `run`'s lock as another vendor-match process would.
fn hold_lock(work_dir: &Path, run: &str) -> std::fs::File {
    let lock =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(work_dir.join(run).join("lock"));
    let lock = lock.unwrap();
    lock.try_lock().unwrap();
    lock
}

#[test]
fn runs_lists_runs_with_their_states_and_gc_removes_old_ones_but_never_one_in_use() {
    let db = seeded_db("gc");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let mut args = hand_written_run(&server.url, &url);
    args.extend(["--run-id", "older"]);
    assert_exit(&env.run(&args), 0);
    let extract = ["extract", "--new", "--run-id", "newer", "--quiet", "--max-reject-ratio", "0.5"];
    let mut cmd = env.command(&extract);
    cmd.env("VENDOR_API_URL", &server.url).env("SOURCE_DATABASE_URL", &url);
    assert_exit(&cmd.output().unwrap(), 0);
    let work = env.work_dir();
    // Beside the runs: things gc must never touch.
    std::fs::create_dir(work.join("notes")).unwrap();
    std::fs::write(work.join("notes/todo.txt"), "keep me").unwrap();
    std::fs::write(work.join("readme.txt"), "keep me too").unwrap();

    let runs = runs_json(&env);
    assert_eq!(states(&runs), [pair("newer", "interrupted"), pair("older", "completed")]);
    assert_eq!(runs[1]["report_date"], "2017-02-02");
    assert_eq!(runs[1]["size_bytes"].as_u64(), Some(blocks_under(&work.join("older"))));
    let text = stdout(&env.run(&["runs"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("newer ") && lines[1].contains("interrupted"), "{text}");
    assert!(lines[2].starts_with("older ") && lines[2].contains("completed") && lines[2].contains("iB"), "{text}");

    // A run whose manifest can't be read is listed as such; the others still are.
    std::fs::create_dir(work.join("broken")).unwrap();
    std::fs::write(work.join("broken/manifest.json"), "{").unwrap();
    let runs = runs_json(&env);
    let broken = runs.iter().find(|r| r["run_id"] == "broken").unwrap();
    assert_eq!(broken["state"], "unreadable", "{broken}");
    assert!(broken["error"].as_str().unwrap().contains("manifest"), "{broken}");
    // Not a run of ours, maybe not a run at all: gc never removes it (a dry
    // run takes the same decisions, and leaves the two runs for what follows).
    let output = env.run(&["gc", "--older-than", "0", "--dry-run"]);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("skipped broken: its manifest can't be read"), "{}", stdout(&output));
    assert!(work.join("broken/manifest.json").exists(), "gc removed a directory it can't read");
    assert!(work.join("older/manifest.json").exists() && work.join("newer/manifest.json").exists());
    std::fs::remove_dir_all(work.join("broken")).unwrap();

    // The older run held by a process: shown running, skipped by gc.
    let lock = hold_lock(&work, "older");
    assert_eq!(states(&runs_json(&env)), [pair("newer", "interrupted"), pair("older", "running")]);
    let output = env.run(&["gc", "--keep", "1"]);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("skipped older: in use"), "{}", stdout(&output));
    assert!(work.join("older/manifest.json").exists());
    drop(lock);

    let older_bytes = blocks_under(&work.join("older"));
    let output = env.run(&["gc", "--keep", "1", "--dry-run"]);
    assert_exit(&output, 0);
    assert!(stdout(&output).starts_with("would remove older ("), "{}", stdout(&output));
    assert!(work.join("older/manifest.json").exists());

    let output = env.run(&["gc", "--keep", "1"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with("removed older ("), "{text}");
    assert!(text.contains(&format!("({older_bytes} bytes) from 1 run\n")), "{text}");
    assert!(!work.join("older").exists());
    assert_eq!(states(&runs_json(&env)), [pair("newer", "interrupted")]);

    // Younger than a day: --older-than 1 keeps it; --older-than 0 with --keep 1 too (both must select).
    for rule in [&["--older-than", "1"][..], &["--older-than", "0", "--keep", "1"]] {
        let mut args = vec!["gc"];
        args.extend(rule);
        let output = env.run(&args);
        assert_exit(&output, 0);
        assert!(stdout(&output).starts_with("freed 0 B (0 bytes) from 0 runs"), "{}", stdout(&output));
    }
    assert_exit(&env.run(&["gc", "--older-than", "0"]), 0);
    assert!(runs_json(&env).is_empty());
    assert_eq!(std::fs::read_to_string(work.join("notes/todo.txt")).unwrap(), "keep me");
    assert!(work.join("readme.txt").exists());
}

#[test]
fn gc_without_a_rule_is_a_usage_error_and_the_new_commands_help_shows_only_their_options() {
    let env = TestEnv::new();
    let output = env.run(&["gc"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--keep") && stderr(&output).contains("--older-than"), "{}", stderr(&output));
    for (command, options) in [
        ("inspect", &["<PATH>"][..]),
        ("runs", &["--work-dir", "--json"]),
        ("gc", &["--keep", "--older-than", "--work-dir", "--dry-run"]),
        ("completions", &["<SHELL>"]),
        ("man", &["--out"]),
    ] {
        let output = env.run(&[command, "--help"]);
        assert_exit(&output, 0);
        let help = stdout(&output);
        for option in options {
            assert!(help.contains(option), "{command} --help lacks {option}\n{help}");
        }
        for other in ["--vendor-url", "--source-url", "--memory-budget", "--new"] {
            assert!(!help.contains(other), "{command} --help shows {other}\n{help}");
        }
    }
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let env = TestEnv::new();
    let output = env.run(&["completions", "bash"]);
    assert_exit(&output, 0);
    let script = stdout(&output);
    for command in ["inspect", "runs", "gc", "resume", "--older-than"] {
        assert!(script.contains(command), "bash completions lack {command}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let output = env.run(&["completions", shell]);
        assert_exit(&output, 0);
        assert!(stdout(&output).contains("inspect"), "{shell}");
    }
    assert_exit(&env.run(&["completions", "tcsh"]), 2);

    let output = env.run(&["man"]);
    assert_exit(&output, 0);
    let page = stdout(&output);
    // roff's preamble defines the apostrophe (`.ie`/`.el`), then the title.
    let first = page.lines().find(|l| !l.starts_with(".ie ") && !l.starts_with(".el ")).unwrap();
    assert!(first.starts_with(".TH vendor-match 1"), "{page}");
    assert!(page.contains("inspect") && page.contains("gc"), "{page}");

    let dir = env.path().join("man1");
    assert_exit(&env.run(&["man", "--out", dir.to_str().unwrap()]), 0);
    for name in ["vendor-match.1", "vendor-match-inspect.1", "vendor-match-gc.1", "vendor-match-fixtures-serve.1"] {
        let page = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(page.contains(".TH "), "{name}");
    }
}
