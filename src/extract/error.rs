//! What can go wrong in extract, side by side: each source's failure, the
//! sort, the checkpoint, the files, or a side stopping because the other failed.

use std::path::PathBuf;

use super::checkpoint::CheckpointError;
use super::internal::InternalError;
use super::vendor_api::FetchError;
use crate::bug::Bug;
use crate::db::ConnectError;
use crate::rundir::rejects::{RejectRatioExceeded, RejectsError};
use crate::sort::SortError;

/// A failure of the extract stage.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Fetching the vendor pages failed.
    #[error(transparent)]
    Vendor(#[from] FetchError),
    /// Connecting to our database failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Streaming our users failed.
    #[error(transparent)]
    Internal(#[from] InternalError),
    /// Sorting failed.
    #[error(transparent)]
    Sort(#[from] SortError),
    /// Too many rejects.
    #[error(transparent)]
    RejectRatio(#[from] RejectRatioExceeded),
    /// A rejects file can't be written, or does not hold what was written.
    #[error(transparent)]
    Rejects(#[from] RejectsError),
    /// The checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A file of the run could not be written.
    #[error("writing {path} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The vendor side's thread could not be started.
    #[error("the vendor side's thread could not be started")]
    Thread(#[source] std::io::Error),
    /// The run was asked to stop (a signal).
    #[error(transparent)]
    Interrupted(#[from] crate::stop::Interrupted),
    /// This side stopped because the other one failed.
    #[error("stopped because the other source failed")]
    Stopped,
    /// A broken invariant (a bug).
    #[error(transparent)]
    Bug(#[from] Bug),
}
