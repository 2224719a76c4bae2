//! One vendor page: GET with timeouts and a body cap, then parse; every outcome is a page or a `VendorError`.

use std::io::Read;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::VendorUser;
use crate::secret::SecretUrl;

/// Largest page body accepted with `concurrency` requests in flight: at most
/// `2 × concurrency + 1` pages are held at once (in flight, queued, being
/// sorted), and together they must stay within ~40 MiB of the SPEC's 48 MiB
/// allowance. The cap bounds the body and, estimated before the users are
/// built, the parsed page (its users' structs plus its text). A typical page
/// of 1,000 users is ~200 KB of JSON and ~370 KB parsed; the cap is never
/// under 640 KiB nor over 8 MiB.
pub fn page_body_cap(concurrency: u32) -> u64 {
    let held = 2 * u64::from(concurrency.max(1)) + 1;
    ((40 << 20) / held).clamp(640 << 10, 8 << 20)
}

/// Why one request for a page failed.
#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    /// Connecting, sending or a timeout.
    #[error("request failed: {message}")]
    Transport {
        /// reqwest's description, without the URL.
        message: String,
    },
    /// A non-200 answer.
    #[error("HTTP status {status}")]
    Status {
        /// The status code.
        status: u16,
        /// The Retry-After delay, if one was sent.
        retry_after: Option<Duration>,
    },
    /// Reading the body failed (reset, timeout, short read).
    #[error("reading the body failed: {message}")]
    Body {
        /// The cause.
        message: String,
    },
    /// The body is over the cap.
    #[error("body larger than {limit_bytes} bytes")]
    BodyTooLarge {
        /// The cap.
        limit_bytes: u64,
    },
    /// The page holds more users than fit the per-page memory allowance.
    #[error("the page holds {users} users, about {bytes} bytes in memory, more than the {limit_bytes} allowed per page at this --concurrency (lower it to allow larger pages)")]
    PageTooLarge {
        /// Users on the page.
        users: usize,
        /// Estimated memory of the parsed page.
        bytes: u64,
        /// The allowance.
        limit_bytes: u64,
    },
    /// The body is not the page JSON.
    #[error("body is not a valid page: {reason}")]
    NotJson {
        /// The parser's message.
        reason: String,
    },
    /// The body is a page, but not the one asked for.
    #[error("asked for page {asked}, got page {got}")]
    WrongPage {
        /// Page requested.
        asked: u32,
        /// `current_page` in the answer.
        got: u64,
    },
    /// `total_pages` beyond `--max-pages`.
    #[error("the vendor reports {reported} pages, more than --max-pages {max}; raise --max-pages if that is real")]
    TooManyPages {
        /// `total_pages` as reported.
        reported: u32,
        /// The limit.
        max: u32,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client setup failed: {0}")]
    Client(String),
}

/// A record of a page that could not be represented.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordReject {
    /// The vendor id, when one could be read.
    pub id: Option<i64>,
    /// Why it was rejected.
    pub reason: String,
}

/// One parsed page.
#[derive(Debug)]
pub struct Page {
    /// The page number.
    pub number: u32,
    /// `total_pages` as this answer reported it.
    pub total_pages: u32,
    /// Its usable users.
    pub users: Vec<VendorUser>,
    /// Its unusable records.
    pub rejects: Vec<RecordReject>,
}

#[derive(Deserialize)]
struct RawPage<'a> {
    current_page: u64,
    total_pages: u64,
    #[serde(borrow)]
    users: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawUser<'a> {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default, borrow)]
    firstname: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    lastname: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    practice_location: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    specialty: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    user_type_classification: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    last_active_date: Option<std::borrow::Cow<'a, str>>,
}

/// Builds the blocking HTTP client shared by the page workers, trusting the
/// extra CA certificates in `ca_pem` (if any) besides the system's.
pub fn client(timeout: Duration, ca_pem: Option<&[u8]>) -> Result<reqwest::blocking::Client, VendorError> {
    let mut builder = reqwest::blocking::Client::builder();
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| VendorError::Client(format!("--vendor-ca-file: {}", e.without_url())))?;
        if certs.is_empty() {
            return Err(VendorError::Client("--vendor-ca-file holds no certificate".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("vendor-match/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| VendorError::Client(e.without_url().to_string()))
}

/// `<base>?page=N`, keeping any query the base already has.
pub fn page_url(base: &SecretUrl, page: u32) -> url::Url {
    let mut url = base.url().clone();
    url.query_pairs_mut().append_pair("page", &page.to_string());
    url
}

/// Fetches and parses one page (one try; the caller retries), refusing a
/// body over `body_cap` bytes without reading past it.
pub fn fetch_page(
    client: &reqwest::blocking::Client,
    base: &SecretUrl,
    page: u32,
    body_cap: u64,
) -> Result<Page, VendorError> {
    let response =
        client.get(page_url(base, page)).send().map_err(|e| VendorError::Transport { message: describe(e) })?;
    let status = response.status().as_u16();
    if status != 200 {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| super::retry::parse_retry_after(v, chrono::Utc::now()));
        return Err(VendorError::Status { status, retry_after });
    }
    let body = read_capped(response, body_cap)?;
    parse_page(&body, page, body_cap)
}

fn describe(error: reqwest::Error) -> String {
    // Chain the causes: "error sending request" alone says nothing useful.
    error_chain(&error.without_url())
}

fn read_capped(response: reqwest::blocking::Response, limit: u64) -> Result<Vec<u8>, VendorError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(VendorError::BodyTooLarge { limit_bytes: limit });
    }
    let mut body = Vec::new();
    response.take(limit + 1).read_to_end(&mut body).map_err(|e| VendorError::Body { message: error_chain(&e) })?;
    if body.len() as u64 > limit {
        return Err(VendorError::BodyTooLarge { limit_bytes: limit });
    }
    Ok(body)
}

/// `error: cause: cause` on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Parses a page body. Unknown fields are ignored; a user that can't be
/// represented (no usable id, a bad date, wrong types) becomes a reject.
pub fn parse_page(body: &[u8], page: u32, memory_cap: u64) -> Result<Page, VendorError> {
    // Invalid UTF-8 inside a string should cost that value, not the page:
    // such bytes become U+FFFD.
    let text = String::from_utf8_lossy(body);
    let raw: RawPage<'_> = serde_json::from_str(&text).map_err(|e| VendorError::NotJson { reason: e.to_string() })?;
    if raw.current_page != u64::from(page) {
        return Err(VendorError::WrongPage { asked: page, got: raw.current_page });
    }
    // Tiny users in a small body would still make a large page once built.
    let estimate = (raw.users.len() * std::mem::size_of::<VendorUser>()) as u64 + body.len() as u64;
    if estimate > memory_cap {
        return Err(VendorError::PageTooLarge { users: raw.users.len(), bytes: estimate, limit_bytes: memory_cap });
    }
    let total_pages = u32::try_from(raw.total_pages)
        .map_err(|_| VendorError::NotJson { reason: format!("total_pages {} out of range", raw.total_pages) })?;
    let mut users = Vec::with_capacity(raw.users.len());
    let mut rejects = Vec::new();
    for (position, user) in raw.users.iter().enumerate() {
        match parse_user(user.get(), page, position as u32) {
            Ok(u) => users.push(u),
            Err(reject) => rejects.push(reject),
        }
    }
    Ok(Page { number: page, total_pages, users, rejects })
}

fn parse_user(json: &str, page: u32, position: u32) -> Result<VendorUser, RecordReject> {
    let raw: RawUser<'_> = serde_json::from_str(json)
        .map_err(|e| RecordReject { id: None, reason: format!("user is not a valid record: {e}") })?;
    let id = match raw.id.as_ref().and_then(id_of) {
        Some(id) => id,
        None => return Err(RecordReject { id: None, reason: "no usable id".into() }),
    };
    let last_active_date = match raw.last_active_date.as_deref() {
        None => None,
        Some(text) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                return Err(RecordReject { id: Some(id), reason: format!("last_active_date {text:?} is not a date") })
            }
        },
    };
    let text = |v: Option<std::borrow::Cow<'_, str>>| v.map(clean);
    Ok(VendorUser {
        id,
        page,
        position,
        firstname: text(raw.firstname),
        lastname: text(raw.lastname),
        specialty: text(raw.specialty),
        practice_location: text(raw.practice_location),
        classification: text(raw.user_type_classification),
        last_active_date,
    })
}

/// Text as stored: NUL bytes (which PostgreSQL text can't hold) removed.
fn clean(value: std::borrow::Cow<'_, str>) -> String {
    if value.contains('\0') {
        value.replace('\0', "")
    } else {
        value.into_owned()
    }
}

fn id_of(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_parses_and_ignores_unknown_fields() {
        let body = br#"{"current_page": 3, "total_pages": 212, "extra": {"x": 1},
            "users": [{"id": 109982, "firstname": "Fern", "lastname": "Angelovich",
            "practice_location": "bon_air", "specialty": "Neurology",
            "user_type_classification": "Contributor", "last_active_date": "2017-01-24", "new_field": [1]}]}"#;
        let page = parse_page(body, 3, u64::MAX).unwrap();
        assert_eq!(page.total_pages, 212);
        assert_eq!(page.users.len(), 1);
        let u = &page.users[0];
        assert_eq!((u.id, u.page, u.position), (109982, 3, 0));
        assert_eq!(u.practice_location.as_deref(), Some("bon_air"));
        assert_eq!(u.last_active_date, Some("2017-01-24".parse().unwrap()));
    }

    #[test]
    fn bad_records_become_rejects_not_errors() {
        let body = br#"{"current_page": 1, "total_pages": 1, "users": [
            {"firstname": "NoId"}, {"id": "abc"}, {"id": 5, "last_active_date": "2017-02-30"},
            {"id": 6, "firstname": 7}, {"id": "8", "last_active_date": null}]}"#;
        let page = parse_page(body, 1, u64::MAX).unwrap();
        assert_eq!(page.users.iter().map(|u| u.id).collect::<Vec<_>>(), vec![8]);
        assert_eq!(page.rejects.len(), 4);
        assert_eq!(page.rejects[2].id, Some(5));
    }

    #[test]
    fn hostile_values_become_clean_values() {
        let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
        let long = "x".repeat(1 << 20);
        let body = format!(
            r#"{{"current_page": 1, "total_pages": 1, "users": [
            {{"id": 1, "firstname": "a\u0000b", "lastname": "{long}", "unknown": {deep}}},
            {{"id": 2, "firstname": "tab\tnew\nline\\ \"q\", c", "lastname": "🦀 Ødegaard"}}]}}"#
        );
        let mut bytes = body.into_bytes();
        // An invalid UTF-8 byte inside a value.
        let at = bytes.windows(3).position(|w| w == b"new").unwrap();
        bytes[at] = 0xff;
        let page = parse_page(&bytes, 1, u64::MAX).unwrap();
        assert_eq!(page.users.len(), 2, "{:?}", page.rejects);
        assert_eq!(page.users[0].firstname.as_deref(), Some("ab"));
        assert_eq!(page.users[0].lastname.as_ref().map(String::len), Some(1 << 20));
        assert!(page.users[1].firstname.as_deref().unwrap().contains('\u{fffd}'));
    }

    #[test]
    fn body_cap_shrinks_with_concurrency_within_bounds() {
        assert_eq!(page_body_cap(1), 8 << 20);
        assert_eq!(page_body_cap(8), (40 << 20) / 17);
        assert_eq!(page_body_cap(32), 640 << 10);
        assert!(page_body_cap(0) <= 8 << 20);
    }

    #[test]
    fn a_page_of_many_tiny_users_is_refused_before_they_are_built() {
        let users: Vec<String> = (0..10_000).map(|i| format!(r#"{{"id":{i}}}"#)).collect();
        let body = format!(r#"{{"current_page": 1, "total_pages": 1, "users": [{}]}}"#, users.join(","));
        let err = parse_page(body.as_bytes(), 1, 1 << 20).unwrap_err();
        assert!(matches!(err, VendorError::PageTooLarge { users: 10_000, .. }), "{err}");
        assert!(!super::super::retry::is_transient(&err));
        assert_eq!(parse_page(body.as_bytes(), 1, 8 << 20).unwrap().users.len(), 10_000);
    }

    #[test]
    fn wrong_types_are_rejects() {
        let body = br#"{"current_page": 1, "total_pages": 1, "users": [
            {"id": 1, "lastname": ["x"]}, {"id": 2.5}, {"id": {"a": 1}}, 17, null, {"id": 3, "last_active_date": 20170101}]}"#;
        let page = parse_page(body, 1, u64::MAX).unwrap();
        assert!(page.users.is_empty());
        assert_eq!(page.rejects.len(), 6);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_page_or_an_error_never_a_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_page(&body, 1, u64::MAX);
        }

        #[test]
        fn a_mangled_page_gives_a_page_or_an_error_never_a_panic(cut in 0usize..300, byte in proptest::num::u8::ANY) {
            let mut body = br#"{"current_page": 1, "total_pages": 2, "users": [{"id": 5, "firstname": "Fern", "lastname": "A", "practice_location": "x_y", "specialty": "N", "user_type_classification": "L", "last_active_date": "2017-01-24"}]}"#.to_vec();
            let at = cut % body.len();
            body[at] = byte;
            let _ = parse_page(&body, 1, u64::MAX);
        }
    }

    #[test]
    fn truncated_or_foreign_bodies_are_not_pages() {
        assert!(matches!(
            parse_page(br#"{"current_page": 1, "total_pa"#, 1, u64::MAX),
            Err(VendorError::NotJson { .. })
        ));
        assert!(matches!(parse_page(b"<html>", 1, u64::MAX), Err(VendorError::NotJson { .. })));
        assert!(matches!(
            parse_page(br#"{"current_page": 2, "total_pages": 3, "users": []}"#, 1, u64::MAX),
            Err(VendorError::WrongPage { .. })
        ));
    }
}
