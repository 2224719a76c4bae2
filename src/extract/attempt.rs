//! What both sides of one extract attempt share: the run's settings, the
//! checkpoint, the stop flag, progress, and the rejects files' writers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use super::checkpoint::Checkpoint;
use super::error::ExtractError;
use crate::model::Side;
use crate::rundir::rejects::{Reject, RejectWriter};
use crate::settings::RunSettings;

/// Progress callbacks, so the stage does not depend on a UI. Both sides call
/// them, from their own threads.
pub trait ExtractProgress: Sync {
    /// A vendor page arrived; `planned` is the number of pages now expected.
    fn vendor_page(&self, planned: u32);
    /// `n` of our rows were read.
    fn internal_rows(&self, n: u64);
    /// The source table's estimate of our rows (e.g. from the planner's
    /// statistics), as a total for the progress shown; nothing by default.
    fn internal_estimate(&self, _rows: u64) {}
}

/// What both sides of one extract attempt share.
pub(super) struct Attempt<'a> {
    /// The extract directory.
    pub(super) dir: PathBuf,
    pub(super) settings: &'a RunSettings,
    pub(super) checkpoint: Mutex<Checkpoint>,
    /// Set when a side fails, so the other one stops soon.
    pub(super) stop: AtomicBool,
    pub(super) progress: &'a dyn ExtractProgress,
    pub(super) vendor_ca_pem: Option<Vec<u8>>,
}

impl Attempt<'_> {
    /// Fails with [`ExtractError::Stopped`] once the other side has failed,
    /// and with [`ExtractError::Interrupted`] once the run is asked to stop.
    pub(super) fn check_stop(&self) -> Result<(), ExtractError> {
        crate::stop::check()?;
        if self.stop.load(Ordering::Relaxed) {
            return Err(ExtractError::Stopped);
        }
        Ok(())
    }

    /// Passes `result` on, telling the other side to stop when it is a failure.
    pub(super) fn stop_on_error<T>(&self, result: Result<T, ExtractError>) -> Result<T, ExtractError> {
        if result.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Updates one side's part of the checkpoint and writes it.
    pub(super) fn save(&self, update: impl FnOnce(&mut Checkpoint)) -> Result<(), ExtractError> {
        let mut checkpoint = self.checkpoint.lock().unwrap_or_else(PoisonError::into_inner);
        update(&mut checkpoint);
        checkpoint.save(&self.dir)?;
        Ok(())
    }

    /// Appends a reject to a side's rejects file.
    pub(super) fn record_reject(
        &self,
        rejects: &mut RejectWriter,
        side: Side,
        page: Option<u32>,
        id: Option<i64>,
        reason: &str,
    ) -> Result<(), ExtractError> {
        Ok(rejects.record(&Reject { source: side, page, id, reason })?)
    }

    /// Makes a side's rejects durable before a checkpoint counts them.
    pub(super) fn sync_rejects(&self, rejects: &mut RejectWriter) -> Result<(), ExtractError> {
        Ok(rejects.sync()?)
    }
}
