//! The expected warehouse rows, computed the simple way: everything in memory,
//! written independently of the pipeline's code (SPEC §2, §4, §5, §6).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;
use unicode_normalization::UnicodeNormalization;

use super::{TestDb, WarehouseRow};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: i64,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub specialty: Option<String>,
    pub location: Option<String>,
    pub last_active: Option<NaiveDate>,
    pub classification: Option<String>,
    /// Ours only.
    pub platform: Option<String>,
}

fn norm(s: &str) -> String {
    let lowered: String = s.nfkc().collect::<String>().to_lowercase().replace('_', " ");
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A displayed value (SPEC §6, README "The warehouse table"): NFKC, `_` as a
/// space, whitespace collapsed and trimmed; blank is null.
fn cleaned(s: &Option<String>) -> Option<String> {
    let spaced = s.as_deref()?.nfkc().collect::<String>().replace('_', " ");
    let cleaned = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    (!cleaned.is_empty()).then_some(cleaned)
}

/// [`cleaned`], then each word capitalized (words start after a space, `-`, `/` or `(`).
fn title_cased(s: &Option<String>) -> Option<String> {
    let lower = cleaned(s)?.to_lowercase();
    let mut out = String::new();
    let mut word_start = true;
    for c in lower.chars() {
        let upper: String = c.to_uppercase().collect();
        if word_start && upper.chars().count() == 1 {
            out.push_str(&upper);
        } else {
            out.push(c);
        }
        word_start = matches!(c, ' ' | '-' | '/' | '(');
    }
    Some(out)
}

/// The key fields, in key order.
pub const ALL_FIELDS: [&str; 4] = ["lastname", "firstname", "specialty", "location"];

fn key(p: &Person, fields: &[&str]) -> Option<String> {
    let mut parts = Vec::new();
    let values = [&p.lastname, &p.firstname, &p.specialty, &p.location];
    for field in ALL_FIELDS.iter().zip(values).filter(|(name, _)| fields.contains(name)).map(|(_, value)| value) {
        let n = norm(field.as_deref()?);
        if n.is_empty() {
            return None;
        }
        // The documented key format: fields joined by `|`, with `\` and `|` escaped by `\`.
        parts.push(n.replace('\\', "\\\\").replace('|', "\\|"));
    }
    Some(parts.join("|"))
}

fn text(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(|s| s.replace('\0', ""))
}

/// The vendor's contract: `YYYY-MM-DD` exactly (4-digit year, 2-digit month
/// and day, nothing around them), and a real date.
pub fn strict_date(s: &str) -> Option<NaiveDate> {
    let shape =
        s.len() == 10 && s.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
    let (y, m, d) = (s.get(0..4)?.parse().ok()?, s.get(5..7)?.parse().ok()?, s.get(8..10)?.parse().ok()?);
    NaiveDate::from_ymd_opt(y, m, d).filter(|_| shape)
}

/// Every vendor user in the page files of `dir`, one per id (the later page wins).
pub fn vendor_users(dir: &Path) -> Vec<Person> {
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("page-"))
        .collect();
    pages.sort();
    let mut by_id: BTreeMap<i64, Person> = BTreeMap::new();
    for page in pages {
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&page).unwrap()).unwrap();
        for u in json["users"].as_array().unwrap() {
            // A numeric string is a usable id (README: what a reject is).
            let id = u["id"].as_i64().or_else(|| u["id"].as_str().and_then(|s| s.trim().parse().ok()));
            let Some(id) = id else { continue };
            let last_active = match u["last_active_date"].as_str() {
                Some(s) => match strict_date(s) {
                    Some(d) => Some(d),
                    None => continue,
                },
                None => None,
            };
            let person = Person {
                id,
                firstname: text(&u["firstname"]),
                lastname: text(&u["lastname"]),
                specialty: text(&u["specialty"]),
                location: text(&u["practice_location"]),
                last_active,
                classification: text(&u["user_type_classification"]),
                platform: None,
            };
            by_id.insert(id, person);
        }
    }
    by_id.into_values().collect()
}

/// Every internal user, joined to its practice.
pub fn internal_users(db: &TestDb) -> Vec<Person> {
    internal_users_from(&mut db.client())
}

/// Every internal user of the database `client` is connected to.
pub fn internal_users_from(client: &mut postgres::Client) -> Vec<Person> {
    client
        .query(
            "SELECT u.id, u.firstname, u.lastname, u.specialty, p.location, u.last_active_date, \
             u.classification, u.platform_registered_on \
             FROM \"user\" u LEFT JOIN user_practice p ON p.id = u.practice_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| Person {
            id: r.get(0),
            firstname: r.get(1),
            lastname: r.get(2),
            specialty: r.get(3),
            location: r.get(4),
            last_active: r.get(5),
            classification: r.get(6),
            platform: r.get(7),
        })
        .collect()
}

/// Every internal user of the MySQL / MariaDB database `conn` is connected
/// to (in `utf8mb4`), read as the server prints each value. A user the
/// warehouse can't hold is left out, as the README documents it a reject:
/// an id beyond `i64` (`BIGINT UNSIGNED`), or a zero date (`0000-00-00`, or
/// a zero month or day).
pub fn internal_users_from_mysql(conn: &mut mysql::Conn) -> Vec<Person> {
    use mysql::prelude::Queryable;
    let sql = "SELECT CAST(u.id AS CHAR), u.firstname, u.lastname, u.specialty, p.location, \
               CAST(u.last_active_date AS CHAR), u.classification, CAST(u.platform_registered_on AS CHAR) \
               FROM `user` u LEFT JOIN user_practice p ON p.id = u.practice_id";
    let rows: Vec<mysql::Row> = conn.query(sql).unwrap();
    let mut people = Vec::new();
    for row in rows {
        let text = |i: usize| -> Option<String> { mysql::from_value(row[i].clone()) };
        let Ok(id) = text(0).unwrap().parse::<i64>() else { continue };
        let last_active = match text(5) {
            None => None,
            Some(date) if date.split('-').any(|part| part.bytes().all(|b| b == b'0')) => continue,
            Some(date) => Some(date.parse::<NaiveDate>().unwrap()),
        };
        people.push(Person {
            id,
            firstname: text(1),
            lastname: text(2),
            specialty: text(3),
            location: text(4),
            last_active,
            classification: text(6),
            platform: text(7),
        });
    }
    people
}

fn active(d: Option<NaiveDate>, today: NaiveDate, days: i64) -> bool {
    d.is_some_and(|d| d <= today && (today - d).num_days() <= days)
}

/// The SPEC's rows for these two user bases, matched on all four fields.
pub fn expected_rows(vendor: &[Person], internal: &[Person], today: &str, days: i64) -> Vec<WarehouseRow> {
    expected_rows_on(&ALL_FIELDS, vendor, internal, today, days)
}

/// The SPEC's rows, matched on `fields` only.
pub fn expected_rows_on(
    fields: &[&str],
    vendor: &[Person],
    internal: &[Person],
    today: &str,
    days: i64,
) -> Vec<WarehouseRow> {
    let today: NaiveDate = today.parse().unwrap();
    let raw = |p: Option<&Person>| match p {
        Some(p) => [p.firstname.clone(), p.lastname.clone(), p.specialty.clone(), p.location.clone()],
        None => Default::default(),
    };
    let mut groups: HashMap<String, (Vec<&Person>, Vec<&Person>)> = HashMap::new();
    let mut rows = Vec::new();
    let row = |status: &str, k: Option<&String>, v: Option<&Person>, i: Option<&Person>| {
        let pick = |f: fn(&Person) -> &Option<String>| match i {
            Some(i) => f(i).clone(),
            None => v.and_then(|v| f(v).clone()),
        };
        WarehouseRow {
            status: status.to_string(),
            internal_id: i.map(|p| p.id),
            vendor_id: v.map(|p| p.id),
            match_key: k.cloned(),
            firstname: cleaned(&pick(|p| &p.firstname)),
            lastname: cleaned(&pick(|p| &p.lastname)),
            specialty: title_cased(&pick(|p| &p.specialty)),
            location: title_cased(&pick(|p| &p.location)),
            internal_active: i.map(|p| active(p.last_active, today, days)),
            vendor_active: v.map(|p| active(p.last_active, today, days)),
            vendor_last_active: v.and_then(|p| p.last_active),
            internal_last_active: i.and_then(|p| p.last_active),
            internal_classification: i.and_then(|p| p.classification.clone()),
            internal_platform: i.and_then(|p| p.platform.clone()),
            vendor_classification: v.and_then(|p| p.classification.clone()),
            internal_raw: raw(i),
            vendor_raw: raw(v),
        }
    };
    for v in vendor {
        match key(v, fields) {
            Some(k) => groups.entry(k).or_default().0.push(v),
            None => rows.push(row("unmatchable", None, Some(v), None)),
        }
    }
    for i in internal {
        match key(i, fields) {
            Some(k) => groups.entry(k).or_default().1.push(i),
            None => rows.push(row("unmatchable", None, None, Some(i))),
        }
    }
    for (k, (vs, is)) in &groups {
        if vs.len() == 1 && is.len() == 1 {
            rows.push(row("matched", Some(k), Some(vs[0]), Some(is[0])));
        } else if vs.len() > 1 || is.len() > 1 {
            rows.extend(vs.iter().map(|v| row("ambiguous", Some(k), Some(v), None)));
            rows.extend(is.iter().map(|i| row("ambiguous", Some(k), None, Some(i))));
        } else if vs.len() == 1 {
            rows.push(row("vendor_only", Some(k), Some(vs[0]), None));
        } else {
            rows.push(row("internal_only", Some(k), None, Some(is[0])));
        }
    }
    rows.sort();
    rows
}

/// The churn from `earlier` rows to `later` rows, the simple way: among our
/// users matched and active in `earlier` and present in `later`, (users,
/// inactive in `later`) with the vendor active, then with it inactive.
pub fn churn(earlier: &[WarehouseRow], later: &[WarehouseRow]) -> [i64; 4] {
    let mut counts = [0; 4];
    for e in earlier.iter().filter(|r| r.status == "matched" && r.internal_active == Some(true)) {
        let Some(l) = later.iter().find(|l| l.internal_id.is_some() && l.internal_id == e.internal_id) else {
            continue;
        };
        let at = if e.vendor_active == Some(true) { 0 } else { 2 };
        counts[at] += 1;
        counts[at + 1] += i64::from(l.internal_active != Some(true));
    }
    counts
}
