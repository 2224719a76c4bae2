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

/// Parses the vendor's `YYYY-MM-DD` into days from 2000-01-01: exactly ten
/// bytes, a four-digit year, two-digit month and day, a real calendar date.
/// No spaces, no sign, no other year width (the vendor's contract, SPEC §2).
pub fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32).map(days_from_date)
}

/// The value of a run of ASCII digits (at most 18 of them); `None` for anything else.
fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 18 {
        return None;
    }
    bytes.iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
}

/// PostgreSQL's `infinity` date, in its binary form.
pub const DATE_INFINITY: i32 = i32::MAX;
/// PostgreSQL's `-infinity` date, in its binary form.
pub const DATE_MINUS_INFINITY: i32 = i32::MIN;
/// The first date PostgreSQL holds, 4714-11-24 BC, in days from 2000-01-01.
pub const PG_DATE_MIN_DAYS: i32 = -2_451_545;
/// The last date PostgreSQL holds, 5874897-12-31, in days from 2000-01-01.
pub const PG_DATE_MAX_DAYS: i32 = 2_145_031_948;

/// Parses a `date` as PostgreSQL writes it with `DateStyle` ISO
/// (`2017-01-03`, `4713-01-01 BC`, `5874897-12-31`, `infinity`,
/// `-infinity`) into days from 2000-01-01, over PostgreSQL's whole range,
/// which is wider than chrono's.
pub fn parse_pg_date(text: &str) -> Option<i32> {
    match text {
        "infinity" => return Some(DATE_INFINITY),
        "-infinity" => return Some(DATE_MINUS_INFINITY),
        _ => {}
    }
    let (ymd, bc) = match text.strip_suffix(" BC") {
        Some(ymd) => (ymd, true),
        None => (text, false),
    };
    let b = ymd.as_bytes();
    let n = b.len();
    if !(10..=17).contains(&n) || b[n - 3] != b'-' || b[n - 6] != b'-' {
        return None;
    }
    let year = digits(&b[..n - 6])?;
    let (month, day) = (digits(&b[n - 5..n - 3])?, digits(&b[n - 2..])?);
    // 1 BC is year 0 of the proleptic Gregorian calendar; there is no "0 BC".
    let year = if bc { (year > 0).then_some(1 - year)? } else { year };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day) - days_from_civil(2000, 1, 1);
    i32::try_from(days).ok().filter(|d| (PG_DATE_MIN_DAYS..=PG_DATE_MAX_DAYS).contains(d))
}

/// A date (days from 2000-01-01) as PostgreSQL writes it with `DateStyle`
/// ISO, over its whole range: the inverse of [`parse_pg_date`].
pub fn date_text(days: i32) -> String {
    match days {
        DATE_INFINITY => "infinity".to_string(),
        DATE_MINUS_INFINITY => "-infinity".to_string(),
        _ => {
            let (year, month, day) = civil_from_days(i64::from(days) + days_from_civil(2000, 1, 1));
            if year > 0 {
                format!("{year:04}-{month:02}-{day:02}")
            } else {
                format!("{:04}-{month:02}-{day:02} BC", 1 - year)
            }
        }
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 of a proleptic Gregorian date (year 0 = 1 BC), for
/// any year (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let (era, yoe) = (y.div_euclid(400), y.rem_euclid(400));
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

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

    // See: issue 9 (the vendor's dates were read more loosely than its contract).
    #[test]
    fn issue_9_vendor_dates_are_strictly_yyyy_mm_dd() {
        for text in [
            "2017-1-5",
            "2017-01-5",
            " 2017-01-20",
            "2017-01-20 ",
            "+12345-01-01",
            "+2017-01-20",
            "-2017-01-20",
            "12345-01-01",
            "20170103",
            "2017/01/03",
            "2017-02-30",
            "2017-13-01",
            "2017-01-03 BC",
            "x017-01-03",
            "２０１７-01-03",
            "",
        ] {
            assert_eq!(parse_date(text), None, "{text:?}");
        }
        assert_eq!(parse_date("2016-02-29"), Some(days_from_date(NaiveDate::from_ymd_opt(2016, 2, 29).unwrap())));
        assert_eq!(parse_date("0001-01-01"), Some(-730_119));
        assert_eq!(parse_date("9999-12-31"), NaiveDate::from_ymd_opt(9999, 12, 31).map(days_from_date));
    }

    /// Days from 2000-01-01 as PostgreSQL 15 computes them
    /// (`SELECT d - date '2000-01-01'` with DateStyle ISO).
    const PG_DAYS: [(&str, i32); 10] = [
        ("5874897-12-31", 2_145_031_948),
        ("4714-11-24 BC", -2_451_545),
        ("4713-01-01 BC", -2_451_507),
        ("0001-01-01", -730_119),
        ("0001-12-31 BC", -730_120),
        ("0099-03-01", -694_266),
        ("2017-01-03", 6212),
        ("10000-01-01", 2_921_940),
        ("1900-02-28", -36_466),
        ("2000-01-01", 0),
    ];

    // See: issue 9 (dates PostgreSQL holds became rejects).
    #[test]
    fn issue_9_every_date_postgresql_holds_is_read_and_written_back() {
        for (text, days) in PG_DAYS {
            assert_eq!(parse_pg_date(text), Some(days), "{text}");
            assert_eq!(date_text(days), text);
        }
        assert_eq!(parse_pg_date("infinity"), Some(DATE_INFINITY));
        assert_eq!(parse_pg_date("-infinity"), Some(DATE_MINUS_INFINITY));
        assert_eq!((date_text(DATE_INFINITY), date_text(DATE_MINUS_INFINITY)), ("infinity".into(), "-infinity".into()));
        for bad in ["5874898-01-01", "4714-11-23 BC", "0000-01-01 BC", "2017-02-29", "2017-1-03", "2017-01-03 AD", ""] {
            assert_eq!(parse_pg_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn postgresql_dates_agree_with_chrono_where_both_reach() {
        let mut date = NaiveDate::from_ymd_opt(-2000, 1, 1).unwrap();
        while date.year() < 3000 {
            let days = days_from_date(date);
            assert_eq!(parse_pg_date(&date_text(days)), Some(days), "{date}");
            if date.year() > 0 {
                assert_eq!(date_text(days), date.format("%Y-%m-%d").to_string());
            }
            date += chrono::Duration::days(17);
        }
    }
}
