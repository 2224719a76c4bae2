//! Sort throughput: our ExternalSorter (spill + k-way merge) against extsort 0.5,
//! side by side in one process on the same records, at several budgets.
//!
//! `cargo bench --bench sort -- [RECORDS]` (default 1,000,000).

use std::io::{Read, Write};
use std::time::Instant;

use vendor_match::key::KeyField;
use vendor_match::metrics::{peak_rss_bytes, reset_peak_rss};
use vendor_match::model::{InternalUser, Keyed};
use vendor_match::sort::merge::{merge, DEFAULT_FAN_IN};
use vendor_match::sort::ExternalSorter;

const NAMES: [&str; 8] = ["Angelovich", "Smith", "Müller", "O'Brien", "Núñez", "Lee", "Garcia", "Ødegaard"];

fn records(n: u64) -> impl Iterator<Item = Keyed<InternalUser>> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..n).map(move |id| {
        let user = InternalUser {
            id: id as i64,
            firstname: Some(format!("{}{}", NAMES[rng.usize(..8)], rng.u32(..100_000))),
            lastname: Some(format!("{}{}", NAMES[rng.usize(..8)], rng.u32(..1000))),
            specialty: Some("Neurology".into()),
            location: Some(format!("generic clinic {}", rng.u32(..100))),
            classification: Some("contributor".into()),
            platform_registered_on: Some("mobile".into()),
            last_active_date: Some(chrono::NaiveDate::from_ymd_opt(2017, 1, 1 + rng.u32(..30)).unwrap_or_default()),
        };
        Keyed::new(user, &KeyField::ALL)
    })
}

/// The extsort baseline carries the same full record, in a length-prefixed binary encoding.
struct Flat(Keyed<InternalUser>);

impl PartialEq for Flat {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Flat {}
impl PartialOrd for Flat {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Flat {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

fn put(w: &mut impl Write, s: Option<&str>) -> std::io::Result<()> {
    match s {
        None => w.write_all(&u32::MAX.to_le_bytes()),
        Some(s) => {
            w.write_all(&(s.len() as u32).to_le_bytes())?;
            w.write_all(s.as_bytes())
        }
    }
}

fn get(r: &mut impl Read) -> std::io::Result<Option<String>> {
    let mut len = [0; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len == u32::MAX {
        return Ok(None);
    }
    let mut bytes = vec![0; len as usize];
    r.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map(Some).map_err(std::io::Error::other)
}

impl extsort::Sortable for Flat {
    fn encode<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        let u = &self.0.user;
        put(w, Some(&self.0.key))?;
        w.write_all(&u.id.to_le_bytes())?;
        for field in
            [&u.firstname, &u.lastname, &u.specialty, &u.location, &u.classification, &u.platform_registered_on]
        {
            put(w, field.as_deref())?;
        }
        put(w, u.last_active_date.map(|d| d.to_string()).as_deref())
    }
    fn decode<R: Read>(r: &mut R) -> std::io::Result<Self> {
        let key = get(r)?.unwrap_or_default();
        let mut id = [0; 8];
        r.read_exact(&mut id)?;
        let user = InternalUser {
            id: i64::from_le_bytes(id),
            firstname: get(r)?,
            lastname: get(r)?,
            specialty: get(r)?,
            location: get(r)?,
            classification: get(r)?,
            platform_registered_on: get(r)?,
            last_active_date: get(r)?.and_then(|d| d.parse().ok()),
        };
        Ok(Flat(Keyed { key, user }))
    }
}

fn generate_only(n: u64) -> f64 {
    let start = Instant::now();
    let count = records(n).count() as u64;
    assert_eq!(count, n);
    start.elapsed().as_secs_f64()
}

fn ours(n: u64, budget: u64) -> (f64, u64, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Instant::now();
    let mut sorter = ExternalSorter::new(dir.path(), "bench", budget);
    for r in records(n) {
        sorter.push(r).expect("push");
    }
    let (runs, stats) = sorter.finish().expect("finish");
    let mut count = 0;
    for r in merge::<Keyed<InternalUser>>(runs, dir.path(), DEFAULT_FAN_IN, "bench").expect("merge") {
        r.expect("record");
        count += 1;
    }
    assert_eq!(count, n);
    (start.elapsed().as_secs_f64(), stats.runs_written, peak_rss_bytes().unwrap_or(0))
}

fn baseline(n: u64, segment: usize) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Instant::now();
    let sorted = extsort::ExternalSorter::new()
        .with_segment_size(segment)
        .with_sort_dir(dir.path().to_path_buf())
        .sort(records(n).map(Flat))
        .expect("extsort");
    let mut count = 0u64;
    for record in sorted {
        record.expect("record");
        count += 1;
    }
    assert_eq!(count, n);
    (start.elapsed().as_secs_f64(), peak_rss_bytes().unwrap_or(0))
}

fn main() {
    let n: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "records: {n} (key + 8 fields, ~130 bytes); generating and keying them alone takes {:.2} s",
        generate_only(n)
    );
    println!("{:<28} {:>9} {:>12} {:>7} {:>10}", "sorter", "seconds", "records/s", "runs", "peak RSS");
    for budget_mib in [8u64, 64] {
        reset_peak_rss();
        let (secs, runs, peak) = ours(n, budget_mib << 20);
        println!(
            "{:<28} {:>9.2} {:>12.0} {:>7} {:>9.1}M",
            format!("vendor-match {budget_mib}MiB"),
            secs,
            n as f64 / secs,
            runs,
            mib(peak)
        );
    }
    for segment in [100_000usize, 500_000] {
        reset_peak_rss();
        let (secs, peak) = baseline(n, segment);
        println!(
            "{:<28} {:>9.2} {:>12.0} {:>7} {:>9.1}M",
            format!("extsort seg {segment}"),
            secs,
            n as f64 / secs,
            n.div_ceil(segment as u64),
            mib(peak)
        );
    }
}
