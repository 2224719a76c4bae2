//! Which vendor failures are worth retrying, and how long to wait before the next try.

use std::time::Duration;

use super::error::VendorError;

/// Longest wait between two tries, whatever the backoff or Retry-After says.
pub const MAX_DELAY: Duration = Duration::from_secs(120);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Whether a failure is transient (SPEC §2): timeouts, connection failures,
/// 429, 5xx, truncated or non-JSON bodies, a page that answers for another
/// page number, and an answer that contradicts itself (users past its own
/// `total_pages`, or none before it): a live API may answer one request
/// from two moments. Other 4xx and oversized bodies are final.
pub fn is_transient(error: &VendorError) -> bool {
    match error {
        VendorError::Status { status, .. } => *status == 429 || *status >= 500,
        VendorError::BodyTooLarge { .. }
        | VendorError::PageTooLarge { .. }
        | VendorError::TooManyPages { .. }
        | VendorError::Interrupted(_) => false,
        VendorError::Transport { .. }
        | VendorError::Deadline { .. }
        | VendorError::Body { .. }
        | VendorError::NotJson { .. }
        | VendorError::WrongPage { .. }
        | VendorError::UsersPastTotal { .. }
        | VendorError::EmptyPage { .. } => true,
    }
}

/// Exponential backoff with jitter: the n-th retry waits between half and
/// all of `initial * 2^n` (capped at 30 s); a server's Retry-After wins.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff starting at `initial`, with jitter from `seed`.
    pub fn new(initial: Duration, seed: u64) -> Backoff {
        Backoff { initial, rng: fastrand::Rng::with_seed(seed) }
    }

    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&mut self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(MAX_DELAY);
        }
        let exponential = self.initial.saturating_mul(1u32 << attempt.min(20)).min(MAX_BACKOFF);
        let half = exponential / 2;
        half + half.mul_f64(self.rng.f64())
    }
}

/// A pause shared by every page worker: a 429 tells the client to slow
/// down, not just the request that got it.
#[derive(Debug, Default)]
pub struct Pause {
    until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Pause {
    /// Holds every worker for `delay` from now (never shortening a longer hold).
    pub fn hold(&self, delay: Duration) {
        let until = std::time::Instant::now() + delay;
        let mut current = self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
    }

    /// How long a worker must still wait.
    pub fn remaining(&self) -> Duration {
        let current = self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        current.map_or(Duration::ZERO, |until| until.saturating_duration_since(std::time::Instant::now()))
    }

    /// Waits out the hold, if any, waking early when `abort` is set.
    pub fn wait(&self, abort: &std::sync::atomic::AtomicBool) {
        sleep_unless(abort, self.remaining());
    }
}

/// Sleeps for `delay`, waking early when `abort` is set or the run is asked to stop.
pub fn sleep_unless(abort: &std::sync::atomic::AtomicBool, delay: Duration) {
    let until = std::time::Instant::now() + delay;
    while !abort.load(std::sync::atomic::Ordering::SeqCst) && crate::stop::requested().is_none() {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_wins_and_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), 1);
        assert_eq!(b.delay(0, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(b.delay(0, Some(Duration::from_secs(9999))), MAX_DELAY);
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), 1);
        for attempt in 0..5 {
            let full = Duration::from_millis(100 * (1 << attempt));
            let d = b.delay(attempt, None);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(b.delay(30, None) <= MAX_BACKOFF);
    }

    #[test]
    fn a_pause_holds_until_its_end_and_never_shortens() {
        let pause = Pause::default();
        assert_eq!(pause.remaining(), Duration::ZERO);
        pause.hold(Duration::from_secs(60));
        pause.hold(Duration::from_secs(1));
        assert!(pause.remaining() > Duration::from_secs(50));
    }

    #[test]
    fn a_stopping_run_does_not_wait_out_a_pause() {
        let pause = Pause::default();
        pause.hold(Duration::from_secs(600));
        let started = std::time::Instant::now();
        pause.wait(&std::sync::atomic::AtomicBool::new(true));
        // Would sleep ten minutes without the abort check.
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn transient_classification() {
        let status = |s| VendorError::Status { status: s, retry_after: None };
        assert!(is_transient(&status(429)));
        assert!(is_transient(&status(503)));
        assert!(is_transient(&status(500)));
        assert!(!is_transient(&status(404)));
        assert!(!is_transient(&status(400)));
        assert!(is_transient(&VendorError::NotJson { reason: "x".into() }));
        assert!(!is_transient(&VendorError::BodyTooLarge { limit_bytes: 1 }));
    }
}
