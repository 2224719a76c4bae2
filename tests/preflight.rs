//! Preflight: what a run needs is checked before anything is fetched or
//! loaded; each failure is one `error:` line, exit 2 for a setting at fault
//! and 1 for a server down, with no run made and no warehouse table.

use crate::util::mysql_server::MySqlDb;
use crate::util::*;

use mysql::prelude::Queryable;

fn table_exists(db: &TestDb, table: &str) -> bool {
    db.client().query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).unwrap().get(0)
}

/// Asserts that `output` failed preflight with `code` and one `error:` line
/// holding every one of `mentions`, and that nothing was started: no run,
/// no warehouse table, at most the one request of page 1.
fn assert_refused(
    output: &std::process::Output,
    code: i32,
    mentions: &[&str],
    env: &TestEnv,
    db: &TestDb,
    server: &Server,
) {
    assert_exit(output, code);
    assert_one_error_line(output);
    let err = stderr(output);
    let error_line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    for mention in mentions {
        assert!(err.contains(mention), "want {mention:?} in\n```\n{err}\n```");
    }
    assert!(error_line.len() > "error: ".len(), "{err}");
    assert!(!env.work_dir().exists(), "a run was made:\n{err}");
    assert!(!table_exists(db, "public.platform_user_activity"), "the warehouse table was created:\n{err}");
    assert!(requests_served(server) <= 1, "pages were fetched: {}\n{err}", requests_served(server));
}

#[test]
fn an_output_in_a_missing_directory_exits_2_naming_it_before_any_page_is_fetched() {
    let db = seeded_db("pf_output");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let mut args = hand_written_run(&server.url, &url);
    args.extend(["--output", "/nonexistent/dir/x"]);
    let output = env.run(&args);
    assert_refused(&output, 2, &["--output /nonexistent/dir/x", "/nonexistent/dir does not exist"], &env, &db, &server);
    assert_eq!(requests_served(&server), 0, "the output is checked first");
}

#[test]
fn a_missing_source_table_exits_2_naming_it() {
    let db = seeded_db("pf_table");
    db.client().batch_execute("DROP TABLE user_practice CASCADE").unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let output = env.run(&hand_written_run(&server.url, &url));
    assert_refused(&output, 2, &["has no table `user_practice`", "--source-url"], &env, &db, &server);
    assert_eq!(requests_served(&server), 0, "the source is checked before the vendor");

    // A column the extract reads, gone: the server's refusal, named.
    let db = seeded_db("pf_column");
    db.client().batch_execute("ALTER TABLE \"user\" DROP COLUMN specialty").unwrap();
    let url = db.url();
    let output = env.run(&hand_written_run(&server.url, &url));
    assert_refused(&output, 2, &["refuses the extract's query", "specialty"], &env, &db, &server);
}

#[test]
fn a_missing_table_in_mysql_exits_2_naming_it() {
    let db = TestDb::new("pf_my_table");
    let my = MySqlDb::new("pf_my_table");
    my.create_tables();
    my.conn().query_drop("DROP TABLE `user`").unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let (source, warehouse) = (my.url(), db.url());
    let output = env.run(&hand_written_run_into(&server.url, &source, &warehouse));
    assert_refused(&output, 2, &["has no table `user`", "mysql://"], &env, &db, &server);
}

#[test]
fn a_vendor_answering_500_fails_preflight_with_one_line_and_exit_1() {
    let db = seeded_db("pf_vendor");
    let server = Server::start(&repo("fixtures/vendor"), &["--fault", "*:500:always"]);
    let env = TestEnv::new();
    let url = db.url();
    let mut args = hand_written_run(&server.url, &url);
    args.extend(["--max-retries", "0"]);
    let output = env.run(&args);
    assert_refused(
        &output,
        1,
        &["does not answer page 1", "vendor page 1 failed after 1 attempt(s)", "HTTP status 500"],
        &env,
        &db,
        &server,
    );
    assert_eq!(requests_served(&server), 1, "one request, as --max-retries 0 allows");

    // A URL the vendor does not know is a setting at fault.
    let missing = Server::start(&repo("fixtures/vendor"), &["--fault", "1:404:always"]);
    let output = env.run(&hand_written_run(&missing.url, &url));
    assert_refused(&output, 2, &["HTTP status 404", "check --vendor-url"], &env, &db, &missing);
}

#[test]
fn a_warehouse_user_without_create_on_the_schema_fails_preflight_naming_the_privilege() {
    let role = TestRole::new("pf_nocreate");
    let db = seeded_db("pf_nocreate");
    db.client()
        .batch_execute(&format!(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO \"{}\"",
            role.name
        ))
        .unwrap();
    let mut loader = url::Url::parse(&db.url()).unwrap();
    loader.set_username(&role.name).unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let (source, loader) = (db.url(), loader.to_string());
    let output = env.run(&hand_written_run_into(&server.url, &source, &loader));
    let grant = format!("GRANT CREATE ON SCHEMA \"public\" TO \"{}\"", role.name);
    let mentions = ["may not create table public.platform_user_activity", "CREATE on schema \"public\"", &grant];
    assert_refused(&output, 2, &mentions, &env, &db, &server);
    assert_eq!(requests_served(&server), 0, "the warehouse is checked before the vendor");

    // Granted, the same command runs.
    db.client().batch_execute(&format!("GRANT CREATE ON SCHEMA public TO \"{}\"", role.name)).unwrap();
    let output = env.run(&hand_written_run_into(&server.url, &source, &loader));
    assert_exit(&output, 0);
}

#[test]
fn a_resume_checks_only_what_its_stages_need() {
    let db = seeded_db("pf_resume");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    let extract =
        ["extract", "--quiet", "--max-reject-ratio", "0.5", "--vendor-url", &server.url, "--source-url", &url];
    assert_exit(&env.run(&extract), 0);
    let served = requests_served(&server);

    // The source and the vendor are not needed any more: gone, the rest runs.
    db.client().batch_execute("DROP TABLE \"user\"").unwrap();
    let output = env.run(&[
        "resume",
        "--quiet",
        "--vendor-url",
        "http://127.0.0.1:9/v1",
        "--warehouse-url",
        &url,
        "--output",
        "/nonexistent/dir/x",
    ]);
    assert_exit(&output, 2);
    assert_one_error_line(&output);
    assert!(stderr(&output).contains("--output /nonexistent/dir/x"), "{}", stderr(&output));
    assert!(!table_exists(&db, "public.platform_user_activity"), "loaded before the output was checked");
    let output = env.run(&["resume", "--quiet", "--vendor-url", "http://127.0.0.1:9/v1", "--warehouse-url", &url]);
    assert_exit(&output, 0);
    assert_eq!(requests_served(&server), served, "no page fetched by the resume");
}
