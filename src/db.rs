//! PostgreSQL connections from a `SecretUrl`, with a connect timeout.

use std::time::Duration;

use crate::secret::SecretUrl;

/// A connection that could not be made. Shows the URL with its password masked.
#[derive(Debug, thiserror::Error)]
#[error("could not connect to the {role} database {url}")]
pub struct ConnectError {
    /// `source` or `warehouse`.
    pub role: &'static str,
    /// The URL, masked.
    pub url: String,
    /// The driver's error.
    #[source]
    pub source: postgres::Error,
}

/// Connects to `url` (no TLS) within 10 seconds unless the URL sets `connect_timeout`.
pub fn connect(url: &SecretUrl, role: &'static str) -> Result<postgres::Client, ConnectError> {
    let error = |source| ConnectError { role, url: url.masked(), source };
    let mut config: postgres::Config = url.expose().parse().map_err(error)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.application_name("vendor-match");
    config.connect(postgres::NoTls).map_err(error)
}
