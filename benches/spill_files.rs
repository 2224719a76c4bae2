//! Spill files and the merge, over the shared synthetic records (`common`).
//!
//! `cargo bench --bench spill_files -- [RECORDS]` (default 1,000,000; `200k`, `1m` accepted).
//!
//! The records are generated, encoded and sorted in memory first (not
//! timed). Then, in a scratch directory under `$TMPDIR`:
//!
//! - binary spill file (this version): all records into one file with
//!   `SpillWriter::append_encoded`, once dropped without `finish` (its buffer
//!   is flushed; no trailer, no fsync, no rename: the public API's nearest
//!   to "the writes alone") and once with `finish` (trailer, fsync, rename);
//!   then read back with `SpillReader::next_into` (CRC checked at the end);
//! - CSV run file (the version before 295d424, `git show 295d424~1:src/sort/run_file.rs`):
//!   the same records as rows of a `csv::Writer` (flexible, no headers) over
//!   a `BufWriter` of the same 256 KiB as `SpillWriter`'s, in the old layout:
//!   a header row, one row per record (match key, id, the six texts as
//!   `=value` or empty for NULL, the date as `YYYY-MM-DD`), an `end,<count>`
//!   row. The rows' bytes are prepared before timing, as the binary records
//!   are, so both sides time only the file format. Written flushed without
//!   fsync, and with fsync + rename (`rundir::atomic::publish`, what `finish`
//!   does); read back with `csv::Reader::read_byte_record` over a `BufReader`
//!   of `SPILL_READ_BUFFER_BYTES`, as is and also parsed back into records (key
//!   hash, id, date), which the binary read does not need;
//! - k-way merge: the sorted records dealt round-robin into R files (R = 16,
//!   64, 256; written before timing), then `sort::merge::merge` (fan-in
//!   `MAX_FAN_IN`, so one level) drained with `peek`/`advance`, order and
//!   count checked.
//!
//! Reads follow the writes, so files come from the page cache. MiB/s is of
//! the files' bytes. Before the table is printed, both read-backs are
//! checked to give every record byte for byte.

mod common;

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use common::{median_of, mib, thousands, timed, Encoded, Table};
use csv::ByteRecord;
use vendor_match::budget::MAX_FAN_IN;
use vendor_match::budget::SPILL_READ_BUFFER_BYTES;
use vendor_match::record::{self, field, internal, match_key_of, RecordBuf};
use vendor_match::rundir::atomic;
use vendor_match::sort::merge::merge;
use vendor_match::sort::spill_file::{SpillFile, SpillReader, SpillWriter};

/// `SpillWriter`'s write buffer (a private constant in `src/sort/spill_file.rs`).
const WRITE_BUFFER_BYTES: usize = 256 * 1024;
const FAN_INS: [usize; 3] = [16, 64, 256];
/// The old CSV run layout's header and end rows.
const CSV_MAGIC: &[u8] = b"vendor-match-run";
const CSV_VERSION: &[u8] = b"1";
const CSV_END: &[u8] = b"end";
const CSV_FIELDS: usize = 9;

/// The CSV rows of every record, prepared: key, id, six texts, date.
struct CsvRows {
    bytes: Vec<u8>,
    /// End of each field in `bytes`, `CSV_FIELDS` a record.
    ends: Vec<usize>,
}

impl CsvRows {
    fn build(records: &Encoded) -> CsvRows {
        let mut rows = CsvRows { bytes: Vec::new(), ends: Vec::new() };
        for i in 0..records.len() {
            let record = records.record(i);
            let fields = field::split::<{ internal::FIELDS }>(record.payload).expect("a payload");
            rows.field(match_key_of(record.sort));
            let id = field::int8(fields[internal::ID]).expect("an id");
            rows.field(itoa::Buffer::new().format(id).as_bytes());
            for text in &fields[internal::FIRSTNAME..=internal::PLATFORM] {
                match field::value(text) {
                    None => rows.field(b""),
                    Some(value) => {
                        rows.bytes.push(b'=');
                        rows.field(value);
                    }
                }
            }
            match field::date_days(fields[internal::LAST_ACTIVE]).and_then(field::date_from_days) {
                None => rows.field(b""),
                Some(date) => rows.field(date.format("%Y-%m-%d").to_string().as_bytes()),
            }
        }
        rows
    }

    fn field(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.ends.push(self.bytes.len());
    }

    fn row(&self, i: usize) -> impl Iterator<Item = &[u8]> + '_ {
        (i * CSV_FIELDS..(i + 1) * CSV_FIELDS).map(move |f| {
            let start = if f == 0 { 0 } else { self.ends[f - 1] };
            &self.bytes[start..self.ends[f]]
        })
    }

    fn len(&self) -> usize {
        self.ends.len() / CSV_FIELDS
    }
}

fn file_bytes(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len() as f64).unwrap_or(0.0)
}

/// Writes every record to one spill file; with `finish`, publishes it.
/// Returns seconds and the file's size; a finished file's record is kept in `finished`.
fn binary_write(records: &Encoded, path: &Path, finish: bool, finished: &mut Option<SpillFile>) -> [f64; 2] {
    let (secs, written) = timed(|| {
        let mut writer = SpillWriter::create(path, "bench").expect("spill writer");
        for encoded in records.iter() {
            writer.append_encoded(encoded).expect("append");
        }
        if finish {
            let file = writer.finish().expect("finish");
            *finished = Some(file.clone());
            file.path
        } else {
            drop(writer); // flushes the buffer into <path>.tmp
            atomic::tmp_path(path)
        }
    });
    let size = file_bytes(&written);
    if !finish {
        std::fs::remove_file(&written).expect("remove the unfinished spill file");
    }
    [secs, size]
}

fn binary_read(file: &SpillFile, n: usize) -> [f64; 1] {
    let (secs, count) = timed(|| {
        let mut reader = SpillReader::open(file).expect("open spill file");
        let mut encoded = Vec::new();
        let mut count = 0;
        while reader.next_into(&mut encoded).expect("read spill file") {
            count += 1;
        }
        count
    });
    assert_eq!(count, n);
    [secs]
}

/// Writes every row to one CSV run in the old layout; with `publish`,
/// fsyncs and renames it as `SpillWriter::finish` does.
fn csv_write(rows: &CsvRows, path: &Path, publish: bool) -> [f64; 2] {
    let tmp = atomic::tmp_path(path);
    let (secs, ()) = timed(|| {
        let file = atomic::create_private(&tmp).expect("create");
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_writer(BufWriter::with_capacity(WRITE_BUFFER_BYTES, file));
        writer.write_record([CSV_MAGIC, CSV_VERSION, b"bench"]).expect("header row");
        for i in 0..rows.len() {
            writer.write_record(rows.row(i)).expect("row");
        }
        writer.write_record([CSV_END, itoa::Buffer::new().format(rows.len()).as_bytes()]).expect("end row");
        let file = writer.into_inner().expect("flush csv").into_inner().expect("flush file");
        if publish {
            atomic::publish(file, &tmp, path).expect("publish");
        }
    });
    let written = if publish { path.to_path_buf() } else { tmp };
    let size = file_bytes(&written);
    if !publish {
        std::fs::remove_file(&written).expect("remove the unpublished run");
    }
    [secs, size]
}

/// Rebuilds the encoded record of a CSV row, as a reader of the old runs
/// would need to before using it.
fn parse_row(row: &ByteRecord, out: &mut RecordBuf) {
    let id: i64 = std::str::from_utf8(&row[1]).ok().and_then(|s| s.parse().ok()).expect("an id");
    out.clear();
    record::start_key_sort(&mut out.sort);
    out.sort.extend_from_slice(&row[0]);
    record::finish_key_sort(&mut out.sort, id);
    field::put_int8(&mut out.payload, Some(id));
    for text in 2..8 {
        field::put_text(&mut out.payload, row[text].strip_prefix(b"="));
    }
    let date =
        std::str::from_utf8(&row[8]).ok().filter(|d| !d.is_empty()).map(|d| field::parse_date(d).expect("a date"));
    field::put_date(&mut out.payload, date);
}

/// Reads a CSV run back, checking its header and end row; with `parse`,
/// rebuilds each record and hands it to `seen`.
fn csv_read(path: &Path, n: usize, parse: bool, mut seen: impl FnMut(&RecordBuf)) -> [f64; 1] {
    let (secs, count) = timed(|| {
        let file = File::open(path).expect("open csv");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(SPILL_READ_BUFFER_BYTES, file));
        let mut row = ByteRecord::new();
        assert!(reader.read_byte_record(&mut row).expect("header row"));
        assert_eq!(row.get(0), Some(CSV_MAGIC));
        let mut out = RecordBuf::default();
        let mut count = 0usize;
        loop {
            assert!(reader.read_byte_record(&mut row).expect("csv row"), "no end row");
            if row.len() == 2 && &row[0] == CSV_END {
                assert_eq!(std::str::from_utf8(&row[1]).ok().and_then(|c| c.parse().ok()), Some(count));
                break;
            }
            if parse {
                parse_row(&row, &mut out);
                seen(&out);
            }
            count += 1;
        }
        count
    });
    assert_eq!(count, n);
    [secs]
}

/// Deals the records round-robin into `fan_in` spill files.
fn deal(records: &Encoded, fan_in: usize, dir: &Path) -> Vec<SpillFile> {
    let mut writers: Vec<SpillWriter> = (0..fan_in)
        .map(|k| SpillWriter::create(&dir.join(format!("bench-{k:06}.spill")), "bench").expect("spill writer"))
        .collect();
    for (i, encoded) in records.iter().enumerate() {
        writers[i % fan_in].append_encoded(encoded).expect("append");
    }
    writers.into_iter().map(|w| w.finish().expect("finish")).collect()
}

fn merge_all(files: &[SpillFile], dir: &Path, n: usize) -> [f64; 1] {
    let (secs, count) = timed(|| {
        let mut merger = merge(files.to_vec(), dir, MAX_FAN_IN, "bench").expect("merge");
        let mut previous = Vec::new();
        let mut count = 0usize;
        while let Some(record) = merger.peek() {
            assert!(count == 0 || previous.as_slice() < record.sort, "merge out of order at {count}");
            previous.clear();
            previous.extend_from_slice(record.sort);
            count += 1;
            merger.advance().expect("advance");
        }
        count
    });
    assert_eq!(count, n);
    [secs]
}

fn main() {
    let args = common::args(
        "spill_files",
        "Times binary spill files against CSV run files, and the k-way merge of 16, 64, 256 files.",
    );
    let n = args.records as usize;
    println!("{}", common::header("spill_files", &args, "one file written and read back, binary vs CSV; k-way merge"));

    eprintln!("generating and sorting {} records...", thousands(n as u64));
    let records = Encoded::generate(n as u64).sorted();
    let rows = CsvRows::build(&records);
    let dir = common::scratch_dir();
    let binary_path: PathBuf = dir.path().join("bench-binary.spill");
    let csv_path: PathBuf = dir.path().join("bench-csv.run");

    let mut table = Table::new(&["case", "seconds", "records/s", "MiB/s", "file MiB"]);
    let mut add = |name: &str, secs: f64, bytes: f64| {
        table.row(vec![
            name.to_string(),
            format!("{secs:.3}"),
            thousands((n as f64 / secs) as u64),
            format!("{:.0}", bytes / (1024.0 * 1024.0) / secs),
            mib(bytes),
        ]);
    };

    eprintln!("binary spill file...");
    let mut finished = None;
    let [secs, bytes] = median_of(|| binary_write(&records, &binary_path, false, &mut finished));
    add("binary: append_encoded, dropped (no finish)", secs, bytes);
    let [secs, binary_bytes] = median_of(|| binary_write(&records, &binary_path, true, &mut finished));
    let finished = finished.expect("a finished spill file");
    add("binary: append_encoded + finish (fsync, rename)", secs, binary_bytes);
    let [secs] = median_of(|| binary_read(&finished, n));
    add("binary: SpillReader::next_into (CRC checked)", secs, binary_bytes);

    eprintln!("csv run...");
    let [secs, bytes] = median_of(|| csv_write(&rows, &csv_path, false));
    add("csv: write_record, flushed (no fsync)", secs, bytes);
    let [secs, csv_bytes] = median_of(|| csv_write(&rows, &csv_path, true));
    add("csv: write_record + fsync, rename", secs, csv_bytes);
    let [secs] = median_of(|| csv_read(&csv_path, n, false, |_| {}));
    add("csv: read_byte_record", secs, csv_bytes);
    let mut parsed_bytes = 0usize;
    let [secs] = median_of(|| csv_read(&csv_path, n, true, |r| parsed_bytes += r.record().encoded_len()));
    std::hint::black_box(parsed_bytes);
    add("csv: read_byte_record + parse back to records", secs, csv_bytes);

    // Untimed: both files give back every record, byte for byte.
    let mut reader = SpillReader::open(&finished).expect("open spill file");
    let mut encoded = Vec::new();
    let mut i = 0;
    while reader.next_into(&mut encoded).expect("read spill file") {
        assert_eq!(encoded, records.get(i), "binary record {i} differs");
        i += 1;
    }
    let mut i = 0;
    let mut rebuilt = Vec::new();
    csv_read(&csv_path, n, true, |r| {
        rebuilt.clear();
        r.record().encode_into(&mut rebuilt);
        assert_eq!(rebuilt, records.get(i), "CSV record {i} differs");
        i += 1;
    });
    std::fs::remove_file(&binary_path).expect("remove");
    std::fs::remove_file(&csv_path).expect("remove");

    for fan_in in FAN_INS {
        eprintln!("merge of {fan_in} files...");
        let files = deal(&records, fan_in, dir.path());
        let bytes: f64 = files.iter().map(|r| file_bytes(&r.path)).sum();
        let [secs] = median_of(|| merge_all(&files, dir.path(), n));
        add(&format!("merge {fan_in} files: merge + peek/advance"), secs, bytes);
        for file in files {
            std::fs::remove_file(&file.path).expect("remove");
        }
    }

    table.print();
    println!(
        "{} encoded bytes in all ({:.1} a record); csv row bytes prepared before timing; reads from the page cache; \
         both read-backs checked record for record",
        thousands(records.total_bytes() as u64),
        records.total_bytes() as f64 / n as f64
    );
}
