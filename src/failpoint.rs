//! Test hooks, and the only place they live: `VENDOR_MATCH_FAILPOINT` arms one
//! point of the code, which acts the N-th time it is passed:
//!
//! - `NAME` or `NAME=N`: abort the process (like `kill -9`: no destructors, no
//!   flushing), to test that a crash there resumes to the right rows;
//! - `NAME:pause=MS` or `NAME=N:pause=MS`: print `failpoint NAME: pausing` on
//!   stderr and sleep, so that a test can act on the world meanwhile (end a
//!   database session, start a second run).
//!
//! Stage code only calls [`hit`]; unset, a point costs one relaxed atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// What an armed point does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Abort,
    Pause(Duration),
}

#[derive(Debug)]
struct Armed {
    name: String,
    at: u64,
    action: Action,
    seen: AtomicU64,
}

/// Parses `NAME[=N][:pause=MS]`; a malformed count or pause arms nothing
/// rather than crash a production run over a test variable.
fn parse(spec: &str) -> Option<Armed> {
    let (point, action) = match spec.split_once(':') {
        None => (spec, Action::Abort),
        Some((point, action)) => {
            let ms = action.strip_prefix("pause=")?.trim().parse().ok()?;
            (point, Action::Pause(Duration::from_millis(ms)))
        }
    };
    let (name, at) = match point.split_once('=') {
        Some((name, n)) => (name, n.trim().parse().ok()?),
        None => (point, 1),
    };
    Some(Armed { name: name.trim().to_string(), at: u64::max(at, 1), action, seen: AtomicU64::new(0) })
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| parse(&std::env::var(crate::env::FAILPOINT).ok()?)).as_ref()
}

/// Every point in the code, for tests that walk them all.
pub const POINTS: &[&str] = &[
    "extract.vendor.fetching",
    "extract.vendor.page",
    "sort.spill_unpublished",
    "extract.vendor.checkpoint",
    "extract.vendor.done",
    "extract.internal.rows",
    "extract.internal.checkpoint",
    "match.rows",
    "load.copying",
    "load.copied",
    "load.committing",
    "manifest.tmp_written",
    "stage.completed",
];

/// Passes the point `name`: acts when it is the armed one and this is its N-th pass.
pub fn hit(name: &str) {
    let Some(armed) = armed() else { return };
    if armed.name != name || armed.seen.fetch_add(1, Ordering::Relaxed) + 1 != armed.at {
        return;
    }
    match armed.action {
        Action::Abort => {
            eprintln!("failpoint {name}: aborting");
            std::process::abort();
        }
        Action::Pause(duration) => {
            eprintln!("failpoint {name}: pausing {} ms", duration.as_millis());
            std::thread::sleep(duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_point_a_pass_and_an_action() {
        let armed = parse("load.copied").unwrap();
        assert_eq!((armed.name.as_str(), armed.at, armed.action), ("load.copied", 1, Action::Abort));
        let armed = parse("match.rows=2000").unwrap();
        assert_eq!((armed.at, armed.action), (2000, Action::Abort));
        let armed = parse("extract.internal.rows=1500:pause=3000").unwrap();
        assert_eq!((armed.at, armed.action), (1500, Action::Pause(Duration::from_secs(3))));
        assert_eq!(parse("load.committing:pause=250").unwrap().action, Action::Pause(Duration::from_millis(250)));
    }

    #[test]
    fn a_malformed_spec_arms_nothing() {
        assert!(parse("x=many").is_none());
        assert!(parse("x:sleep=3").is_none());
        assert!(parse("x:pause=soon").is_none());
    }
}
