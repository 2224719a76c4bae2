//! `SecretUrl`: a connection URL whose `Display` and `Debug` never show the password.

use std::fmt;

use url::Url;

/// A URL that may carry a password. Everything that prints it (errors, logs,
/// the manifest, the report) goes through `Display`, which masks the password;
/// only [`SecretUrl::expose`] gives the real string, for the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

/// A URL that could not be parsed. The message never repeats the input,
/// because the input may hold a password.
#[derive(Debug, thiserror::Error)]
#[error("not a valid URL ({reason})")]
pub struct UrlError {
    reason: url::ParseError,
}

impl SecretUrl {
    /// Parses `raw`, requiring one of `schemes`.
    pub fn parse(raw: &str, schemes: &[&str]) -> Result<SecretUrl, SecretUrlError> {
        let url = Url::parse(raw.trim()).map_err(|reason| SecretUrlError::Parse(UrlError { reason }))?;
        if !schemes.contains(&url.scheme()) {
            return Err(SecretUrlError::Scheme { found: url.scheme().to_string(), expected: schemes.join(", ") });
        }
        if url.host_str().is_none_or(str::is_empty) && url.scheme().starts_with("http") {
            return Err(SecretUrlError::NoHost);
        }
        Ok(SecretUrl(url))
    }

    /// The real URL, password included: only for handing to a driver.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL (its password must not be printed).
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The `key=value` parameters of the query, in order, each with its text
    /// as written, so that a caller can pass the ones it keeps on unchanged.
    pub fn query_params(&self) -> impl Iterator<Item = QueryParam<'_>> {
        self.0.query().unwrap_or("").split('&').filter(|raw| !raw.is_empty()).map(QueryParam::new)
    }

    /// The URL with its password, the value of every query parameter but
    /// the ones known to be harmless ([`HARMLESS_PARAMETERS`]), and any
    /// fragment replaced by `****`.
    pub fn masked(&self) -> String {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            // Setting a password only fails for URLs that cannot have one.
            let _ = shown.set_password(Some("****"));
        }
        if shown.query().is_some() {
            let params: Vec<String> = self.query_params().map(|param| param.masked()).collect();
            shown.set_query(Some(&params.join("&")));
        }
        if shown.fragment().is_some() {
            shown.set_fragment(Some("****"));
        }
        shown.to_string()
    }
}

/// Query parameters whose values are shown: they say how to connect, never
/// who may (PostgreSQL's, MySQL's TLS and socket ones, and the vendor API's `page`). Any other value may
/// be a secret (`pass=`, `token=`, `sig=`, and names no list foresees) and
/// is shown as `****`; so is `options`, which can set any server setting.
pub const HARMLESS_PARAMETERS: [&str; 27] = [
    "application_name",
    "channel_binding",
    "compress",
    "connect_timeout",
    "dbname",
    "host",
    "hostaddr",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "load_balance_hosts",
    "page",
    "port",
    "prefer_socket",
    "ssl-ca",
    "ssl-mode",
    "ssl_ca",
    "ssl_mode",
    "sslmode",
    "sslnegotiation",
    "sslrootcert",
    "target_session_attrs",
    "tcp_connect_timeout_ms",
    "tcp_keepalive_time_ms",
    "tcp_user_timeout",
    "user",
];

/// One parameter of a URL's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParam<'a> {
    /// The parameter as written in the URL (`key=value`, still percent-encoded).
    pub raw: &'a str,
    /// The key, percent-decoded.
    pub key: String,
    /// The value, percent-decoded (empty when there is no `=`).
    pub value: String,
}

impl<'a> QueryParam<'a> {
    fn new(raw: &'a str) -> QueryParam<'a> {
        let (key, value) = raw.split_once('=').unwrap_or((raw, ""));
        // Decoded the way libpq and the driver decode a connection URL: `%XX`
        // only. A `+` is a plus sign there, not a space as in an HTML form.
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        QueryParam { raw, key: decode(key), value: decode(value) }
    }

    /// The parameter as shown: as written when harmless, else its value
    /// (or, without `=`, all of it) as `****`.
    fn masked(&self) -> String {
        match self.raw.split_once('=') {
            Some(_) if HARMLESS_PARAMETERS.contains(&self.key.as_str()) => self.raw.to_string(),
            Some((key, _)) => format!("{key}=****"),
            None => "****".to_string(),
        }
    }
}

/// Why a connection URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecretUrlError {
    /// The text is not a URL.
    #[error(transparent)]
    Parse(UrlError),
    /// The URL has the wrong scheme.
    #[error("URL scheme `{found}` is not one of: {expected}")]
    Scheme {
        /// The scheme given.
        found: String,
        /// The schemes accepted.
        expected: String,
    },
    /// An http(s) URL without a host.
    #[error("URL has no host")]
    NoHost,
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_masks_the_password() {
        let url = SecretUrl::parse("postgres://bob:hunter2@db:5432/x", &["postgres"]).unwrap();
        assert_eq!(url.to_string(), "postgres://bob:****@db:5432/x");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(url.expose().contains("hunter2"));
    }

    #[test]
    fn every_query_value_but_the_harmless_ones_is_masked() {
        let raw = "postgres://u@db/app?password=s3cret&sslmode=require&api_key=k9&pass=hunter2&foo=y\
                   &options=-c%20x%3D1&application_name=nightly&connect_timeout=5&bare";
        let shown = SecretUrl::parse(raw, &["postgres"]).unwrap().to_string();
        assert_eq!(
            shown,
            "postgres://u@db/app?password=****&sslmode=require&api_key=****&pass=****&foo=****\
             &options=****&application_name=nightly&connect_timeout=5&****"
        );
        let vendor = SecretUrl::parse("https://v.example/v1/users?page=3&sig=abc#token=t", &["https"]).unwrap();
        assert_eq!(vendor.to_string(), "https://v.example/v1/users?page=3&sig=****#****");
    }

    #[test]
    fn query_params_keep_their_text_and_decode_percent_only() {
        let url = SecretUrl::parse("postgres://h/db?options=-c%20a%3D1&x=a+b&flag", &["postgres"]).unwrap();
        let params: Vec<(&str, String, String)> = url.query_params().map(|p| (p.raw, p.key, p.value)).collect();
        assert_eq!(
            params,
            [
                ("options=-c%20a%3D1", "options".into(), "-c a=1".into()),
                ("x=a+b", "x".into(), "a+b".into()),
                ("flag", "flag".into(), String::new())
            ]
        );
    }

    #[test]
    fn url_without_password_is_shown_unchanged() {
        let url = SecretUrl::parse("http://127.0.0.1:8080/v1/users", &["http", "https"]).unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:8080/v1/users");
    }

    #[test]
    fn parse_error_does_not_repeat_the_input() {
        let err = SecretUrl::parse("postgres://bob:hunter2@[bad", &["postgres"]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn wrong_scheme_is_refused() {
        let err = SecretUrl::parse("ftp://x/y", &["http", "https"]).unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
    }
}
