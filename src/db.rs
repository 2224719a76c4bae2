//! PostgreSQL connections from a `SecretUrl`: connect timeout, and TLS with
//! certificate verification when the URL asks for it.
//!
//! `sslmode` in the URL: `disable`, `prefer` (the default; plain connection),
//! or `require` / `verify-ca` / `verify-full` (TLS, the server's certificate
//! verified against `sslrootcert=<PEM file>` when given, else the system's
//! trusted roots; the host name is checked). Other URL parameters
//! (`connect_timeout`, `application_name`, `options=-c%20statement_timeout%3D300`)
//! reach the driver as written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::pem::{self, PemError};
use crate::secret::SecretUrl;

/// A connection that could not be made. Shows the URL with its password masked.
#[derive(Debug, thiserror::Error)]
#[error("could not connect to the {role} database {url}")]
pub struct ConnectError {
    /// `source` or `warehouse`.
    pub role: &'static str,
    /// The URL, masked.
    pub url: String,
    /// What went wrong.
    #[source]
    pub source: ConnectCause,
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectCause {
    /// The driver's error (network, login, TLS handshake).
    #[error(transparent)]
    Driver(#[from] postgres::Error),
    /// The `sslrootcert` file can't be used.
    #[error("sslrootcert {0}")]
    RootCert(#[source] Box<PemError>),
    /// TLS could not be set up.
    #[error("setting up TLS failed")]
    Tls(#[source] Box<rustls::Error>),
    /// The runtime that drives a streaming connection could not start.
    #[error("starting the connection's runtime failed: {0}")]
    Runtime(String),
    /// An `sslmode` the tool does not know.
    #[error("unknown sslmode `{0}` (use disable, prefer, require, verify-ca or verify-full)")]
    SslMode(String),
    /// The MySQL driver's error (network, login, TLS handshake).
    #[error(transparent)]
    MySql(Box<mysql::Error>),
    /// A MySQL URL setting the driver does not take (its value left out: it may be a secret).
    #[error("{0}")]
    MySqlUrl(String),
    /// An `ssl-mode` the tool does not know.
    #[error("unknown ssl-mode `{0}` (use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)")]
    MySqlSslMode(String),
}

/// How the URL asks for TLS.
#[derive(Debug, PartialEq)]
struct TlsRequest {
    /// The URL without the TLS parameters the driver does not understand;
    /// every other parameter is kept as written, so that it reaches the
    /// driver with its meaning (`%20` stays a space, `+` a plus sign).
    conninfo: String,
    verify: bool,
    disable: bool,
    root_cert: Option<PathBuf>,
    /// Whether the URL sets `connect_timeout` (0 then means no limit, as in libpq).
    connect_timeout: bool,
}

fn tls_request(url: &SecretUrl) -> Result<TlsRequest, ConnectCause> {
    let mut mode = None;
    let mut root_cert = None;
    let mut connect_timeout = false;
    let mut kept = Vec::new();
    for param in url.query_params() {
        match param.key.as_str() {
            "sslmode" => mode = Some(param.value),
            "sslrootcert" => root_cert = Some(PathBuf::from(param.value)),
            key => {
                connect_timeout |= key == "connect_timeout";
                kept.push(param.raw);
            }
        }
    }
    let mut stripped = url.url().clone();
    stripped.set_query(Some(&kept.join("&")).filter(|query| !query.is_empty()).map(String::as_str));
    let (verify, disable) = match mode.as_deref() {
        None | Some("prefer") | Some("allow") => (false, false),
        Some("disable") => (false, true),
        Some("require") | Some("verify-ca") | Some("verify-full") => (true, false),
        Some(other) => return Err(ConnectCause::SslMode(other.to_string())),
    };
    Ok(TlsRequest { conninfo: stripped.to_string(), verify, disable, root_cert, connect_timeout })
}

/// Whether an error means the session broke off (connection lost, or the
/// server ended it: restart, `pg_terminate_backend`) rather than a failure
/// that would repeat (a missing table, a bad query, a refused login).
pub fn is_connection_loss(error: &postgres::Error) -> bool {
    match error.as_db_error() {
        None => true,
        // Class 08: connection exception; 57: operator intervention.
        Some(db) => db.code().code().starts_with("08") || db.code().code().starts_with("57"),
    }
}

/// How an attempt on a database session ended, as [`with_reconnects`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The session broke off (see [`is_connection_loss`]): worth another try.
    Lost,
    /// Connecting failed: worth another try only after a loss (the server may
    /// be restarting), never as the first failure (a wrong URL or login).
    Connect,
    /// Anything else: final.
    Final,
}

/// Times a session that broke off is tried again on a new connection.
pub const RECONNECTS: u32 = 3;

/// The reconnect policy, for every session the tool holds: runs `attempt`
/// until it succeeds or fails for good, trying again after a loss (and after
/// a failed connect that follows a loss) up to [`RECONNECTS`] times, waiting
/// 0.5, 1 and 2 s. Returns the outcome and how many times it reconnected.
pub fn with_reconnects<T, E: std::error::Error + 'static>(
    attempt: impl FnMut() -> Result<T, E>,
    classify: impl Fn(&E) -> Failure,
) -> (Result<T, E>, u32) {
    let before_retry = |error: &E, reconnect: u32, delay: Duration| {
        tracing::warn!(
            reconnect,
            of = RECONNECTS,
            delay_ms = delay.as_millis() as u64,
            error = %crate::causes::one_line(error),
            "database session lost; reconnecting"
        );
        std::thread::sleep(delay);
    };
    reconnect_loop(attempt, classify, before_retry)
}

/// [`with_reconnects`], with the wait between tries given (tests wait for nothing).
fn reconnect_loop<T, E>(
    mut attempt: impl FnMut() -> Result<T, E>,
    classify: impl Fn(&E) -> Failure,
    mut before_retry: impl FnMut(&E, u32, Duration),
) -> (Result<T, E>, u32) {
    let mut reconnects = 0;
    loop {
        let result = attempt();
        let again = match &result {
            Ok(_) => false,
            Err(error) => match classify(error) {
                Failure::Lost => reconnects < RECONNECTS,
                Failure::Connect => reconnects > 0 && reconnects < RECONNECTS,
                Failure::Final => false,
            },
        };
        let error = match result {
            Err(error) if again => error,
            done => return (done, reconnects),
        };
        reconnects += 1;
        before_retry(&error, reconnects, Duration::from_millis(250 << reconnects));
    }
}

/// A connection for streaming a large result: its own single-threaded
/// runtime drives it, and the whole stream is read inside one `block_on`, so
/// rows do not each pay for entering the runtime (the blocking client does).
pub struct StreamingConnection {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl StreamingConnection {
    /// Runs `future` (using [`client`](Self::client)) to completion.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The client, for use inside [`block_on`](Self::block_on).
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

/// What both kinds of connection are made from: the driver's configuration
/// (TLS mode set; connect timeout 10 s and application name `vendor-match`
/// unless the URL sets them) and, when TLS is asked for, the verifying connector.
fn prepare(url: &SecretUrl) -> Result<(tokio_postgres::Config, Option<MakeRustlsConnect>), ConnectCause> {
    let request = tls_request(url)?;
    let mut config: tokio_postgres::Config = request.conninfo.parse()?;
    if !request.connect_timeout {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("vendor-match");
    }
    if request.verify {
        config.ssl_mode(SslMode::Require);
        return Ok((config, Some(rustls_connector(request.root_cert.as_deref())?)));
    }
    config.ssl_mode(if request.disable { SslMode::Disable } else { SslMode::Prefer });
    Ok((config, None))
}

/// Checks, without connecting, that the driver takes every setting of `url`
/// (known parameters with valid values, a readable `sslrootcert`), so that
/// a bad one is a configuration error before any work.
pub fn check(url: &SecretUrl) -> Result<(), ConnectCause> {
    prepare(url).map(drop)
}

/// Connects like [`connect`], for streaming.
pub fn connect_streaming(url: &SecretUrl, role: &'static str) -> Result<StreamingConnection, ConnectError> {
    let error = |source: ConnectCause| ConnectError { role, url: url.masked(), source };
    let (config, tls) = prepare(url).map_err(error)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| error(ConnectCause::Runtime(e.to_string())))?;
    let client = match tls {
        Some(tls) => {
            let (client, connection) = runtime.block_on(config.connect(tls)).map_err(|e| error(e.into()))?;
            runtime.spawn(connection);
            client
        }
        None => {
            let (client, connection) =
                runtime.block_on(config.connect(tokio_postgres::NoTls)).map_err(|e| error(e.into()))?;
            runtime.spawn(connection);
            client
        }
    };
    Ok(StreamingConnection { runtime, client })
}

/// Connects to `url` within 10 seconds unless the URL sets `connect_timeout`.
pub fn connect(url: &SecretUrl, role: &'static str) -> Result<postgres::Client, ConnectError> {
    let error = |source: ConnectCause| ConnectError { role, url: url.masked(), source };
    let (config, tls) = prepare(url).map_err(error)?;
    let config = postgres::Config::from(config);
    match tls {
        Some(tls) => config.connect(tls),
        None => config.connect(postgres::NoTls),
    }
    .map_err(|e| error(e.into()))
}

/// A TLS connector trusting `root_cert` (a PEM file), or the system's roots.
fn rustls_connector(root_cert: Option<&Path>) -> Result<MakeRustlsConnect, ConnectCause> {
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certificates = pem::read_certificates(path).map_err(|e| ConnectCause::RootCert(Box::new(e)))?;
            roots.add_parsable_certificates(certificates.der);
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectCause::Tls(Box::new(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(raw: &str) -> TlsRequest {
        tls_request(&SecretUrl::parse(raw, &["postgres"]).unwrap()).unwrap()
    }

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let r = request("postgres://u:p@h:5/db?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=3");
        assert!(r.verify && !r.disable);
        assert_eq!(r.root_cert.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(r.conninfo, "postgres://u:p@h:5/db?connect_timeout=3");
    }

    #[test]
    fn other_parameters_reach_the_driver_as_written() {
        let r = request("postgres://h/db?options=-c%20statement_timeout%3D300&sslmode=disable&application_name=a+b");
        assert_eq!(r.conninfo, "postgres://h/db?options=-c%20statement_timeout%3D300&application_name=a+b");
    }

    fn config(raw: &str) -> tokio_postgres::Config {
        prepare(&SecretUrl::parse(raw, &["postgres"]).unwrap()).unwrap().0
    }

    #[test]
    fn connect_timeout_of_the_url_wins_and_zero_means_no_limit() {
        assert_eq!(config("postgres://h/db").get_connect_timeout(), Some(&Duration::from_secs(10)));
        assert_eq!(config("postgres://h/db?connect_timeout=3").get_connect_timeout(), Some(&Duration::from_secs(3)));
        // libpq: zero or a negative value waits as long as it takes.
        assert_eq!(config("postgres://h/db?connect_timeout=0").get_connect_timeout(), None);
    }

    #[test]
    fn application_name_of_the_url_wins() {
        assert_eq!(config("postgres://h/db").get_application_name(), Some("vendor-match"));
        assert_eq!(config("postgres://h/db?application_name=nightly").get_application_name(), Some("nightly"));
    }

    #[test]
    fn default_is_a_plain_connection() {
        let r = request("postgres://h/db");
        assert!(!r.verify && !r.disable && r.root_cert.is_none());
        assert!(request("postgres://h/db?sslmode=disable").disable);
    }

    #[test]
    fn unknown_sslmode_is_refused() {
        assert!(tls_request(&SecretUrl::parse("postgres://h/db?sslmode=maybe", &["postgres"]).unwrap()).is_err());
    }

    /// Runs the policy over `outcomes` (then success); returns its result, reconnects and waits.
    fn replay(outcomes: &[Failure]) -> (Result<(), Failure>, u32, Vec<Duration>) {
        let mut outcomes = outcomes.iter().copied();
        let mut waits = Vec::new();
        let (result, reconnects) =
            reconnect_loop(|| outcomes.next().map_or(Ok(()), Err), |f| *f, |_, _, wait| waits.push(wait));
        (result, reconnects, waits)
    }

    #[test]
    fn a_lost_session_is_tried_again_and_a_first_failed_connect_is_not() {
        let (result, reconnects, waits) = replay(&[Failure::Lost, Failure::Connect, Failure::Lost]);
        assert_eq!((result, reconnects), (Ok(()), 3));
        assert_eq!(waits, [500, 1000, 2000].map(Duration::from_millis));
        assert_eq!(replay(&[Failure::Connect]), (Err(Failure::Connect), 0, vec![]));
        assert_eq!(replay(&[Failure::Lost, Failure::Final]).0, Err(Failure::Final));
    }

    #[test]
    fn reconnects_stop_after_the_limit() {
        let (result, reconnects, _) = replay(&[Failure::Lost; 5]);
        assert_eq!((result, reconnects), (Err(Failure::Lost), RECONNECTS));
    }
}
