//! The command line: exit codes, one clear `error:` line, help, and passwords never shown.

use crate::util::*;

fn table_exists(db: &TestDb) -> bool {
    db.client().query_one("SELECT to_regclass('public.platform_user_activity') IS NOT NULL", &[]).unwrap().get(0)
}

/// `run` with `extra` (which replaces a default URL it names) exits 2 with
/// one `error:` line holding `mention`, before any run or connection.
fn assert_config_error(env: &TestEnv, db: &TestDb, extra: &[&str], mention: &str) {
    let url = db.url();
    let defaults = [("--vendor-url", "http://127.0.0.1:9/v1/users"), ("--source-url", &url), ("--warehouse-url", &url)];
    let mut args = vec!["run"];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend(extra);
    let output = env.run(&args);
    assert_exit(&output, 2);
    assert_one_error_line(&output);
    assert!(stderr(&output).contains(mention), "want {mention:?} in\n{}", stderr(&output));
    assert!(!stderr(&output).contains("cannot be used multiple times"), "{}", stderr(&output));
    assert!(!env.work_dir().exists(), "no run is created for a bad configuration");
    assert!(!table_exists(db), "warehouse untouched");
}

#[test]
fn bad_size_date_url_or_field_exits_2_with_one_clear_line() {
    let db = TestDb::new("config");
    let env = TestEnv::new();
    assert_config_error(&env, &db, &["--memory-budget", "64XB"], "`64XB`");
    assert_config_error(&env, &db, &["--report-date", "2017-02-30"], "`2017-02-30`");
    assert_config_error(&env, &db, &["--match-on", "lastname,zip"], "zip");
    assert_config_error(&env, &db, &["--warehouse-url", "postgres://u:pw@[::1"], "--warehouse-url");
    assert_config_error(&env, &db, &["--vendor-url", "ftp://vendor/v1"], "--vendor-url");
}

// See: issue 9, item 8 (these exited 1, or failed in the load after extract and match).
#[test]
fn issue_9_bad_url_options_ca_files_and_report_dates_exit_2_before_anything_runs() {
    let db = TestDb::new("config9");
    let env = TestEnv::new();
    let url = db.url();
    let with = |query: &str| format!("{url}?{query}");
    assert_config_error(&env, &db, &["--warehouse-url", &with("sslmode=maybe")], "sslmode");
    assert_config_error(&env, &db, &["--source-url", &with("connect_timeout=soon")], "connect_timeout");
    assert_config_error(&env, &db, &["--warehouse-url", &with("no_such_option=1")], "no_such_option");
    let missing_ca = with("sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    assert_config_error(&env, &db, &["--source-url", &missing_ca], "sslrootcert");

    let garbage = env.path().join("garbage.pem");
    let bad_pem = env.path().join("bad.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    std::fs::write(&bad_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    for file in [&garbage, &bad_pem] {
        assert_config_error(&env, &db, &["--vendor-ca-file", file.to_str().unwrap()], "--vendor-ca-file");
    }

    // PostgreSQL's date and the tool's YYYY-MM-DD hold 0001-01-01 to 9999-12-31.
    for date in ["0000-01-01", "-0001-01-01", "+10000-01-01"] {
        assert_config_error(&env, &db, &[&format!("--report-date={date}")], &format!("`{date}`"));
    }
}

#[test]
fn unknown_flag_exits_2() {
    let env = TestEnv::new();
    let output = env.run(&["run", "--no-such-flag"]);
    assert_exit(&output, 2);
    assert_one_error_line(&output);
}

#[test]
fn missing_vendor_url_exits_2_naming_the_flag_and_variable() {
    let env = TestEnv::new();
    let output =
        env.run(&["run", "--source-url", "postgres://127.0.0.1/x", "--warehouse-url", "postgres://127.0.0.1/x"]);
    assert_exit(&output, 2);
    assert_one_error_line(&output);
    assert!(stderr(&output).contains("--vendor-url") && stderr(&output).contains("VENDOR_API_URL"));
}

#[test]
fn unreachable_database_exits_1_with_one_line_and_no_password() {
    // SPEC §8: an unreachable server is a runtime failure (1), not a usage error.
    let env = TestEnv::new();
    let url = "postgres://postgres:s3cret-unreachable@127.0.0.1:1/nowhere";
    let output =
        env.run(&["run", "--vendor-url", "http://127.0.0.1:9/v1", "--source-url", url, "--warehouse-url", url]);
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    let err = stderr(&output);
    assert!(
        err.contains("could not connect to the source database postgres://postgres:****@127.0.0.1:1/nowhere"),
        "{err}"
    );
    assert!(!err.contains("s3cret-unreachable"), "{err}");
}

#[test]
fn every_command_has_help() {
    let env = TestEnv::new();
    for cmd in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["extract", "--help"],
        vec!["match", "--help"],
        vec!["load", "--help"],
        vec!["report", "--help"],
        vec!["resume", "--help"],
        vec!["status", "--help"],
        vec!["fixtures", "generate", "--help"],
        vec!["fixtures", "serve", "--help"],
    ] {
        let output = env.run(&cmd);
        assert_exit(&output, 0);
        assert!(stdout(&output).contains("Usage:"), "{cmd:?}");
    }
}

/// The long options `args` (ending in `--help`) lists.
fn listed_options(env: &TestEnv, args: &[&str]) -> std::collections::BTreeSet<String> {
    let output = env.run(args);
    assert_exit(&output, 0);
    stdout(&output)
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| line.split_whitespace().find(|word| word.starts_with("--")))
        // `--quiet...` is a counted flag.
        .map(|word| word.trim_end_matches([',', '.']).split(['=', '[', '<']).next().unwrap_or(word).to_string())
        .collect()
}

const CONNECTIONS: [&str; 4] = ["--vendor-url", "--vendor-ca-file", "--source-url", "--warehouse-url"];
const DEFINING: [&str; 3] = ["--report-date", "--active-days", "--match-on"];
const EXTRACT_SETTINGS: [&str; 6] = [
    "--concurrency",
    "--max-retries",
    "--retry-delay-ms",
    "--request-timeout-secs",
    "--max-pages",
    "--max-reject-ratio",
];
const LOAD_SETTINGS: [&str; 2] = ["--warehouse-table", "--load-sessions"];
/// Every command has these, and the global logging options.
const EVERYWHERE: [&str; 5] = ["--help", "--version", "--verbose", "--quiet", "--log-format"];

// See: issue 10, item 8 (every stage command listed all ~20 options).
#[test]
fn issue_10_each_command_lists_exactly_the_options_it_uses() {
    let env = TestEnv::new();
    let all_settings: Vec<&str> = [&DEFINING[..], &["--memory-budget"], &EXTRACT_SETTINGS, &LOAD_SETTINGS].concat();
    let run_dir = ["--work-dir", "--run-id"];
    let expected: [(&str, Vec<&str>); 7] = [
        ("run", [&CONNECTIONS[..], &all_settings, &run_dir, &["--keep-intermediate", "--output", "--json"]].concat()),
        ("resume", [&CONNECTIONS[..], &all_settings, &run_dir, &["--keep-intermediate", "--output"]].concat()),
        ("extract", [&CONNECTIONS[..3], &all_settings, &run_dir, &["--new"]].concat()),
        ("match", [&DEFINING[..], &["--memory-budget"], &run_dir, &["--keep-intermediate"]].concat()),
        ("load", [&CONNECTIONS[3..], &DEFINING, &LOAD_SETTINGS, &run_dir, &["--keep-intermediate"]].concat()),
        ("report", [&DEFINING[..], &run_dir, &["--output"]].concat()),
        ("status", [&run_dir[..], &["--json", "--check"]].concat()),
    ];
    for (command, own) in expected {
        let want: std::collections::BTreeSet<String> =
            own.iter().chain(&EVERYWHERE).map(|option| option.to_string()).collect();
        let listed = listed_options(&env, &[command, "--help"]);
        let extra: Vec<_> = listed.difference(&want).collect();
        let missing: Vec<_> = want.difference(&listed).collect();
        assert!(extra.is_empty() && missing.is_empty(), "{command} --help: extra {extra:?}, missing {missing:?}");
    }
    // Options are grouped under headings, connections first.
    let help = stdout(&env.run(&["run", "--help"]));
    let at = |text: &str| help.find(text).unwrap_or_else(|| panic!("no {text:?} in\n{help}"));
    assert!(at("Connections:") < at("--vendor-url") && at("--vendor-url") < at("Settings:"), "{help}");
    assert!(at("Settings:") < at("--report-date") && at("--report-date") < at("Run:"), "{help}");
    assert!(at("Run:") < at("--work-dir") && at("--work-dir") < at("Output:") && at("Output:") < at("--output"));
}

// See: issue 10, item 8 (`report --new`, `match --vendor-url` and the like were accepted and ignored).
#[test]
fn issue_10_an_option_a_command_does_not_use_is_refused() {
    let env = TestEnv::new();
    for args in [
        &["report", "--new"][..],
        &["match", "--vendor-url", "http://127.0.0.1:9/v1"],
        &["match", "--output", "x.txt"],
        &["load", "--source-url", "postgres://127.0.0.1/x"],
        &["report", "--warehouse-url", "postgres://127.0.0.1/x"],
        &["extract", "--warehouse-url", "postgres://127.0.0.1/x"],
        &["extract", "--output", "x.txt"],
        &["resume", "--new"],
        &["status", "--memory-budget", "1MiB"],
    ] {
        let output = env.run(args);
        assert_exit(&output, 2);
        assert_one_error_line(&output);
        assert!(
            stderr(&output).contains(&format!("unexpected argument '{}'", args[1])),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // `extract --new` is taken: it fails only for the connections it lacks.
    let output = env.run(&["extract", "--new"]);
    assert_exit(&output, 2);
    assert_one_error_line(&output);
    assert!(stderr(&output).contains("missing --vendor-url"), "{}", stderr(&output));
    assert!(!env.work_dir().exists(), "no run is made without its connections");
}

// See: issue 10, item 8 (missing connection settings came one per attempt).
#[test]
fn issue_10_every_missing_connection_is_named_in_one_error() {
    let env = TestEnv::new();
    let output = env.run(&["run"]);
    assert_exit(&output, 2);
    assert_eq!(
        stderr(&output),
        "error: missing --vendor-url (or VENDOR_API_URL), --source-url (or SOURCE_DATABASE_URL), \
         --warehouse-url (or WAREHOUSE_DATABASE_URL)\n"
    );
    // A command names the ones its stages need, and only those.
    for (args, want) in [
        (&["extract"][..], "error: missing --vendor-url (or VENDOR_API_URL), --source-url (or SOURCE_DATABASE_URL)\n"),
        (
            &["run", "--source-url", "postgres://127.0.0.1/x"],
            "error: missing --vendor-url (or VENDOR_API_URL), --warehouse-url (or WAREHOUSE_DATABASE_URL)\n",
        ),
        (&["load"], "error: missing --warehouse-url (or WAREHOUSE_DATABASE_URL)\n"),
    ] {
        let output = env.run(args);
        assert_exit(&output, 2);
        assert_eq!(stderr(&output), want, "{args:?}");
    }
    assert!(!env.work_dir().exists(), "no run is made without its connections");
}

// See: issue 10, item 8: `resume` names the connections of the stages it still has to run.
#[test]
fn issue_10_resume_names_the_missing_connections_of_the_stages_ahead() {
    let db = seeded_db("resumeconn");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let extract = ["extract", "-q", "--max-reject-ratio", "0.5", "--vendor-url", &server.url, "--source-url", &url];
    assert_exit(&env.run(&extract), 0);
    let output = env.run(&["resume"]);
    assert_exit(&output, 2);
    assert_eq!(stderr(&output), "error: missing --warehouse-url (or WAREHOUSE_DATABASE_URL)\n");
    let status = status_json(&env);
    assert_eq!(status["next_stage"], "match", "nothing ran: {status}");
    assert_eq!(status["stages"][1]["attempts"], 0, "{status}");
}

// See: issue 10, item 8 (`--version` had no commit).
#[test]
fn issue_10_version_names_the_commit() {
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(git.status.success(), "git rev-parse failed");
    let commit = String::from_utf8(git.stdout).unwrap().trim().to_string();
    assert_eq!(commit.len(), 12, "{commit}");
    let env = TestEnv::new();
    let version = format!("{} (commit {commit})\n", env!("CARGO_PKG_VERSION"));
    let output = env.run(&["--version"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("vendor-match {version}"));
    // A command's own names it (`vendor-match-run 0.1.0 (commit ...)`).
    let output = env.run(&["run", "--version"]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).starts_with("vendor-match-run ") && stdout(&output).ends_with(&version),
        "{}",
        stdout(&output)
    );
}

// See: issue 10, item 4 (log options, before or after the command).
#[test]
fn issue_10_logging_options_are_taken_before_or_after_the_command() {
    let env = TestEnv::new();
    for args in [
        &["-vv", "-q", "--log-format", "json", "status", "--help"][..],
        &["status", "--verbose", "--quiet", "--log-format=text", "--help"],
    ] {
        assert_exit(&env.run(args), 0);
    }
    for (args, quiet) in [(&["status", "--log-format", "xml"][..], "1"), (&["status"], "maybe")] {
        let output = env.command(args).env("VENDOR_MATCH_QUIET", quiet).output().unwrap();
        assert_exit(&output, 2);
        assert_one_error_line(&output);
        assert!(stderr(&output).contains("invalid value"), "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn a_password_in_the_urls_appears_nowhere() {
    const SECRET: &str = "Pa55-word-never-shown";
    let db = seeded_db("secret");
    let server = hand_written_server();
    let vendor = server.url.replace("http://", &format!("http://user:{SECRET}@"));
    let env = TestEnv::new();
    let url = db.url_with_password(SECRET);
    // The driver also takes a password as a query parameter.
    let warehouse = format!("{}?password={SECRET}", db.url());
    // Every log line this tool writes (-vv: trace), as JSON.
    let output = env
        .command(&["run", "-vv", "--log-format", "json", "--max-reject-ratio", "0.5"])
        .env("VENDOR_API_URL", &vendor)
        .env("SOURCE_DATABASE_URL", &url)
        .env("WAREHOUSE_DATABASE_URL", &warehouse)
        .output()
        .unwrap();
    assert_exit(&output, 0);
    // A failing run prints its error with the URL too.
    let failed = env
        .command(&["run", "-vv", "--max-retries", "0"])
        .env("VENDOR_API_URL", format!("http://user:{SECRET}@127.0.0.1:9/v1"))
        .env("SOURCE_DATABASE_URL", &url)
        .env("WAREHOUSE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_exit(&failed, 1);
    let status = env.run(&["status", "--json"]);
    let mut texts = vec![stdout(&output), stderr(&output), stdout(&failed), stderr(&failed), stdout(&status)];
    assert!(stderr(&failed).contains("user:****@"), "{}", stderr(&failed));
    // The log lines were there to be read.
    assert!(stderr(&output).contains(r#""message":"load completed""#), "{}", stderr(&output));
    for file in files_under(env.path()) {
        texts.push(String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned());
    }
    for text in texts {
        assert!(!text.contains(SECRET), "password leaked:\n{text}");
    }
}

#[test]
fn warehouse_table_is_quoted_so_an_injection_only_names_a_table() {
    let db = seeded_db("inject");
    db.client().batch_execute("CREATE TABLE victim (x int)").unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let mut args = hand_written_run(&server.url, &url);
    args.extend(["--warehouse-table", "x\"; DROP TABLE victim; --"]);
    assert_exit(&env.run(&args), 0);
    let mut client = db.client();
    let victim: bool = client.query_one("SELECT to_regclass('victim') IS NOT NULL", &[]).unwrap().get(0);
    assert!(victim, "the injection ran");
    let rows: i64 = client.query_one("SELECT count(*) FROM \"x\"\"; DROP TABLE victim; --\"", &[]).unwrap().get(0);
    assert!(rows > 0, "the rows went to the table named literally");
}

#[test]
fn work_dir_files_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = seeded_db("perms");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    assert_exit(&env.run(&hand_written_run(&server.url, &url)), 0);
    let files = files_under(&env.work_dir());
    assert!(files.len() >= 5, "{files:?}");
    for file in files.iter().chain([&env.output()]) {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", file.display());
    }
}

#[test]
fn a_named_run_is_found_by_its_name_and_run_again_is_a_retry_not_a_new_run() {
    let db = seeded_db("named");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let named = |id: &str| {
        let mut args = hand_written_run(&server.url, &url);
        args.extend(["--run-id", id]);
        env.run(&args)
    };
    assert_exit(&named("nightly-2017-02-02"), 0);
    // A later run with a generated id is the latest, though its name sorts first.
    assert_exit(&env.run(&hand_written_run(&server.url, &url)), 0);
    assert_ne!(status_json(&env)["run_id"], "nightly-2017-02-02");
    let status = env.run(&["status", "--json", "--run-id", "nightly-2017-02-02"]);
    assert_exit(&status, 0);
    assert!(stdout(&status).contains("\"run_id\": \"nightly-2017-02-02\""), "{}", stdout(&status));
    // See: issue 10 (a scheduler's retry with the same id exited 2): the
    // finished run prints its report again and is not made anew.
    let again = named("nightly-2017-02-02");
    assert_exit(&again, 0);
    assert!(stdout(&again).contains("Total Matches:"), "{}", stdout(&again));
    let runs = std::fs::read_dir(env.work_dir()).unwrap().count();
    assert_eq!(runs, 2, "a run made anew");
    let output = named("../escape");
    assert_exit(&output, 2);
    assert_one_error_line(&output);
    assert!(stderr(&output).contains("--run-id"), "{}", stderr(&output));
}

#[test]
fn a_work_dir_that_cannot_be_read_exits_1_naming_it() {
    // See: issue 8 (an unreadable work dir was a usage error, exit 2).
    let env = TestEnv::new();
    let not_a_dir = env.path().join("work-is-a-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    for args in [&["status"][..], &["resume"], &["status", "--run-id", "x"], &["resume", "--run-id", "x"]] {
        let output = env.command(args).arg("--work-dir").arg(&not_a_dir).output().unwrap();
        assert_exit(&output, 1);
        assert_one_error_line(&output);
        assert!(stderr(&output).contains("work-is-a-file"), "{}", stderr(&output));
    }
}

// See: issue 9, item 7 (`fixtures generate` replaced the 8 rows of the database it was pointed at).
#[test]
fn issue_9_fixtures_generate_refuses_to_drop_tables_it_did_not_make_without_force() {
    let db = seeded_db("fxguard");
    let env = TestEnv::new();
    let pages = env.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    std::fs::write(pages.join("page-000001.json"), "kept").unwrap();
    let generate = |extra: &[&str]| {
        env.command(&["fixtures", "generate", "--users", "10", "--page-size", "5", "--out-dir"])
            .arg(&pages)
            .args(extra)
            .env("SOURCE_DATABASE_URL", db.url())
            .output()
            .unwrap()
    };
    let users = || -> i64 { db.client().query_one("SELECT count(*) FROM \"user\"", &[]).unwrap().get(0) };
    let seeded = users();
    assert!(seeded > 0);

    let refused = generate(&[]);
    assert_exit(&refused, 2);
    assert_one_error_line(&refused);
    assert_eq!(stderr(&refused).lines().count(), 1, "one line:\n{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(err.contains("user") && err.contains("--force"), "{err}");
    assert_eq!(users(), seeded, "the rows were replaced");
    assert_eq!(std::fs::read_to_string(pages.join("page-000001.json")).unwrap(), "kept", "the out dir was touched");

    // A table of the other name is refused too.
    db.client().batch_execute("DROP TABLE \"user\"").unwrap();
    let refused = generate(&[]);
    assert_exit(&refused, 2);
    assert!(stderr(&refused).contains("user_practice"), "{}", stderr(&refused));

    assert_exit(&generate(&["--force"]), 0);
    assert_eq!(users(), 10);
    // Tables it made itself are replaced without --force.
    let again = env
        .command(&["fixtures", "generate", "--users", "12", "--page-size", "5", "--out-dir"])
        .arg(&pages)
        .env("SOURCE_DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert_exit(&again, 0);
    assert_eq!(users(), 12);
}

// See: issue 9 (query values were masked by a list of names: `?pass=` was kept in the manifest).
#[test]
fn issue_9_query_values_of_urls_are_masked_unless_known_harmless() {
    const SECRETS: [&str; 4] = ["hunter2", "tok-x9", "foo-y7", "pw-z5"];
    let db = seeded_db("qmask");
    let server = hand_written_server();
    let env = TestEnv::new();
    let query = "pass=hunter2&token=tok-x9&foo=foo-y7";
    let source = db.url();
    let warehouse = format!("{}?password=pw-z5&application_name=vm-qmask", db.url());
    let run = |vendor: &str, source: &str| {
        env.command(&["run", "--quiet", "--max-reject-ratio", "0.5", "--max-retries", "0"])
            .env("VENDOR_API_URL", vendor)
            .env("SOURCE_DATABASE_URL", source)
            .env("WAREHOUSE_DATABASE_URL", &warehouse)
            .output()
            .unwrap()
    };
    let ok = run(&format!("{}?{query}", server.url), &source);
    assert_exit(&ok, 0);
    let failed = run(&format!("http://127.0.0.1:9/v1?{query}"), &source);
    assert_exit(&failed, 1);
    assert!(stderr(&failed).contains("pass=****&token=****&foo=****"), "{}", stderr(&failed));
    let refused = run(&server.url, &format!("{source}?pass=hunter2"));
    assert_exit(&refused, 2);
    let status = env.run(&["status"]);
    let status_json = env.run(&["status", "--json"]);
    let mut texts = vec![stdout(&status), stdout(&status_json)];
    for output in [&ok, &failed, &refused] {
        texts.extend([stdout(output), stderr(output)]);
    }
    for file in files_under(env.path()) {
        texts.push(String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned());
    }
    for text in texts {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }
}

// See: issue 9 (a name holding a terminal escape sequence was echoed raw inside a database error).
#[test]
fn issue_9_control_characters_in_messages_are_printed_escaped() {
    const RED: &str = "\x1b[31m";
    let raw_free = |what: &str, text: &str| {
        assert!(!text.contains('\x1b'), "{what} holds a raw escape:\n{}", text.escape_debug());
        assert!(text.contains("\\u{1b}[31m"), "{what} does not show the escape:\n{}", text.escape_debug());
    };
    let db = seeded_db("ctrl");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();

    // The server's error names a database that does not exist.
    let mut missing = url::Url::parse(&url).unwrap();
    missing.set_path("/%1B%5B31mnodb");
    let output =
        env.run(&["run", "--vendor-url", &server.url, "--source-url", missing.as_str(), "--warehouse-url", &url]);
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    raw_free("stderr", &stderr(&output));

    // A schema that does not exist, named by the preflight before the run starts.
    let mut args = hand_written_run(&server.url, &url);
    let table = format!("{RED}nope.t");
    args.extend(["--warehouse-table", &table]);
    let output = env.run(&args);
    assert_exit(&output, 2);
    assert_one_error_line(&output);
    raw_free("stderr", &stderr(&output));

    // A table in the way of the load: named in the error the manifest keeps and `status` shows.
    let table = format!("{RED}t");
    db.client().batch_execute(&format!("CREATE TABLE \"{table}_20170202_loading\" (note text)")).unwrap();
    let mut args = hand_written_run(&server.url, &url);
    args.extend(["--warehouse-table", &table]);
    let output = env.run(&args);
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    raw_free("stderr", &stderr(&output));
    raw_free("status", &stdout(&env.run(&["status"])));

    // A usage error repeats the argument; on a terminal (`script` gives the
    // binary one) clap wrote it as given, escape sequence and bell included.
    let terminal = std::process::Command::new("script")
        .args(["-qec", "\"$VM_BIN\" run \"$VM_ARG\"", "/dev/null"])
        .env("VM_BIN", bin())
        .env("VM_ARG", format!("--{RED}bad\x07"))
        .output()
        .unwrap();
    let text = stdout(&terminal);
    assert!(text.contains("unexpected argument"), "{}", text.escape_debug());
    assert!(!text.contains(['\x1b', '\x07']), "a raw control character reached the terminal:\n{}", text.escape_debug());
}
