//! The stages' progress bars: what each stage shows while it works.

use indicatif::{MultiProgress, ProgressBar};

use crate::extract::ExtractProgress;
use crate::progress::{self, ProgressLog, Unit};

/// The extract stage's two bars: vendor pages and our rows.
pub(super) struct ExtractBars {
    // Kept alive: the bars draw through it.
    _multi: MultiProgress,
    pages: ProgressBar,
    rows: ProgressBar,
    _log: ProgressLog,
}

impl ExtractBars {
    pub(super) fn new(quiet: bool) -> ExtractBars {
        let multi = progress::multi(quiet);
        let pages = progress::bar_in(&multi, "vendor", 1, Unit::Count("pages"));
        let rows = progress::bar_in(&multi, "internal", 0, Unit::Count("rows"));
        let _log = progress::log_progress(&[&pages, &rows]);
        ExtractBars { _multi: multi, pages, rows, _log }
    }

    /// Gives our rows' bar a total: the source table's estimate of its rows
    /// (0 = none), so that it shows a fill and the time left.
    pub(super) fn set_internal_estimate(&self, rows: u64) {
        progress::set_total(&self.rows, rows, Unit::Count("rows"));
    }

    pub(super) fn finish(&self) {
        self.pages.finish_and_clear();
        self.rows.finish_and_clear();
    }
}

impl ExtractProgress for ExtractBars {
    fn vendor_page(&self, planned: u32) {
        self.pages.set_length(u64::from(planned));
        self.pages.inc(1);
    }
    fn internal_rows(&self, n: u64) {
        self.rows.inc(n);
    }
    fn internal_estimate(&self, rows: u64) {
        self.set_internal_estimate(rows);
    }
}

/// The bars of match (records) and load (bytes) running side by side.
pub(super) struct MatchLoadBars {
    // Kept alive: the bars draw through it.
    _multi: MultiProgress,
    /// Source records merged.
    pub(super) records: ProgressBar,
    /// Bytes of rows sent to COPY.
    pub(super) bytes: ProgressBar,
    _log: ProgressLog,
}

impl MatchLoadBars {
    /// Bars for `records` source records and the bytes of rows to come.
    pub(super) fn new(quiet: bool, records: u64) -> MatchLoadBars {
        let multi = progress::multi(quiet);
        let records = progress::bar_in(&multi, "match", records, Unit::Count("records"));
        let bytes = progress::bar_in(&multi, "load", 0, Unit::Bytes);
        let _log = progress::log_progress(&[&records, &bytes]);
        MatchLoadBars { _multi: multi, records, bytes, _log }
    }
}
