//! What the `sort`, `keys` and `spill_files` benches share: the synthetic records,
//! built exactly as the pipeline builds ours, the command line, medians and
//! the table printer.
//!
//! Records look like our users (`src/extract/internal/encode.rs`): ids from 1,
//! surnames made of shared prefixes and endings (`Babaford`, `Babaez`,
//! `Babakiton`...), a few percent non-ASCII (`Núñez`, `Ødegaard`, `Zoë`,
//! fullwidth `Ｏｒｔｈｏｐｅｄｉｃｓ`), some with underscores, extra spaces or
//! upper case, a specialty, `generic clinic N` (N in 1..=100), a
//! classification, a platform and a date, with a few NULLs (a NULL specialty
//! or location makes the record unmatchable). Record `i` depends only on
//! `i`, so every bench and every repetition sees the same records, whether
//! generated on the fly ([`Generator`]) or held in memory ([`Users`],
//! [`Encoded`]).
//!
//! Each record is built as `RowEncoder::encode` builds it: the sort key with
//! `record::start_key_sort`, `key::push_match_key` over all four key fields
//! and `record::finish_key_sort`; the payload with `record::field::put_*` in
//! the order of `record::internal`.

#![allow(dead_code)] // each bench uses part of this module

use std::time::Instant;

use vendor_match::key::{push_match_key, KeyField};
use vendor_match::record::{self, field, header_lengths, internal, Record, RecordBuf, HEADER_BYTES};

/// Records when the command line gives no count.
pub const DEFAULT_RECORDS: u64 = 1_000_000;

/// Repetitions of every measured case; tables show the median.
pub const REPS: usize = 3;

const SEED: u64 = 0x5eed_2017_0202_0001;

/// Surname beginnings: many surnames share them, so keys share long prefixes.
const PREFIXES: [&str; 24] = [
    "Baba", "Ander", "Mac", "Fitz", "Har", "Wil", "Ros", "Bel", "Mont", "Stan", "Gar", "Hal", "Kor", "Lind", "Nor",
    "Pet", "Rich", "Schw", "Thom", "Van", "Ken", "Dal", "Ash", "Brad",
];
/// Optional middle syllables.
const MIDDLES: [&str; 16] = ["", "", "", "", "", "", "", "", "ki", "ra", "mo", "li", "de", "na", "ber", "vel"];
const ENDINGS: [&str; 16] = [
    "ford", "ez", "son", "ington", "ley", "ton", "berg", "ski", "ova", "wick", "man", "ard", "er", "ell", "stein",
    "cott",
];
const NON_ASCII_SURNAMES: [&str; 12] = [
    "Núñez",
    "Ødegaard",
    "Müller",
    "Łukasiewicz",
    "Çelik",
    "Großmann",
    "Dvořák",
    "Sjöberg",
    "Ibáñez",
    "Öztürk",
    "Şahin",
    "Nguyễn",
];
const FIRSTNAMES: [&str; 40] = [
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Paul",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
];
const NON_ASCII_FIRSTNAMES: [&str; 8] = ["José", "Zoë", "Björn", "François", "Renée", "Søren", "Inés", "Jürgen"];
const SPECIALTIES: [&str; 12] = [
    "Neurology",
    "Cardiology",
    "Dermatology",
    "Pediatrics",
    "Oncology",
    "Radiology",
    "Psychiatry",
    "Orthopedics",
    "Family Medicine",
    "Internal Medicine",
    "General Surgery",
    "Ophthalmology",
];
const FULLWIDTH_SPECIALTIES: [&str; 2] = ["Ｏｒｔｈｏｐｅｄｉｃｓ", "Ｃａｒｄｉｏｌｏｇｙ"];
/// As in the fixtures (`src/fixtures/generate/internal_tables.rs`).
const CLASSIFICATIONS: [&str; 4] = ["contributor", "controversial", "news_reader", "popular"];
const PLATFORMS: [&str; 2] = ["mobile", "website"];
const PRACTICES: u32 = 100;

/// One of our users, as the COPY stream gives it (before keying).
#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    /// `"user".id`.
    pub id: i64,
    /// The text columns in payload order: firstname, lastname, specialty,
    /// location, classification, platform.
    pub texts: [Option<&'a str>; 6],
    /// `last_active_date`, days from 2000-01-01.
    pub last_active: Option<i32>,
}

impl<'a> User<'a> {
    /// The raw value of one key field, as `RowEncoder::encode` maps them.
    pub fn key_value(&self, field: KeyField) -> Option<&'a str> {
        match field {
            KeyField::Firstname => self.texts[internal::FIRSTNAME - 1],
            KeyField::Lastname => self.texts[internal::LASTNAME - 1],
            KeyField::Specialty => self.texts[internal::SPECIALTY - 1],
            KeyField::Location => self.texts[internal::LOCATION - 1],
        }
    }
}

/// Builds `user`'s record into `out` as `RowEncoder::encode` does.
pub fn encode(user: &User<'_>, out: &mut RecordBuf) {
    out.clear();
    record::start_key_sort(&mut out.sort);
    push_match_key(&mut out.sort, &KeyField::ALL, |f| user.key_value(f));
    record::finish_key_sort(&mut out.sort, user.id);
    field::put_int8(&mut out.payload, Some(user.id));
    for value in &user.texts {
        field::put_text(&mut out.payload, value.map(str::as_bytes));
    }
    field::put_date(&mut out.payload, user.last_active);
}

/// Makes user `i` (id `i + 1`) on demand, into its own scratch strings.
pub struct Generator {
    first: String,
    last: String,
    specialty: String,
    location: String,
    base_day: i32,
}

impl Default for Generator {
    fn default() -> Self {
        Generator::new()
    }
}

impl Generator {
    /// A generator; all generators give the same users.
    pub fn new() -> Generator {
        Generator {
            first: String::with_capacity(64),
            last: String::with_capacity(64),
            specialty: String::with_capacity(64),
            location: String::with_capacity(64),
            base_day: field::parse_date("2016-01-01").expect("a date"),
        }
    }

    /// User `index`.
    pub fn user(&mut self, index: u64) -> User<'_> {
        let mut rng = fastrand::Rng::with_seed(SEED ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let Generator { first, last, specialty, location, base_day } = self;

        // Last name: per mille 20 non-ASCII, 20 upper case, 10 padded, 5 with a double space.
        last.clear();
        let roll = rng.u32(..1000);
        if roll < 20 {
            last.push_str(NON_ASCII_SURNAMES[rng.usize(..NON_ASCII_SURNAMES.len())]);
        } else {
            if (45..50).contains(&roll) {
                last.push_str("Van  ");
            }
            last.push_str(PREFIXES[rng.usize(..PREFIXES.len())]);
            last.push_str(MIDDLES[rng.usize(..MIDDLES.len())]);
            last.push_str(ENDINGS[rng.usize(..ENDINGS.len())]);
            if (20..40).contains(&roll) {
                last.make_ascii_uppercase();
            } else if (40..45).contains(&roll) {
                last.insert_str(0, "  ");
                last.push(' ');
            }
        }

        // First name: per mille 10 non-ASCII, 10 "Mary_Ann", 5 "Mary  Ann".
        first.clear();
        let roll = rng.u32(..1000);
        if roll < 10 {
            first.push_str(NON_ASCII_FIRSTNAMES[rng.usize(..NON_ASCII_FIRSTNAMES.len())]);
        } else {
            first.push_str(FIRSTNAMES[rng.usize(..FIRSTNAMES.len())]);
            if roll < 25 {
                first.push_str(if roll < 20 { "_" } else { "  " });
                first.push_str(FIRSTNAMES[rng.usize(..FIRSTNAMES.len())]);
            }
        }

        // Specialty: per mille 5 fullwidth, 10 lower case with underscores, 3 NULL.
        specialty.clear();
        let roll = rng.u32(..1000);
        let has_specialty = roll >= 3;
        if roll < 8 {
            specialty.push_str(FULLWIDTH_SPECIALTIES[rng.usize(..FULLWIDTH_SPECIALTIES.len())]);
        } else {
            specialty.push_str(SPECIALTIES[rng.usize(..SPECIALTIES.len())]);
            if roll < 18 {
                let underscored = specialty.to_ascii_lowercase().replace(' ', "_");
                *specialty = underscored;
            }
        }

        // Location: per mille 5 NULL (no practice: the LEFT JOIN gives NULL).
        location.clear();
        let has_location = rng.u32(..1000) >= 5;
        location.push_str("generic clinic ");
        location.push_str(itoa::Buffer::new().format(1 + rng.u32(..PRACTICES)));

        let classification = CLASSIFICATIONS[rng.usize(..CLASSIFICATIONS.len())];
        let platform = PLATFORMS[rng.usize(..PLATFORMS.len())];
        // 2% never active.
        let last_active = (rng.u32(..100) >= 2).then(|| *base_day + rng.i32(0..400));
        User {
            id: index as i64 + 1,
            texts: [
                Some(first.as_str()),
                Some(last.as_str()),
                has_specialty.then_some(specialty.as_str()),
                has_location.then_some(location.as_str()),
                Some(classification),
                Some(platform),
            ],
            last_active,
        }
    }

    /// Builds record `index` into `out`.
    pub fn record(&mut self, index: u64, out: &mut RecordBuf) {
        let user = self.user(index);
        encode(&user, out);
    }
}

/// Users `0..n` held in memory: one text arena, no allocation per user.
pub struct Users {
    text: String,
    rows: Vec<UserRow>,
}

struct UserRow {
    id: i64,
    /// (start, end) in the arena; start `u32::MAX` for NULL.
    texts: [(u32, u32); 6],
    last_active: Option<i32>,
}

impl Users {
    /// Generates users `0..n`.
    pub fn generate(n: u64) -> Users {
        let mut users = Users { text: String::new(), rows: Vec::with_capacity(n as usize) };
        let mut generator = Generator::new();
        for i in 0..n {
            let user = generator.user(i);
            let mut texts = [(u32::MAX, 0); 6];
            for (span, value) in texts.iter_mut().zip(user.texts) {
                if let Some(value) = value {
                    let start = users.text.len();
                    users.text.push_str(value);
                    let offset = |at: usize| u32::try_from(at).expect("users' text under 4 GiB");
                    *span = (offset(start), offset(users.text.len()));
                }
            }
            users.rows.push(UserRow { id: user.id, texts, last_active: user.last_active });
        }
        users
    }

    /// Users held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// User `i`.
    pub fn get(&self, i: usize) -> User<'_> {
        let row = &self.rows[i];
        let text = |(start, end): (u32, u32)| (start != u32::MAX).then(|| &self.text[start as usize..end as usize]);
        User { id: row.id, texts: row.texts.map(text), last_active: row.last_active }
    }
}

/// Encoded records held back to back in one arena.
pub struct Encoded {
    bytes: Vec<u8>,
    /// End of each record in `bytes`.
    ends: Vec<usize>,
}

impl Encoded {
    /// Records `0..n`, in generation (id) order.
    pub fn generate(n: u64) -> Encoded {
        let mut encoded = Encoded { bytes: Vec::new(), ends: Vec::with_capacity(n as usize) };
        let mut generator = Generator::new();
        let mut buf = RecordBuf::default();
        for i in 0..n {
            generator.record(i, &mut buf);
            buf.record().encode_into(&mut encoded.bytes);
            encoded.ends.push(encoded.bytes.len());
        }
        encoded
    }

    /// The same records in sort-key order, back to back.
    pub fn sorted(&self) -> Encoded {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_unstable_by(|&a, &b| self.record(a).sort.cmp(self.record(b).sort));
        let mut sorted = Encoded { bytes: Vec::with_capacity(self.bytes.len()), ends: Vec::with_capacity(self.len()) };
        for i in order {
            sorted.bytes.extend_from_slice(self.get(i));
            sorted.ends.push(sorted.bytes.len());
        }
        sorted
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Bytes of all encoded records.
    pub fn total_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Record `i`, encoded.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// Record `i`.
    pub fn record(&self, i: usize) -> Record<'_> {
        Record::decode(self.get(i)).expect("a well-formed record")
    }

    /// Every record, encoded, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// The sort key of an encoded record (no length checks beyond slicing).
pub fn sort_key_of(encoded: &[u8]) -> &[u8] {
    let (sort_len, _) = header_lengths(encoded).unwrap_or_default();
    &encoded[HEADER_BYTES..HEADER_BYTES + sort_len]
}

/// An order-dependent checksum over a stream of sort keys: equal for two
/// streams only when they hold the same keys in the same order.
pub fn checksum_step(sum: u64, key: &[u8]) -> u64 {
    (sum.rotate_left(7) ^ xxhash_rust::xxh3::xxh3_64(key)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// The parsed command line.
pub struct Args {
    /// Records to generate.
    pub records: u64,
    /// What was given after the bench name, for the header.
    pub given: Vec<String>,
}

/// Reads `[RECORDS]` (`200000`, `200_000`, `200k`, `1m`); other arguments
/// starting with `-` (cargo passes `--bench`) are ignored.
pub fn args(bench: &str, usage: &str) -> Args {
    let given: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mut records = DEFAULT_RECORDS;
    for arg in &given {
        if arg == "-h" || arg == "--help" {
            println!(
                "usage: cargo bench --bench {bench} -- [RECORDS]   (default {DEFAULT_RECORDS}; 200k, 1m accepted)"
            );
            println!("{usage}");
            std::process::exit(0);
        }
        if arg.starts_with('-') {
            continue;
        }
        records = parse_count(arg).unwrap_or_else(|| {
            eprintln!("error: {arg:?} is not a record count (e.g. 200000, 200k, 1m)");
            std::process::exit(2);
        });
    }
    if records == 0 {
        eprintln!("error: the record count must be at least 1");
        std::process::exit(2);
    }
    Args { records, given }
}

fn parse_count(text: &str) -> Option<u64> {
    let text = text.replace(['_', ','], "").to_ascii_lowercase();
    let (digits, scale) = match text.strip_suffix('k') {
        Some(d) => (d.to_string(), 1_000),
        None => match text.strip_suffix('m') {
            Some(d) => (d.to_string(), 1_000_000),
            None => (text, 1),
        },
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// The header line: the command that reproduces the table, and the record count.
pub fn header(bench: &str, args: &Args, what: &str) -> String {
    let mut command = format!("cargo bench --bench {bench}");
    if !args.given.is_empty() {
        command.push_str(" -- ");
        command.push_str(&args.given.join(" "));
    }
    format!("# {command} | {} records | {what} | median of {REPS} runs", thousands(args.records))
}

/// Runs `case` [`REPS`] times and returns each figure's median.
pub fn median_of<const K: usize>(mut case: impl FnMut() -> [f64; K]) -> [f64; K] {
    let samples: Vec<[f64; K]> = (0..REPS).map(|_| case()).collect();
    std::array::from_fn(|k| {
        let mut values: Vec<f64> = samples.iter().map(|s| s[k]).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    })
}

/// Seconds `f` takes, with its result.
pub fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// Resident memory now (VmRSS), in bytes.
pub fn rss_now_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

/// A scratch directory under `$TMPDIR` (default `/tmp`), removed when dropped.
pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("vm-bench-").tempdir().expect("a scratch directory")
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / (1024.0 * 1024.0))
}

/// A text table: the first column left-aligned, the others right-aligned.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(titles: &[&str]) -> Table {
        Table { rows: vec![titles.iter().map(|t| t.to_string()).collect()] }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| self.rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
            .collect();
        for (r, row) in self.rows.iter().enumerate() {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if c == 0 {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str("  ");
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
            println!("{}", line.trim_end());
            if r == 0 {
                let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
                println!("{}", "-".repeat(total));
            }
        }
    }
}
