//! A file the pipeline wrote that does not read back as it was written: the
//! one error every reader of a run's files gives for damage, so that the
//! pipeline can name the file and the stage that makes it again.

use std::path::PathBuf;

/// A file that does not read back as written (changed, cut, swapped or listed wrongly).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {path} is damaged: {reason}")]
pub struct Damaged {
    /// What kind of file ("spill file", "row segment", ...).
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

impl Damaged {
    /// A damaged `what` at `path`.
    pub fn new(what: &'static str, path: impl Into<PathBuf>, reason: impl Into<String>) -> Damaged {
        Damaged { what, path: path.into(), reason: reason.into() }
    }

    /// The first `Damaged` in `error`'s chain of causes, if any.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Damaged> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(damaged) = error.downcast_ref::<Damaged>() {
                return Some(damaged);
            }
            cause = error.source();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Damaged);

    #[test]
    fn found_anywhere_in_the_chain() {
        let damaged = Damaged::new("spill file", "/r/extract/a.spill", "CRC mismatch");
        assert_eq!(damaged.to_string(), "spill file /r/extract/a.spill is damaged: CRC mismatch");
        assert_eq!(Damaged::find(&Outer(damaged.clone())), Some(&damaged));
        assert_eq!(Damaged::find(&std::io::Error::other("x")), None);
    }
}
