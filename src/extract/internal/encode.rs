//! One row of our users turned into a record keyed by match key, or a
//! reject saying why it can't be: COPY text rows here, values read by
//! another source through [`RowEncoder::encode_values`].

use crate::key::{push_match_key, KeyField};
use crate::record::{field, finish_key_sort, start_key_sort, RecordBuf};

/// A row that can't be represented.
#[derive(Debug, Clone, PartialEq)]
pub struct RowReject {
    /// Its id, when readable.
    pub id: Option<i64>,
    /// Its id when it is beyond `i64` (MySQL's `BIGINT UNSIGNED`), so that
    /// the stream can continue after it.
    pub unsigned_id: Option<u64>,
    /// Why.
    pub reason: String,
}

/// Columns in a row of the stream: id, firstname, lastname, specialty, location,
/// classification, platform_registered_on, last_active_date.
const COLUMNS: usize = 8;
const NULL: &[u8] = b"\\N";

/// Turns COPY text rows into records keyed on the chosen fields, reusing
/// its buffers from row to row.
pub struct RowEncoder {
    key_fields: Vec<KeyField>,
    unescaped: [Vec<u8>; COLUMNS],
}

/// Where one column's value is, once decoded.
#[derive(Clone, Copy)]
enum Value {
    Null,
    /// As in the line: it had no escapes.
    InLine,
    /// Unescaped into the encoder's buffer for the column.
    Unescaped,
}

impl RowEncoder {
    /// An encoder keying rows on `key_fields`.
    pub fn new(key_fields: &[KeyField]) -> RowEncoder {
        RowEncoder { key_fields: key_fields.to_vec(), unescaped: Default::default() }
    }

    /// Encodes one COPY text row (tab separated, `\N` for null, backslash
    /// escapes) into `out` as a key-sorted record; returns the user's id.
    pub fn encode(&mut self, line: &[u8], out: &mut RecordBuf) -> Result<i64, RowReject> {
        // One UTF-8 check for the whole line: unescaping keeps valid text valid.
        let Ok(line) = std::str::from_utf8(line) else {
            let id = line.split(|b| *b == b'\t').next().and_then(|c| std::str::from_utf8(c).ok()?.parse().ok());
            return Err(RowReject { id, unsigned_id: None, reason: "text is not UTF-8".into() });
        };
        let mut columns = [""; COLUMNS];
        let mut count = 0;
        for column in line.split('\t') {
            if count < COLUMNS {
                columns[count] = column;
            }
            count += 1;
        }
        // A reject says whose row it was whenever the id column reads as one.
        let id_column = || columns[0].parse::<i64>().ok();
        if count != COLUMNS {
            return Err(RowReject {
                id: id_column(),
                unsigned_id: None,
                reason: format!("expected {COLUMNS} columns, got {count}"),
            });
        }
        let mut values = [Value::Null; COLUMNS];
        for (i, column) in columns.iter().enumerate() {
            values[i] = decode(column.as_bytes(), &mut self.unescaped[i]).map_err(|reason| RowReject {
                id: id_column(),
                unsigned_id: None,
                reason,
            })?;
        }
        let mut strings: [Option<&str>; COLUMNS] = [None; COLUMNS];
        for (i, string) in strings.iter_mut().enumerate() {
            *string = match values[i] {
                Value::Null => None,
                Value::InLine => Some(columns[i]),
                // Unescaping valid UTF-8 only drops backslashes: still valid.
                Value::Unescaped => std::str::from_utf8(&self.unescaped[i]).ok(),
            };
        }
        let id = strings[0].and_then(|t| t.parse::<i64>().ok()).ok_or_else(|| RowReject {
            id: None,
            unsigned_id: None,
            reason: "no usable id".into(),
        })?;
        let last_active = match strings[7] {
            None => None,
            // Any date PostgreSQL holds is kept as it is, 4714 BC to 5874897 AD and infinity.
            Some(date) => Some(field::parse_pg_date(date).ok_or_else(|| RowReject {
                id: Some(id),
                unsigned_id: None,
                reason: format!("last_active_date {date:?} is not a PostgreSQL date"),
            })?),
        };
        let texts = [strings[1], strings[2], strings[3], strings[4], strings[5], strings[6]];
        self.encode_values(id, texts, last_active, out);
        Ok(id)
    }

    /// Encodes one user, its values read by the source: `texts` are
    /// firstname, lastname, specialty, location, classification and
    /// platform_registered_on; `last_active` is days since 1970-01-01.
    pub fn encode_values(&self, id: i64, texts: [Option<&str>; 6], last_active: Option<i32>, out: &mut RecordBuf) {
        out.clear();
        start_key_sort(&mut out.sort);
        push_match_key(&mut out.sort, &self.key_fields, |f| match f {
            KeyField::Firstname => texts[0],
            KeyField::Lastname => texts[1],
            KeyField::Specialty => texts[2],
            KeyField::Location => texts[3],
        });
        finish_key_sort(&mut out.sort, id);
        field::put_int8(&mut out.payload, Some(id));
        for value in texts {
            field::put_text(&mut out.payload, value.map(str::as_bytes));
        }
        field::put_date(&mut out.payload, last_active);
    }
}

/// Decodes one COPY text column, unescaping into `buffer` only when needed.
fn decode(column: &[u8], buffer: &mut Vec<u8>) -> Result<Value, String> {
    if column == NULL {
        return Ok(Value::Null);
    }
    if !column.contains(&b'\\') {
        return Ok(Value::InLine);
    }
    buffer.clear();
    let mut bytes = column.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            buffer.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'b') => buffer.push(0x08),
            Some(b'f') => buffer.push(0x0c),
            Some(b'n') => buffer.push(b'\n'),
            Some(b'r') => buffer.push(b'\r'),
            Some(b't') => buffer.push(b'\t'),
            Some(b'v') => buffer.push(0x0b),
            Some(other) => buffer.push(other),
            None => return Err("dangling backslash".into()),
        }
    }
    Ok(Value::Unescaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{internal, match_key_of};

    /// The key, the six text columns and the date of an encoded row.
    type Encoded = (String, Vec<Option<String>>, Option<i32>);

    fn encode(line: &[u8]) -> Result<Encoded, RowReject> {
        let mut out = RecordBuf::default();
        let id = RowEncoder::new(&KeyField::ALL).encode(line, &mut out)?;
        let fields = field::split::<{ internal::FIELDS }>(&out.payload).unwrap();
        assert_eq!(field::int8(fields[internal::ID]), Some(id));
        let texts = (1..7).map(|i| field::text(fields[i]).map(str::to_string)).collect();
        let key = String::from_utf8(match_key_of(&out.sort).to_vec()).unwrap();
        Ok((key, texts, field::date_days(fields[internal::LAST_ACTIVE])))
    }

    #[test]
    fn row_with_nulls_and_escapes_encodes() {
        let (key, texts, date) =
            encode(b"7\tMary\\tAnn\tO'Brien, Jr.\t\\N\tgeneric clinic 1\tpopular\tmobile\t2017-01-03").unwrap();
        assert_eq!(texts[0].as_deref(), Some("Mary\tAnn"));
        assert_eq!(texts[1].as_deref(), Some("O'Brien, Jr."));
        assert_eq!(texts[2], None);
        assert_eq!(texts[4].as_deref(), Some("popular"));
        assert_eq!(date, field::parse_date("2017-01-03"));
        assert_eq!(key, "", "a null specialty makes the record unmatchable");
        let (key, _, _) = encode(b"8\tMary\\tAnn\tO'Brien\tNeuro\tBon_Air\t\\N\t\\N\t\\N").unwrap();
        assert_eq!(key, "o'brien|mary ann|neuro|bon air");
    }

    // See: issue 9 (dates PostgreSQL holds became rejects).
    #[test]
    fn issue_9_every_date_postgresql_holds_is_kept() {
        let date = |text: &str| encode(format!("9\ta\tb\tc\td\te\tf\t{text}").as_bytes()).map(|e| e.2);
        assert_eq!(date("4714-11-24 BC"), Ok(Some(field::PG_DATE_MIN_DAYS)));
        assert_eq!(date("5874897-12-31"), Ok(Some(field::PG_DATE_MAX_DAYS)));
        assert_eq!(date("infinity"), Ok(Some(field::DATE_INFINITY)));
        assert_eq!(date("-infinity"), Ok(Some(field::DATE_MINUS_INFINITY)));
    }

    #[test]
    fn backslash_and_newline_escapes_decode() {
        let mut buffer = Vec::new();
        assert!(matches!(decode(b"a\\\\b\\nc", &mut buffer), Ok(Value::Unescaped)));
        assert_eq!(buffer, b"a\\b\nc");
        assert!(matches!(decode(b"", &mut buffer), Ok(Value::InLine)));
        assert!(decode(b"x\\", &mut buffer).is_err());
    }

    #[test]
    fn bad_rows_are_rejects() {
        assert_eq!(encode(b"x\ta").unwrap_err().reason, "expected 8 columns, got 2");
        assert_eq!(encode(b"5\ta").unwrap_err().id, Some(5), "the id is kept when it reads");
        let dangling = encode(b"6\ta\\\tb\tc\td\te\tf\t\\N").unwrap_err();
        assert_eq!((dangling.id, dangling.reason.as_str()), (Some(6), "dangling backslash"));
        let bad_date = encode(b"9\ta\tb\tc\td\te\tf\t2017-02-30").unwrap_err();
        assert_eq!(bad_date.id, Some(9));
        assert_eq!(encode(b"\\N\ta\tb\tc\td\te\tf\t\\N").unwrap_err().reason, "no usable id");
        let not_utf8 = encode(b"9\ta\xff\tb\tc\td\te\tf\t\\N").unwrap_err();
        assert_eq!((not_utf8.id, not_utf8.reason.as_str()), (Some(9), "text is not UTF-8"));
    }
}
