//! A broken internal invariant: never the data's fault or the user's, so the
//! message says it is a bug and asks for a report (exit 1).

/// Something the code guarantees did not hold: a thread ended without an
/// answer, records came out of order, a row the tool built does not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "internal error: {what} (this is a bug in vendor-match; please report it with the command and `vendor-match status --json`)"
)]
pub struct Bug {
    /// What did not hold.
    pub what: String,
}

impl Bug {
    /// A bug described by `what`.
    pub fn new(what: impl Into<String>) -> Bug {
        Bug { what: what.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bug_says_so_and_asks_for_a_report() {
        let text = Bug::new("the spill thread ended without an answer").to_string();
        assert!(text.starts_with("internal error: the spill thread ended without an answer"), "{text}");
        assert!(text.contains("bug") && text.contains("report"), "{text}");
    }
}
