//! Warehouse rows in PostgreSQL's binary COPY format, as match writes them:
//! the stream's header and trailer, and one tuple read back as JSON (the
//! report's sample).

use serde_json::{Map, Value};

use crate::record::field;
use crate::table::COLUMNS;

/// Columns in a tuple.
pub const COLUMN_COUNT: usize = COLUMNS.len();

/// Signature, flags (none) and header extension length (none).
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// A field count of -1 ends the stream.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Bytes of the whole tuple at the start of `bytes` (its field count and
/// its fields); `None` when `bytes` do not start with a whole tuple of the
/// table's columns (cut short, or not one).
pub fn tuple_len(bytes: &[u8]) -> Option<usize> {
    let count = i16::from_be_bytes(bytes.get(..2)?.try_into().ok()?);
    if usize::try_from(count).ok()? != COLUMN_COUNT {
        return None;
    }
    let fields = field::split::<COLUMN_COUNT>(bytes.get(2..)?).ok()?;
    Some(2 + fields.iter().map(|f| f.len()).sum::<usize>())
}

/// One tuple (as the match stage writes it) as a JSON object in column
/// order; `None` if it is not a whole tuple of the table's columns.
pub fn tuple_to_json(tuple: &[u8]) -> Option<Value> {
    let count = i16::from_be_bytes(tuple.get(..2)?.try_into().ok()?);
    if usize::try_from(count).ok()? != COLUMN_COUNT {
        return None;
    }
    let fields = field::split::<COLUMN_COUNT>(tuple.get(2..)?).ok()?;
    let mut row = Map::new();
    for (column, encoded) in COLUMNS.iter().zip(fields) {
        let value = match field::value(encoded) {
            None => Value::Null,
            Some(bytes) => match column.sql_type.split_whitespace().next() {
                // As PostgreSQL writes it: years past 9999, BC and infinity included.
                Some("date") => Value::from(field::date_text(field::date_days(encoded)?)),
                Some("bigint") => Value::from(field::int8(encoded)?),
                Some("boolean") => Value::from(bytes.first()? != &0),
                _ => Value::from(std::str::from_utf8(bytes).ok()?),
            },
        };
        row.insert(column.name.to_string(), value);
    }
    Some(Value::Object(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_signature_and_two_zero_words() {
        assert_eq!(HEADER.len(), 19);
        assert!(HEADER.starts_with(b"PGCOPY\n\xff\r\n\0"));
    }

    #[test]
    fn a_tuple_reads_back_as_json_in_column_order() {
        let mut tuple = (COLUMN_COUNT as i16).to_be_bytes().to_vec();
        field::put_date(&mut tuple, field::parse_date("2017-02-02"));
        field::put_text(&mut tuple, Some(b"run-1"));
        field::put_text(&mut tuple, Some(b"matched"));
        field::put_text(&mut tuple, None);
        field::put_int8(&mut tuple, Some(7));
        field::put_int8(&mut tuple, None);
        for _ in 0..6 {
            field::put_text(&mut tuple, Some("Zoë".as_bytes()));
        }
        field::put_date(&mut tuple, None);
        field::put_bool(&mut tuple, Some(true));
        field::put_text(&mut tuple, None);
        field::put_date(&mut tuple, field::parse_date("2017-01-03"));
        field::put_bool(&mut tuple, Some(false));
        for raw in [" Zoë ", "X", "NEUROLOGY", "clinic", "zoë", "x", "neurology", "Clinic"] {
            field::put_text(&mut tuple, Some(raw.as_bytes()));
        }
        let json = tuple_to_json(&tuple).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, COLUMNS.iter().map(|c| &c.name).collect::<Vec<_>>());
        assert_eq!(json["report_date"], "2017-02-02");
        assert_eq!(json["match_key"], Value::Null);
        assert_eq!(json["internal_user_id"], 7);
        assert_eq!(json["firstname"], "Zoë");
        assert_eq!(json["internal_is_active"], true);
        assert_eq!(json["vendor_last_active_date"], "2017-01-03");
        assert_eq!(json["internal_firstname_raw"], " Zoë ");
        assert_eq!(json["vendor_practice_location_raw"], "Clinic");
        assert_eq!(tuple_to_json(&tuple[..tuple.len() - 1]), None);
        let mut two = tuple.clone();
        two.extend_from_slice(&tuple);
        assert_eq!(tuple_len(&two), Some(tuple.len()));
        assert_eq!(tuple_len(&tuple[..tuple.len() - 1]), None);
        assert_eq!(tuple_len(TRAILER), None);
    }
}
