//! Experiments checking four claimed limitations of `extsort` 0.5.0: the evidence for writing our
//! own sorter (README, BENCHMARKS.md). Run with
//! `cargo run --release --example extsort_limits`; prints one `CLAIM n:` line per claim.
//!
//! 1. The in-memory buffer is bounded by item count (`with_segment_size`), not bytes.
//! 2. Every segment file stays open (no multi-pass merge), so a low `ulimit -n` gives EMFILE;
//!    also: what is left on disk after that failure.
//! 3. Two sorters sharing a `with_sort_dir` overwrite each other's segment files `0`, `1`, ...
//! 4. A truncated segment file reads as a normal end of run: rows vanish with no error.
//!
//! Claim 2 re-runs this executable as a child under `sh -c "ulimit -n 64; exec ..."`.
//! Linux only (reads /proc/self/status and /proc/self/fd).

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::Command;

use extsort::{ExternalSorter, Sortable};

/// Test record: encoded as u32 LE length + bytes + u64 LE.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    key: Vec<u8>,
    n: u64,
}

impl Sortable for Rec {
    fn encode<W: Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(&(self.key.len() as u32).to_le_bytes())?;
        w.write_all(&self.key)?;
        w.write_all(&self.n.to_le_bytes())
    }
    fn decode<R: Read>(r: &mut R) -> io::Result<Self> {
        let mut b4 = [0u8; 4];
        r.read_exact(&mut b4)?;
        let len = u32::from_le_bytes(b4) as usize;
        if len > 1 << 24 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad length"));
        }
        let mut key = vec![0u8; len];
        r.read_exact(&mut key)?;
        let mut b8 = [0u8; 8];
        r.read_exact(&mut b8)?;
        Ok(Rec { key, n: u64::from_le_bytes(b8) })
    }
}

fn rec(prefix: &str, i: u64) -> Rec {
    Rec { key: format!("{prefix}{i:06}").into_bytes(), n: i }
}

fn proc_status_kb(field: &str) -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn count_entries(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Files in `dir` and in its immediate subdirectories (extsort's TempDir is one level down).
fn count_files_deep(dir: &Path) -> usize {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten().map(|e| if e.path().is_dir() { count_entries(&e.path()) } else { 1 }).sum()
}

/// Sorts `n` records of `payload` bytes, generated lazily; returns (peak RSS MB, segments).
fn peak_rss_mb(n: u64, payload: usize, seg: usize) -> io::Result<(u64, usize)> {
    fs::write("/proc/self/clear_refs", "5")?; // reset VmHWM to the current RSS
    let items = (0..n).map(|i| Rec { key: vec![(i % 251) as u8; payload], n: i });
    let it = ExternalSorter::new().with_segment_size(seg).sort(items)?;
    Ok((proc_status_kb("VmHWM:") / 1024, it.disk_segment_count()))
}

fn claim1() -> io::Result<String> {
    // Same item count and segment size; only the record size changes. 10,001 items are
    // buffered before the first spill (the buffer spills when len > segment_size).
    let base = proc_status_kb("VmRSS:") / 1024;
    let (small, s1) = peak_rss_mb(12_000, 16, 10_000)?;
    let (big_seg100, s2) = peak_rss_mb(12_000, 100 * 1024, 100)?;
    let (big, s3) = peak_rss_mb(12_000, 100 * 1024, 10_000)?;
    let ok = big > 900 && small < 100 && big_seg100 < 100;
    Ok(format!(
        "{} — 12,000 records, peak RSS (VmHWM, baseline RSS {base} MB): 16 B records, segment 10,000: \
         {small} MB ({s1} segments); 100 KB records, segment 100: {big_seg100} MB ({s2} segments); \
         100 KB records, default segment 10,000: {big} MB ({s3} segments)",
        verdict(ok)
    ))
}

/// Child side of claim 2 (runs under `ulimit -n 64`): 100 segments, explicit and default dir.
fn emfile_child(sort_dir: &Path) {
    let items = || (0..1000).rev().map(|i| rec("k", i));
    let r = ExternalSorter::new().with_segment_size(10).with_sort_dir(sort_dir.into()).sort(items());
    println!("with_sort_dir sort() -> {}", describe(r.map(|it| it.count())));
    let r = ExternalSorter::new().with_segment_size(10).sort(items()); // default: TempDir in $TMPDIR
    println!("default-dir sort() -> {}", describe(r.map(|it| it.count())));
}

fn describe(r: io::Result<usize>) -> String {
    match r {
        Ok(n) => format!("Ok({n} items)"),
        Err(e) => format!("Err(raw_os_error={:?}: {e})", e.raw_os_error()),
    }
}

fn claim2() -> io::Result<String> {
    // (a) Unlimited: how many fds does a 100-segment iterator hold, and what stays on disk.
    let dir = tempfile::tempdir()?;
    let fds_before = count_entries(Path::new("/proc/self/fd"));
    let it = ExternalSorter::new()
        .with_segment_size(10)
        .with_sort_dir(dir.path().into())
        .sort((0..1000).rev().map(|i| rec("k", i)))?;
    let (segs, fds_held) = (it.disk_segment_count(), count_entries(Path::new("/proc/self/fd")) - fds_before);
    let n = it.count();
    let left_after_ok = count_entries(dir.path());
    // (b) Child under ulimit -n 64, with an explicit sort dir and with the default temp dir.
    let (sort_dir, tmp) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let out = Command::new("sh")
        .args(["-c", "ulimit -n 64; exec \"$0\" emfile \"$1\""])
        .arg(std::env::current_exe()?)
        .arg(sort_dir.path())
        .env("TMPDIR", tmp.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\n', "; ");
    let emfile = stdout.matches("Some(24)").count() == 2;
    let (left_dir, left_tmp) = (count_entries(sort_dir.path()), count_entries(tmp.path()));
    let left_tmp_files = count_files_deep(tmp.path());
    Ok(format!(
        "{} — unlimited: {segs} segments held {fds_held} extra fds while the iterator lived, merged {n} items, \
         {left_after_ok} segment files left in with_sort_dir after drop; ulimit -n 64 child: {stdout}\
         files left in with_sort_dir after failure: {left_dir}; default $TMPDIR: {left_tmp} TempDir(s) left holding {left_tmp_files} segment files",
        verdict(emfile && fds_held >= segs)
    ))
}

fn claim3() -> io::Result<String> {
    // Sorter A spills 3 segments into `dir` and returns its iterator; sorter B then sorts a
    // different input into the same dir before A is read back.
    let dir = tempfile::tempdir()?;
    let sorter = || ExternalSorter::new().with_segment_size(1000).with_sort_dir(dir.path().into());
    let a_in: Vec<Rec> = (0..3000).rev().map(|i| rec("a-", i)).collect();
    let b_in: Vec<Rec> = (0..3000).rev().map(|i| rec("b-", i)).collect();
    let it_a = sorter().sort(a_in.clone())?;
    let it_b = sorter().sort(b_in.clone())?;
    let (mut a_exp, mut b_exp) = (a_in, b_in);
    a_exp.sort();
    b_exp.sort();
    let (a_out, a_err): (Vec<_>, Vec<_>) = it_a.partition(|r| r.is_ok());
    let a_out: Vec<Rec> = a_out.into_iter().flatten().collect();
    let b_out: Vec<Rec> = it_b.flatten().collect();
    let from_b = a_out.iter().filter(|r| r.key.starts_with(b"b-")).count();
    let ok = a_out != a_exp;
    Ok(format!(
        "{} — A pushed 3000 'a-' rows, got back {} rows ({} errors), {from_b} of them are B's 'b-' rows, \
         A output == sorted A input: {}; B output == sorted B input: {}; files in shared dir: {}",
        verdict(ok),
        a_out.len(),
        a_err.len(),
        a_out == a_exp,
        b_out == b_exp,
        count_entries(dir.path())
    ))
}

fn claim4() -> io::Result<String> {
    // After sort() returns, cut segment file "1" to half its length, then iterate.
    // 5 segments exercises the "peek" merge, 25 segments the heap merge (threshold 20).
    let mut facts = Vec::new();
    let mut silent = true;
    for total in [5_000u64, 25_000] {
        let dir = tempfile::tempdir()?;
        let it = ExternalSorter::new()
            .with_segment_size(1000)
            .with_sort_dir(dir.path().into())
            .sort((0..total).rev().map(|i| rec("k", i)))?;
        let (segs, reported) = (it.disk_segment_count(), it.sorted_count());
        let seg1 = dir.path().join("1");
        let len = fs::metadata(&seg1)?.len();
        OpenOptions::new().write(true).open(&seg1)?.set_len(len / 2)?;
        let (mut got, mut errs, mut first_err) = (0u64, 0, String::from("none"));
        for r in it {
            match r {
                Ok(_) => got += 1,
                Err(e) => {
                    errs += 1;
                    first_err = e.to_string();
                }
            }
        }
        silent &= errs == 0 && got < total;
        facts.push(format!(
            "{segs} segments, segment 1 cut {len}->{} B: pushed {total}, sorted_count() {reported}, \
             returned {got}, lost {}, errors {errs} (first: {first_err})",
            len / 2,
            total - got
        ));
    }
    Ok(format!("{} — {}", verdict(silent), facts.join("; ")))
}

fn verdict(confirmed: bool) -> &'static str {
    if confirmed {
        "CONFIRMED"
    } else {
        "REFUTED"
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("emfile") {
        return emfile_child(Path::new(&args[2]));
    }
    let claims: [fn() -> io::Result<String>; 4] = [claim1, claim2, claim3, claim4];
    for (i, claim) in claims.iter().enumerate() {
        match claim() {
            Ok(line) => println!("CLAIM {}: {line}", i + 1),
            Err(e) => println!("CLAIM {}: experiment failed: {e}", i + 1),
        }
    }
}
