//! Vendor pages: the page plan, bounded concurrency, retries, and `total_pages` drift.
//!
//! Page 1 is fetched first to learn `total_pages`. Then `--concurrency` worker
//! threads take page numbers from a shared counter, each retrying its page up
//! to `--max-retries`, and hand parsed pages to the caller through a bounded
//! channel (so at most `concurrency` requests are in flight and at most
//! `2 * concurrency` pages are held). When an answer reports more pages than
//! planned, another round fetches the new ones.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::http::{self, Page, VendorError};
use super::retry::{is_transient, Backoff};
use crate::secret::SecretUrl;

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Retries per page.
    pub max_retries: u32,
    /// First retry delay.
    pub retry_delay: Duration,
    /// Timeout of one request.
    pub request_timeout: Duration,
}

/// A page that could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("vendor page {page} failed after {attempts} attempt(s) ({url})")]
pub struct PageError {
    /// The page.
    pub page: u32,
    /// Tries made.
    pub attempts: u32,
    /// The endpoint, password masked.
    pub url: String,
    /// The last failure.
    #[source]
    pub source: VendorError,
}

/// What fetching saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FetchStats {
    /// Pages fetched.
    pub pages: u32,
    /// `total_pages` in the first answer.
    pub first_total_pages: u32,
    /// The largest `total_pages` seen.
    pub max_total_pages: u32,
    /// Answers whose `total_pages` differed from the one before.
    pub page_count_changes: u64,
    /// Retried requests.
    pub retries: u64,
}

struct Shared<'a> {
    client: &'a reqwest::blocking::Client,
    base: &'a SecretUrl,
    options: &'a FetchOptions,
    next: AtomicU32,
    last: u32,
    abort: AtomicBool,
    retries: AtomicU64,
}

/// Fetches every page and hands each to `on_page` (in arrival order, which is
/// not page order). Stops at the first page whose retries run out, or at the
/// first error of `on_page`.
pub fn fetch_all<E: From<PageError>>(
    base: &SecretUrl,
    options: &FetchOptions,
    mut on_page: impl FnMut(Page, &FetchStats) -> Result<(), E>,
) -> Result<FetchStats, E> {
    let client = http::client(options.request_timeout).map_err(|source| PageError {
        page: 1,
        attempts: 0,
        url: base.masked(),
        source,
    })?;
    let retries = AtomicU64::new(0);
    let first = fetch_with_retry(&client, base, options, 1, &retries)?;
    let mut stats = FetchStats {
        first_total_pages: first.total_pages,
        max_total_pages: first.total_pages,
        ..FetchStats::default()
    };
    let mut last_total = first.total_pages;
    stats.pages = 1;
    on_page(first, &stats)?;
    let mut next = 2;
    while next <= stats.max_total_pages {
        let shared = Shared {
            client: &client,
            base,
            options,
            next: AtomicU32::new(next),
            last: stats.max_total_pages,
            abort: AtomicBool::new(false),
            retries: AtomicU64::new(0),
        };
        fetch_round(&shared, |page| {
            stats.pages += 1;
            if page.total_pages != last_total {
                stats.page_count_changes += 1;
                last_total = page.total_pages;
            }
            stats.max_total_pages = stats.max_total_pages.max(page.total_pages);
            on_page(page, &stats)
        })?;
        next = shared.last + 1;
        retries.fetch_add(shared.retries.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    stats.retries = retries.load(Ordering::Relaxed);
    Ok(stats)
}

/// Fetches pages `shared.next..=shared.last` with the worker threads.
fn fetch_round<E: From<PageError>>(
    shared: &Shared<'_>,
    mut on_page: impl FnMut(Page) -> Result<(), E>,
) -> Result<(), E> {
    let workers = shared.options.concurrency.max(1) as usize;
    thread::scope(|scope| {
        let (sender, receiver) = mpsc::sync_channel::<Result<Page, PageError>>(workers);
        for _ in 0..workers {
            let sender = sender.clone();
            scope.spawn(move || worker(shared, &sender));
        }
        drop(sender);
        for result in receiver.iter() {
            let outcome = result.map_err(E::from).and_then(&mut on_page);
            if let Err(error) = outcome {
                shared.abort.store(true, Ordering::SeqCst);
                return Err(error);
            }
        }
        Ok(())
    })
}

fn worker(shared: &Shared<'_>, sender: &mpsc::SyncSender<Result<Page, PageError>>) {
    while !shared.abort.load(Ordering::SeqCst) {
        let page = shared.next.fetch_add(1, Ordering::SeqCst);
        if page > shared.last {
            return;
        }
        let result = fetch_with_retry(shared.client, shared.base, shared.options, page, &shared.retries);
        let failed = result.is_err();
        if sender.send(result).is_err() || failed {
            return;
        }
    }
}

/// One page, retried on transient failures with backoff.
fn fetch_with_retry(
    client: &reqwest::blocking::Client,
    base: &SecretUrl,
    options: &FetchOptions,
    page: u32,
    retries: &AtomicU64,
) -> Result<Page, PageError> {
    let mut backoff = Backoff::new(options.retry_delay, u64::from(page));
    let mut attempt = 0;
    loop {
        match http::fetch_page(client, base, page) {
            Ok(result) => return Ok(result),
            Err(error) if is_transient(&error) && attempt < options.max_retries => {
                let retry_after = match &error {
                    VendorError::Status { retry_after, .. } => *retry_after,
                    _ => None,
                };
                thread::sleep(backoff.delay(attempt, retry_after));
                attempt += 1;
                retries.fetch_add(1, Ordering::Relaxed);
            }
            Err(source) => return Err(PageError { page, attempts: attempt + 1, url: base.masked(), source }),
        }
    }
}
