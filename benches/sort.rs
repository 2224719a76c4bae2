//! The sort alone: vendor-match's `Sorter` against extsort 0.5 (the crate the
//! original design named, kept as the baseline), the same records in both.
//!
//! `cargo bench --bench sort -- [RECORDS]` (default 1,000,000; `200k`, `1m` accepted).
//!
//! Records are generated on the fly (see `common`) and pushed as they come,
//! as extract pushes them. Every repetition runs in a fresh process of this
//! bench (`--case KIND PARAM RECORDS`), so its peak RSS (the kernel's
//! high-water mark of that process) is the sorter's own plus the
//! process's baseline (`base RSS`), not what an earlier case left in the
//! allocator. Each case, timed from the first record generated to the last
//! one read back:
//!
//! - `vendor-match`: `Sorter::push_auto` every record at a budget of 8 MiB
//!   and 64 MiB, `finish`, then `sort::merge::merge` (fan-in
//!   `MAX_FAN_IN`) drained with `peek`/`advance`;
//! - `extsort`: `ExternalSorter::sort` over the same records (each one an
//!   owned copy of the encoded bytes, ordered by its sort key and written
//!   length-prefixed) with segments of 100,000 and 500,000 items, then its
//!   iterator drained. With no more records than a segment, extsort sorts
//!   in memory and writes no segment (0 files).
//!
//! `spill s` is the push phase up to the last file on disk, `merge s` the read
//! back; `net s` subtracts the time of generating the records alone (first
//! row). Every case checks the count, the order, and an order-dependent
//! checksum of the sorted sort keys, which must be equal across all cases.

mod common;

use std::cmp::Ordering;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{checksum_step, median_of, mib, rss_now_bytes, scratch_dir, sort_key_of, thousands, Generator, Table};
use vendor_match::budget::MAX_FAN_IN;
use vendor_match::metrics::process_peak_rss_bytes;
use vendor_match::record::RecordBuf;
use vendor_match::sort::merge::merge;
use vendor_match::sort::Sorter;

const BUDGETS_MIB: [u64; 2] = [8, 64];
const SEGMENTS: [usize; 2] = [100_000, 500_000];

/// What one repetition of a sorter measured.
struct Outcome {
    spill_secs: f64,
    merge_secs: f64,
    files: u64,
    base_rss: u64,
    peak_rss: u64,
    checksum: u64,
}

impl Outcome {
    /// Seconds in all, spill seconds, merge seconds, files, peak RSS, base RSS.
    fn figures(&self) -> [f64; 6] {
        let total = self.spill_secs + self.merge_secs;
        [total, self.spill_secs, self.merge_secs, self.files as f64, self.peak_rss as f64, self.base_rss as f64]
    }
}

/// Checks order and count over a sorted stream and folds its checksum.
#[derive(Default)]
struct Check {
    previous: Vec<u8>,
    count: u64,
    checksum: u64,
}

impl Check {
    fn see(&mut self, key: &[u8]) {
        if self.count > 0 {
            assert!(self.previous.as_slice() < key, "record {} out of order", self.count + 1);
        }
        self.previous.clear();
        self.previous.extend_from_slice(key);
        self.checksum = checksum_step(self.checksum, key);
        self.count += 1;
    }
}

/// Generating (and keying, encoding) the records alone.
fn generate_only(n: u64) -> f64 {
    let mut generator = Generator::new();
    let mut buf = RecordBuf::default();
    let start = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        generator.record(i, &mut buf);
        bytes += black_box(buf.record()).encoded_len();
    }
    black_box(bytes);
    start.elapsed().as_secs_f64()
}

fn vendor_match_sort(n: u64, budget: u64, dir: &Path) -> Outcome {
    let mut generator = Generator::new();
    let mut buf = RecordBuf::default();
    let base_rss = rss_now_bytes();
    let start = Instant::now();
    let mut sorter: Sorter = Sorter::new(dir, "bench", budget).expect("sorter");
    for i in 0..n {
        generator.record(i, &mut buf);
        sorter.push_auto(buf.record()).expect("push");
    }
    let (_, files, stats) = sorter.finish(()).expect("finish");
    let spill_secs = start.elapsed().as_secs_f64();
    let merging = Instant::now();
    let mut merger = merge(files, dir, MAX_FAN_IN, "bench").expect("merge");
    let mut check = Check::default();
    while let Some(record) = merger.peek() {
        check.see(record.sort);
        merger.advance().expect("advance");
    }
    let merge_secs = merging.elapsed().as_secs_f64();
    let peak_rss = process_peak_rss_bytes().unwrap_or(0);
    assert_eq!(check.count, n, "vendor-match returned {} of {n} records", check.count);
    Outcome { spill_secs, merge_secs, files: stats.files_written, base_rss, peak_rss, checksum: check.checksum }
}

/// One encoded record for extsort: ordered by its sort key, written length-prefixed.
struct Item(Vec<u8>);

impl Item {
    fn sort_key(&self) -> &[u8] {
        sort_key_of(&self.0)
    }
}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(other.sort_key())
    }
}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Item {}

impl extsort::Sortable for Item {
    fn encode<W: Write>(&self, writer: &mut W) -> io::Result<()> {
        writer.write_all(&(self.0.len() as u32).to_le_bytes())?;
        writer.write_all(&self.0)
    }

    fn decode<R: Read>(reader: &mut R) -> io::Result<Self> {
        let mut len = [0u8; 4];
        reader.read_exact(&mut len)?; // UnexpectedEof here is extsort's end of segment
        let mut bytes = vec![0u8; u32::from_le_bytes(len) as usize];
        reader.read_exact(&mut bytes)?;
        Ok(Item(bytes))
    }
}

fn extsort_sort(n: u64, segment: usize, dir: &Path) -> Outcome {
    let mut generator = Generator::new();
    let mut buf = RecordBuf::default();
    let base_rss = rss_now_bytes();
    let start = Instant::now();
    let items = (0..n).map(|i| {
        generator.record(i, &mut buf);
        let record = buf.record();
        let mut bytes = Vec::with_capacity(record.encoded_len());
        record.encode_into(&mut bytes);
        Item(bytes)
    });
    let sorted = extsort::ExternalSorter::new()
        .with_segment_size(segment)
        .with_sort_dir(dir.to_path_buf())
        .sort(items)
        .expect("extsort");
    let spill_secs = start.elapsed().as_secs_f64();
    let files = sorted.disk_segment_count() as u64;
    let merging = Instant::now();
    let mut check = Check::default();
    for item in sorted {
        check.see(item.expect("extsort item").sort_key());
    }
    let merge_secs = merging.elapsed().as_secs_f64();
    let peak_rss = process_peak_rss_bytes().unwrap_or(0);
    assert_eq!(check.count, n, "extsort returned {} of {n} records", check.count);
    Outcome { spill_secs, merge_secs, files, base_rss, peak_rss, checksum: check.checksum }
}

/// Runs one repetition of one case in this process and prints its figures
/// on one line: `--case generate|vendor-match|extsort PARAM RECORDS`.
fn run_child(case: &[String]) {
    let [kind, param, n] = case else { panic!("--case takes KIND PARAM RECORDS, got {case:?}") };
    let param: u64 = param.parse().expect("a case parameter");
    let n: u64 = n.parse().expect("a record count");
    let dir = scratch_dir();
    let outcome = match kind.as_str() {
        "generate" => Outcome {
            spill_secs: generate_only(n),
            merge_secs: 0.0,
            files: 0,
            base_rss: rss_now_bytes(),
            peak_rss: process_peak_rss_bytes().unwrap_or(0),
            checksum: 0,
        },
        "vendor-match" => vendor_match_sort(n, param << 20, dir.path()),
        "extsort" => extsort_sort(n, param as usize, dir.path()),
        other => panic!("unknown case {other:?}"),
    };
    let figures = outcome.figures().map(|f| f.to_string()).join(" ");
    println!("{CHILD_TAG} {figures} {}", outcome.checksum);
}

const CHILD_TAG: &str = "case-result";

/// One repetition of a case in a fresh process of this bench, so that each
/// peak RSS starts from a clean heap. Returns the figures and the checksum.
fn in_child(kind: &str, param: u64, n: u64) -> ([f64; 6], u64) {
    let exe = std::env::current_exe().expect("this bench's path");
    let output = Command::new(exe)
        .args(["--case", kind, &param.to_string(), &n.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("run a case");
    assert!(output.status.success(), "case {kind} {param} failed: {}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix(CHILD_TAG)).expect("a case result");
    let words: Vec<&str> = line.split_whitespace().collect();
    let figures = std::array::from_fn(|k| words[k].parse().expect("a figure"));
    (figures, words[6].parse().expect("a checksum"))
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(at) = argv.iter().position(|a| a == "--case") {
        run_child(&argv[at + 1..]);
        return;
    }
    let args = common::args(
        "sort",
        "Times vendor-match's Sorter (8 MiB, 64 MiB) against extsort 0.5 (segments of 100,000 and 500,000 items).",
    );
    let n = args.records;
    println!(
        "{}",
        common::header("sort", &args, "vendor-match Sorter + merge vs extsort 0.5, push all then read all back")
    );

    let mut cases: Vec<(String, &str, u64)> = vec![("generate + key + encode only".into(), "generate", 0)];
    for budget in BUDGETS_MIB {
        cases.push((format!("vendor-match Sorter, budget {budget} MiB"), "vendor-match", budget));
    }
    for segment in SEGMENTS {
        cases.push((format!("extsort 0.5, segment {} items", thousands(segment as u64)), "extsort", segment as u64));
    }
    let mut checksums: Vec<(String, u64)> = Vec::new();
    let mut results: Vec<(String, [f64; 6])> = Vec::new();
    for (name, kind, param) in cases {
        eprintln!("{name}...");
        let figures = median_of(|| {
            let (figures, checksum) = in_child(kind, param, n);
            if kind != "generate" {
                checksums.push((name.clone(), checksum));
            }
            figures
        });
        results.push((name, figures));
    }

    let reference = checksums[0].1;
    for (name, checksum) in &checksums {
        assert_eq!(*checksum, reference, "{name} sorted differently from {}", checksums[0].0);
    }

    let mut table = Table::new(&[
        "case",
        "seconds",
        "net s",
        "spill s",
        "merge s",
        "records/s",
        "files",
        "peak RSS MiB",
        "base RSS MiB",
    ]);
    let generate_secs = results[0].1[0];
    for (i, (name, [total, spill, merge, files, peak, base])) in results.into_iter().enumerate() {
        if i == 0 {
            let mut row = vec![name, format!("{total:.2}")];
            row.extend(["", "", ""].map(String::from));
            row.push(thousands((n as f64 / total) as u64));
            row.extend(["", "", ""].map(String::from));
            table.row(row);
            continue;
        }
        table.row(vec![
            name,
            format!("{total:.2}"),
            format!("{:.2}", total - generate_secs),
            format!("{spill:.2}"),
            format!("{merge:.2}"),
            thousands((n as f64 / total) as u64),
            format!("{files:.0}"),
            mib(peak),
            mib(base),
        ]);
    }
    table.print();
    println!(
        "each repetition in a fresh process (peak RSS = its VmHWM, base RSS = its RSS before the first record); \
         order and count checked; checksum of the sorted sort keys {reference:#018x}, equal in all {} sorts; \
         records/s over `seconds` (generation included)",
        checksums.len()
    );
}
