//! How the warehouse table is spread over a Citus cluster: the column rows
//! are distributed by (`user_key`), its value, and the rows of a segment
//! given that column on their way into COPY.
//!
//! `user_key` is our user's id where the row has one, else the vendor's id:
//! never null (every row carries at least one id), one key per user and date
//! (a matched pair is one row, keyed by our id), and equal to
//! `internal_user_id` on every row of one of our users, so a user's rows of
//! all dates share a shard, and so does any table of ours distributed by our
//! user id. Only a table that has the column gets it: match writes the
//! segments without it, so a plain PostgreSQL warehouse is loaded as before.

use std::io::{self, Write};

use crate::matching::pgcopy::{COLUMN_COUNT, HEADER, TRAILER};
use crate::record::field;
use crate::table::{quote_ident, TableName, COLUMNS};

/// The distribution column of the table the tool creates on Citus.
pub const USER_KEY: &str = "user_key";

/// Its SQL type.
pub const USER_KEY_TYPE: &str = "bigint";

/// Where `internal_user_id` and `vendor_user_id` are in a segment's tuples.
const INTERNAL_ID: usize = column_index("internal_user_id");
const VENDOR_ID: usize = column_index("vendor_user_id");

const fn column_index(name: &str) -> usize {
    let mut i = 0;
    while i < COLUMNS.len() {
        if const_eq(COLUMNS[i].name, name) {
            return i;
        }
        i += 1;
    }
    panic!("no such column")
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The rows a COPY sends: as match wrote them, or with `user_key` added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowShape {
    /// The table's columns are the ones match writes.
    AsWritten,
    /// The table also has `user_key`, sent as the last column.
    WithUserKey,
}

impl RowShape {
    /// The column list of `COPY table (...)` for rows of this shape.
    pub fn column_list(self) -> String {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        if self == RowShape::WithUserKey {
            names.push(USER_KEY);
        }
        names.join(", ")
    }
}

/// The call that makes `table` distributed by `column` on Citus, with the
/// shards of `colocate_with` when given (so that a partition built aside
/// lands where the table's rows are, and attaching it moves nothing).
pub fn distribute(table: &TableName, column: &str, colocate_with: Option<&TableName>) -> String {
    let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let colocate = colocate_with.map(|t| format!(", colocate_with => {}", literal(&t.quoted()))).unwrap_or_default();
    format!("SELECT create_distributed_table({}, {}{colocate})", literal(&table.quoted()), literal(column))
}

/// A segment's rows with `user_key` added: the binary COPY stream written to
/// it is passed on to `inner` with each tuple given one more field. Bytes
/// that are not a stream as match writes it are an error of kind
/// `InvalidData` carrying [`NotOurRows`]: the COPY must then be dropped,
/// never ended.
pub struct WithUserKey<W: Write> {
    inner: W,
    /// Bytes received that do not yet make a whole tuple.
    pending: Vec<u8>,
    /// Rewritten bytes, written to `inner` at the end of each `write`.
    out: Vec<u8>,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Tuples,
    Ended,
    /// An error was returned: nothing more is passed on.
    Failed,
}

/// The stream is not binary COPY rows of the warehouse columns.
#[derive(Debug, thiserror::Error)]
#[error("a row segment is not the COPY stream match writes: {0}")]
pub struct NotOurRows(pub &'static str);

impl<W: Write> WithUserKey<W> {
    /// Rewrites what is written to it into `inner`.
    pub fn new(inner: W) -> Self {
        WithUserKey { inner, pending: Vec::new(), out: Vec::new(), stage: Stage::Header }
    }

    /// At the end of the stream: an error unless it ended with the trailer.
    pub fn finish(self) -> Result<W, NotOurRows> {
        if self.stage != Stage::Ended || !self.pending.is_empty() {
            return Err(NotOurRows("it ends inside a row or without the trailer"));
        }
        Ok(self.inner)
    }

    /// Rewrites every whole tuple in `pending` into `out`.
    fn rewrite(&mut self) -> Result<(), NotOurRows> {
        let mut at = 0;
        loop {
            let rest = &self.pending[at..];
            match self.stage {
                Stage::Header => {
                    if rest.len() < HEADER.len() {
                        break;
                    }
                    if &rest[..HEADER.len()] != HEADER {
                        return Err(NotOurRows("it does not start with the binary COPY header"));
                    }
                    self.out.extend_from_slice(HEADER);
                    at += HEADER.len();
                    self.stage = Stage::Tuples;
                }
                Stage::Tuples => {
                    let Some(count) = rest.get(..2) else { break };
                    if count == TRAILER {
                        self.out.extend_from_slice(TRAILER);
                        at += 2;
                        self.stage = Stage::Ended;
                        continue;
                    }
                    if i16::from_be_bytes([count[0], count[1]]) as usize != COLUMN_COUNT {
                        return Err(NotOurRows("a row has another number of columns"));
                    }
                    let Some((len, key)) = tuple(&rest[2..])? else { break };
                    self.out.extend_from_slice(&(COLUMN_COUNT as i16 + 1).to_be_bytes());
                    self.out.extend_from_slice(&rest[2..2 + len]);
                    field::put_int8(&mut self.out, Some(key));
                    at += 2 + len;
                }
                Stage::Ended if rest.is_empty() => break,
                Stage::Ended => return Err(NotOurRows("bytes follow the trailer")),
                Stage::Failed => return Err(NotOurRows("it was refused already")),
            }
        }
        self.pending.drain(..at);
        Ok(())
    }
}

/// The length of the fields of the tuple at the start of `fields` and its
/// `user_key`; `None` if the tuple is not whole yet.
fn tuple(fields: &[u8]) -> Result<Option<(usize, i64)>, NotOurRows> {
    let (mut at, mut internal, mut vendor) = (0, None, None);
    for index in 0..COLUMN_COUNT {
        let Some(prefix) = fields.get(at..at + 4) else { return Ok(None) };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let end = match len {
            -1 => at + 4,
            n if n >= 0 => at + 4 + n as usize,
            _ => return Err(NotOurRows("a field has a negative length")),
        };
        let Some(encoded) = fields.get(at..end) else { return Ok(None) };
        let id = || match len {
            -1 => Ok(None),
            8 => Ok(field::int8(encoded)),
            _ => Err(NotOurRows("an id is not a bigint")),
        };
        match index {
            INTERNAL_ID => internal = id()?,
            VENDOR_ID => vendor = id()?,
            _ => {}
        }
        at = end;
    }
    match internal.or(vendor) {
        Some(key) => Ok(Some((at, key))),
        None => Err(NotOurRows("a row has neither our user id nor the vendor's")),
    }
}

impl<W: Write> Write for WithUserKey<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Err(e) = self.rewrite() {
            self.stage = Stage::Failed;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        self.inner.write_all(&self.out)?;
        self.out.clear();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `COMMENT ON COLUMN` for `user_key`.
pub fn comment_user_key(table: &TableName) -> String {
    format!(
        "COMMENT ON COLUMN {}.{} IS 'internal_user_id where the row has one, else vendor_user_id: never null; \
         the Citus distribution column (join dates on it, together with the id you mean)'",
        table.quoted(),
        quote_ident(USER_KEY)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(internal: Option<i64>, vendor: Option<i64>, name: &str) -> Vec<u8> {
        let mut tuple = (COLUMN_COUNT as i16).to_be_bytes().to_vec();
        for (index, _) in COLUMNS.iter().enumerate() {
            match index {
                INTERNAL_ID => field::put_int8(&mut tuple, internal),
                VENDOR_ID => field::put_int8(&mut tuple, vendor),
                _ => field::put_text(&mut tuple, Some(name.as_bytes())),
            }
        }
        tuple
    }

    fn stream(rows: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = HEADER.to_vec();
        rows.iter().for_each(|r| bytes.extend_from_slice(r));
        bytes.extend_from_slice(TRAILER);
        bytes
    }

    /// The rewritten tuples, read back independently: the key of each.
    fn keys_of(rewritten: &[u8]) -> Vec<i64> {
        assert!(rewritten.starts_with(HEADER) && rewritten.ends_with(TRAILER));
        let mut body = &rewritten[HEADER.len()..rewritten.len() - 2];
        let mut keys = Vec::new();
        while !body.is_empty() {
            assert_eq!(i16::from_be_bytes([body[0], body[1]]) as usize, COLUMN_COUNT + 1);
            let fields = field::split::<{ COLUMN_COUNT + 1 }>(&body[2..]).unwrap();
            keys.push(field::int8(fields[COLUMN_COUNT]).unwrap());
            let len: usize = fields.iter().map(|f| f.len()).sum();
            body = &body[2 + len..];
        }
        keys
    }

    #[test]
    fn each_row_gets_our_id_else_the_vendors_whatever_the_chunks() {
        let rows = [row(Some(7), Some(70), "a"), row(None, Some(80), "bé"), row(Some(9), None, &"x".repeat(5000))];
        let input = stream(&rows);
        for chunk in [1, 3, 19, 100, input.len()] {
            let mut keyed = WithUserKey::new(Vec::new());
            for piece in input.chunks(chunk) {
                keyed.write_all(piece).unwrap();
            }
            let out = keyed.finish().unwrap();
            assert_eq!(keys_of(&out), [7, 80, 9], "chunks of {chunk}");
            assert_eq!(out.len(), input.len() + rows.len() * 12);
        }
    }

    #[test]
    fn a_stream_that_is_not_ours_is_refused() {
        let no_id = stream(&[row(None, None, "a")]);
        assert!(WithUserKey::new(Vec::new()).write_all(&no_id).is_err());
        let mut wrong_count = stream(&[row(Some(1), None, "a")]);
        wrong_count[HEADER.len() + 1] = 3;
        assert!(WithUserKey::new(Vec::new()).write_all(&wrong_count).is_err());
        let whole = stream(&[row(Some(1), None, "a")]);
        let mut cut = WithUserKey::new(Vec::new());
        cut.write_all(&whole[..whole.len() - 3]).unwrap();
        assert!(cut.finish().is_err());
        let mut extra = whole.clone();
        extra.push(0);
        assert!(WithUserKey::new(Vec::new()).write_all(&extra).is_err());
    }

    #[test]
    fn distribute_quotes_names_as_literals() {
        let t = TableName::parse("s.it's").unwrap();
        assert_eq!(
            distribute(&t, USER_KEY, Some(&t)),
            "SELECT create_distributed_table('\"s\".\"it''s\"', 'user_key', colocate_with => '\"s\".\"it''s\"')"
        );
    }
}
