//! One request for a vendor page: GET under one deadline for the whole
//! exchange (connect, headers and body), a body cap, the Retry-After of a
//! refusal, then the body parsed ([`super::page`]).

use std::time::Duration;

use super::error::VendorError;
use super::page::{parse_page, Page};
use crate::causes::one_line;
use crate::key::KeyField;
use crate::secret::SecretUrl;

/// The HTTP client could not be built (a bad `--vendor-ca-file`, say).
#[derive(Debug, thiserror::Error)]
#[error("HTTP client setup failed: {0}")]
pub struct ClientError(pub String);

/// The client the page workers share: reqwest's async client on a runtime
/// of its own, so that every request can run under one deadline (reqwest's
/// blocking client times each body read, not the whole body: a server
/// trickling a byte a second kept one request alive for minutes).
pub struct Client {
    http: reqwest::Client,
    /// Drives the connections; the workers' requests run on their own
    /// threads through `block_on`. Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// The deadline of one request, body included.
    timeout: Duration,
}

/// Builds the client shared by the page workers, trusting the extra CA
/// certificates in `ca_pem` (if any) besides the system's.
pub fn client(timeout: Duration, ca_pem: Option<&[u8]>) -> Result<Client, ClientError> {
    let mut builder = reqwest::Client::builder();
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ClientError(format!("--vendor-ca-file: {}", e.without_url())))?;
        if certs.is_empty() {
            return Err(ClientError("--vendor-ca-file holds no certificate".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    // No reqwest timeout besides connecting: `fetch_page` puts the whole
    // exchange under one deadline, whose error says so.
    let http = builder
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("vendor-match/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError(e.without_url().to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("vendor-http")
        .enable_all()
        .build()
        .map_err(|e| ClientError(format!("the HTTP runtime could not be started: {e}")))?;
    Ok(Client { http, runtime: Some(runtime), timeout })
}

impl Drop for Client {
    fn drop(&mut self) {
        // Without waiting for what a request given up at its deadline left
        // behind (a DNS lookup that hangs, say).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `<base>?page=N`, keeping any query the base already has.
pub fn page_url(base: &SecretUrl, page: u32) -> url::Url {
    let mut url = base.url().clone();
    url.query_pairs_mut().append_pair("page", &page.to_string());
    url
}

/// Fetches and parses one page (one try; the caller retries), refusing a
/// body over `body_cap` bytes (at most one network chunk is read past it).
/// The whole exchange must end within the client's timeout.
pub fn fetch_page(
    client: &Client,
    base: &SecretUrl,
    page: u32,
    body_cap: u64,
    key_fields: &[KeyField],
) -> Result<Page, VendorError> {
    let url = page_url(base, page);
    // The timer is made inside the runtime: it needs the runtime's clock.
    let exchange = async { tokio::time::timeout(client.timeout, fetch_body(&client.http, url, body_cap)).await };
    let runtime =
        client.runtime.as_ref().ok_or_else(|| VendorError::Transport { message: "the client is closed".into() })?;
    // A stop request cancels the request in flight.
    let finished = runtime.block_on(async {
        let (exchange, stopping) = (std::pin::pin!(exchange), std::pin::pin!(crate::stop::interrupted()));
        match futures_util::future::select(exchange, stopping).await {
            futures_util::future::Either::Left((finished, _)) => Ok(finished),
            futures_util::future::Either::Right((interrupted, _)) => Err(interrupted),
        }
    })?;
    let body = finished.map_err(|_| VendorError::Deadline { secs: client.timeout.as_secs_f64() })??;
    parse_page(&body, page, body_cap, key_fields)
}

/// The body of a 200 answer to `url`, at most `limit` bytes.
async fn fetch_body(http: &reqwest::Client, url: url::Url, limit: u64) -> Result<Vec<u8>, VendorError> {
    let mut response = http.get(url).send().await.map_err(|e| VendorError::Transport { message: describe(e) })?;
    let status = response.status().as_u16();
    if status != 200 {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        return Err(VendorError::Status { status, retry_after });
    }
    let announced = response.content_length();
    if announced.is_some_and(|n| n > limit) {
        return Err(VendorError::BodyTooLarge { limit_bytes: limit });
    }
    // Sized once when the length is announced: no copying while it grows.
    let mut body = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    while let Some(chunk) = response.chunk().await.map_err(|e| VendorError::Body { message: describe(e) })? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(VendorError::BodyTooLarge { limit_bytes: limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe(error: reqwest::Error) -> String {
    // Chain the causes: "error sending request" alone says nothing useful.
    one_line(&error.without_url())
}

/// Parses a Retry-After value: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2017-02-02T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Thu, 02 Feb 2017 10:00:05 GMT", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Thu, 02 Feb 2017 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
