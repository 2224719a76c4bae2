//! The vendor API client: every page fetched, with the page plan, bounded
//! concurrency, retries, and `total_pages` drift.
//!
//! Page 1 is fetched first to learn `total_pages`. Then `--concurrency` worker
//! threads take page numbers from a shared counter, each retrying its page up
//! to `--max-retries`, and hand parsed pages to the caller through a bounded
//! channel (so at most `concurrency` requests are in flight and at most
//! `2 * concurrency` pages are held). When an answer reports more pages than
//! planned, another round fetches the new ones, up to [`MAX_ROUNDS`] rounds:
//! a count that still grows after that never settles, and fails the fetch.
//!
//! Each answer must agree with its own `total_pages` ([`page::parse_page`]):
//! users past it, or no users before its last page, are retried and then
//! fail the page. An empty last page, or an empty page past the end (the
//! listing shrank while paging), is counted in [`FetchStats::empty_pages`].

mod error;
pub mod http;
pub mod page;
pub mod retry;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

pub use error::VendorError;
use page::Page;
use retry::{is_transient, sleep_unless, Backoff, Pause};

use serde::{Deserialize, Serialize};

use crate::budget::page_body_cap;
use crate::key::KeyField;
use crate::secret::SecretUrl;
use crate::settings::RunSettings;

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
    /// Largest `total_pages` believed.
    pub max_pages: u32,
    /// Extra CA certificates (PEM) to trust.
    pub ca_pem: Option<Vec<u8>>,
    /// The match key fields: pages are keyed on the fetching threads.
    pub key_fields: Vec<KeyField>,
}

impl FetchOptions {
    /// The options a run's `settings` give, trusting `ca_pem` besides the
    /// system's roots: the one place the extract and the preflight take them from.
    pub fn new(settings: &RunSettings, ca_pem: Option<&[u8]>) -> FetchOptions {
        FetchOptions {
            concurrency: settings.concurrency,
            max_retries: settings.max_retries,
            retry_delay: settings.retry_delay,
            request_timeout: settings.request_timeout,
            max_pages: settings.max_pages,
            ca_pem: ca_pem.map(<[u8]>::to_vec),
            key_fields: settings.match_on.clone(),
        }
    }
}

/// A set of page numbers kept small: every page up to `through`, plus the
/// few finished out of order above it. Its size stays about the number of
/// pages in flight, not the number fetched, so checkpoints stay small.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSet {
    /// Every page in 1..=through is in the set.
    pub through: u32,
    /// Pages above `through + 1` in the set.
    pub above: BTreeSet<u32>,
}

impl PageSet {
    /// Adds a page.
    pub fn insert(&mut self, page: u32) {
        if page > self.through {
            self.above.insert(page);
        }
        while self.above.remove(&(self.through + 1)) {
            self.through += 1;
        }
    }

    /// Whether `page` is in the set.
    pub fn contains(&self, page: u32) -> bool {
        (1..=self.through).contains(&page) || self.above.contains(&page)
    }

    /// How many pages are in the set.
    pub fn len(&self) -> u32 {
        self.through + self.above.len() as u32
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds every page of `pages`.
    pub fn extend(&mut self, pages: impl IntoIterator<Item = u32>) {
        for page in pages {
            self.insert(page);
        }
    }
}

/// Rounds of fetching (the first plan included) before a `total_pages` that
/// keeps growing is taken for a listing that never settles. A vendor adding
/// users while we page settles in a round or two: each round fetches every
/// page added during the one before, all at once.
pub const MAX_ROUNDS: u32 = 16;

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

/// Why fetching every page stopped short.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A page kept failing.
    #[error(transparent)]
    Page(#[from] PageError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] http::ClientError),
    /// `total_pages` was still growing after [`MAX_ROUNDS`] rounds.
    #[error(
        "the vendor's total_pages kept growing while paging: {first_total_pages} pages in the first answer, \
         {latest_total_pages} after {rounds} rounds of fetching the pages added; a listing that never settles \
         cannot be read whole (a vendor bug?)"
    )]
    KeptGrowing {
        /// Rounds fetched.
        rounds: u32,
        /// `total_pages` in the first answer.
        first_total_pages: u32,
        /// The largest `total_pages` seen.
        latest_total_pages: u32,
    },
    /// A page fetching thread could not be started.
    #[error("a page fetching thread could not be started")]
    Thread(#[source] std::io::Error),
    /// The run was asked to stop.
    #[error(transparent)]
    Interrupted(#[from] crate::stop::Interrupted),
    /// This page was given up because another page failed: the run is
    /// stopping. (A round reports the first failure it receives, so this
    /// one is rarely the error a run ends with.)
    #[error("stopped because another page failed")]
    Stopped,
}

/// What fetching saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FetchStats {
    /// Pages fetched (including pages a resumed run had already fetched).
    pub pages: u32,
    /// `total_pages` in the first answer.
    pub first_total_pages: u32,
    /// The largest `total_pages` seen.
    pub max_total_pages: u32,
    /// `total_pages` in the latest answer.
    pub last_total_pages: u32,
    /// Answers whose `total_pages` differed from the one before.
    pub page_count_changes: u64,
    /// Retried requests.
    pub retries: u64,
    /// Pages a resumed extract did not fetch again.
    pub pages_resumed: u32,
    /// Pages answered with no users: the last page, or pages past the end
    /// (the listing shrank while paging). Nobody is lost, but it is worth a look.
    #[serde(default)]
    pub empty_pages: u32,
    /// Seconds from the first request to the last page handed over (this
    /// attempt only).
    #[serde(default)]
    pub elapsed_secs: f64,
}

impl FetchStats {
    fn observe(&mut self, page: &Page) {
        let total_pages = page.total_pages;
        self.pages += 1;
        if page.users == 0 && page.rejects.is_empty() {
            self.empty_pages += 1;
        }
        if self.pages == 1 {
            self.first_total_pages = total_pages;
        } else if total_pages != self.last_total_pages {
            self.page_count_changes += 1;
        }
        self.last_total_pages = total_pages;
        self.max_total_pages = self.max_total_pages.max(total_pages);
    }
}

struct Shared<'a> {
    client: &'a http::Client,
    base: &'a SecretUrl,
    options: &'a FetchOptions,
    pending: Vec<u32>,
    next: AtomicUsize,
    abort: AtomicBool,
    retries: AtomicU64,
    pause: &'a Pause,
}

/// Fetches every page not in `done` and hands each to `on_page` (in arrival
/// order, which is not page order), starting from the figures of an earlier
/// attempt (`resumed`, default for a fresh start). Stops at the first page
/// whose retries run out, or at the first error of `on_page`.
pub fn fetch_all<E: From<FetchError>>(
    base: &SecretUrl,
    options: &FetchOptions,
    done: &PageSet,
    resumed: FetchStats,
    mut on_page: impl FnMut(Page, &FetchStats) -> Result<(), E>,
) -> Result<FetchStats, E> {
    let client = http::client(options.request_timeout, options.ca_pem.as_deref()).map_err(FetchError::from)?;
    let started = std::time::Instant::now();
    let mut stats = FetchStats { pages_resumed: done.len(), ..resumed };
    let pause = Pause::default();
    if !done.contains(1) {
        let retries = AtomicU64::new(0);
        let first = fetch_with_retry(&client, base, options, 1, &retries, &pause, &AtomicBool::new(false))?;
        stats.retries += retries.into_inner();
        check_page_count(base, options, &first).map_err(FetchError::from)?;
        stats.observe(&first);
        on_page(first, &stats)?;
    }
    let mut planned = 1;
    let mut rounds = 0;
    while planned < stats.max_total_pages {
        if rounds == MAX_ROUNDS {
            let (first_total_pages, latest_total_pages) = (stats.first_total_pages, stats.max_total_pages);
            return Err(FetchError::KeptGrowing { rounds, first_total_pages, latest_total_pages }.into());
        }
        rounds += 1;
        let last = stats.max_total_pages;
        let shared = Shared {
            client: &client,
            base,
            options,
            pending: (planned + 1..=last).filter(|p| !done.contains(*p)).collect(),
            next: AtomicUsize::new(0),
            abort: AtomicBool::new(false),
            retries: AtomicU64::new(0),
            pause: &pause,
        };
        let result = fetch_round(&shared, |page| {
            check_page_count(base, options, &page).map_err(FetchError::from)?;
            stats.observe(&page);
            on_page(page, &stats)
        });
        stats.retries += shared.retries.load(Ordering::Relaxed);
        result?;
        planned = last;
    }
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// Fetches page 1 alone, as [`fetch_all`] does first (the same client, CA
/// certificates, deadline, URL form, retries and `--max-pages` check), and
/// hands it back: the preflight's look at the vendor before a run starts.
pub fn fetch_first_page(base: &SecretUrl, options: &FetchOptions) -> Result<Page, FetchError> {
    let client = http::client(options.request_timeout, options.ca_pem.as_deref())?;
    let (retries, pause, abort) = (AtomicU64::new(0), Pause::default(), AtomicBool::new(false));
    let first = fetch_with_retry(&client, base, options, 1, &retries, &pause, &abort)?;
    check_page_count(base, options, &first)?;
    Ok(first)
}

/// An absurd `total_pages` (a vendor bug) must not send us after millions of pages.
fn check_page_count(base: &SecretUrl, options: &FetchOptions, page: &Page) -> Result<(), PageError> {
    if page.total_pages <= options.max_pages {
        return Ok(());
    }
    let source = VendorError::TooManyPages { reported: page.total_pages, max: options.max_pages };
    Err(PageError { page: page.number, attempts: 1, url: base.masked(), source })
}

/// Fetches `shared.pending` with the worker threads.
fn fetch_round<E: From<FetchError>>(
    shared: &Shared<'_>,
    mut on_page: impl FnMut(Page) -> Result<(), E>,
) -> Result<(), E> {
    let workers = (shared.options.concurrency.max(1) as usize).min(shared.pending.len());
    thread::scope(|scope| {
        let (sender, receiver) = mpsc::sync_channel::<Result<Page, FetchError>>(workers.max(1));
        for _ in 0..workers {
            let sender = sender.clone();
            // Its log lines name the run and stage.
            let span = tracing::Span::current();
            let spawned = thread::Builder::new()
                .name("vendor-fetch".into())
                .spawn_scoped(scope, move || span.in_scope(|| worker(shared, &sender)));
            if let Err(error) = spawned {
                shared.abort.store(true, Ordering::SeqCst);
                return Err(E::from(FetchError::Thread(error)));
            }
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

fn worker(shared: &Shared<'_>, sender: &mpsc::SyncSender<Result<Page, FetchError>>) {
    while !shared.abort.load(Ordering::SeqCst) {
        let Some(&page) = shared.pending.get(shared.next.fetch_add(1, Ordering::SeqCst)) else {
            return;
        };
        let result = fetch_with_retry(
            shared.client,
            shared.base,
            shared.options,
            page,
            &shared.retries,
            shared.pause,
            &shared.abort,
        );
        let failed = result.is_err();
        if sender.send(result).is_err() || failed {
            return;
        }
    }
}

/// One page, retried on transient failures with backoff. Gives up early
/// when `abort` is set (another page failed: the run is stopping).
fn fetch_with_retry(
    client: &http::Client,
    base: &SecretUrl,
    options: &FetchOptions,
    page: u32,
    retries: &AtomicU64,
    pause: &Pause,
    abort: &AtomicBool,
) -> Result<Page, FetchError> {
    let mut backoff = Backoff::new(options.retry_delay, u64::from(page));
    let mut attempt = 0;
    loop {
        pause.wait(abort);
        crate::stop::check()?;
        if abort.load(Ordering::SeqCst) {
            return Err(FetchError::Stopped);
        }
        crate::failpoint::hit("extract.vendor.fetching");
        let cap = page_body_cap(options.concurrency);
        let error = match http::fetch_page(client, base, page, cap, &options.key_fields) {
            Ok(result) => return Ok(result),
            Err(VendorError::Interrupted(interrupted)) => return Err(interrupted.into()),
            Err(error) => error,
        };
        if !is_transient(&error) || attempt >= options.max_retries || abort.load(Ordering::SeqCst) {
            return Err(PageError { page, attempts: attempt + 1, url: base.masked(), source: error }.into());
        }
        let delay = match &error {
            // A 429 slows every worker down, not just this one.
            VendorError::Status { status: 429, retry_after } => {
                let delay = backoff.delay(attempt, *retry_after);
                pause.hold(delay);
                delay
            }
            VendorError::Status { retry_after, .. } => backoff.delay(attempt, *retry_after),
            _ => backoff.delay(attempt, None),
        };
        let status = match &error {
            VendorError::Status { status, .. } => Some(*status),
            _ => None,
        };
        tracing::warn!(
            page,
            attempt = attempt + 1,
            status,
            delay_ms = delay.as_millis() as u64,
            error = %crate::causes::one_line(&error),
            "vendor page failed; retrying"
        );
        sleep_unless(abort, delay);
        attempt += 1;
        retries.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_set_folds_consecutive_pages_into_one_number() {
        let mut set = PageSet::default();
        for page in [3, 1, 5, 2] {
            set.insert(page);
        }
        assert_eq!((set.through, set.above.iter().copied().collect::<Vec<_>>()), (3, vec![5]));
        assert!(set.contains(2) && set.contains(5) && !set.contains(4) && !set.contains(0));
        assert_eq!(set.len(), 4);
        set.insert(4);
        assert_eq!((set.through, set.above.len()), (5, 0));
    }

    #[test]
    fn a_page_given_up_because_another_failed_says_so() {
        let options = FetchOptions {
            concurrency: 1,
            max_retries: 5,
            retry_delay: Duration::ZERO,
            request_timeout: Duration::from_secs(1),
            max_pages: 10,
            ca_pem: None,
            key_fields: KeyField::ALL.to_vec(),
        };
        let client = http::client(options.request_timeout, None).unwrap();
        // Port 9 (discard) is never asked: the stop is seen first.
        let base = SecretUrl::parse("http://127.0.0.1:9/v1/users", &["http"]).unwrap();
        let stopping = AtomicBool::new(true);
        let result = fetch_with_retry(&client, &base, &options, 3, &AtomicU64::new(0), &Pause::default(), &stopping);
        let error = result.unwrap_err();
        assert!(matches!(error, FetchError::Stopped), "{error:?}");
        assert_eq!(error.to_string(), "stopped because another page failed");
    }
}
