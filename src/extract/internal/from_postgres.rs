//! Our users, streamed out of PostgreSQL with `COPY (SELECT ...) TO STDOUT`
//! (never the whole table in memory), one COPY text line at a time.

use futures_util::StreamExt;

use super::encode::{RowEncoder, RowReject};
use super::error::InternalError;
use crate::db::StreamingConnection;
use crate::record::RecordBuf;

/// `"user"` joined to its practice (a user without one has a null location),
/// in id order so that a stream cut short can continue after the last id read.
/// The columns are in the order of [`crate::record::internal`], as [`encode`] reads them.
fn query(after_id: Option<i64>) -> String {
    format!("COPY ({}) TO STDOUT", select(after_id))
}

/// The SELECT the COPY wraps (the preflight reads it with `LIMIT 0`).
pub(super) fn select(after_id: Option<i64>) -> String {
    let after = after_id.map(|id| format!("WHERE u.id > {id} ")).unwrap_or_default();
    format!(
        "SELECT u.id, u.firstname, u.lastname, u.specialty, p.location, \
         u.classification, u.platform_registered_on, u.last_active_date \
         FROM \"user\" u LEFT JOIN user_practice p ON p.id = u.practice_id {after}ORDER BY u.id"
    )
}

/// Streams every row of users with an id above `after_id` (all when
/// `None`), in id order, each encoded into `record` and handed to `on_row`
/// with its id or why it is a reject; returns the number of rows read.
pub(super) fn stream<E: From<InternalError>>(
    connection: &StreamingConnection,
    after_id: Option<i64>,
    encoder: &mut RowEncoder,
    record: &mut RecordBuf,
    mut on_row: impl FnMut(Result<i64, RowReject>, &RecordBuf) -> Result<(), E>,
) -> Result<u64, E> {
    let mut on_line = |line: &[u8]| {
        let encoded = encoder.encode(line, record);
        on_row(encoded, record)
    };
    let client = connection.client();
    connection.block_on(async {
        client.batch_execute("SET DateStyle = 'ISO, YMD'").await.map_err(InternalError::from)?;
        let copy = client.copy_out(&query(after_id)).await.map_err(InternalError::from)?;
        let mut copy = std::pin::pin!(copy);
        let mut lines = Lines::default();
        while let Some(chunk) = copy.next().await {
            let chunk = chunk.map_err(InternalError::from)?;
            lines.split(&chunk, &mut on_line)?;
        }
        lines.finish(&mut on_line)?;
        Ok(lines.count)
    })
}

/// Cuts a stream of chunks into lines. PostgreSQL sends one row per COPY
/// message, so lines are taken straight from the chunk; a row split over
/// chunks is put together in `partial`.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    count: u64,
}

impl Lines {
    fn split<E>(&mut self, chunk: &[u8], on_line: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            self.count += 1;
            if self.partial.is_empty() {
                on_line(&rest[..end])?;
            } else {
                self.partial.extend_from_slice(&rest[..end]);
                on_line(&self.partial)?;
                self.partial.clear();
            }
            rest = &rest[end + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// A last line without its newline.
    fn finish<E>(&mut self, on_line: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        if self.partial.is_empty() {
            return Ok(());
        }
        self.count += 1;
        let line = std::mem::take(&mut self.partial);
        on_line(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_over_chunks_are_put_together() {
        let mut lines = Lines::default();
        let mut seen = Vec::new();
        let mut collect = |line: &[u8]| -> Result<(), ()> {
            seen.push(String::from_utf8(line.to_vec()).unwrap());
            Ok(())
        };
        for chunk in [&b"a\tb\nc"[..], b"d", b"\ne\n\n", b"last"] {
            lines.split(chunk, &mut collect).unwrap();
        }
        lines.finish(&mut collect).unwrap();
        assert_eq!(seen, ["a\tb", "cd", "e", "", "last"]);
        assert_eq!(lines.count, 5);
    }

    #[test]
    fn query_continues_after_the_last_id() {
        assert!(query(Some(41)).contains("WHERE u.id > 41 ORDER BY u.id"));
        assert!(!query(None).contains("WHERE"));
    }
}
