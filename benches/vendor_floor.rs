//! The vendor floor: the least time any client needs to download every vendor
//! page and parse it, the vendor half of the SPEC's I/O floor (§10).
//!
//! `cargo bench --bench vendor_floor -- <VENDOR_URL> [--fetch-threads 8] [--parse-threads 2]`
//!
//! Page 1 is fetched first for `total_pages`; then `--fetch-threads` threads
//! (one request in flight each, sharing one keep-alive client) take the next
//! page number from a counter and hand the body to `--parse-threads` threads
//! that parse it with serde_json into a borrowed typed struct, so download
//! and parsing overlap as they would in a pipelined client. Nothing is kept:
//! no normalization, no sort, no disk. Prints one JSON line:
//! `{"seconds": .., "pages": .., "users": .., "bytes": .., ...}`.
//!
//! Exits non-zero on any HTTP or JSON error: a floor measured over failures means nothing.

use std::borrow::Cow;
use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

#[derive(Deserialize)]
struct Page<'a> {
    current_page: u64,
    total_pages: u64,
    #[serde(borrow)]
    users: Vec<User<'a>>,
}

/// The fields the pipeline reads; unknown fields are skipped, as the SPEC requires.
#[derive(Deserialize)]
#[allow(dead_code)] // read only by the parser: the point is the parse
struct User<'a> {
    #[serde(default)]
    id: Option<Id<'a>>,
    #[serde(default, borrow)]
    firstname: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    lastname: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    practice_location: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    specialty: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    user_type_classification: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    last_active_date: Option<Cow<'a, str>>,
}

/// A vendor id as sent: a number or a numeric string (parsed later, if at all), without buffering.
#[allow(dead_code)]
enum Id<'a> {
    Number(i64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl<'de> Visitor<'de> for IdVisitor {
            type Value = Id<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Id::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v).map(Id::Number).map_err(|_| E::custom("id out of range"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Id::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Id::Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

struct Options {
    url: url::Url,
    fetch_threads: usize,
    parse_threads: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut url = None;
    let (mut fetch_threads, mut parse_threads) = (8, 2);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            value.parse().ok().filter(|&n| n >= 1).ok_or(format!("{name}: expected a number >= 1, got {value:?}"))
        };
        match arg.as_str() {
            "--fetch-threads" => fetch_threads = number("--fetch-threads")?,
            "--parse-threads" => parse_threads = number("--parse-threads")?,
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => url = Some(url::Url::parse(other).map_err(|e| format!("bad URL {other:?}: {e}"))?),
        }
    }
    let url = url.ok_or("usage: vendor_floor <VENDOR_URL> [--fetch-threads N] [--parse-threads N]")?;
    Ok(Options { url, fetch_threads, parse_threads })
}

fn page_url(base: &url::Url, page: u64) -> url::Url {
    let mut url = base.clone();
    url.query_pairs_mut().append_pair("page", &page.to_string());
    url
}

fn fetch(client: &reqwest::blocking::Client, base: &url::Url, page: u64) -> Result<Vec<u8>, String> {
    let response = client.get(page_url(base, page)).send().map_err(|e| format!("page {page}: {e}"))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("page {page}: HTTP status {}", response.status()));
    }
    response.bytes().map(|b| b.to_vec()).map_err(|e| format!("page {page}: reading the body: {e}"))
}

/// Parses one body; returns (total_pages, users).
fn parse(page: u64, body: &[u8]) -> Result<(u64, u64), String> {
    let parsed: Page<'_> = serde_json::from_slice(body).map_err(|e| format!("page {page}: not a page: {e}"))?;
    if parsed.current_page != page {
        return Err(format!("page {page}: the server answered current_page {}", parsed.current_page));
    }
    Ok((parsed.total_pages, parsed.users.len() as u64))
}

/// A page number and its body, on the way from a fetch thread to a parse thread.
type Body = (u64, Vec<u8>);

#[derive(Default)]
struct Totals {
    pages: AtomicU64,
    users: AtomicU64,
    bytes: AtomicU64,
}

fn run(options: &Options) -> Result<(Duration, Totals), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(options.fetch_threads)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let totals = Totals::default();
    let started = Instant::now();

    let first = fetch(&client, &options.url, 1)?;
    let (total_pages, users) = parse(1, &first)?;
    totals.pages.fetch_add(1, Ordering::Relaxed);
    totals.users.fetch_add(users, Ordering::Relaxed);
    totals.bytes.fetch_add(first.len() as u64, Ordering::Relaxed);

    let next = AtomicU64::new(2);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<String>> = Mutex::new(None);
    let fail = |message: String| {
        failed.store(true, Ordering::Relaxed);
        error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(message);
    };
    // A few bodies per parser queued at most: enough to keep both sides busy, bounded memory.
    let (sender, receiver) = sync_channel::<Body>(options.parse_threads * 4);
    let receiver: Arc<Mutex<Receiver<Body>>> = Arc::new(Mutex::new(receiver));

    thread::scope(|s| {
        for _ in 0..options.parse_threads {
            let receiver = Arc::clone(&receiver);
            let (totals, fail, failed) = (&totals, &fail, &failed);
            s.spawn(move || loop {
                // The lock is held only while waiting for the next body, not while parsing.
                let message = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((page, body)) = message else { return };
                if failed.load(Ordering::Relaxed) {
                    continue; // drain, so the fetchers never block on a full queue
                }
                match parse(page, &body) {
                    Ok((_, users)) => {
                        totals.pages.fetch_add(1, Ordering::Relaxed);
                        totals.users.fetch_add(users, Ordering::Relaxed);
                        totals.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => fail(e),
                }
            });
        }
        for _ in 0..options.fetch_threads {
            let sender = sender.clone();
            let (client, next, fail, failed) = (&client, &next, &fail, &failed);
            s.spawn(move || {
                while !failed.load(Ordering::Relaxed) {
                    let page = next.fetch_add(1, Ordering::Relaxed);
                    if page > total_pages {
                        return;
                    }
                    match fetch(client, &options.url, page) {
                        Ok(body) => {
                            if sender.send((page, body)).is_err() {
                                return;
                            }
                        }
                        Err(e) => fail(e),
                    }
                }
            });
        }
        // The parsers end when the last fetcher's sender is gone.
        drop(sender);
    });
    let elapsed = started.elapsed();
    if let Some(message) = error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(message);
    }
    let fetched = totals.pages.load(Ordering::Relaxed);
    if fetched != total_pages {
        return Err(format!("parsed {fetched} pages of {total_pages}"));
    }
    Ok((elapsed, totals))
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("vendor_floor: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok((elapsed, totals)) => {
            let seconds = elapsed.as_secs_f64();
            let users = totals.users.load(Ordering::Relaxed);
            let report = serde_json::json!({
                "seconds": seconds,
                "pages": totals.pages.load(Ordering::Relaxed),
                "users": users,
                "bytes": totals.bytes.load(Ordering::Relaxed),
                "users_per_sec": if seconds > 0.0 { users as f64 / seconds } else { 0.0 },
                "fetch_threads": options.fetch_threads,
                "parse_threads": options.parse_threads,
            });
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("vendor_floor: {message}");
            ExitCode::FAILURE
        }
    }
}
