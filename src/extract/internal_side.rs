//! Our side of extract: the PostgreSQL stream into runs sorted by match key,
//! checkpointed run by run, continued on a new connection when it breaks.

use std::time::{Duration, Instant};

use super::checkpoint::{InternalCheckpoint, InternalCounters};
use super::internal::{self, RowEncoder};
use super::{ExtractError, Shared};
use crate::failpoint;
use crate::model::Side;
use crate::record::RecordBuf;
use crate::run::rejects::RejectWriter;
use crate::secret::SecretUrl;
use crate::sort::{SortStats, Sorter, Spilled};

/// Times a broken source stream is continued on a new connection.
pub const SOURCE_RETRIES: u32 = 3;

/// Rows between two progress reports (and stop checks).
const ROWS_PER_TICK: u64 = 8_192;

/// One attempt at our side.
pub(super) struct InternalSide<'a> {
    shared: &'a Shared<'a>,
    rejects: RejectWriter,
    /// What the checkpoint says is durable.
    state: InternalCheckpoint,
    /// Counters as of the last row pushed.
    counters: InternalCounters,
    encoder: RowEncoder,
    record: RecordBuf,
    /// Times the stream broke off and was continued.
    pub(super) reconnects: u32,
}

impl<'a> InternalSide<'a> {
    pub(super) fn new(shared: &'a Shared<'a>, state: InternalCheckpoint, rejects: RejectWriter) -> InternalSide<'a> {
        let counters = state.counters;
        let encoder = RowEncoder::new(&shared.settings.match_on);
        InternalSide { shared, rejects, state, counters, encoder, record: RecordBuf::default(), reconnects: 0 }
    }

    /// Streams every row not yet in a run into runs sorted by key.
    pub(super) fn run(mut self, url: &SecretUrl) -> Result<(InternalCheckpoint, u32, f64), ExtractError> {
        let started = Instant::now();
        if self.state.done.is_some() {
            return Ok((self.state, 0, 0.0));
        }
        let shared = self.shared;
        let mut sorter =
            Sorter::with_runs(&shared.dir, "internal", shared.side_budget_bytes(), self.state.runs.clone())?;
        let mut attempt = 0;
        loop {
            match self.stream(url, &mut sorter) {
                Ok(()) => break,
                Err(error) if attempt < SOURCE_RETRIES && is_source_break(&error, attempt) => {
                    attempt += 1;
                    self.reconnects += 1;
                    std::thread::sleep(Duration::from_millis(250 << attempt));
                }
                Err(error) => return Err(error),
            }
        }
        let (spilled, _, stats) = sorter.finish(self.counters)?;
        self.apply(spilled)?;
        self.finish(stats)?;
        Ok((self.state, self.reconnects, started.elapsed().as_secs_f64()))
    }

    fn finish(&mut self, stats: SortStats) -> Result<(), ExtractError> {
        self.shared.sync_rejects(&mut self.rejects)?;
        self.state.done = Some(stats);
        self.shared.save(|checkpoint| checkpoint.internal = self.state.clone())
    }

    /// One connection's worth of the stream, from after the last id read.
    fn stream(&mut self, url: &SecretUrl, sorter: &mut Sorter<InternalCounters>) -> Result<(), ExtractError> {
        let connection = crate::db::connect_streaming(url, "source")?;
        let backend = connection
            .block_on(connection.client().query_one("SELECT pg_backend_pid()", &[]))
            .map_err(internal::InternalError::from)?;
        let backend: i32 = backend.get(0);
        let mut seen = 0u64;
        let after = self.counters.last_id;
        internal::stream(&connection, after, |line| -> Result<(), ExtractError> {
            seen += 1;
            if seen.is_multiple_of(ROWS_PER_TICK) {
                self.shared.progress.internal_rows(ROWS_PER_TICK);
                self.shared.check_stop()?;
            }
            failpoint::hit("extract.internal.rows");
            if failpoint::fires("extract.internal.drop") {
                terminate_backend(url, backend);
            }
            self.take_row(sorter, line)
        })?;
        self.shared.progress.internal_rows(seen % ROWS_PER_TICK);
        Ok(())
    }

    fn take_row(&mut self, sorter: &mut Sorter<InternalCounters>, line: &[u8]) -> Result<(), ExtractError> {
        match self.encoder.encode(line, &mut self.record) {
            Ok(id) => {
                if !sorter.fits(self.record.record().encoded_len()) {
                    let spilled = sorter.seal(self.counters)?;
                    self.apply(spilled)?;
                }
                sorter.push(self.record.record());
                self.counters.last_id = Some(id);
                self.counters.users += 1;
            }
            Err(reject) => {
                self.counters.last_id = reject.id.or(self.counters.last_id);
                self.counters.rejects += 1;
                self.shared.record_reject(&mut self.rejects, Side::Internal, None, reject.id, &reject.reason)?;
                self.counters.rejects_bytes = self.rejects.bytes();
            }
        }
        Ok(())
    }

    /// Records published runs in the checkpoint.
    fn apply(&mut self, spilled: Vec<Spilled<InternalCounters>>) -> Result<(), ExtractError> {
        for Spilled { run, token } in spilled {
            self.state.runs.extend(run);
            self.state.counters = token;
            self.shared.sync_rejects(&mut self.rejects)?;
            self.shared.save(|checkpoint| checkpoint.internal = self.state.clone())?;
            failpoint::hit("extract.internal.checkpoint");
        }
        Ok(())
    }
}

/// A broken source stream is worth continuing; so is a failed reconnect
/// after a break (the server may be restarting), but not a first connect.
fn is_source_break(error: &ExtractError, attempt: u32) -> bool {
    match error {
        ExtractError::Internal(e) => e.is_transient(),
        ExtractError::Connect(_) => attempt > 0,
        _ => false,
    }
}

/// Test hook (failpoint `extract.internal.drop`): the server ends our source
/// session, as an operator's `pg_terminate_backend` or a restart would.
/// It runs on a thread of its own: the stream's runtime is busy on this one.
fn terminate_backend(url: &SecretUrl, backend: i32) {
    let url = url.clone();
    let _ = std::thread::spawn(move || {
        if let Ok(mut admin) = crate::db::connect(&url, "source") {
            let _ = admin.execute("SELECT pg_terminate_backend($1)", &[&backend]);
        }
    })
    .join();
}
