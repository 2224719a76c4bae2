//! Progress bars (indicatif), hidden with --quiet or when stderr is not a
//! terminal, all drawn in one area so that log lines can go above them.

use std::io::IsTerminal;
use std::sync::LazyLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The one area every bar is drawn in: log lines are written above it.
static BARS: LazyLock<MultiProgress> = LazyLock::new(|| {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    MultiProgress::with_draw_target(target)
});

/// What a bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Things named by the string (`pages`, `rows`, `records`), shown with a rate per second.
    Count(&'static str),
    /// Bytes, shown as KiB / MiB / GiB with a rate per second.
    Bytes,
}

/// Whether bars are drawn at all.
pub fn visible(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar counting `unit` up to `len` (0 = unknown), labelled `label`, on stderr.
pub fn bar(quiet: bool, label: &str, len: u64, unit: &'static str) -> ProgressBar {
    on_stderr(quiet, styled(label, len, Unit::Count(unit)))
}

/// A bar counting bytes up to `len` (0 = unknown), labelled `label`, on stderr.
pub fn bytes_bar(quiet: bool, label: &str, len: u64) -> ProgressBar {
    on_stderr(quiet, styled(label, len, Unit::Bytes))
}

/// A bar like [`bar`] drawn inside `multi` (which must be hidden when quiet).
pub fn bar_in(multi: &MultiProgress, label: &str, len: u64, unit: Unit) -> ProgressBar {
    multi.add(styled(label, len, unit))
}

/// A multi-bar area on stderr, hidden when bars are not wanted.
pub fn multi(quiet: bool) -> MultiProgress {
    if visible(quiet) {
        BARS.clone()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    }
}

/// Runs `write` with the bars taken off the screen, then draws them again
/// below what it wrote: how a log line goes above the bars.
pub fn suspend<T>(write: impl FnOnce() -> T) -> T {
    BARS.suspend(write)
}

/// Gives `bar` a total of `len` (0 = unknown again), with the style that shows it.
pub fn set_total(bar: &ProgressBar, len: u64, unit: Unit) {
    bar.set_length(len);
    if let Some(style) = style(len, unit) {
        bar.set_style(style);
    }
}

/// Writes a log line of each bar's count now and then while it lives, when
/// stderr is not a terminal: there the bars are not drawn, and the log lines
/// are the progress. Stops when dropped.
pub struct ProgressLog {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Logs the counts of `bars` every [`PROGRESS_LOG_SECS`](crate::env::PROGRESS_LOG_SECS)
/// seconds (10 unless set; 0 for never), in the current span, until the result is dropped.
pub fn log_progress(bars: &[&ProgressBar]) -> ProgressLog {
    let secs = std::env::var(crate::env::PROGRESS_LOG_SECS).ok().and_then(|s| s.trim().parse::<f64>().ok());
    let every = std::time::Duration::try_from_secs_f64(secs.unwrap_or(10.0)).unwrap_or_default();
    if std::io::stderr().is_terminal() || every.is_zero() {
        return ProgressLog { stop: None, thread: None };
    }
    let bars: Vec<ProgressBar> = bars.iter().map(|bar| (*bar).clone()).collect();
    let span = tracing::Span::current();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new().name("progress-log".into()).spawn(move || {
        let _entered = span.enter();
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            for bar in bars.iter().filter(|bar| !bar.is_finished()) {
                let total = bar.length().filter(|n| *n > 1).map_or(String::new(), |n| format!(" of {n}"));
                let (position, rate) = (bar.position(), bar.per_sec().round() as u64);
                tracing::info!(position, per_sec = rate, "{}: {position}{total} ({rate}/s)", bar.prefix());
            }
        }
    });
    ProgressLog { stop: Some(stop), thread: thread.ok() }
}

impl Drop for ProgressLog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `bar` in the bars' area, or hidden when bars are not wanted.
fn on_stderr(quiet: bool, bar: ProgressBar) -> ProgressBar {
    if visible(quiet) {
        BARS.add(bar)
    } else {
        bar
    }
}

/// Built hidden, so nothing is drawn before the bar has its final target.
fn styled(label: &str, len: u64, unit: Unit) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    if let Some(style) = style(len, unit) {
        bar.set_style(style);
    }
    bar.set_prefix(label.to_string());
    bar
}

/// A bar with a total shows its fill, the count of the total, the rate, and
/// the time left; without one (`len` 0), a spinner, the count and the rate.
fn style(len: u64, unit: Unit) -> Option<ProgressStyle> {
    let template = match (unit, len) {
        (Unit::Count(unit), 0) => format!("{{prefix:>9}} {{spinner}} {{human_pos}} {unit} ({{per_sec}}, {{elapsed}})"),
        (Unit::Count(unit), _) => format!(
            "{{prefix:>9}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{elapsed}}, eta {{eta}})"
        ),
        (Unit::Bytes, 0) => "{prefix:>9} {spinner} {binary_bytes} ({binary_bytes_per_sec}, {elapsed})".to_string(),
        (Unit::Bytes, _) => {
            "{prefix:>9} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {elapsed}, eta {eta})"
                .to_string()
        }
    };
    ProgressStyle::with_template(&template).ok().map(|style| style.progress_chars("=> "))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().map(|mut text| text.push_str(s)).map_err(|_| std::io::Error::other("poisoned"))
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What a bar of `len` `unit` shows at `position` (its last drawing).
    fn drawn(len: u64, unit: Unit, position: u64) -> String {
        let screen = Screen::default();
        let bar = styled("label", len, unit);
        bar.set_draw_target(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        bar.set_position(position);
        bar.finish();
        let text = screen.0.lock().unwrap().clone();
        text.lines().last().unwrap_or_default().to_string()
    }

    #[test]
    fn bars_show_human_sizes_counts_and_rates() {
        let bytes = drawn(4 << 20, Unit::Bytes, 3 << 20);
        assert!(bytes.contains("3.00 MiB/4.00 MiB") && bytes.contains("/s"), "{bytes}");
        let bytes = drawn(0, Unit::Bytes, 1536);
        assert!(bytes.contains("1.50 KiB") && bytes.contains("/s"), "{bytes}");
        let rows = drawn(3000, Unit::Count("rows"), 1500);
        assert!(rows.contains("1,500/3,000 rows") && rows.contains("/s"), "{rows}");
        let rows = drawn(0, Unit::Count("rows"), 1500);
        assert!(rows.contains("1,500 rows") && rows.contains("/s"), "{rows}");
    }

    #[test]
    fn a_total_given_later_is_shown() {
        let bar = styled("internal", 0, Unit::Count("rows"));
        set_total(&bar, 10, Unit::Count("rows"));
        assert_eq!(bar.length(), Some(10));
    }

    #[test]
    fn every_style_is_a_valid_template() {
        for unit in [Unit::Count("rows"), Unit::Bytes] {
            for len in [0, 10] {
                assert!(style(len, unit).is_some(), "{unit:?} {len}");
            }
        }
    }
}
