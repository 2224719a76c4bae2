//! A Citus cluster for tests: the database `scripts/test.sh` made on the
//! coordinator (`VENDOR_MATCH_TEST_CITUS_URL`, any Citus database with its
//! workers registered), a schema of its own per test, dropped at the end;
//! and the kit's `cluster.sh` (`VENDOR_MATCH_TEST_CITUS_KIT`) to stop and
//! start a worker. Citus tests take turns: one stops a worker the others use.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// The coordinator's URL of a database with Citus on every node.
pub const CITUS_URL_VAR: &str = "VENDOR_MATCH_TEST_CITUS_URL";
/// The folder holding the kit's `cluster.sh`.
pub const CITUS_KIT_VAR: &str = "VENDOR_MATCH_TEST_CITUS_KIT";

static CLUSTER: Mutex<()> = Mutex::new(());

/// A schema of its own on the cluster, dropped (with its tables) at the end.
pub struct CitusSchema {
    url: String,
    pub schema: String,
    _turn: MutexGuard<'static, ()>,
}

impl CitusSchema {
    /// `None`, saying so in one line, when no cluster is configured. A
    /// configured cluster that does not answer fails the test.
    pub fn new(prefix: &str) -> Option<CitusSchema> {
        let Ok(url) = std::env::var(CITUS_URL_VAR) else {
            eprintln!("skipped: no Citus cluster ({CITUS_URL_VAR} is unset; scripts/test.sh sets it from the kit)");
            return None;
        };
        let turn = CLUSTER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let schema = format!("vmt_{prefix}_{}_{:08x}", std::process::id(), fastrand::u32(..));
        let mut client = postgres::Client::connect(&url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("test Citus coordinator at {url} is unreachable ({e}); set {CITUS_URL_VAR}"));
        let citus: bool =
            client.query_one("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')", &[]).unwrap().get(0);
        assert!(citus, "{CITUS_URL_VAR} is not a database with the citus extension");
        client.batch_execute(&format!("CREATE SCHEMA \"{schema}\"")).unwrap();
        Some(CitusSchema { url, schema, _turn: turn })
    }

    /// The coordinator's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The warehouse table in this schema, for `--warehouse-table`.
    pub fn table(&self) -> String {
        format!("{}.platform_user_activity", self.schema)
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for CitusSchema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema));
        }
    }
}

/// The kit's `cluster.sh`, or `None` (saying so in one line) when the
/// cluster is not the kit's.
pub fn kit() -> Option<PathBuf> {
    match std::env::var(CITUS_KIT_VAR) {
        Ok(dir) => Some(PathBuf::from(dir).join("cluster.sh")),
        Err(_) => {
            eprintln!("skipped: no Citus kit to stop a worker with ({CITUS_KIT_VAR} is unset)");
            None
        }
    }
}

/// A worker stopped with the kit; started again when dropped, whatever the test did.
pub struct StoppedWorker {
    cluster: PathBuf,
    node: u32,
}

impl StoppedWorker {
    pub fn stop(cluster: &std::path::Path, node: u32) -> StoppedWorker {
        cluster_sh(cluster, "stop", node).unwrap();
        StoppedWorker { cluster: cluster.to_path_buf(), node }
    }

    /// Starts the worker again.
    pub fn start(self) {}
}

impl Drop for StoppedWorker {
    // No assert here: a panic while the test unwinds would abort every test.
    fn drop(&mut self) {
        if let Err(problem) = cluster_sh(&self.cluster, "start", self.node) {
            eprintln!("{problem}");
        }
    }
}

fn cluster_sh(cluster: &std::path::Path, verb: &str, node: u32) -> Result<(), String> {
    let output =
        Command::new("bash").arg(cluster).arg(verb).arg(node.to_string()).output().map_err(|e| e.to_string())?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!("cluster.sh {verb} {node}: {}", String::from_utf8_lossy(&output.stderr)))
}
