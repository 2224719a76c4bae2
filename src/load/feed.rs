//! The segments a load COPYs, handed over as the match stage publishes them,
//! so that the load can start before match is done.
//!
//! The feed is a list that only grows, then is closed with the total row
//! count (match done) or without one (match failed). Each load attempt reads
//! it from the start through its own [`FeedReader`], whose sessions take the
//! next segment not yet taken and wait when they are ahead of match.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::matching::segment::Segment;
use crate::matching::stats::MatchStats;

/// The match stage failed: there is nothing to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the match stage failed, so its rows were not loaded")]
pub struct MatchFailed;

#[derive(Default)]
struct State {
    segments: Vec<Segment>,
    /// Set when no segment will come: the total rows and match's counts, or the failure.
    closed: Option<Result<(u64, MatchStats), MatchFailed>>,
}

/// Segments to load, complete or still coming.
#[derive(Default)]
pub struct SegmentFeed {
    state: Mutex<State>,
    changed: Condvar,
}

impl SegmentFeed {
    /// A feed still open: segments are [`push`](Self::push)ed as they are published.
    pub fn open() -> SegmentFeed {
        SegmentFeed::default()
    }

    /// A closed feed of a finished match stage's segments, row count and counts.
    pub fn finished(segments: Vec<Segment>, rows: u64, stats: MatchStats) -> SegmentFeed {
        SegmentFeed { state: Mutex::new(State { segments, closed: Some(Ok((rows, stats))) }), changed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a published segment.
    pub fn push(&self, segment: Segment) {
        self.lock().segments.push(segment);
        self.changed.notify_all();
    }

    /// No more segments: `Ok((rows, stats))` when match finished with that
    /// many rows and counts, `Err` when it failed. Only the first close counts.
    pub fn close(&self, outcome: Result<(u64, MatchStats), MatchFailed>) {
        self.lock().closed.get_or_insert(outcome);
        self.changed.notify_all();
    }

    /// Waits for the feed to close; the total rows, or the failure.
    pub fn total_rows(&self) -> Result<u64, MatchFailed> {
        self.outcome().map(|(rows, _)| rows)
    }

    /// Waits for the feed to close; match's counts, or the failure.
    pub fn stats(&self) -> Result<MatchStats, MatchFailed> {
        self.outcome().map(|(_, stats)| stats)
    }

    fn outcome(&self) -> Result<(u64, MatchStats), MatchFailed> {
        let mut state = self.lock();
        loop {
            if let Some(outcome) = &state.closed {
                return outcome.clone();
            }
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A reader from the first segment, for one load attempt.
    pub fn reader(&self) -> FeedReader<'_> {
        FeedReader { feed: self, next: AtomicUsize::new(0) }
    }
}

/// One load attempt's pass over a feed; its sessions share it.
pub struct FeedReader<'a> {
    feed: &'a SegmentFeed,
    next: AtomicUsize,
}

impl FeedReader<'_> {
    /// The next segment no session of this attempt has taken, waiting for
    /// match to publish it; `None` once the feed is closed and read through
    /// (or match failed).
    pub fn next(&self) -> Option<Segment> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let mut state = self.feed.lock();
        loop {
            if let Some(segment) = state.segments.get(index) {
                return Some(segment.clone());
            }
            if state.closed.is_some() {
                return None;
            }
            state = self.feed.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(n: u64) -> Segment {
        Segment { path: format!("rows-{n}").into(), rows: n, bytes: n * 10, crc32: 0 }
    }

    #[test]
    fn readers_wait_for_segments_and_stop_at_the_close() {
        let feed = SegmentFeed::open();
        std::thread::scope(|scope| {
            let taken = scope.spawn(|| {
                let reader = feed.reader();
                std::iter::from_fn(|| reader.next()).map(|s| s.rows).collect::<Vec<_>>()
            });
            for n in 1..=3 {
                std::thread::sleep(std::time::Duration::from_millis(5));
                feed.push(segment(n));
            }
            feed.close(Ok((6, MatchStats::default())));
            assert_eq!(taken.join().unwrap(), vec![1, 2, 3]);
        });
        assert_eq!(feed.total_rows(), Ok(6));
        // A second attempt reads from the start again.
        assert_eq!(feed.reader().next().map(|s| s.rows), Some(1));
    }

    #[test]
    fn a_failed_match_ends_the_readers_and_fails_the_total() {
        let feed = SegmentFeed::open();
        feed.push(segment(1));
        feed.close(Err(MatchFailed));
        feed.close(Ok((1, MatchStats::default())));
        let reader = feed.reader();
        assert!(reader.next().is_some() && reader.next().is_none());
        assert_eq!(feed.total_rows(), Err(MatchFailed));
    }

    #[test]
    fn a_finished_feed_holds_its_segments() {
        let feed = SegmentFeed::finished(vec![segment(2), segment(5)], 7, MatchStats::default());
        let reader = feed.reader();
        assert_eq!(
            (reader.next().map(|s| s.rows), reader.next().map(|s| s.rows), reader.next()),
            (Some(2), Some(5), None)
        );
        assert_eq!(feed.total_rows(), Ok(7));
    }
}
