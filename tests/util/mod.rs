//! Test helpers: a scratch PostgreSQL (or MySQL, in `mysql_server`) database, the fixture vendor server, the binary, and a naive join.

#![allow(dead_code)]

pub mod citus;
pub mod mysql_server;
pub mod naive;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A path in the repository (fixtures/...).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Loads the hand-written internal users (fixtures/internal/seed.sql) into `client`'s database.
pub fn seed_hand_written(client: &mut postgres::Client) {
    client.batch_execute(&std::fs::read_to_string(repo("fixtures/internal/seed.sql")).unwrap()).unwrap();
}

/// A database holding the hand-written internal users.
pub fn seeded_db(prefix: &str) -> TestDb {
    let db = TestDb::new(prefix);
    seed_hand_written(&mut db.client());
    db
}

/// `fixtures serve` over the hand-written vendor pages (fixtures/vendor).
pub fn hand_written_server() -> Server {
    Server::start(&repo("fixtures/vendor"), &[])
}

/// `run` over the hand-written data (whose two rejects pass a 0.5 ratio), quiet.
pub fn hand_written_run<'a>(vendor_url: &'a str, db_url: &'a str) -> Vec<&'a str> {
    hand_written_run_into(vendor_url, db_url, db_url)
}

/// The same, loading through another warehouse URL.
pub fn hand_written_run_into<'a>(vendor_url: &'a str, source_url: &'a str, warehouse_url: &'a str) -> Vec<&'a str> {
    let mut args = vec!["run", "--quiet", "--max-reject-ratio", "0.5", "--vendor-url", vendor_url];
    args.extend(["--source-url", source_url, "--warehouse-url", warehouse_url]);
    args
}

/// The binary in `env` with every connection in the environment and a
/// memory budget of 128 KiB (several spill files a side on small data),
/// each read by the commands that take it.
pub fn small_budget_command(env: &TestEnv, args: &[&str], vendor_url: &str, db_url: &str) -> Command {
    let mut cmd = env.command(args);
    cmd.arg("--quiet")
        .env("VENDOR_MATCH_MEMORY_BUDGET", "128KiB")
        .env("VENDOR_API_URL", vendor_url)
        .env("SOURCE_DATABASE_URL", db_url)
        .env("WAREHOUSE_DATABASE_URL", db_url);
    cmd
}

/// Where the test PostgreSQL server is: an admin URL (database `postgres`).
pub const DATABASE_URL_VAR: &str = "VENDOR_MATCH_TEST_DATABASE_URL";

pub fn admin_url() -> String {
    std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A database created for one test and dropped at the end. An unreachable
/// server fails the test: the database paths must be proven, never skipped.
pub struct TestDb {
    pub name: String,
    admin: String,
}

impl TestDb {
    pub fn new(prefix: &str) -> TestDb {
        let name = format!("vmt_{prefix}_{}_{:08x}", std::process::id(), fastrand::u32(..));
        let admin = admin_url();
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("test PostgreSQL at {admin} is unreachable ({e}); set {DATABASE_URL_VAR}"));
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).unwrap();
        TestDb { name, admin }
    }

    /// The URL of this database, optionally with a user:password.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&self.admin).unwrap();
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }

    pub fn url_with_password(&self, password: &str) -> String {
        let mut url = url::Url::parse(&self.url()).unwrap();
        if url.username().is_empty() {
            url.set_username("postgres").unwrap();
        }
        url.set_password(Some(password)).unwrap();
        url.to_string()
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
        }
    }
}

/// A login role made for one test (roles are cluster-wide: the name is
/// unique), dropped at the end. Declare it before the database it is granted
/// rights in, so that the database is dropped first.
pub struct TestRole {
    pub name: String,
}

impl TestRole {
    pub fn new(prefix: &str) -> TestRole {
        let name = format!("vmt_{prefix}_{}_{:08x}", std::process::id(), fastrand::u32(..));
        let mut admin = postgres::Client::connect(&admin_url(), postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE ROLE \"{name}\" LOGIN")).unwrap();
        TestRole { name }
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", self.name));
        }
    }
}

/// `vendor-match fixtures serve` on a free loopback port, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(bin())
            .args(["fixtures", "serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected server line {line:?}"))
            .to_string();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary under test: this build's, or the one `VENDOR_MATCH_TEST_BIN`
/// names (to see a new test fail on an older build).
pub fn bin() -> PathBuf {
    match std::env::var_os("VENDOR_MATCH_TEST_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_vendor-match")),
    }
}

/// A temporary work dir and the binary to run in it.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn output(&self) -> PathBuf {
        self.dir.path().join("output.txt")
    }

    /// The binary with the work dir, output file and quick retries set; no
    /// connection variables inherited from the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("VENDOR_API_URL")
            .env_remove("SOURCE_DATABASE_URL")
            .env_remove("WAREHOUSE_DATABASE_URL")
            .env("VENDOR_MATCH_WORK_DIR", self.work_dir())
            .env("VENDOR_MATCH_OUTPUT", self.output())
            .env("VENDOR_MATCH_RETRY_DELAY_MS", "10");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

/// Fails with the command's output shown when its exit code is not `code`.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code\n```stdout\n{}\n```\n```stderr\n{}\n```",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Exactly one `error:` line, no panic text.
pub fn assert_one_error_line(output: &Output) {
    let err = stderr(output);
    let errors = err.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(errors, 1, "want one error: line\n```\n{err}\n```");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "panic text\n```\n{err}\n```");
}

/// One warehouse row, as compared by tests.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WarehouseRow {
    pub status: String,
    pub internal_id: Option<i64>,
    pub vendor_id: Option<i64>,
    pub match_key: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub specialty: Option<String>,
    pub location: Option<String>,
    pub internal_active: Option<bool>,
    pub vendor_active: Option<bool>,
    pub vendor_last_active: Option<chrono::NaiveDate>,
    pub internal_last_active: Option<chrono::NaiveDate>,
    pub internal_classification: Option<String>,
    pub internal_platform: Option<String>,
    pub vendor_classification: Option<String>,
    /// Our firstname, lastname, specialty and location as read.
    pub internal_raw: [Option<String>; 4],
    /// The vendor's, as read.
    pub vendor_raw: [Option<String>; 4],
}

/// Every row of `report_date` in the warehouse table, sorted.
pub fn warehouse_rows(db: &TestDb, table: &str, report_date: &str) -> Vec<WarehouseRow> {
    warehouse_rows_from(&mut db.client(), table, report_date)
}

/// Every row of `report_date` in `table`, through `client`, sorted.
pub fn warehouse_rows_from(client: &mut postgres::Client, table: &str, report_date: &str) -> Vec<WarehouseRow> {
    let sql = format!(
        "SELECT match_status, internal_user_id, vendor_user_id, match_key, firstname, lastname, specialty, \
         practice_location, internal_is_active, vendor_is_active, vendor_last_active_date, \
         internal_last_active_date, internal_classification, internal_platform_registered_on, vendor_classification, \
         internal_firstname_raw, internal_lastname_raw, internal_specialty_raw, internal_practice_location_raw, \
         vendor_firstname_raw, vendor_lastname_raw, vendor_specialty_raw, vendor_practice_location_raw \
         FROM {table} WHERE report_date = $1::text::date"
    );
    let mut rows: Vec<WarehouseRow> = client
        .query(&sql, &[&report_date])
        .unwrap()
        .iter()
        .map(|r| WarehouseRow {
            status: r.get(0),
            internal_id: r.get(1),
            vendor_id: r.get(2),
            match_key: r.get(3),
            firstname: r.get(4),
            lastname: r.get(5),
            specialty: r.get(6),
            location: r.get(7),
            internal_active: r.get(8),
            vendor_active: r.get(9),
            vendor_last_active: r.get(10),
            internal_last_active: r.get(11),
            internal_classification: r.get(12),
            internal_platform: r.get(13),
            vendor_classification: r.get(14),
            internal_raw: [r.get(15), r.get(16), r.get(17), r.get(18)],
            vendor_raw: [r.get(19), r.get(20), r.get(21), r.get(22)],
        })
        .collect();
    rows.sort();
    rows
}

/// Compares two row lists, showing the first differences.
pub fn assert_rows_eq(actual: &[WarehouseRow], expected: &[WarehouseRow]) {
    if actual == expected {
        return;
    }
    let missing: Vec<_> = expected.iter().filter(|r| !actual.contains(r)).take(5).collect();
    let extra: Vec<_> = actual.iter().filter(|r| !expected.contains(r)).take(5).collect();
    panic!(
        "warehouse rows differ: {} actual, {} expected\n```missing\n{missing:#?}\n```\n```unexpected\n{extra:#?}\n```",
        actual.len(),
        expected.len()
    );
}

/// `fixtures generate` into `db`, pages into `dir`; returns expected.json.
pub fn generate(db: &TestDb, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(bin());
    cmd.args(["fixtures", "generate", "--out-dir"]).arg(dir).args(args).env("SOURCE_DATABASE_URL", db.url());
    generated(cmd, dir)
}

pub fn generated(mut cmd: Command, dir: &Path) -> serde_json::Value {
    assert_exit(&cmd.output().unwrap(), 0);
    serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap()
}

/// The run's manifest as JSON (`status --json`).
pub fn status_json(env: &TestEnv) -> serde_json::Value {
    let output = env.run(&["status", "--json"]);
    assert_exit(&output, 0);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A running `vendor-match` whose stderr is read line by line as it comes,
/// so that a test can act when the binary reaches a point (a failpoint that
/// pauses prints `failpoint NAME: pausing`).
pub struct Watched {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watched {
    pub fn spawn(command: &mut Command) -> Watched {
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Watched { child, lines, seen: Vec::new() }
    }

    /// The process id, to read its `/proc/<pid>/status` while it runs.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (a minute at most) for a stderr line holding `text`.
    pub fn wait_for(&mut self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.seen.iter().any(|line| line.contains(text)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no stderr line with {text:?}\n```stderr\n{}\n```", self.seen.join("\n")),
            }
        }
    }

    /// Waits for the process to end; its exit status and whole stderr.
    pub fn finish(mut self) -> Output {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        Output { status, stdout: Vec::new(), stderr: (self.seen.join("\n") + "\n").into_bytes() }
    }
}

/// Ends, as an operator's `pg_terminate_backend` would, every session of
/// `vendor-match` on `db` that matches the SQL condition `filter` (on
/// `pg_stat_activity`); returns how many were ended.
pub fn end_sessions(db: &TestDb, filter: &str) -> i64 {
    let sql = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'vendor-match' AND {filter}"
    );
    let mut admin = postgres::Client::connect(&admin_url(), postgres::NoTls).unwrap();
    admin.query_one(&sql, &[&db.name]).unwrap().get(0)
}

/// Every file under `dir`, at any depth (none when it can't be read).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `VmHWM` (the process's peak resident memory) of a running process, in bytes.
pub fn vm_hwm_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or_else(|| panic!("no VmHWM in\n{status}"));
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Page requests `server` has answered (its `GET /_stats`).
pub fn requests_served(server: &Server) -> u64 {
    let stats = server.url.replace("/v1/users", "/_stats");
    let body = reqwest::blocking::get(stats).unwrap().text().unwrap();
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["requests"].as_u64().unwrap()
}

/// Writes `path` until its disk is full, then gives `left` bytes back.
pub fn fill_leaving(path: &std::path::Path, left: u64) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    file.set_len(written.saturating_sub(left)).unwrap();
}
