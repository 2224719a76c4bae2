//! What can go wrong in the sort: a file, a damaged spill file, the spill thread.

use std::path::PathBuf;

/// A failure of the sorter or of reading its spill files.
#[derive(Debug, thiserror::Error)]
pub enum SortError {
    /// A file operation failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A spill file is not what the sorter wrote.
    // Not `transparent`: the `Damaged` must stay in the chain of causes,
    // where the pipeline looks for it.
    #[error("{0}")]
    Damaged(#[from] crate::damage::Damaged),
    /// The spill thread could not be started.
    #[error("the {kind} sorter's spill thread could not be started")]
    SpillThread {
        /// The sorter's kind.
        kind: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A broken invariant (a bug).
    #[error(transparent)]
    Bug(#[from] crate::bug::Bug),
}
