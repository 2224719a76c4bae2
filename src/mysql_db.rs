//! MySQL / MariaDB connections from a `SecretUrl` (`mysql://` or
//! `mariadb://`): connect timeout, TCP even on localhost, `utf8mb4` text, and
//! TLS with certificate verification when the URL asks for it.
//!
//! `ssl-mode` in the URL (MySQL's names, any case; `ssl_mode` and `sslmode`
//! too): `DISABLED`, `PREFERRED` (the default; a plain connection, as the
//! driver can't fall back), or `REQUIRED` / `VERIFY_CA` / `VERIFY_IDENTITY`
//! (TLS, the server's certificate verified against `ssl-ca=<PEM file>` and
//! the driver's bundled Mozilla roots, the host name checked: the tool never
//! sends a password over a connection it can't verify, as with PostgreSQL).
//! Every other parameter reaches the driver as written
//! (`tcp_connect_timeout_ms`, `prefer_socket`, `compress`, ...).

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use mysql::{Opts, OptsBuilder, SslOpts};

use crate::db::{ConnectCause, ConnectError};
use crate::pem;
use crate::secret::SecretUrl;

/// The URL schemes of a MySQL or MariaDB server.
pub const SCHEMES: [&str; 2] = ["mysql", "mariadb"];

/// Whether `url` names a MySQL or MariaDB server.
pub fn is_mysql(url: &SecretUrl) -> bool {
    SCHEMES.contains(&url.url().scheme())
}

/// What the driver is given, once the tool's own parameters are taken out.
#[derive(Debug)]
struct Request {
    /// The URL for the driver: scheme `mysql`, TLS parameters taken out.
    url: String,
    /// TLS with verification.
    verify: bool,
    root_cert: Option<PathBuf>,
    /// Whether the URL sets these itself.
    connect_timeout: bool,
    prefer_socket: bool,
}

fn request(url: &SecretUrl) -> Result<Request, ConnectCause> {
    let mut mode = None;
    let mut root_cert = None;
    let (mut connect_timeout, mut prefer_socket) = (false, false);
    let mut kept = Vec::new();
    for param in url.query_params() {
        match param.key.as_str() {
            "ssl-mode" | "ssl_mode" | "sslmode" => mode = Some(param.value),
            "ssl-ca" | "ssl_ca" | "sslrootcert" => root_cert = Some(PathBuf::from(param.value)),
            key => {
                connect_timeout |= key == "tcp_connect_timeout_ms";
                prefer_socket |= key == "prefer_socket";
                kept.push(param.raw);
            }
        }
    }
    let mut stripped = url.url().clone();
    stripped.set_query(Some(&kept.join("&")).filter(|query| !query.is_empty()).map(String::as_str));
    // The driver knows only `mysql://`; both schemes are the same protocol.
    let rest = stripped.as_str().split_once(':').map_or("", |(_, rest)| rest);
    let verify = match mode.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("PREFERRED") | Some("DISABLED") => false,
        Some("REQUIRED") | Some("VERIFY_CA") | Some("VERIFY_IDENTITY") => true,
        Some(_) => return Err(ConnectCause::MySqlSslMode(mode.unwrap_or_default())),
    };
    Ok(Request { url: format!("mysql:{rest}"), verify, root_cert, connect_timeout, prefer_socket })
}

/// The driver's options for `url`.
fn prepare(url: &SecretUrl) -> Result<Opts, ConnectCause> {
    let request = request(url)?;
    let opts = Opts::from_url(&request.url).map_err(|e| ConnectCause::MySqlUrl(describe_url_error(&e)))?;
    // MySQL has no default database: the tables could be found nowhere.
    if opts.get_db_name().is_none() {
        return Err(ConnectCause::MySqlUrl("no database named (mysql://HOST/DATABASE)".into()));
    }
    let mut builder = OptsBuilder::from_opts(opts)
        // Text in UTF-8 whatever the columns' character sets (latin1 is converted by the server).
        .init(vec!["SET NAMES utf8mb4"]);
    if !request.connect_timeout {
        builder = builder.tcp_connect_timeout(Some(Duration::from_secs(10)));
    }
    // The driver would otherwise move a localhost connection to the server's
    // Unix socket, where it never uses TLS.
    if !request.prefer_socket {
        builder = builder.prefer_socket(false);
    }
    if request.verify {
        if let Some(path) = &request.root_cert {
            pem::read_certificates(path).map_err(|e| ConnectCause::RootCert(Box::new(e)))?;
        }
        let root: Option<Cow<'static, std::path::Path>> = request.root_cert.map(Cow::Owned);
        builder = builder.ssl_opts(SslOpts::default().with_root_cert_path(root));
    }
    Ok(builder.into())
}

/// The driver's URL error without the value it quotes (a value may be a password).
fn describe_url_error(error: &mysql::UrlError) -> String {
    match error {
        mysql::UrlError::InvalidValue(key, _) => format!("parameter `{key}` has a value the driver does not take"),
        mysql::UrlError::UnknownParameter(key) => format!("unknown parameter `{key}`"),
        mysql::UrlError::ParseError(reason) => format!("not a valid URL ({reason})"),
        mysql::UrlError::FeatureRequired(_, key) => format!("parameter `{key}` is not supported"),
        mysql::UrlError::UnsupportedScheme(scheme) => format!("unsupported scheme `{scheme}`"),
        mysql::UrlError::InvalidPoolConstraints { .. } | mysql::UrlError::BadUrl => "not a valid MySQL URL".to_string(),
    }
}

/// Checks, without connecting, that the driver takes every setting of `url`.
pub fn check(url: &SecretUrl) -> Result<(), ConnectCause> {
    prepare(url).map(drop)
}

/// Connects to `url` within 10 seconds unless the URL sets `tcp_connect_timeout_ms`.
pub fn connect(url: &SecretUrl, role: &'static str) -> Result<mysql::Conn, ConnectError> {
    let error = |source: ConnectCause| ConnectError { role, url: url.masked(), source };
    let opts = prepare(url).map_err(error)?;
    mysql::Conn::new(opts).map_err(|e| error(ConnectCause::MySql(Box::new(e))))
}

/// Whether an error means the session broke off (connection lost, server
/// gone away, killed or shutting down) rather than a failure that would
/// repeat (a missing table, a refused login).
pub fn is_connection_loss(error: &mysql::Error) -> bool {
    match error {
        mysql::Error::IoError(_) => true,
        // A read that failed or hit the end of the stream mid-packet (a
        // killed session's socket closed under a result being read): the
        // driver reads packets through its codec, which wraps the I/O error.
        mysql::Error::CodecError(e) => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
        // ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, ER_QUERY_INTERRUPTED,
        // CR_SERVER_GONE_ERROR, CR_SERVER_LOST.
        mysql::Error::MySqlError(e) => matches!(e.code, 1053 | 1927 | 1317 | 2006 | 2013),
        mysql::Error::DriverError(e) => {
            matches!(e, mysql::DriverError::ConnectTimeout | mysql::DriverError::PacketOutOfSync)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> SecretUrl {
        SecretUrl::parse(raw, &SCHEMES).unwrap()
    }

    #[test]
    fn tls_parameters_are_taken_out_and_the_scheme_is_the_drivers() {
        let tls = request(&url("mariadb://u:p@h:3306/db?ssl-mode=required&ssl-ca=/ca.pem&compress=true")).unwrap();
        assert_eq!(tls.url, "mysql://u:p@h:3306/db?compress=true");
        assert!(tls.verify);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/ca.pem")));
        assert!(!request(&url("mysql://h/db?ssl-mode=DISABLED")).unwrap().verify);
        assert!(!request(&url("mysql://h/db")).unwrap().verify);
    }

    #[test]
    fn unknown_settings_are_refused_without_their_value() {
        assert!(matches!(check(&url("mysql://h/db?ssl-mode=sometimes")), Err(ConnectCause::MySqlSslMode(_))));
        let Err(ConnectCause::MySqlUrl(message)) = check(&url("mysql://h/db?pool_min=s3cret")) else {
            panic!("a bad value must be refused")
        };
        assert!(!message.contains("s3cret"), "{message}");
        assert!(matches!(check(&url("mysql://h/db?nonsense=1")), Err(ConnectCause::MySqlUrl(_))));
        assert!(check(&url("mysql://u:p@h:3306/db?tcp_connect_timeout_ms=500")).is_ok());
        for no_database in ["mysql://u:p@h:3306", "mysql://u:p@h:3306/", "mariadb://h/?compress=true"] {
            assert!(matches!(check(&url(no_database)), Err(ConnectCause::MySqlUrl(_))), "{no_database}");
        }
    }
}
