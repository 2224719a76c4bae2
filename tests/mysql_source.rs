//! MySQL / MariaDB as the source of our users (`--source-url mysql://...`):
//! the same rows as from PostgreSQL for the same data, resumes, reconnects,
//! clear errors, no password shown, MySQL's own types, verified TLS and
//! bounded memory, against a real MariaDB server. The warehouse stays
//! PostgreSQL.

use std::process::Command;

use ::mysql::prelude::Queryable;

use crate::util::mysql_server::{copy_fixture_tables, mysql_admin_url, MySqlDb, TlsMariaDb};
use crate::util::naive::{expected_rows, internal_users, internal_users_from_mysql, vendor_users, Person};
use crate::util::tls::TestCa;
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";
const FAILPOINT: &str = "VENDOR_MATCH_FAILPOINT";
const DATE: &str = "2017-02-02";

/// Generated data in PostgreSQL, the same users copied into MySQL, and the
/// vendor pages served.
struct Fixture {
    pg: TestDb,
    my: MySqlDb,
    dir: tempfile::TempDir,
    server: Server,
    /// expected.json of the generated data.
    planted: serde_json::Value,
}

fn fixture(name: &str, size: &[&str], serve: &[&str]) -> Fixture {
    let pg = TestDb::new(name);
    let dir = tempfile::tempdir().unwrap();
    let planted = generate(&pg, dir.path(), size);
    let my = MySqlDb::new(name);
    copy_fixture_tables(&pg, &mut my.conn());
    let server = Server::start(dir.path(), serve);
    Fixture { pg, my, dir, server, planted }
}

impl Fixture {
    /// The naive join of the vendor pages and the users as MySQL holds them.
    fn expected(&self) -> Vec<WarehouseRow> {
        expected_rows(&vendor_users(self.dir.path()), &internal_users_from_mysql(&mut self.my.conn()), DATE, 30)
    }

    /// The binary with the MySQL source, the PostgreSQL warehouse and a
    /// 128 KiB budget (several spill files, so several checkpoints).
    fn command(&self, env: &TestEnv, args: &[&str]) -> Command {
        self.command_with_budget(env, args, "128KiB")
    }

    fn command_with_budget(&self, env: &TestEnv, args: &[&str], budget: &str) -> Command {
        let mut cmd = env.command(args);
        cmd.args(["--quiet", "--memory-budget", budget])
            .env("VENDOR_API_URL", &self.server.url)
            .env("SOURCE_DATABASE_URL", self.my.url())
            .env("WAREHOUSE_DATABASE_URL", self.pg.url());
        cmd
    }
}

fn run_dir(env: &TestEnv) -> std::path::PathBuf {
    env.work_dir().join(status_json(env)["run_id"].as_str().unwrap())
}

fn manifest(env: &TestEnv) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run_dir(env).join("manifest.json")).unwrap()).unwrap()
}

/// The lines of the run's rejects.jsonl, parsed and sorted.
fn rejects(env: &TestEnv) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run_dir(env).join("rejects.jsonl")).unwrap();
    let mut lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    lines.sort_by_key(|l| l.to_string());
    lines
}

fn by_id(mut people: Vec<Person>) -> Vec<Person> {
    people.sort_by_key(|p| p.id);
    people
}

#[test]
fn generated_fixtures_from_mysql_match_the_naive_join_and_the_planted_counts() {
    let f = fixture("my_oracle", &["--vendor-users", "3000", "--internal-users", "5000", "--page-size", "100"], &[]);
    // The copy is faithful: MySQL holds PostgreSQL's users, value for value.
    let from_mysql = by_id(internal_users_from_mysql(&mut f.my.conn()));
    assert_eq!(from_mysql.len(), 5000);
    assert!(from_mysql == by_id(internal_users(&f.pg)), "the MySQL copy differs from PostgreSQL's users");

    let env = TestEnv::new();
    let (source, warehouse) = (f.my.url(), f.pg.url());
    let output = env.run(&[
        "run",
        "--quiet",
        "--vendor-url",
        &f.server.url,
        "--source-url",
        &source,
        "--warehouse-url",
        &warehouse,
    ]);
    assert_exit(&output, 0);
    let actual = warehouse_rows(&f.pg, TABLE, DATE);
    assert_rows_eq(&actual, &f.expected());
    for status in ["matched", "ambiguous", "internal_only", "vendor_only", "unmatchable"] {
        let count = actual.iter().filter(|r| r.status == status).count() as u64;
        assert_eq!(Some(count), f.planted["rows"][status].as_u64(), "planted {status} rows");
    }
    let report = stdout(&output);
    assert!(report.contains(&format!("\nTotal Matches: {}\n", f.planted["total_matches"])), "{report}");
}

#[test]
fn the_same_users_from_postgresql_and_from_mysql_load_the_same_rows_and_rejects() {
    let generated =
        fixture("my_both", &["--vendor-users", "2000", "--internal-users", "3000", "--page-size", "100"], &[]);
    // The hand-written users too: tab, newline, carriage return, backslash,
    // a literal `\N`, a control character, 🦀 and a 100,000-byte name.
    let seeded = seeded_db("my_both_seed");
    let seeded_my = MySqlDb::new("my_both_seed");
    copy_fixture_tables(&seeded, &mut seeded_my.conn());
    let hand_written = hand_written_server();
    let cases = [
        (&generated.pg, &generated.my, generated.server.url.as_str()),
        (&seeded, &seeded_my, hand_written.url.as_str()),
    ];
    for (pg, my, vendor) in cases {
        assert!(
            by_id(internal_users_from_mysql(&mut my.conn())) == by_id(internal_users(pg)),
            "the MySQL copy differs from PostgreSQL's users"
        );
        let (pg_url, my_url) = (pg.url(), my.url());
        let run = |source: &str, table: &str| {
            let env = TestEnv::new();
            let mut args = hand_written_run_into(vendor, source, &pg_url);
            args.extend(["--warehouse-table", table]);
            let output = env.run(&args);
            assert_exit(&output, 0);
            let figures = manifest(&env)["extract_output"].clone();
            let internal = (figures["internal_users"].clone(), figures["internal_rejects"].clone());
            (warehouse_rows(pg, table, DATE), rejects(&env), internal, env)
        };
        let (from_pg, pg_rejects, pg_internal, _pg_env) = run(&pg_url, "from_pg");
        let (from_my, my_rejects, my_internal, _my_env) = run(&my_url, "from_mysql");
        assert!(from_pg.len() > 20, "{} rows", from_pg.len());
        // Every column of every row but run_id (which WarehouseRow leaves out).
        assert_rows_eq(&from_my, &from_pg);
        assert_eq!(my_rejects, pg_rejects, "rejects.jsonl");
        assert_eq!(my_internal, pg_internal, "internal users and rejects counted");
    }
}

/// The checkpoint an interrupted extract left: (last internal id, internal rows in it).
fn internal_checkpoint(env: &TestEnv) -> (Option<i64>, u64) {
    let path = run_dir(env).join("extract/checkpoint.json");
    let checkpoint: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let counters = &checkpoint["internal"]["counters"];
    (counters["last_id"].as_i64(), counters["users"].as_u64().unwrap() + counters["rejects"].as_u64().unwrap())
}

#[test]
fn an_extract_killed_mid_stream_resumes_after_its_checkpoint_with_the_mysql_source() {
    let f = fixture("my_resume", &["--vendor-users", "1500", "--internal-users", "3000", "--page-size", "100"], &[]);
    let expected = f.expected();
    for point in ["extract.internal.rows=2500", "extract.internal.checkpoint=2"] {
        let env = TestEnv::new();
        let aborted = f.command(&env, &["run"]).env(FAILPOINT, point).output().unwrap();
        assert_eq!(aborted.status.code(), None, "{point}: the process should have aborted\n{}", stderr(&aborted));
        let (last_id, done) = internal_checkpoint(&env);
        assert!(last_id.is_some() && done > 0 && done < 3000, "{point}: checkpoint at {last_id:?}, {done} rows");
        // The resumed stream reads the rows after the checkpoint and no
        // more: its (remaining + 1)-th row would pass the failpoint.
        let remaining = 3000 - done;
        let resumed = f
            .command(&env, &["resume"])
            .env(FAILPOINT, format!("extract.internal.rows={}", remaining + 1))
            .output()
            .unwrap();
        assert_exit(&resumed, 0);
        assert_rows_eq(&warehouse_rows(&f.pg, TABLE, DATE), &expected);
        let extract = &manifest(&env)["extract_output"];
        assert_eq!(extract["internal_rows_resumed"].as_u64(), Some(done), "{point}: {extract}");
        assert_eq!(extract["internal_users"].as_u64(), Some(3000), "{point}: {extract}");
    }
}

#[test]
fn a_mysql_session_killed_mid_stream_is_continued_on_a_new_one() {
    // Enough rows that the stream can't have arrived whole before the session ends.
    let f =
        fixture("my_sourcedrop", &["--vendor-users", "1500", "--internal-users", "200000", "--page-size", "100"], &[]);
    let expected = f.expected();
    // The session killed, or only its query: either way the stream goes on.
    for kill in ["KILL CONNECTION", "KILL QUERY"] {
        let env = TestEnv::new();
        let mut command = f.command_with_budget(&env, &["run"], "8MiB");
        let mut run = Watched::spawn(command.env(FAILPOINT, "extract.internal.rows=1500:pause=1500"));
        // While the stream waits at its 1,500th row, an operator kills the session.
        run.wait_for("failpoint extract.internal.rows: pausing");
        let mut admin = crate::util::mysql_server::admin();
        let sql = "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT u.id%'";
        let ids: Vec<u64> = admin.exec(sql, (&f.my.name,)).unwrap();
        assert_eq!(ids.len(), 1, "the tool's streaming session: {ids:?}");
        admin.query_drop(format!("{kill} {}", ids[0])).unwrap();
        let output = run.finish();
        assert_exit(&output, 0);
        assert_rows_eq(&warehouse_rows(&f.pg, TABLE, DATE), &expected);
        let extract = &manifest(&env)["extract_output"];
        assert_eq!(extract["source_reconnects"], 1, "{kill}: {extract}");
        assert_eq!(extract["internal_users"], 200000, "{kill}: {extract}");
        let report = std::fs::read_to_string(env.output()).unwrap();
        assert!(report.contains("source stream reconnected 1 time(s)"), "{kill}: {report}");
    }
}

#[test]
fn nul_characters_in_mysql_text_are_dropped_and_the_rows_load() {
    // PostgreSQL text can't hold NUL: kept, the warehouse COPY failed the run.
    let pg = seeded_db("my_nul");
    let my = MySqlDb::new("my_nul");
    copy_fixture_tables(&pg, &mut my.conn());
    my.conn()
        .query_drop(
            "UPDATE `user` SET firstname = CONCAT(CHAR(0), firstname, CHAR(0)), \
             lastname = INSERT(lastname, 2, 0, CHAR(0)) WHERE firstname IS NOT NULL AND lastname <> ''",
        )
        .unwrap();
    let with_nul: Option<u64> =
        my.conn().query_first("SELECT COUNT(*) FROM `user` WHERE LOCATE(CHAR(0), firstname) > 0").unwrap();
    assert!(with_nul.unwrap() > 10, "{with_nul:?} users with NUL");
    let vendor = hand_written_server();
    let env = TestEnv::new();
    let (source, warehouse) = (my.url(), pg.url());
    let output = env.run(&hand_written_run_into(&vendor.url, &source, &warehouse));
    assert_exit(&output, 0);
    // The rows of PostgreSQL's users, which are the same without the NULs.
    let expected = expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(&pg), DATE, 30);
    assert_rows_eq(&warehouse_rows(&pg, TABLE, DATE), &expected);
}

#[test]
fn a_statement_time_limit_on_the_mysql_user_does_not_end_the_stream() {
    let my = MySqlDb::new("my_time_limit");
    my.create_tables();
    // 20 MB of rows: more than the sockets hold, so the query runs as long as the stream.
    my.conn()
        .query_drop(
            "INSERT INTO user_practice VALUES (1, 'Bon Air', 'bon air');
             INSERT INTO `user` SELECT seq, 1, REPEAT('x', 10000), 'Wide', 'popular', 'Neurology', 'web', \
             '2017-01-20' FROM seq_1_to_2000",
        )
        .unwrap();
    let user_name = format!("vm_limit_{}", std::process::id());
    let _user = MySqlUser::create(&user_name, "limited", &my, "WITH MAX_STATEMENT_TIME 0.5");
    let pg = TestDb::new("my_time_limit");
    let vendor = hand_written_server();
    let env = TestEnv::new();
    let (source, warehouse) = (my.url_as(&user_name, Some("limited")), pg.url());
    // The stream waits 1.5 s at its first row (as when it writes a spill file).
    let output = env
        .command(&hand_written_run_into(&vendor.url, &source, &warehouse))
        .env(FAILPOINT, "extract.internal.rows:pause=1500")
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let extract = &manifest(&env)["extract_output"];
    assert_eq!((extract["internal_users"].as_u64(), extract["source_reconnects"].as_u64()), (Some(2000), Some(0)));
}

/// A MySQL user made for one test, dropped at the end.
struct MySqlUser(String);

impl MySqlUser {
    fn create(name: &str, password: &str, db: &MySqlDb, extra: &str) -> MySqlUser {
        let mut admin = crate::util::mysql_server::admin();
        admin.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'")).unwrap();
        admin.query_drop(format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}' {extra}")).unwrap();
        admin.query_drop(format!("GRANT SELECT ON `{}`.* TO '{name}'@'%'", db.name)).unwrap();
        MySqlUser(name.to_string())
    }
}

impl Drop for MySqlUser {
    fn drop(&mut self) {
        let _ = crate::util::mysql_server::admin().query_drop(format!("DROP USER IF EXISTS '{}'@'%'", self.0));
    }
}

#[test]
fn mysql_login_database_and_table_errors_are_one_line_bad_urls_exit_2_and_the_password_appears_nowhere() {
    const SECRET: &str = "My5ql-Pa55-never-shown";
    let pg = seeded_db("my_errors");
    let my = MySqlDb::new("my_errors");
    copy_fixture_tables(&pg, &mut my.conn());
    let user_name = format!("vm_pw_{}", std::process::id());
    let _user = MySqlUser::create(&user_name, SECRET, &my, "");
    let vendor = hand_written_server();
    let env = TestEnv::new();
    let warehouse = pg.url();
    let run = |source: &str| env.run(&hand_written_run_into(&vendor.url, source, &warehouse));
    let mut outputs = Vec::new();

    // The password works, and the rows are the naive join's.
    let ok = run(&my.url_as(&user_name, Some(SECRET)));
    assert_exit(&ok, 0);
    let expected =
        expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users_from_mysql(&mut my.conn()), DATE, 30);
    assert_rows_eq(&warehouse_rows(&pg, TABLE, DATE), &expected);
    outputs.push(ok);

    // Runtime failures: exit 1, one `error:` line saying what is wrong.
    let no_db = MySqlDb::new("my_errors_gone");
    let gone = no_db.url();
    drop(no_db);
    let no_table = MySqlDb::new("my_errors_empty");
    no_table.conn().query_drop("CREATE TABLE user_practice (id BIGINT PRIMARY KEY, location TEXT)").unwrap();
    for (source, mention) in
        [(my.url_as(&user_name, Some(&format!("wrong-{SECRET}"))), "Access denied"), (gone, "Unknown database")]
    {
        let failed = run(&source);
        assert_exit(&failed, 1);
        assert_one_error_line(&failed);
        let err = stderr(&failed);
        assert!(err.contains("source database") || err.contains("our users out of MySQL"), "{err}");
        assert!(err.contains(mention), "want {mention:?} in\n{err}");
        outputs.push(failed);
    }
    // A missing table is a setting at fault, found before the run starts (exit 2).
    let failed = run(&no_table.url());
    assert_exit(&failed, 2);
    assert_one_error_line(&failed);
    assert!(stderr(&failed).contains("has no table `user`"), "{}", stderr(&failed));
    outputs.push(failed);
    let _ = env.run(&["status"]);

    // Malformed URLs: exit 2 before any run or connection.
    let config_env = TestEnv::new();
    for source in [
        format!("{}?ssl-mode=sometimes", my.url_as(&user_name, Some(SECRET))),
        format!("{}?nonsense=1", my.url_as(&user_name, Some(SECRET))),
        format!("mysql://{user_name}:{SECRET}@[::1/{}", my.name),
        // No database: MySQL has no default one to find the tables in.
        my.url_as(&user_name, Some(SECRET)).replace(&format!("/{}", my.name), ""),
    ] {
        let refused = config_env.run(&hand_written_run_into(&vendor.url, &source, &warehouse));
        assert_exit(&refused, 2);
        assert_one_error_line(&refused);
        assert!(stderr(&refused).contains("source"), "{}", stderr(&refused));
        assert!(!config_env.work_dir().exists(), "no run is created for a bad configuration");
        outputs.push(refused);
    }

    // The password appears nowhere: output, status, work files, warehouse.
    let mut texts = vec![stdout(&env.run(&["status"])), stdout(&env.run(&["status", "--json"]))];
    for output in &outputs {
        texts.extend([stdout(output), stderr(output)]);
    }
    for file in files_under(env.path()) {
        texts.push(String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned());
    }
    let dump = Command::new("pg_dump").arg(pg.url()).output().unwrap();
    assert_exit(&dump, 0);
    texts.push(stdout(&dump));
    for text in texts {
        assert!(!text.contains(SECRET), "password leaked:\n{text}");
    }
}

#[test]
fn mysql_types_4_byte_text_latin1_tinyint_unsigned_ids_and_zero_dates() {
    let pg = TestDb::new("my_types");
    let my = MySqlDb::new("my_types");
    let mut conn = my.conn();
    conn.query_drop(
        "CREATE TABLE user_practice (id BIGINT PRIMARY KEY, name TEXT, location TEXT) CHARACTER SET utf8mb4;
         CREATE TABLE `user` (
           id BIGINT UNSIGNED PRIMARY KEY,
           practice_id BIGINT,
           firstname TEXT,
           lastname TEXT CHARACTER SET latin1,
           classification TEXT,
           specialty TEXT,
           platform_registered_on TINYINT(1),
           last_active_date DATE) CHARACTER SET utf8mb4;
         INSERT INTO user_practice VALUES (1, 'Bon Air', 'bon air'), (2, 'Clinic 2', 'generic clinic 2');",
    )
    .unwrap();
    // Zero dates need a lenient SQL mode to be stored at all.
    conn.query_drop("SET SESSION sql_mode = ''").unwrap();
    conn.query_drop(
        "INSERT INTO `user` VALUES
           (1, 1, '𝔸lice', 'Smith', 'popular', 'Neurology', 1, '2017-01-20'),
           (2, 2, 'Jürgen', 'Müller', 'contributor', 'Cardiology', 0, '2017-01-25'),
           (3, NULL, 'No', 'Practice', 'popular', 'Oncology', 1, '2017-01-30'),
           (4, 1, 'Zero', 'Date', 'popular', 'Oncology', 0, '0000-00-00'),
           (5, 1, 'Zero', 'Month', 'popular', 'Oncology', 0, '2017-00-10'),
           (6, 1, 'Emoji 😀', 'Fan', 'popular', 'Oncology', 1, NULL),
           (10, 1, 'Ten', 'Plain', 'news_reader', 'Oncology', 0, '2017-01-01'),
           (11, 2, 'Eleven', 'Plain', 'news_reader', 'Oncology', 1, '2017-01-02'),
           (12, 2, 'Twelve', 'Plain', 'news_reader', 'Oncology', 0, '2016-12-01'),
           (9223372036854775807, 2, 'Max', 'Signed', 'popular', 'Dermatology', 1, '2017-02-01'),
           (9223372036854775808, 2, 'Too', 'Big', 'popular', 'Dermatology', 1, '2017-02-01'),
           (18446744073709551615, 2, 'Way', 'Too Big', 'popular', 'Dermatology', 1, '2017-02-01')",
    )
    .unwrap();
    let stored: Option<String> =
        conn.query_first("SELECT CAST(last_active_date AS CHAR) FROM `user` WHERE id = 4").unwrap().unwrap();
    assert_eq!(stored.as_deref(), Some("0000-00-00"), "the server did not keep the zero date");
    let dir = tempfile::tempdir().unwrap();
    let page = serde_json::json!({"current_page": 1, "total_pages": 1, "users": [
        {"id": 201, "firstname": "ALICE", "lastname": "smith", "practice_location": "bon_air",
         "specialty": "neurology", "user_type_classification": "Leader", "last_active_date": "2017-01-21"},
        {"id": 202, "firstname": "jürgen", "lastname": "MÜLLER", "practice_location": "generic_clinic_2",
         "specialty": "Cardiology", "user_type_classification": "Lurker", "last_active_date": "2017-01-26"},
        {"id": 203, "firstname": "Vera", "lastname": "Vendor", "practice_location": "bon_air",
         "specialty": "Oncology", "user_type_classification": "Lurker", "last_active_date": "2017-01-26"},
    ]});
    std::fs::write(dir.path().join("page-000001.json"), page.to_string()).unwrap();
    let server = Server::start(dir.path(), &[]);
    let env = TestEnv::new();
    // `mariadb://` names the same kind of server.
    let source = my.url().replacen("mysql://", "mariadb://", 1);
    let warehouse = pg.url();
    let output = env.run(&hand_written_run_into(&server.url, &source, &warehouse));
    assert_exit(&output, 0);

    let rows = warehouse_rows(&pg, TABLE, DATE);
    assert_rows_eq(&rows, &expected_rows(&vendor_users(dir.path()), &internal_users_from_mysql(&mut conn), DATE, 30));
    // What was planted, row by row.
    let internal = |id: i64| rows.iter().find(|r| r.internal_id == Some(id)).unwrap_or_else(|| panic!("no row {id}"));
    let mut ids: Vec<i64> = rows.iter().filter_map(|r| r.internal_id).collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 6, 10, 11, 12, i64::MAX]);
    let alice = internal(1);
    assert_eq!((alice.status.as_str(), alice.vendor_id), ("matched", Some(201)));
    // Shown cleaned (NFKC), kept as written.
    assert_eq!(alice.firstname.as_deref(), Some("Alice"));
    assert_eq!(alice.internal_raw[0].as_deref(), Some("𝔸lice"));
    let jurgen = internal(2);
    assert_eq!((jurgen.status.as_str(), jurgen.vendor_id), ("matched", Some(202)));
    assert_eq!((jurgen.firstname.as_deref(), jurgen.lastname.as_deref()), (Some("Jürgen"), Some("Müller")));
    assert_eq!(jurgen.internal_platform.as_deref(), Some("0"));
    let no_practice = internal(3);
    assert_eq!((no_practice.status.as_str(), no_practice.location.as_deref()), ("unmatchable", None));
    assert_eq!(no_practice.internal_platform.as_deref(), Some("1"));
    assert_eq!(internal(6).firstname.as_deref(), Some("Emoji 😀"));
    assert_eq!((internal(6).internal_last_active, internal(6).internal_active), (None, Some(false)));
    assert_eq!(internal(i64::MAX).lastname.as_deref(), Some("Signed"));

    // The rows the warehouse can't hold are rejects, each with its reason.
    let internal_rejects: Vec<serde_json::Value> =
        rejects(&env).into_iter().filter(|r| r["source"] == "internal").collect();
    assert_eq!(internal_rejects.len(), 4, "{internal_rejects:#?}");
    let reason_of = |id: serde_json::Value| {
        let found = internal_rejects.iter().filter(|r| r["id"] == id).map(|r| r["reason"].as_str().unwrap());
        found.collect::<Vec<_>>().join("\n")
    };
    assert!(reason_of(4.into()).contains("zero date") && reason_of(4.into()).contains("0000-00-00"));
    assert!(reason_of(5.into()).contains("zero date") && reason_of(5.into()).contains("2017-00-10"));
    let beyond = reason_of(serde_json::Value::Null);
    assert!(beyond.contains("9223372036854775808") && beyond.contains("18446744073709551615"), "{beyond}");
    let extract = &manifest(&env)["extract_output"];
    assert_eq!((extract["internal_users"].as_u64(), extract["internal_rejects"].as_u64()), (Some(8), Some(4)));
}

#[test]
fn mysql_over_verified_tls_and_plain_untrusted_or_misnamed_connections_refused() {
    let ca = TestCa::new();
    // The certificate names `localhost` only: 127.0.0.1 is another name.
    let server = TlsMariaDb::start(&ca.server_cert_for(&["localhost"]), &ca.cert_pem);
    let pg = seeded_db("my_tls");
    let my = MySqlDb::on(&server.admin_url(), "tls");
    copy_fixture_tables(&pg, &mut my.conn());
    // A user the server lets in over TLS only.
    let mut admin = server.admin();
    admin.query_drop("CREATE USER 'vm_tls'@'%' REQUIRE SSL").unwrap();
    admin.query_drop(format!("GRANT SELECT ON `{}`.* TO 'vm_tls'@'%'", my.name)).unwrap();
    let vendor = hand_written_server();
    let env = TestEnv::new();
    let ca_path = ca.write(env.path());
    let other = TestCa::new();
    let other_path = env.path().join("other-ca.pem");
    std::fs::write(&other_path, &other.cert_pem).unwrap();
    let url = |host: &str, query: String| format!("mysql://vm_tls@{host}:{}/{}?{query}", server.port, my.name);
    let warehouse = pg.url();
    let run = |source: &str| env.run(&hand_written_run_into(&vendor.url, source, &warehouse));

    for mode in ["REQUIRED", "verify_identity"] {
        let tls = run(&url("localhost", format!("ssl-mode={mode}&ssl-ca={}", ca_path.display())));
        assert_exit(&tls, 0);
        let expected = expected_rows(
            &vendor_users(&repo("fixtures/vendor")),
            &internal_users_from_mysql(&mut my.conn()),
            DATE,
            30,
        );
        assert_rows_eq(&warehouse_rows(&pg, TABLE, DATE), &expected);
    }
    let tls_sessions: Vec<(String, String)> = admin.query("SHOW GLOBAL STATUS LIKE 'Ssl_accepts'").unwrap();
    assert!(tls_sessions[0].1.parse::<u64>().unwrap() >= 2, "{tls_sessions:?}");

    let refused = |source: String, mention: &str| {
        let output = run(&source);
        assert_exit(&output, 1);
        assert_one_error_line(&output);
        let err = stderr(&output);
        assert!(err.contains("could not connect to the source database"), "{err}");
        assert!(err.to_lowercase().contains(mention), "want {mention:?} in\n{err}");
    };
    // Plain connections: the user may not log in without TLS.
    refused(url("localhost", "ssl-mode=DISABLED".into()), "access denied");
    refused(url("localhost", "ssl-mode=PREFERRED".into()), "access denied");
    // A certificate from another CA, or no CA given (not a public root), is not trusted.
    refused(url("localhost", format!("ssl-mode=REQUIRED&ssl-ca={}", other_path.display())), "certificate");
    refused(url("localhost", "ssl-mode=REQUIRED".into()), "certificate");
    // The right CA, but the certificate is not for this host name.
    refused(url("127.0.0.1", format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", ca_path.display())), "certificate");
    // A server without TLS is never read in plain text when TLS is asked for.
    let plain_server = format!("{}?ssl-mode=REQUIRED&ssl-ca={}", mysql_admin_url(), ca_path.display());
    let output = run(&plain_server);
    assert_exit(&output, 1);
    assert_one_error_line(&output);
}

const MIB: u64 = 1024 * 1024;

#[test]
fn budget_8mib_over_200k_users_from_mysql_stays_under_56mib() {
    let f = fixture("my_memory", &["--users", "200000"], &[]);
    let env = TestEnv::new();
    let (source, warehouse) = (f.my.url(), f.pg.url());
    let args = [
        "run",
        "--quiet",
        "--memory-budget",
        "8MiB",
        "--vendor-url",
        &f.server.url,
        "--source-url",
        &source,
        "--warehouse-url",
        &warehouse,
    ];
    // Paused after the report, the last stage, so that its VmHWM can be read.
    let mut run = Watched::spawn(env.command(&args).env(FAILPOINT, "stage.completed=4:pause=1000"));
    run.wait_for("failpoint stage.completed: pausing");
    let process_peak = vm_hwm_bytes(run.pid());
    assert_exit(&run.finish(), 0);
    eprintln!("peak RSS with the MySQL source: {:.1} MiB", process_peak as f64 / MIB as f64);
    let extract = &manifest(&env)["extract_output"];
    assert_eq!(extract["internal_users"], 200000, "{extract}");
    let internal_spills = extract["internal_spills"].as_array().unwrap().len();
    assert!(internal_spills > 1, "internal spill files: {internal_spills}");
    for sort in extract["sorts"].as_array().unwrap() {
        assert!(sort["peak_bytes"].as_u64().unwrap() <= 8 * MIB, "sorter over budget: {sort}");
    }
    assert!(process_peak < 56 * MIB, "the process's VmHWM {:.1} MiB >= 56 MiB", process_peak as f64 / MIB as f64);
}
