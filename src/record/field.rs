//! Fields in PostgreSQL's binary COPY encoding: a big-endian `i32` length (`-1`
//! for NULL), then the value's bytes. Payloads are written in this form once, at
//! extract, so the match stage builds warehouse rows by copying bytes.

use chrono::NaiveDate;

/// The length that marks NULL.
const NULL: i32 = -1;

/// Day 0 of PostgreSQL's binary `date`.
pub fn pg_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

/// Days from 2000-01-01, PostgreSQL's binary `date`.
pub fn days_from_date(date: NaiveDate) -> i32 {
    // Every chrono date fits: chrono spans about ±262,000 years.
    (date - pg_epoch()).num_days() as i32
}

/// The date `days` after 2000-01-01.
pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    pg_epoch().checked_add_signed(chrono::Duration::days(i64::from(days)))
}

fn put_len(out: &mut Vec<u8>, len: i32) {
    out.extend_from_slice(&len.to_be_bytes());
}

/// A text value (raw UTF-8, no escaping), or NULL.
pub fn put_text(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            // Values come from pages under the page cap or from PostgreSQL text (< 1 GiB).
            put_len(out, i32::try_from(bytes.len()).unwrap_or(i32::MAX));
            out.extend_from_slice(bytes);
        }
        None => put_len(out, NULL),
    }
}

/// A text value with every byte `from` written as `to` (both ASCII, so the
/// UTF-8 stays valid), or NULL.
pub fn put_text_replacing(out: &mut Vec<u8>, value: Option<&[u8]>, from: u8, to: u8) {
    let start = out.len();
    put_text(out, value);
    if value.is_some() {
        for byte in &mut out[start + 4..] {
            if *byte == from {
                *byte = to;
            }
        }
    }
}

/// A `bigint`, or NULL.
pub fn put_int8(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        Some(n) => {
            put_len(out, 8);
            out.extend_from_slice(&n.to_be_bytes());
        }
        None => put_len(out, NULL),
    }
}

/// A `date` as days from 2000-01-01, or NULL.
pub fn put_date(out: &mut Vec<u8>, days: Option<i32>) {
    match days {
        Some(d) => {
            put_len(out, 4);
            out.extend_from_slice(&d.to_be_bytes());
        }
        None => put_len(out, NULL),
    }
}

/// A `boolean`, or NULL.
pub fn put_bool(out: &mut Vec<u8>, value: Option<bool>) {
    match value {
        Some(b) => {
            put_len(out, 1);
            out.push(u8::from(b));
        }
        None => put_len(out, NULL),
    }
}

/// A payload that does not hold the fields it should.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed field {index} in a record payload")]
pub struct FieldError {
    /// Position of the bad field.
    pub index: usize,
}

/// Splits a payload into its first `N` encoded fields, each slice holding the
/// length prefix and the value, so it can be copied into a row as is.
pub fn split<const N: usize>(payload: &[u8]) -> Result<[&[u8]; N], FieldError> {
    let mut fields = [&payload[..0]; N];
    let mut at = 0;
    for (index, field) in fields.iter_mut().enumerate() {
        let prefix = payload.get(at..at + 4).ok_or(FieldError { index })?;
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let end = match len {
            NULL => at + 4,
            n if n >= 0 => at + 4 + n as usize,
            _ => return Err(FieldError { index }),
        };
        *field = payload.get(at..end).ok_or(FieldError { index })?;
        at = end;
    }
    Ok(fields)
}

/// The value of an encoded field; `None` for NULL.
pub fn value(field: &[u8]) -> Option<&[u8]> {
    match field.get(..4) {
        Some(prefix) if prefix != NULL.to_be_bytes() => field.get(4..),
        _ => None,
    }
}

/// The text of an encoded field; `None` for NULL (or bytes that are not UTF-8,
/// which the pipeline never writes).
pub fn text(field: &[u8]) -> Option<&str> {
    value(field).and_then(|v| std::str::from_utf8(v).ok())
}

/// The `bigint` of an encoded field.
pub fn int8(field: &[u8]) -> Option<i64> {
    value(field).and_then(|v| v.try_into().ok()).map(i64::from_be_bytes)
}

/// The date (days from 2000-01-01) of an encoded field.
pub fn date_days(field: &[u8]) -> Option<i32> {
    value(field).and_then(|v| v.try_into().ok()).map(i32::from_be_bytes)
}

/// Parses `YYYY-MM-DD` into days from 2000-01-01. The common ten-byte form is
/// read directly; anything else goes through chrono with the same format, so
/// what is accepted does not change.
pub fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        if let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) {
            return NaiveDate::from_ymd_opt(y as i32, m, d).map(days_from_date);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(days_from_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_with_nulls_and_empties() {
        let mut out = Vec::new();
        put_int8(&mut out, Some(-7));
        put_text(&mut out, Some(b""));
        put_text(&mut out, None);
        put_text(&mut out, Some("Zoë\t|".as_bytes()));
        put_date(&mut out, Some(6242));
        put_bool(&mut out, Some(true));
        let [id, empty, null, text_field, date, flag] = split::<6>(&out).unwrap();
        assert_eq!(int8(id), Some(-7));
        assert_eq!(text(empty), Some(""));
        assert_eq!(text(null), None);
        assert_eq!(text(text_field), Some("Zoë\t|"));
        assert_eq!(date_days(date), Some(6242));
        assert_eq!(value(flag), Some(&[1u8][..]));
    }

    #[test]
    fn short_or_negative_lengths_are_errors_not_panics() {
        assert_eq!(split::<1>(&[0, 0, 0]), Err(FieldError { index: 0 }));
        assert_eq!(split::<1>(&[0, 0, 0, 9, b'x']), Err(FieldError { index: 0 }));
        assert_eq!(split::<1>(&(-2i32).to_be_bytes()), Err(FieldError { index: 0 }));
        let mut one = Vec::new();
        put_int8(&mut one, Some(1));
        assert_eq!(split::<2>(&one), Err(FieldError { index: 1 }));
    }

    #[test]
    fn dates_count_days_from_2000() {
        assert_eq!(parse_date("2000-01-01"), Some(0));
        assert_eq!(parse_date("2017-02-02"), Some(6242));
        assert_eq!(parse_date("1999-12-31"), Some(-1));
        assert_eq!(date_from_days(6242), NaiveDate::from_ymd_opt(2017, 2, 2));
    }

    #[test]
    fn the_fast_date_path_accepts_exactly_what_chrono_accepts() {
        for text in
            ["2017-02-30", "2017-13-01", "2017-1-03", "2017-01-3", "20170103", "2017-01-03 BC", "x017-01-03", ""]
        {
            let chrono = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(days_from_date);
            assert_eq!(parse_date(text), chrono, "{text:?}");
        }
    }
}
