//! Warehouse rows in PostgreSQL COPY text format: tab separated, `\N` for null, backslash escapes.

use chrono::NaiveDate;

use crate::model::CombinedRow;

/// Appends `row` as one COPY text line (newline included), columns in table order.
pub fn write_copy_row(row: &CombinedRow<'_>, out: &mut Vec<u8>) {
    date(out, Some(row.report_date));
    tab(out);
    text(out, Some(row.run_id));
    tab(out);
    text(out, Some(row.match_status.name()));
    tab(out);
    text(out, row.match_key);
    tab(out);
    int(out, row.internal_user_id);
    tab(out);
    int(out, row.vendor_user_id);
    for value in [row.firstname, row.lastname, row.specialty, row.practice_location.as_deref()] {
        tab(out);
        text(out, value);
    }
    tab(out);
    text(out, row.internal_classification);
    tab(out);
    text(out, row.internal_platform_registered_on);
    tab(out);
    date(out, row.internal_last_active_date);
    tab(out);
    boolean(out, row.internal_is_active);
    tab(out);
    text(out, row.vendor_classification);
    tab(out);
    date(out, row.vendor_last_active_date);
    tab(out);
    boolean(out, row.vendor_is_active);
    out.push(b'\n');
}

fn tab(out: &mut Vec<u8>) {
    out.push(b'\t');
}

const NULL: &[u8] = b"\\N";

/// Text with the characters COPY treats specially escaped.
pub fn text(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        out.extend_from_slice(NULL);
        return;
    };
    for &b in value.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            // PostgreSQL text can't hold NUL: drop it rather than break the row.
            0 => {}
            _ => out.push(b),
        }
    }
}

fn int(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        None => out.extend_from_slice(NULL),
    }
}

fn date(out: &mut Vec<u8>, value: Option<NaiveDate>) {
    match value {
        Some(d) => out.extend_from_slice(d.format("%Y-%m-%d").to_string().as_bytes()),
        None => out.extend_from_slice(NULL),
    }
}

fn boolean(out: &mut Vec<u8>, value: Option<bool>) {
    out.extend_from_slice(match value {
        Some(true) => b"t",
        Some(false) => b"f",
        None => NULL,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_are_escaped_and_null_is_backslash_n() {
        let mut out = Vec::new();
        text(&mut out, Some("a\tb\nc\\d\re\0f"));
        out.push(b'|');
        text(&mut out, None);
        assert_eq!(out, b"a\\tb\\nc\\\\d\\ref|\\N");
    }

    #[test]
    fn row_has_one_field_per_column() {
        let row = CombinedRow {
            report_date: "2017-02-02".parse().unwrap(),
            run_id: "r1",
            match_status: crate::model::MatchStatus::VendorOnly,
            match_key: Some("a|b"),
            internal_user_id: None,
            vendor_user_id: Some(5),
            firstname: Some("x\ty"),
            lastname: None,
            specialty: None,
            practice_location: None,
            internal_classification: None,
            internal_platform_registered_on: None,
            internal_last_active_date: None,
            internal_is_active: None,
            vendor_classification: Some("Lurker"),
            vendor_last_active_date: Some("2017-01-01".parse().unwrap()),
            vendor_is_active: Some(false),
        };
        let mut out = Vec::new();
        write_copy_row(&row, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with('\n'));
        let fields: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
        assert_eq!(fields.len(), super::super::ddl::COLUMNS.len());
        assert_eq!(fields[2], "vendor_only");
        assert_eq!(fields[6], "x\\ty");
        assert_eq!(fields[16], "f");
    }
}
