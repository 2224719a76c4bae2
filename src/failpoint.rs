//! Test-only crash points: `VENDOR_MATCH_FAILPOINT=NAME` or `NAME=N` aborts the
//! process (like `kill -9`: no destructors, no flushing) the N-th time it
//! passes the point NAME. Unset, a point costs one relaxed atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

struct Armed {
    name: String,
    at: u64,
    seen: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(crate::env::FAILPOINT).ok()?;
            let (name, at) = match spec.split_once('=') {
                Some((name, n)) => (name.to_string(), n.trim().parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Armed { name, at: at.max(1), seen: AtomicU64::new(0) })
        })
        .as_ref()
}

/// Every crash point, for tests that walk them all.
pub const POINTS: &[&str] = &[
    "extract.vendor.fetching",
    "extract.vendor.page",
    "sort.run_unpublished",
    "extract.vendor.checkpoint",
    "extract.vendor.done",
    "extract.internal.rows",
    "extract.internal.checkpoint",
    "match.rows",
    "load.copying",
    "load.copied",
    "manifest.tmp_written",
    "stage.completed",
];

/// Aborts here when the armed point is `name` and this is its N-th pass.
pub fn hit(name: &str) {
    if fires(name) {
        eprintln!("failpoint {name} reached: aborting");
        std::process::abort();
    }
}

/// True once: on the N-th pass of the armed point `name`. For points whose
/// caller injects a fault of its own instead of aborting.
pub fn fires(name: &str) -> bool {
    armed().is_some_and(|armed| armed.name == name && armed.seen.fetch_add(1, Ordering::Relaxed) + 1 == armed.at)
}
