//! Progress bars (indicatif), hidden with --quiet or when stderr is not a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `unit` up to `len` (0 = unknown), labelled `label`.
pub fn bar(quiet: bool, label: &str, len: u64, unit: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = if len == 0 {
        format!("{{prefix:>9}} {{spinner}} {{human_pos}} {unit} ({{per_sec}}, {{elapsed}})")
    } else {
        format!("{{prefix:>9}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}})")
    };
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_string());
    bar
}
