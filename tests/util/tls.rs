//! TLS test parts: a private CA, an https vendor server, and a PostgreSQL
//! cluster of our own that accepts only TLS connections.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A certificate authority made for one test.
pub struct TestCa {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate for 127.0.0.1 and localhost, signed by a `TestCa`.
pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(rcgen::DnType::CommonName, "vendor-match test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert_pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    pub fn server_cert(&self) -> ServerCert {
        self.server_cert_for(&["127.0.0.1", "localhost"])
    }

    /// A server certificate for these names only.
    pub fn server_cert_for(&self, names: &[&str]) -> ServerCert {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ServerCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
    }

    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.cert_pem).unwrap();
        path
    }
}

fn server_config(cert: &ServerCert) -> rustls::ServerConfig {
    use rustls_pki_types::pem::PemObject;
    let chain = vec![rustls_pki_types::CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()];
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap()
}

/// Serves `page-N.json` files of a directory over https, one connection per
/// request (`Connection: close`), until the test ends.
pub struct HttpsServer {
    pub url: String,
}

impl HttpsServer {
    pub fn start(dir: &Path, cert: &ServerCert) -> HttpsServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://127.0.0.1:{}/v1/users", listener.local_addr().unwrap().port());
        let config = Arc::new(server_config(cert));
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, dir) = (config.clone(), dir.clone());
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let mut request_line = String::new();
                    let mut reader = BufReader::new(&mut tls);
                    if reader.read_line(&mut request_line).is_err() {
                        return;
                    }
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let page: u32 = request_line
                        .split("page=")
                        .nth(1)
                        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1);
                    let body = std::fs::read(dir.join(format!("page-{page:06}.json"))).unwrap_or_else(|_| {
                        format!(r#"{{"current_page":{page},"total_pages":0,"users":[]}}"#).into_bytes()
                    });
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes());
                    let _ = tls.write_all(&body);
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        HttpsServer { url }
    }
}

/// A throwaway PostgreSQL cluster that accepts TCP connections only over TLS,
/// with a certificate from the test's CA. Stopped on drop.
pub struct TlsCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn run_as_postgres(command: &str) {
    let status = if is_root() {
        Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", command]).status().unwrap()
    } else {
        Command::new("sh").args(["-c", command]).status().unwrap()
    };
    assert!(status.success(), "failed: {command}");
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql (scripts/pg-up.sh installs them)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

impl TlsCluster {
    pub fn start(cert: &ServerCert) -> TlsCluster {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success());
        }
        let bin = postgres_bin();
        run_as_postgres(&format!("{}/initdb -D {} -A trust -U postgres >/dev/null", bin.display(), data.display()));
        std::fs::write(data.join("server.crt"), &cert.cert_pem).unwrap();
        std::fs::write(data.join("server.key"), &cert.key_pem).unwrap();
        let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n";
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let mut conf = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).unwrap();
        writeln!(
            conf,
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'",
            dir.path().display()
        )
        .unwrap();
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success());
        }
        std::fs::set_permissions(data.join("server.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        run_as_postgres(&format!(
            "{}/pg_ctl -D {} -w -l {}/log start >/dev/null",
            bin.display(),
            data.display(),
            dir.path().display()
        ));
        TlsCluster { dir, bin, port }
    }

    /// The directory of the cluster's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A plain connection over the cluster's Unix socket, for setting up data.
    pub fn socket_client(&self) -> postgres::Client {
        let conninfo = format!("host={} port={} user=postgres dbname=postgres", self.dir.path().display(), self.port);
        postgres::Client::connect(&conninfo, postgres::NoTls).unwrap()
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        run_as_postgres(&format!("{}/pg_ctl -D {} -m immediate stop >/dev/null", self.bin.display(), data.display()));
    }
}
