//! MySQL / MariaDB test parts: a scratch database per test, the fixture
//! tables of a PostgreSQL `TestDb` copied into it row for row, and a private
//! MariaDB server with TLS.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use super::tls::ServerCert;
use super::TestDb;

/// Where the test MySQL / MariaDB server is: an admin URL.
pub const MYSQL_URL_VAR: &str = "VENDOR_MATCH_TEST_MYSQL_URL";

pub fn mysql_admin_url() -> String {
    std::env::var(MYSQL_URL_VAR).unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_string())
}

/// A connection to `url` over TCP (never the server's socket), in `utf8mb4`.
pub fn connect(url: &str) -> mysql::Conn {
    // The driver knows only the `mysql` scheme; `mariadb` is the same protocol.
    let url = &match url.strip_prefix("mariadb:") {
        Some(rest) => format!("mysql:{rest}"),
        None => url.to_string(),
    };
    let opts = mysql::Opts::from_url(url).unwrap_or_else(|e| panic!("bad MySQL URL {url}: {e}"));
    let opts = mysql::OptsBuilder::from_opts(opts).prefer_socket(false).init(vec!["SET NAMES utf8mb4"]);
    mysql::Conn::new(opts).unwrap_or_else(|e| panic!("test MySQL at {url} is unreachable ({e}); set {MYSQL_URL_VAR}"))
}

/// A connection to the admin URL.
pub fn admin() -> mysql::Conn {
    connect(&mysql_admin_url())
}

/// A database created for one test (`vm_<prefix>_<pid>_<n>`) and dropped at
/// the end. An unreachable server fails the test, as with PostgreSQL.
pub struct MySqlDb {
    pub name: String,
    admin: String,
}

impl MySqlDb {
    pub fn new(prefix: &str) -> MySqlDb {
        Self::on(&mysql_admin_url(), prefix)
    }

    /// A database on the server of the admin URL `admin`.
    pub fn on(admin: &str, prefix: &str) -> MySqlDb {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("vm_{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        connect(admin).query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")).unwrap();
        MySqlDb { name, admin: admin.to_string() }
    }

    /// The URL of this database, as the admin URL's user.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&self.admin).unwrap();
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }

    /// The URL of this database as `user` with `password`.
    pub fn url_as(&self, user: &str, password: Option<&str>) -> String {
        let mut url = url::Url::parse(&self.url()).unwrap();
        url.set_username(user).unwrap();
        url.set_password(password).unwrap();
        url.to_string()
    }

    pub fn conn(&self) -> mysql::Conn {
        connect(&self.url())
    }

    /// Creates the SPEC §3 tables with MySQL types (empty).
    pub fn create_tables(&self) {
        self.conn().query_drop(CREATE_TABLES).unwrap();
    }
}

impl Drop for MySqlDb {
    fn drop(&mut self) {
        let opts = mysql::Opts::from_url(&self.admin).unwrap();
        if let Ok(mut admin) = mysql::Conn::new(mysql::OptsBuilder::from_opts(opts).prefer_socket(false)) {
            let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}

/// The two tables of SPEC §3 with MySQL's types (names are `MEDIUMTEXT`:
/// seed.sql holds a first name of 100,000 bytes, beyond `TEXT`).
pub const CREATE_TABLES: &str = "
CREATE TABLE user_practice (id BIGINT PRIMARY KEY, name TEXT, location TEXT) CHARACTER SET utf8mb4;
CREATE TABLE `user` (
  id BIGINT PRIMARY KEY,
  practice_id BIGINT,
  firstname MEDIUMTEXT, lastname MEDIUMTEXT,
  classification TEXT,
  specialty TEXT,
  platform_registered_on TEXT,
  last_active_date DATE) CHARACTER SET utf8mb4;
";

/// Rows per `LOAD DATA`.
const BATCH: usize = 20_000;

/// One value in `LOAD DATA`'s default text format: `\N` for NULL, and
/// backslash, tab, newline, carriage return and NUL escaped by a backslash.
fn push_field(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            b => out.push(b),
        }
    }
}

/// Loads `data` (LOAD DATA text) into `table (columns)` and checks that
/// the server took `rows` rows without a warning (a value changed on the way).
fn load_data(conn: &mut mysql::Conn, table: &str, columns: &str, data: Vec<u8>, rows: usize) {
    conn.set_local_infile_handler(Some(mysql::LocalInfileHandler::new(move |_, stream| stream.write_all(&data))));
    conn.query_drop(format!(
        "LOAD DATA LOCAL INFILE 'rows' INTO TABLE {table} CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({columns})"
    ))
    .unwrap();
    assert_eq!(conn.affected_rows() as usize, rows, "rows loaded into {table}");
    let warnings: Vec<mysql::Row> = conn.query("SHOW WARNINGS").unwrap();
    assert!(warnings.is_empty(), "LOAD DATA into {table} changed values: {warnings:?}");
    conn.set_local_infile_handler(None);
}

/// Copies `user_practice` and `"user"` of `pg` (as `fixtures generate` or
/// seed.sql made them) into `conn`'s database, creating the tables with
/// MySQL types first; every value arrives unchanged.
pub fn copy_fixture_tables(pg: &TestDb, conn: &mut mysql::Conn) {
    conn.query_drop(CREATE_TABLES).unwrap();
    let mut client = pg.client();
    client.batch_execute("SET DateStyle = 'ISO, YMD'").unwrap();
    let copy = |conn: &mut mysql::Conn, client: &mut postgres::Client, table: &str, columns: &str, sql: &str| {
        let mut data = Vec::new();
        let mut rows = 0;
        let mut iter = client.query_raw(sql, std::iter::empty::<&dyn postgres::types::ToSql>()).unwrap();
        while let Some(row) = postgres::fallible_iterator::FallibleIterator::next(&mut iter).unwrap() {
            for i in 0..row.len() {
                push_field(&mut data, row.get::<_, Option<&str>>(i));
                data.push(if i + 1 == row.len() { b'\n' } else { b'\t' });
            }
            rows += 1;
            if rows == BATCH {
                load_data(conn, table, columns, std::mem::take(&mut data), rows);
                rows = 0;
            }
        }
        if rows > 0 {
            load_data(conn, table, columns, data, rows);
        }
    };
    copy(
        conn,
        &mut client,
        "user_practice",
        "id, name, location",
        "SELECT id::text, name, location FROM user_practice ORDER BY id",
    );
    copy(
        conn,
        &mut client,
        "`user`",
        "id, practice_id, firstname, lastname, classification, specialty, platform_registered_on, last_active_date",
        "SELECT id::text, practice_id::text, firstname, lastname, classification, specialty, \
         platform_registered_on, last_active_date::text FROM \"user\" ORDER BY id",
    );
}

/// A private MariaDB server on a free loopback port, with TLS from the
/// test's CA (`require_secure_transport` off: plain connections are
/// allowed, a user made `REQUIRE SSL` is not). Root has no password over
/// TCP from 127.0.0.1. Killed on drop.
pub struct TlsMariaDb {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

fn sbin(name: &str) -> PathBuf {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

impl TlsMariaDb {
    pub fn start(cert: &ServerCert, ca_pem: &str) -> TlsMariaDb {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // mariadbd refuses to run as root unless told to.
        let user: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        let installed = Command::new(sbin("mariadb-install-db"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db (the MariaDB server package)");
        assert!(installed.success(), "mariadb-install-db failed");
        for (name, pem) in [("server.pem", cert.cert_pem.as_str()), ("server.key", &cert.key_pem), ("ca.pem", ca_pem)] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let child = Command::new(sbin("mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", path("sock")))
            .arg(format!("--pid-file={}", path("pid")))
            .arg(format!("--log-error={}", path("error.log")))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .args(user)
            .arg(format!("--ssl-cert={}", path("server.pem")))
            .arg(format!("--ssl-key={}", path("server.key")))
            .arg(format!("--ssl-ca={}", path("ca.pem")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let server = TlsMariaDb { dir, child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while mysql::Conn::new(server.admin_opts()).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private MariaDB did not start:\n{}",
                std::fs::read_to_string(server.dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn admin_opts(&self) -> mysql::Opts {
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some("root"))
            .prefer_socket(false)
            .init(vec!["SET NAMES utf8mb4"])
            .into()
    }

    /// A plain connection as root.
    pub fn admin(&self) -> mysql::Conn {
        mysql::Conn::new(self.admin_opts()).unwrap()
    }

    /// The admin URL (root, database `mysql`).
    pub fn admin_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/mysql", self.port)
    }
}

impl Drop for TlsMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `fixtures generate` into the MySQL `db` (named by `--target`, the
/// flag's alias the issue asks for), pages into `dir`; returns expected.json.
pub fn generate_mysql(db: &MySqlDb, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(super::bin());
    cmd.args(["fixtures", "generate", "--target", &db.url(), "--out-dir"])
        .arg(dir)
        .args(args)
        .env_remove("SOURCE_DATABASE_URL");
    super::generated(cmd, dir)
}
