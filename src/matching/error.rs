//! What can go wrong in match: reading the spill files, a record that is not
//! what extract wrote, writing the rows.

use std::path::PathBuf;

use crate::bug::Bug;
use crate::damage::Damaged;
use crate::record::field::FieldError;
use crate::sort::SortError;

/// A failure of the match stage.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// Reading the spill files failed.
    #[error(transparent)]
    Sort(#[from] SortError),
    /// A record's payload is not what extract wrote.
    #[error("a {side} record is malformed")]
    Record {
        /// `vendor` or `internal`.
        side: &'static str,
        /// The cause.
        #[source]
        source: FieldError,
    },
    /// Extract's files, or its list of them, do not agree with its counts.
    // Not `transparent`: the `Damaged` must stay in the chain of causes,
    // where the pipeline looks for it.
    #[error("{0}")]
    Damaged(#[from] Damaged),
    /// Writing the output failed.
    #[error("writing {path} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The run was asked to stop (a signal).
    #[error(transparent)]
    Interrupted(#[from] crate::stop::Interrupted),
    /// A broken invariant (a bug).
    #[error(transparent)]
    Bug(#[from] Bug),
}
