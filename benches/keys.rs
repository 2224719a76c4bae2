//! Key normalization throughput over the shared synthetic users (`common`).
//!
//! `cargo bench --bench keys -- [RECORDS]` (default 1,000,000; `200k`, `1m` accepted).
//!
//! The users are generated and held in memory first (not timed); each case
//! then goes over all of them, building into one reused buffer:
//!
//! - `push_match_key`: the match key over all four fields as extract builds
//!   it (ASCII values take the table-driven fast path, the few non-ASCII
//!   ones go through `normalize`);
//! - `normalize` per field: the same key built with `key::normalize` (NFKC,
//!   lowercase, `_` as space, whitespace collapsed) on every value, then
//!   escaped and joined: the general Unicode path, to show what the fast
//!   path saves. Both give the same bytes (checked before timing);
//! - `finish_key_sort`: the XXH3 of the key, the separator and the id, on a
//!   copy of the prebuilt `[room][key]` (the copy alone is the row above it);
//! - the whole sort key: `start_key_sort` + `push_match_key` + `finish_key_sort`.

mod common;

use std::hint::black_box;

use common::{median_of, thousands, timed, Table, User, Users};
use vendor_match::key::{normalize, push_match_key, KeyField};
use vendor_match::record::{finish_key_sort, start_key_sort};

/// The match key built with `key::normalize` on every value, escaped and
/// joined as `push_match_key` does; `false` (and `out` as it was) when unmatchable.
#[inline(never)]
fn general_key(out: &mut Vec<u8>, user: &User<'_>) -> bool {
    let start = out.len();
    for (i, field) in KeyField::ALL.iter().enumerate() {
        if i > 0 {
            out.push(b'|');
        }
        let normalized = user.key_value(*field).map(normalize).unwrap_or_default();
        if normalized.is_empty() {
            out.truncate(start);
            return false;
        }
        // `|` and `\` are ASCII: no UTF-8 continuation byte equals them.
        for byte in normalized.bytes() {
            if byte == b'|' || byte == b'\\' {
                out.push(b'\\');
            }
            out.push(byte);
        }
    }
    true
}

/// Not inlined, like `general_key`: every case then runs the one compiled
/// copy of `push_match_key`. Inlined into each case's loop it measured from
/// 1x to 1.8x slower depending on the loop around it, which made the cases
/// incomparable.
#[inline(never)]
fn fast_key(out: &mut Vec<u8>, user: &User<'_>) -> bool {
    push_match_key(out, &KeyField::ALL, |f| user.key_value(f))
}

/// `[8 bytes of room][match key]` of every user, back to back, as
/// `finish_key_sort` expects its buffer.
struct Prebuilt {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    ids: Vec<i64>,
}

impl Prebuilt {
    fn build(users: &Users) -> Prebuilt {
        let mut prebuilt = Prebuilt { bytes: Vec::new(), ends: Vec::new(), ids: Vec::new() };
        let mut out = Vec::new();
        for i in 0..users.len() {
            let user = users.get(i);
            start_key_sort(&mut out);
            fast_key(&mut out, &user);
            prebuilt.bytes.extend_from_slice(&out);
            prebuilt.ends.push(prebuilt.bytes.len());
            prebuilt.ids.push(user.id);
        }
        prebuilt
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

/// Seconds to run `per_user` over the users at `indexes`; what it returns
/// is kept from the optimizer.
fn over(indexes: &[usize], mut per_user: impl FnMut(usize) -> usize) -> f64 {
    let (secs, sum) = timed(|| indexes.iter().map(|&i| per_user(i)).fold(0usize, usize::wrapping_add));
    black_box(sum);
    secs
}

fn main() {
    let args = common::args("keys", "Times push_match_key, key::normalize per field, and finish_key_sort.");
    let n = args.records;
    println!("{}", common::header("keys", &args, "match keys over 4 fields, one reused buffer"));

    eprintln!("generating {} users...", thousands(n));
    let users = Users::generate(n);

    // Untimed: both paths agree; which users have a non-ASCII key value.
    let (mut fast, mut general) = (Vec::new(), Vec::new());
    let (mut ascii, mut non_ascii) = (Vec::new(), Vec::new());
    let (mut unmatchable, mut key_bytes) = (0u64, 0u64);
    for i in 0..users.len() {
        let user = users.get(i);
        fast.clear();
        general.clear();
        let matchable = fast_key(&mut fast, &user);
        assert_eq!(general_key(&mut general, &user), matchable, "user {}", user.id);
        assert_eq!(fast, general, "user {}: the two paths differ", user.id);
        if KeyField::ALL.iter().any(|f| user.key_value(*f).is_some_and(|v| !v.is_ascii())) {
            non_ascii.push(i);
        } else {
            ascii.push(i);
        }
        unmatchable += u64::from(!matchable);
        key_bytes += fast.len() as u64;
    }
    let all: Vec<usize> = (0..users.len()).collect();
    let prebuilt = Prebuilt::build(&users);

    let mut out = Vec::with_capacity(256);
    let mut cases: Vec<(String, f64, usize)> = Vec::new();
    let mut case = |name: String, indexes: &[usize], run: &mut dyn FnMut(&[usize], &mut Vec<u8>) -> f64| {
        eprintln!("{name}...");
        if indexes.is_empty() {
            return;
        }
        let [secs] = median_of(|| [run(indexes, &mut out)]);
        cases.push((name, secs, indexes.len()));
    };
    let mut push_match_key_case = |indexes: &[usize], out: &mut Vec<u8>| {
        over(indexes, |i| {
            out.clear();
            fast_key(out, &users.get(i));
            out.len()
        })
    };
    case("push_match_key, 4 fields: all records".into(), &all, &mut push_match_key_case);
    case(format!("  of which ASCII only ({})", thousands(ascii.len() as u64)), &ascii, &mut push_match_key_case);
    case(
        format!("  of which with non-ASCII ({})", thousands(non_ascii.len() as u64)),
        &non_ascii,
        &mut push_match_key_case,
    );
    case("key::normalize per field + escape + join".into(), &all, &mut |indexes, out| {
        over(indexes, |i| {
            out.clear();
            general_key(out, &users.get(i));
            out.len()
        })
    });
    case("copy prebuilt [room][key] (baseline of next row)".into(), &all, &mut |indexes, out| {
        over(indexes, |i| {
            out.clear();
            out.extend_from_slice(prebuilt.get(i));
            out.len()
        })
    });
    case("copy + finish_key_sort (XXH3, separator, id)".into(), &all, &mut |indexes, out| {
        over(indexes, |i| {
            out.clear();
            out.extend_from_slice(prebuilt.get(i));
            finish_key_sort(out, prebuilt.ids[i]);
            usize::from(out[0])
        })
    });
    case("whole sort key: start + push_match_key + finish".into(), &all, &mut |indexes, out| {
        over(indexes, |i| {
            let user = users.get(i);
            start_key_sort(out);
            fast_key(out, &user);
            finish_key_sort(out, user.id);
            usize::from(out[0])
        })
    });

    let fast_ns = cases[0].1 * 1e9 / cases[0].2 as f64;
    let mut table = Table::new(&["case", "seconds", "ns/record", "records/s", "vs push_match_key"]);
    for (name, secs, count) in cases {
        let ns = secs * 1e9 / count as f64;
        table.row(vec![
            name,
            format!("{secs:.3}"),
            format!("{ns:.1}"),
            thousands((count as f64 / secs) as u64),
            format!("{:.2}x", ns / fast_ns),
        ]);
    }
    table.print();
    println!(
        "{:.2}% of records have a non-ASCII key value, {:.2}% are unmatchable; mean key {:.1} bytes; \
         both paths give identical keys for all {} records",
        non_ascii.len() as f64 * 100.0 / n as f64,
        unmatchable as f64 * 100.0 / n as f64,
        key_bytes as f64 / n as f64,
        thousands(n)
    );
}
