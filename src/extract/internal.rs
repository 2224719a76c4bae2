//! Our users, streamed out of PostgreSQL with `COPY (SELECT ...) TO STDOUT`: never the whole table in memory.

use std::io::{BufRead, BufReader};

use chrono::NaiveDate;

use crate::model::InternalUser;

/// `"user"` joined to its practice (a user without one has a null location),
/// in id order so that a stream cut short can continue after the last id read.
fn query(after_id: Option<i64>) -> String {
    let after = after_id.map(|id| format!("WHERE u.id > {id} ")).unwrap_or_default();
    format!(
        "COPY (SELECT u.id, u.firstname, u.lastname, u.specialty, p.location, \
         u.classification, u.platform_registered_on, u.last_active_date \
         FROM \"user\" u LEFT JOIN user_practice p ON p.id = u.practice_id {after}ORDER BY u.id) TO STDOUT"
    )
}

/// A failure of the stream itself (not of one row).
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// The query or the connection failed.
    #[error("streaming our users out of PostgreSQL failed")]
    Db(#[from] postgres::Error),
    /// Reading the COPY stream failed.
    #[error("reading the COPY stream failed")]
    Io(#[from] std::io::Error),
}

/// A row that can't be represented.
#[derive(Debug, Clone, PartialEq)]
pub struct RowReject {
    /// Its id, when readable.
    pub id: Option<i64>,
    /// Why.
    pub reason: String,
}

impl InternalError {
    /// Whether the stream broke off (connection lost, server shutting the
    /// session down) rather than failed for good (a missing table, a bad query).
    pub fn is_transient(&self) -> bool {
        match self {
            InternalError::Io(_) => true,
            InternalError::Db(error) => crate::db::is_connection_loss(error),
        }
    }
}

/// Streams every user with an id above `after_id` (all when `None`), in id
/// order, to `on_row`; returns the number of rows read.
pub fn stream<E: From<InternalError>>(
    client: &mut postgres::Client,
    after_id: Option<i64>,
    mut on_row: impl FnMut(Result<InternalUser, RowReject>) -> Result<(), E>,
) -> Result<u64, E> {
    client.batch_execute("SET DateStyle = 'ISO, YMD'").map_err(InternalError::from)?;
    let reader = client.copy_out(&query(after_id)).map_err(InternalError::from)?;
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let mut line = Vec::new();
    let mut rows = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(InternalError::from)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        rows += 1;
        on_row(parse_row(&line))?;
    }
    Ok(rows)
}

/// Parses one COPY text-format row (tab separated, `\N` for null, backslash escapes).
pub fn parse_row(line: &[u8]) -> Result<InternalUser, RowReject> {
    let fields: Vec<&[u8]> = line.split(|b| *b == b'\t').collect();
    if fields.len() != 8 {
        return Err(RowReject { id: None, reason: format!("expected 8 columns, got {}", fields.len()) });
    }
    let text = |i: usize| -> Result<Option<String>, RowReject> {
        unescape(fields[i]).map_err(|reason| RowReject { id: None, reason })
    };
    let id = text(0)?
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| RowReject { id: None, reason: "no usable id".into() })?;
    let with_id = |r: RowReject| RowReject { id: Some(id), ..r };
    let last_active_date = match text(7).map_err(with_id)? {
        None => None,
        Some(s) => Some(
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| RowReject { id: Some(id), reason: format!("last_active_date {s:?} is not a date") })?,
        ),
    };
    Ok(InternalUser {
        id,
        firstname: text(1).map_err(with_id)?,
        lastname: text(2).map_err(with_id)?,
        specialty: text(3).map_err(with_id)?,
        location: text(4).map_err(with_id)?,
        classification: text(5).map_err(with_id)?,
        platform_registered_on: text(6).map_err(with_id)?,
        last_active_date,
    })
}

/// Decodes one COPY text field.
fn unescape(field: &[u8]) -> Result<Option<String>, String> {
    if field == b"\\N" {
        return Ok(None);
    }
    if !field.contains(&b'\\') {
        return String::from_utf8(field.to_vec()).map(Some).map_err(|_| "text is not UTF-8".to_string());
    }
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'b') => out.push(0x08),
            Some(b'f') => out.push(0x0c),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'v') => out.push(0x0b),
            Some(other) => out.push(other),
            None => return Err("dangling backslash".into()),
        }
    }
    String::from_utf8(out).map(Some).map_err(|_| "text is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_with_nulls_and_escapes_parses() {
        let user =
            parse_row(b"7\tMary\\tAnn\tO'Brien, Jr.\t\\N\tgeneric clinic 1\tpopular\tmobile\t2017-01-03").unwrap();
        assert_eq!(user.id, 7);
        assert_eq!(user.firstname.as_deref(), Some("Mary\tAnn"));
        assert_eq!(user.lastname.as_deref(), Some("O'Brien, Jr."));
        assert_eq!(user.specialty, None);
        assert_eq!(user.last_active_date, Some("2017-01-03".parse().unwrap()));
    }

    #[test]
    fn query_continues_after_the_last_id() {
        assert!(query(Some(41)).contains("WHERE u.id > 41 ORDER BY u.id"));
        assert!(!query(None).contains("WHERE"));
    }

    #[test]
    fn backslash_and_newline_escapes_decode() {
        assert_eq!(unescape(b"a\\\\b\\nc").unwrap().as_deref(), Some("a\\b\nc"));
        assert_eq!(unescape(b"").unwrap().as_deref(), Some(""));
    }

    #[test]
    fn bad_rows_are_rejects() {
        assert_eq!(parse_row(b"x\ta").unwrap_err().reason, "expected 8 columns, got 2");
        let bad_date = parse_row(b"9\ta\tb\tc\td\te\tf\tinfinity").unwrap_err();
        assert_eq!(bad_date.id, Some(9));
    }
}
