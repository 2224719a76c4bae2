//! Progress bars (indicatif), hidden with --quiet or when stderr is not a
//! terminal, all drawn in one area so that log lines can go above them.

use std::io::IsTerminal;
use std::sync::LazyLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The one area every bar is drawn in: log lines are written above it.
static BARS: LazyLock<MultiProgress> = LazyLock::new(|| {
    let target = if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    MultiProgress::with_draw_target(target)
});

/// Whether bars are drawn at all.
pub fn visible(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar counting `unit` up to `len` (0 = unknown), labelled `label`, on stderr.
pub fn bar(quiet: bool, label: &str, len: u64, unit: &str) -> ProgressBar {
    let bar = styled(label, len, unit);
    if visible(quiet) {
        BARS.add(bar)
    } else {
        bar
    }
}

/// A bar like [`bar`] drawn inside `multi` (which must be hidden when quiet).
pub fn bar_in(multi: &MultiProgress, label: &str, len: u64, unit: &str) -> ProgressBar {
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

/// Built hidden, so nothing is drawn before the bar has its final target.
fn styled(label: &str, len: u64, unit: &str) -> ProgressBar {
    let template = if len == 0 {
        format!("{{prefix:>9}} {{spinner}} {{human_pos}} {unit} ({{elapsed}})")
    } else {
        format!("{{prefix:>9}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{elapsed}}, eta {{eta}})")
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_string());
    bar
}
