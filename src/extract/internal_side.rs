//! Our side of extract: the source database's stream (PostgreSQL or MySQL)
//! into spill files sorted by match key, checkpointed file by file,
//! continued on a new connection when it breaks ([`crate::db::with_reconnects`]).

use std::time::Instant;

use super::attempt::Attempt;
use super::checkpoint::{InternalCheckpoint, InternalCounters};
use super::error::ExtractError;
use super::internal::encode::{RowEncoder, RowReject};
use super::internal::{self, After};
use crate::db::{self, Failure};
use crate::failpoint;
use crate::model::Side;
use crate::record::RecordBuf;
use crate::rundir::rejects::RejectWriter;
use crate::secret::SecretUrl;
use crate::sort::spill_file::SpillFile;
use crate::sort::{SortStats, Sorter, Spilled};

/// Rows between two progress reports.
const ROWS_PER_TICK: u64 = 8_192;
/// Rows between two looks at whether to stop: a few milliseconds of work.
const ROWS_PER_STOP_CHECK: u64 = 1_024;

/// What our side hands back.
pub(super) struct InternalDone {
    /// Spill files sorted by match key.
    pub(super) spills: Vec<SpillFile>,
    /// Final counters.
    pub(super) counters: InternalCounters,
    /// Figures of the sort.
    pub(super) sort: SortStats,
    /// Times the stream broke off and was continued on a new connection.
    pub(super) reconnects: u32,
    /// Seconds this attempt took.
    pub(super) secs: f64,
}

/// One attempt at our side.
pub(super) struct InternalSide<'a> {
    attempt: &'a Attempt<'a>,
    rejects: RejectWriter,
    /// What the checkpoint says is durable.
    state: InternalCheckpoint,
    /// Counters as of the last row pushed.
    counters: InternalCounters,
}

impl<'a> InternalSide<'a> {
    pub(super) fn new(attempt: &'a Attempt<'a>, state: InternalCheckpoint, rejects: RejectWriter) -> InternalSide<'a> {
        let counters = state.counters;
        InternalSide { attempt, rejects, state, counters }
    }

    /// Streams every row not yet in a spill file into spill files sorted by key.
    pub(super) fn spill_rows(mut self, url: &SecretUrl) -> Result<InternalDone, ExtractError> {
        let started = Instant::now();
        if let Some(sort) = self.state.done {
            let (spills, counters) = (self.state.spills, self.state.counters);
            return Ok(InternalDone { spills, counters, sort, reconnects: 0, secs: 0.0 });
        }
        let attempt = self.attempt;
        let share = attempt.settings.memory_budget.paging().internal;
        let mut sorter = Sorter::with_files(&attempt.dir, "internal", share, self.state.spills.clone())?;
        let (streamed, reconnects) = db::with_reconnects(|| self.stream(url, &mut sorter), failure);
        streamed?;
        let (spilled, _, stats) = sorter.finish(self.counters)?;
        self.apply(spilled)?;
        self.finish(stats)?;
        let (spills, counters) = (self.state.spills, self.state.counters);
        Ok(InternalDone { spills, counters, sort: stats, reconnects, secs: started.elapsed().as_secs_f64() })
    }

    fn finish(&mut self, stats: SortStats) -> Result<(), ExtractError> {
        self.attempt.sync_rejects(&mut self.rejects)?;
        self.state.done = Some(stats);
        self.attempt.save(|checkpoint| checkpoint.internal = self.state.clone())
    }

    /// One connection's worth of the stream, from after the last id read.
    fn stream(&mut self, url: &SecretUrl, sorter: &mut Sorter<InternalCounters>) -> Result<(), ExtractError> {
        let mut session = internal::connect(url)?;
        // A total for our rows' bar; without an estimate it counts on.
        if let Ok(Some(rows)) = session.estimate_rows(url) {
            self.attempt.progress.internal_estimate(rows);
        }
        let mut seen = 0u64;
        let after = After { id: self.counters.last_id, unsigned_id: self.counters.last_unsigned_id };
        // Per connection: the buffers they reuse from row to row are small.
        let mut encoder = RowEncoder::new(&self.attempt.settings.match_on);
        let mut record = RecordBuf::default();
        session.stream(after, &mut encoder, &mut record, |encoded, record| -> Result<(), ExtractError> {
            seen += 1;
            if seen.is_multiple_of(ROWS_PER_TICK) {
                self.attempt.progress.internal_rows(ROWS_PER_TICK);
            }
            if seen.is_multiple_of(ROWS_PER_STOP_CHECK) {
                self.attempt.check_stop()?;
            }
            failpoint::hit("extract.internal.rows");
            self.take_row(sorter, encoded, record)
        })?;
        self.attempt.progress.internal_rows(seen % ROWS_PER_TICK);
        Ok(())
    }

    fn take_row(
        &mut self,
        sorter: &mut Sorter<InternalCounters>,
        encoded: Result<i64, RowReject>,
        record: &RecordBuf,
    ) -> Result<(), ExtractError> {
        match encoded {
            Ok(id) => {
                if !sorter.fits(record.record().encoded_len()) {
                    let spilled = sorter.seal(self.counters)?;
                    self.apply(spilled)?;
                }
                sorter.push(record.record());
                self.counters.last_id = Some(id);
                self.counters.users += 1;
            }
            Err(reject) => {
                self.counters.last_id = reject.id.or(self.counters.last_id);
                self.counters.last_unsigned_id = reject.unsigned_id.or(self.counters.last_unsigned_id);
                self.counters.rejects += 1;
                self.attempt.record_reject(&mut self.rejects, Side::Internal, None, reject.id, &reject.reason)?;
                self.counters.rejects_file = self.rejects.mark();
            }
        }
        Ok(())
    }

    /// Records published spill files in the checkpoint.
    fn apply(&mut self, spilled: Vec<Spilled<InternalCounters>>) -> Result<(), ExtractError> {
        for Spilled { file, token } in spilled {
            self.state.spills.extend(file);
            self.state.counters = token;
            self.attempt.sync_rejects(&mut self.rejects)?;
            self.attempt.save(|checkpoint| checkpoint.internal = self.state.clone())?;
            failpoint::hit("extract.internal.checkpoint");
        }
        Ok(())
    }
}

/// How a try at the stream ended, for the reconnect policy.
fn failure(error: &ExtractError) -> Failure {
    match error {
        ExtractError::Internal(e) if e.is_transient() => Failure::Lost,
        ExtractError::Connect(_) => Failure::Connect,
        _ => Failure::Final,
    }
}
