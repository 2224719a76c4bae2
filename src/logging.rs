//! Log lines (tracing) on stderr, above the progress bars: their level
//! (-v, -q, or RUST_LOG) and format (text, or one JSON object a line).

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;
use crate::progress;

/// Starts logging for the process. `verbosity` is the number of -v less the
/// number of -q: 0 logs this tool's `info` lines and up, 1 `debug`, 2
/// `trace`, -1 warnings only, -2 errors only. A valid RUST_LOG wins over it.
/// Other crates log their warnings only, unless RUST_LOG says otherwise.
/// JSON lines hold `timestamp`, `level`, `fields`, and the `span` naming
/// `run_id` and `stage`.
pub fn init(verbosity: i8, format: LogFormat) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        2..=i8::MAX => "trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("warn,vendor_match={level}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| AboveBars);
    // A second init (tests calling in) keeps the first: nothing to report.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).with_target(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
}

/// Writes each log line to stderr with the bars out of the way.
struct AboveBars;

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter writes a whole line at once: it goes above the bars whole.
        progress::suspend(|| std::io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
