//! Stopping on SIGINT / SIGTERM: the first signal asks the work in progress
//! to stop at its next check (a request, a retry pause, a COPY, a batch of
//! rows); a second one ends the process at once. The one home of "was the run
//! asked to stop?".

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The signal received first, 0 before any.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// How often a wait looks for a stop request: a stop is seen within this.
const POLL: Duration = Duration::from_millis(50);

/// The work stopped because the process was asked to (a signal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {}", self.name())]
pub struct Interrupted {
    /// The signal's number.
    pub signal: i32,
}

impl Interrupted {
    /// `SIGINT`, `SIGTERM`, or `signal N`.
    pub fn name(&self) -> String {
        match self.signal {
            signal_hook::consts::SIGINT => "SIGINT".into(),
            signal_hook::consts::SIGTERM => "SIGTERM".into(),
            n => format!("signal {n}"),
        }
    }

    /// The shell's code for a process ended by the signal: 128 + its number
    /// (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(1)
    }
}

/// Handles SIGINT and SIGTERM from now on: the first one is recorded for
/// [`check`]; a second one ends the process with 128 + its number.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        for signal in signals.forever() {
            let interrupted = Interrupted { signal };
            if SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                tracing::warn!(
                    signal = interrupted.name(),
                    "stopping: the work in progress ends at its next check (a second signal stops at once)"
                );
            } else {
                eprintln!("\n{} again: stopping at once", interrupted.name());
                std::process::exit(i32::from(interrupted.exit_code()));
            }
        }
    })?;
    Ok(())
}

/// The stop asked for, if any.
pub fn requested() -> Option<Interrupted> {
    match SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(Interrupted { signal }),
    }
}

/// Fails once a stop was asked for.
pub fn check() -> Result<(), Interrupted> {
    requested().map_or(Ok(()), Err)
}

/// Sleeps for `delay`, or less when a stop is asked for meanwhile.
pub fn sleep(delay: Duration) -> Result<(), Interrupted> {
    let until = Instant::now() + delay;
    loop {
        check()?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// Ends when a stop is asked for: raced against a request or a query, it
/// cancels them (inside a tokio runtime with timers).
pub async fn interrupted() -> Interrupted {
    loop {
        if let Some(interrupted) = requested() {
            return interrupted;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_exit_codes_follow_the_shell() {
        let term = Interrupted { signal: signal_hook::consts::SIGTERM };
        let int = Interrupted { signal: signal_hook::consts::SIGINT };
        assert_eq!((term.name().as_str(), term.exit_code()), ("SIGTERM", 143));
        assert_eq!((int.name().as_str(), int.exit_code()), ("SIGINT", 130));
        assert_eq!(term.to_string(), "interrupted by SIGTERM");
    }
}
