//! `inspect`: a sorted run (`*.spill`) or a row segment (`rows-*.pgcopy`)
//! printed as CSV with a header row, read by the pipeline's own readers, so
//! that damage is named after the rows read before it.

use std::io::{ErrorKind, Read};
use std::path::Path;

use anyhow::Context;

use crate::cli::InspectArgs;
use crate::manifest::Manifest;
use crate::matching::pgcopy;
use crate::matching::segment::{Segment, SegmentReader};
use crate::model::Stage;
use crate::record::{self, field, internal, vendor, vendor_key, Record};
use crate::rundir::MANIFEST;
use crate::sort::spill_file::{self, SpillFile, SpillReader};
use crate::table::COLUMNS;

/// The CSV written: rows go out as they are read.
type Out = csv::Writer<std::io::StdoutLock<'static>>;

/// Prints the file as CSV; a damaged file is an error after its good rows.
pub fn execute(args: &InspectArgs) -> anyhow::Result<()> {
    let path = args.path.as_path();
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    let printed = match kind_of(path)? {
        FileKind::Spill => print_spill(path, &mut out),
        FileKind::Segment => print_segment(path, &mut out),
    };
    // The rows read before an error are printed before its line.
    let flushed = out.flush().map_err(anyhow::Error::from);
    match printed.and(flushed) {
        // `inspect … | head`: the reader has what it wanted.
        Err(error) if is_broken_pipe(&error) => Ok(()),
        result => result,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Spill,
    Segment,
}

/// The kind of file at `path`, by its first bytes, else by its name (a file
/// named like one whose first bytes are damaged is read as that kind, and
/// its reader names the damage).
fn kind_of(path: &Path) -> anyhow::Result<FileKind> {
    let mut head = Vec::new();
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    file.take(pgcopy::HEADER.len() as u64)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {}", path.display()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if head.starts_with(spill_file::MAGIC) || name.ends_with(".spill") {
        Ok(FileKind::Spill)
    } else if head.starts_with(pgcopy::HEADER) || name.ends_with(".pgcopy") {
        Ok(FileKind::Segment)
    } else {
        anyhow::bail!(
            "{} is neither a sorted run (extract/*.spill) nor a row segment (match/rows-*.pgcopy) of vendor-match",
            path.display()
        )
    }
}

/// The manifest of the run `path` is a file of, when `path` sits in that
/// run's `stage` directory and the manifest can be read.
fn run_manifest(path: &Path, stage: Stage) -> Option<Manifest> {
    let dir = path.parent()?;
    if dir.file_name()? != stage.name() {
        return None;
    }
    Manifest::load(&dir.parent()?.join(MANIFEST)).ok()
}

fn same_name(recorded: &Path, path: &Path) -> bool {
    recorded.file_name().is_some() && recorded.file_name() == path.file_name()
}

fn print_spill(path: &Path, out: &mut Out) -> anyhow::Result<()> {
    let recorded = run_manifest(path, Stage::Extract).and_then(|manifest| {
        let listed = manifest.extract_output?.spill_files().find(|f| same_name(&f.path, path)).cloned();
        listed.map(|file| SpillFile { path: path.to_path_buf(), ..file })
    });
    let mut reader = match &recorded {
        Some(file) => SpillReader::open(file)?,
        None => SpillReader::open_unrecorded(path)?,
    };
    let kind = SpillKind::of(reader.kind());
    write(out, kind.header())?;
    let (mut encoded, mut count) = (Vec::new(), 0u64);
    while reader.next_into(&mut encoded)? {
        count += 1;
        let row = Record::decode(&encoded).and_then(|record| kind.row(record));
        let row = row.ok_or_else(|| not_of_its_kind(path, reader.kind(), count))?;
        write(out, row)?;
    }
    Ok(())
}

fn not_of_its_kind(path: &Path, kind: &str, number: u64) -> crate::damage::Damaged {
    crate::damage::Damaged::new("spill file", path, format!("record {number} is not a `{kind}` record"))
}

fn print_segment(path: &Path, out: &mut Out) -> anyhow::Result<()> {
    let recorded: Option<Segment> = run_manifest(path, Stage::Match).and_then(|manifest| {
        let listed = manifest.match_output?.segments.into_iter().find(|s| same_name(&s.path, path));
        listed.map(|segment| Segment { path: path.to_path_buf(), ..segment })
    });
    if recorded.is_none() {
        eprintln!(
            "warning: {} is not listed in a readable manifest of its run: its form is checked, \
             but not its length and CRC",
            path.display()
        );
    }
    let mut reader = SegmentReader::open(path, recorded.as_ref())?;
    write(out, COLUMNS.iter().map(|c| c.name.to_string()))?;
    while let Some(row) = reader.next_row()? {
        let values = row.as_object().map(|o| o.values().map(csv_value).collect::<Vec<_>>()).unwrap_or_default();
        write(out, values)?;
    }
    Ok(())
}

/// A JSON value of a row as a CSV field: NULL is an empty field.
fn csv_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn write<I: IntoIterator<Item = String>>(out: &mut Out, row: I) -> anyhow::Result<()> {
    out.write_record(row).map_err(|error| match error.into_kind() {
        csv::ErrorKind::Io(io) => anyhow::Error::from(io).context("writing to stdout"),
        other => anyhow::anyhow!("writing CSV: {other:?}"),
    })
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == ErrorKind::BrokenPipe))
}

/// What the records of a spill file are, by the kind its header names (the
/// sorters' kinds, `extract/` and `sort::merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpillKind {
    /// Vendor records sorted by key: the sort key holds the key, id, page and position.
    Vendor,
    /// Our records sorted by key.
    Internal,
    /// Vendor id entries: (id, page, position), carrying the record's sort key.
    VendorIds,
    /// The sort keys of vendor records to leave out.
    VendorDrops,
    /// Anything else: the bytes.
    Other,
}

impl SpillKind {
    fn of(kind: &str) -> SpillKind {
        match kind {
            "vendor" => SpillKind::Vendor,
            "internal" => SpillKind::Internal,
            "vendor-ids" => SpillKind::VendorIds,
            "vendor-drops" => SpillKind::VendorDrops,
            _ => SpillKind::Other,
        }
    }

    fn header(self) -> Vec<String> {
        let names: Vec<&str> = match self {
            SpillKind::Vendor => ["match_key", "page", "position"].into_iter().chain(vendor::NAMES).collect(),
            SpillKind::Internal => ["match_key"].into_iter().chain(internal::NAMES).collect(),
            SpillKind::VendorIds => vec!["id", "page", "position", "match_key"],
            SpillKind::VendorDrops => vec!["match_key", "id", "page", "position"],
            SpillKind::Other => vec!["sort_key_hex", "payload_hex"],
        };
        names.into_iter().map(String::from).collect()
    }

    /// The record's fields, as [`SpillKind::header`] names them; `None` when
    /// it is not a record of this kind.
    fn row(self, record: Record<'_>) -> Option<Vec<String>> {
        let key = |sort| String::from_utf8_lossy(record::match_key_of(sort)).into_owned();
        let mut row = Vec::new();
        match self {
            SpillKind::Vendor => {
                let (_, page, position) = vendor_key::id_page_position(record.sort)?;
                row.extend([key(record.sort), page.to_string(), position.to_string()]);
                let fields = field::split::<{ vendor::FIELDS }>(record.payload).ok()?;
                row.extend(payload_values(&fields, vendor::ID, vendor::LAST_ACTIVE)?);
            }
            SpillKind::Internal => {
                record::id_of_key_sort(record.sort)?;
                row.push(key(record.sort));
                let fields = field::split::<{ internal::FIELDS }>(record.payload).ok()?;
                row.extend(payload_values(&fields, internal::ID, internal::LAST_ACTIVE)?);
            }
            SpillKind::VendorIds => {
                let (id, page, position) = vendor_key::id_page_position(record.sort)?;
                row.extend([id.to_string(), page.to_string(), position.to_string(), key(record.payload)]);
            }
            SpillKind::VendorDrops => {
                let (id, page, position) = vendor_key::id_page_position(record.sort)?;
                row.extend([key(record.sort), id.to_string(), page.to_string(), position.to_string()]);
            }
            SpillKind::Other => row.extend([hex(record.sort), hex(record.payload)]),
        }
        Some(row)
    }
}

/// A payload's fields as text: `id` a `bigint`, `last_active` a `date`, the
/// rest text; NULL is an empty field. `None` when a field is not of its type.
fn payload_values(fields: &[&[u8]], id: usize, last_active: usize) -> Option<Vec<String>> {
    let mut values = Vec::with_capacity(fields.len());
    for (index, encoded) in fields.iter().enumerate() {
        let value = match field::value(encoded) {
            None => String::new(),
            Some(_) if index == id => field::int8(encoded)?.to_string(),
            Some(_) if index == last_active => field::date_text(field::date_days(encoded)?),
            Some(_) => field::text(encoded)?.to_string(),
        };
        values.push(value);
    }
    Some(values)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn encoded_payload(fields: &[Option<&str>], id: i64, last_active: Option<&str>) -> Vec<u8> {
        let mut payload = Vec::new();
        field::put_int8(&mut payload, Some(id));
        for value in fields {
            field::put_text(&mut payload, value.map(str::as_bytes));
        }
        field::put_date(&mut payload, last_active.and_then(field::parse_date));
        payload
    }

    fn key_sort(key: &str, id: i64) -> Vec<u8> {
        let mut sort = Vec::new();
        record::start_key_sort(&mut sort);
        sort.extend_from_slice(key.as_bytes());
        record::finish_key_sort(&mut sort, id);
        sort
    }

    #[test]
    fn an_internal_record_is_its_key_and_fields() {
        let sort = key_sort("doe|jane|neurology|boston", 42);
        let payload = encoded_payload(
            &[Some("Jane"), Some("Doe"), Some("Neurology"), None, Some("doctor"), Some("web")],
            42,
            Some("2017-01-03"),
        );
        let kind = SpillKind::of("internal");
        let row = kind.row(Record { sort: &sort, payload: &payload }).unwrap();
        assert_eq!(row.len(), kind.header().len());
        assert_eq!(
            row,
            ["doe|jane|neurology|boston", "42", "Jane", "Doe", "Neurology", "", "doctor", "web", "2017-01-03"]
        );
    }

    #[test]
    fn a_vendor_record_shows_its_page_and_position_and_an_id_entry_its_key() {
        let mut sort = Vec::new();
        record::start_key_sort(&mut sort);
        sort.extend_from_slice(b"x|y");
        vendor_key::finish(&mut sort, -5, 3, 17);
        let payload = encoded_payload(&[Some("Y"), Some("X"), None, Some("Austin"), None], -5, None);
        let vendor_row = SpillKind::Vendor.row(Record { sort: &sort, payload: &payload }).unwrap();
        assert_eq!(vendor_row, ["x|y", "3", "17", "-5", "Y", "X", "", "Austin", "", ""]);
        assert_eq!(vendor_row.len(), SpillKind::Vendor.header().len());
        let entry = vendor_key::id_entry(&sort);
        assert_eq!(SpillKind::VendorIds.row(entry).unwrap(), ["-5", "3", "17", "x|y"]);
        let drop = Record { sort: &sort, payload: &[] };
        assert_eq!(SpillKind::VendorDrops.row(drop).unwrap(), ["x|y", "-5", "3", "17"]);
        // A payload that is not a vendor user's is refused, not shown half.
        assert_eq!(SpillKind::Vendor.row(Record { sort: &sort, payload: &payload[..9] }), None);
    }

    #[test]
    fn an_unknown_kind_is_shown_as_bytes() {
        let row = SpillKind::of("t").row(Record { sort: b"\x00\xff", payload: b"ab" }).unwrap();
        assert_eq!(row, ["00ff", "6162"]);
    }

    #[test]
    fn the_kind_is_told_by_the_first_bytes_then_by_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let spill = temp_file(dir.path(), "x", b"vmspl\x02\x00");
        assert_eq!(kind_of(&spill).unwrap(), FileKind::Spill);
        let segment = temp_file(dir.path(), "y", pgcopy::HEADER);
        assert_eq!(kind_of(&segment).unwrap(), FileKind::Segment);
        let damaged = temp_file(dir.path(), "rows-000001.pgcopy", b"XGCOPY");
        assert_eq!(kind_of(&damaged).unwrap(), FileKind::Segment);
        let other = temp_file(dir.path(), "notes.txt", b"a,b\n");
        assert!(kind_of(&other).unwrap_err().to_string().contains("neither a sorted run"));
    }
}
