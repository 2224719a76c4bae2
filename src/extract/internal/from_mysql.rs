//! Our users, streamed out of MySQL / MariaDB: one text-protocol query whose
//! rows the driver reads off the socket one at a time as the server sends
//! them (the result is never held whole, on either side).
//!
//! Values are taken as the server prints them in `utf8mb4` (a `latin1`
//! column is converted by the server; `TINYINT(1)` reads `1`). A row that
//! can't be represented is a reject with its reason:
//! - an id beyond `i64` (`BIGINT UNSIGNED` above 9223372036854775807): the
//!   warehouse's id is a `bigint`, and a wrapped id would be another user's;
//! - MySQL's zero date `0000-00-00` (or a date with a zero month or day):
//!   it says "no date" in a way no other source can, and reading it as
//!   never active would guess the user's status;
//! - text that is not UTF-8 (a binary column).
//!
//! NUL characters are dropped from text, as from vendor strings: PostgreSQL
//! text can't hold them (the warehouse load would fail on the row).

use std::borrow::Cow;

use mysql::prelude::Queryable;
use mysql::Value;

use super::after::After;
use super::encode::{RowEncoder, RowReject};
use super::error::InternalError;
use crate::record::{field, RecordBuf};

/// Columns of a row, in the order of [`crate::record::internal`].
const COLUMNS: usize = 8;

/// ER_UNKNOWN_SYSTEM_VARIABLE.
const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;

/// `user` joined to its practice (a user without one has a null location),
/// in id order so that a stream cut short can continue after the last id read.
pub(super) fn query(after: After) -> String {
    // An unsigned id beyond i64 sorts after every signed one: it wins.
    let last = after.unsigned_id.map(|id| id.to_string()).or(after.id.map(|id| id.to_string()));
    let after = last.map(|id| format!("WHERE u.id > {id} ")).unwrap_or_default();
    format!(
        "SELECT u.id, u.firstname, u.lastname, u.specialty, p.location, \
         u.classification, u.platform_registered_on, u.last_active_date \
         FROM `user` u LEFT JOIN user_practice p ON p.id = u.practice_id {after}ORDER BY u.id"
    )
}

/// Streams every row after `after`, in id order, each encoded into `record`
/// and handed to `on_row`; returns the number of rows read.
pub(super) fn stream<E: From<InternalError>>(
    conn: &mut mysql::Conn,
    after: After,
    encoder: &mut RowEncoder,
    record: &mut RecordBuf,
    mut on_row: impl FnMut(Result<i64, RowReject>, &RecordBuf) -> Result<(), E>,
) -> Result<u64, E> {
    // The tool stops reading while it writes a spill file: give the server
    // time to wait for it rather than end the session after 60 s.
    conn.query_drop("SET SESSION net_write_timeout = 3600").map_err(InternalError::from)?;
    // Nor end it at a statement time limit (a server's or the user's): the
    // stream takes as long as the table. Each server knows only its own
    // (MariaDB's max_statement_time, MySQL's max_execution_time).
    for limit in ["max_statement_time", "max_execution_time"] {
        match conn.query_drop(format!("SET SESSION {limit} = 0")) {
            Err(mysql::Error::MySqlError(e)) if e.code == UNKNOWN_SYSTEM_VARIABLE => {}
            set => set.map_err(InternalError::from)?,
        }
    }
    let mut rows = conn.query_iter(query(after)).map_err(InternalError::from)?;
    let mut count = 0;
    let outcome = (|| {
        for row in rows.by_ref() {
            let row = row.map_err(InternalError::from)?;
            count += 1;
            let encoded = encode_row(&row, encoder, record);
            on_row(encoded, record)?;
        }
        Ok(count)
    })();
    if outcome.is_err() {
        // Dropping an unfinished result reads it to its end; the caller drops
        // the session instead, which ends the query on the server.
        std::mem::forget(rows);
    }
    outcome
}

/// The cells of one row: the bytes of each value, NULL as `None`.
fn cells(row: &mysql::Row) -> Result<[Option<&[u8]>; COLUMNS], String> {
    if row.len() != COLUMNS {
        return Err(format!("expected {COLUMNS} columns, got {}", row.len()));
    }
    let mut cells = [None; COLUMNS];
    for (i, cell) in cells.iter_mut().enumerate() {
        *cell = match row.as_ref(i) {
            None | Some(Value::NULL) => None,
            Some(Value::Bytes(bytes)) => Some(bytes.as_slice()),
            // The text protocol sends every value as text.
            Some(other) => return Err(format!("column {} came as {other:?}, not as text", i + 1)),
        };
    }
    Ok(cells)
}

/// Encodes one row into `record`, or says why it is a reject.
fn encode_row(row: &mysql::Row, encoder: &RowEncoder, record: &mut RecordBuf) -> Result<i64, RowReject> {
    match cells(row) {
        Ok(cells) => encode_cells(cells, encoder, record),
        Err(reason) => {
            let id = row.as_ref(0).and_then(|value| match value {
                Value::Bytes(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
                _ => None,
            });
            Err(RowReject { id, unsigned_id: None, reason })
        }
    }
}

/// Encodes one row's cells into `record`, or says why it is a reject.
fn encode_cells(
    cells: [Option<&[u8]>; COLUMNS],
    encoder: &RowEncoder,
    record: &mut RecordBuf,
) -> Result<i64, RowReject> {
    let id_text = cells[0].and_then(|bytes| std::str::from_utf8(bytes).ok());
    let readable_id = id_text.and_then(|t| t.parse::<i64>().ok());
    let reject = |reason: String| RowReject { id: readable_id, unsigned_id: None, reason };
    let mut texts = [None; COLUMNS];
    for (text, cell) in texts.iter_mut().zip(cells) {
        *text = match cell {
            None => None,
            Some(bytes) => Some(std::str::from_utf8(bytes).map_err(|_| reject("text is not UTF-8".into()))?),
        };
    }
    let id = match readable_id {
        Some(id) => id,
        None => {
            return Err(match id_text.and_then(|t| t.parse::<u64>().ok()) {
                Some(big) => RowReject {
                    id: None,
                    unsigned_id: Some(big),
                    reason: format!("id {big} is beyond the largest the warehouse holds (bigint, {})", i64::MAX),
                },
                None => reject("no usable id".into()),
            })
        }
    };
    let last_active = match texts[7] {
        None => None,
        Some(date) if is_zero_date(date) => {
            return Err(reject(format!("last_active_date {date:?} is MySQL's zero date (no date)")))
        }
        Some(date) => {
            Some(field::parse_date(date).ok_or_else(|| reject(format!("last_active_date {date:?} is not a date")))?)
        }
    };
    let texts = texts.map(|text| text.map(without_nul));
    let values = [&texts[1], &texts[2], &texts[3], &texts[4], &texts[5], &texts[6]].map(|text| text.as_deref());
    encoder.encode_values(id, values, last_active, record);
    Ok(id)
}

/// Text as stored: NUL characters (which PostgreSQL text can't hold) removed.
fn without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', ""))
    } else {
        Cow::Borrowed(text)
    }
}

/// `0000-00-00`, or a date with a zero month or day (MySQL stores them
/// when its SQL mode allows).
fn is_zero_date(date: &str) -> bool {
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3 && parts.iter().any(|part| !part.is_empty() && part.bytes().all(|b| b == b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyField;
    use crate::record::{internal, match_key_of};

    fn encode(values: [Option<&[u8]>; COLUMNS]) -> Result<(i64, String, Option<i32>), RowReject> {
        let mut record = RecordBuf::default();
        let id = encode_cells(values, &RowEncoder::new(&KeyField::ALL), &mut record)?;
        let fields = field::split::<{ internal::FIELDS }>(&record.payload).unwrap();
        let key = String::from_utf8(match_key_of(&record.sort).to_vec()).unwrap();
        Ok((id, key, field::date_days(fields[internal::LAST_ACTIVE])))
    }

    fn user<'a>(id: &'a [u8], date: Option<&'a [u8]>) -> [Option<&'a [u8]>; COLUMNS] {
        [Some(id), Some(b"Mary"), Some(b"O'Brien"), Some(b"Neuro"), Some(b"Bon Air"), None, Some(b"1"), date]
    }

    #[test]
    fn a_row_encodes_like_the_copy_text_of_postgresql() {
        let (id, key, date) = encode(user(b"7", Some(b"2017-01-03"))).unwrap();
        assert_eq!((id, key.as_str(), date), (7, "o'brien|mary|neuro|bon air", field::parse_date("2017-01-03")));
        let mut copy = RecordBuf::default();
        RowEncoder::new(&KeyField::ALL)
            .encode(b"7\tMary\tO'Brien\tNeuro\tBon Air\t\\N\t1\t2017-01-03", &mut copy)
            .unwrap();
        let mut mine = RecordBuf::default();
        encode_cells(user(b"7", Some(b"2017-01-03")), &RowEncoder::new(&KeyField::ALL), &mut mine).unwrap();
        assert_eq!((mine.sort, mine.payload), (copy.sort, copy.payload));
    }

    #[test]
    fn ids_beyond_i64_zero_dates_and_bytes_that_are_not_text_are_rejects() {
        let big = encode(user(b"18446744073709551615", None)).unwrap_err();
        assert_eq!((big.id, big.unsigned_id), (None, Some(u64::MAX)));
        assert!(big.reason.contains("18446744073709551615"), "{}", big.reason);
        for zero in [&b"0000-00-00"[..], b"2017-00-10", b"2017-02-00"] {
            let rejected = encode(user(b"8", Some(zero))).unwrap_err();
            assert_eq!(rejected.id, Some(8));
            assert!(rejected.reason.contains("zero date"), "{}", rejected.reason);
        }
        assert!(encode(user(b"9", Some(b"2017-02-30"))).unwrap_err().reason.contains("not a date"));
        let mut bytes = user(b"10", None);
        bytes[1] = Some(b"Mar\xffy");
        assert_eq!(encode(bytes).unwrap_err().reason, "text is not UTF-8");
        assert_eq!(encode(user(b"x", None)).unwrap_err().reason, "no usable id");
    }

    #[test]
    fn nul_characters_are_dropped_from_text() {
        let mut nul = user(b"11", None);
        nul[1] = Some(b"\0Ma\0ry\0");
        nul[4] = Some(b"Bon\0 Air");
        let mut record = RecordBuf::default();
        encode_cells(nul, &RowEncoder::new(&KeyField::ALL), &mut record).unwrap();
        let mut plain = RecordBuf::default();
        encode_cells(user(b"11", None), &RowEncoder::new(&KeyField::ALL), &mut plain).unwrap();
        assert_eq!((record.sort, record.payload), (plain.sort, plain.payload));
    }

    #[test]
    fn the_query_continues_after_the_last_id_read() {
        assert!(query(After { id: Some(41), unsigned_id: None }).contains("WHERE u.id > 41 ORDER BY u.id"));
        let past = After { id: Some(41), unsigned_id: Some(u64::MAX - 1) };
        assert!(query(past).contains(&format!("WHERE u.id > {} ", u64::MAX - 1)));
        assert!(!query(After::default()).contains("WHERE"));
    }
}
