//! One vendor page body parsed into records keyed by match key: unknown
//! fields ignored, a user that can't be represented kept as a reject.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::VendorError;
use crate::key::{push_match_key, KeyField};
use crate::record::{field, header_lengths, start_key_sort, vendor_key, Record, RecordBuf, HEADER_BYTES};

/// A record of a page that could not be represented.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordReject {
    /// The vendor id, when one could be read.
    pub id: Option<i64>,
    /// Why it was rejected.
    pub reason: String,
}

/// One parsed page.
#[derive(Debug)]
pub struct Page {
    /// The page number.
    pub number: u32,
    /// `total_pages` as this answer reported it.
    pub total_pages: u32,
    /// Its usable users, as encoded records sorted by key
    /// ([`crate::record::vendor_key`]), back to back.
    pub records: Vec<u8>,
    /// How many users `records` holds.
    pub users: usize,
    /// Its unusable records.
    pub rejects: Vec<RecordReject>,
}

impl Page {
    /// The page's records, in page order.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        let mut rest = self.records.as_slice();
        std::iter::from_fn(move || {
            let (sort, payload) = header_lengths(rest.get(..HEADER_BYTES)?)?;
            let length = HEADER_BYTES + sort + payload;
            let encoded = rest.get(..length)?;
            rest = &rest[length..];
            Record::decode(encoded)
        })
    }
}

/// Bytes a parsed user takes beyond the body's text, at most: record header,
/// id, page, position and field lengths. Used to refuse a page of many tiny
/// users before building them.
const RECORD_OVERHEAD_BYTES: u64 = 96;

/// A page whose users are kept as raw JSON, parsed one by one, so that one
/// malformed user is a reject and not a lost page.
#[derive(Deserialize)]
struct RawPage<'a> {
    current_page: u64,
    total_pages: u64,
    #[serde(borrow)]
    users: Vec<&'a RawValue>,
}

/// The same page parsed in one pass: the fast path, taken when every user is
/// well-formed (the usual case).
#[derive(Deserialize)]
struct TypedPage<'a> {
    current_page: u64,
    total_pages: u64,
    #[serde(borrow)]
    users: Vec<RawUser<'a>>,
}

#[derive(Deserialize)]
struct RawUser<'a> {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default, borrow)]
    firstname: Option<Text<'a>>,
    #[serde(default, borrow)]
    lastname: Option<Text<'a>>,
    #[serde(default, borrow)]
    practice_location: Option<Text<'a>>,
    #[serde(default, borrow)]
    specialty: Option<Text<'a>>,
    #[serde(default, borrow)]
    user_type_classification: Option<Text<'a>>,
    #[serde(default, borrow)]
    last_active_date: Option<Text<'a>>,
}

/// A JSON string, borrowed from the body when it has no escapes. (serde
/// borrows a `Cow<str>` field, but not one inside an `Option`: that one
/// would cost an allocation per value.)
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Text<'a>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, value: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(value)))
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(value.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Parses a page body into records keyed on `key_fields`. Unknown fields are
/// ignored; a user that can't be represented (no usable id, a bad date, wrong
/// types) becomes a reject.
pub fn parse_page(body: &[u8], page: u32, memory_cap: u64, key_fields: &[KeyField]) -> Result<Page, VendorError> {
    // Invalid UTF-8 inside a string should cost that value, not the page:
    // such bytes become U+FFFD. (The strict check is the fast one.)
    let text = match std::str::from_utf8(body) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(body),
    };
    // NUL can only come from a `\u0000` escape (JSON strings hold no raw
    // control bytes): without one, no value needs cleaning.
    let has_nul = text.contains("\\u0000");
    let mut builder = PageBuilder::new(page, key_fields, has_nul, body.len());
    let total_pages = match serde_json::from_str::<TypedPage<'_>>(&text) {
        Ok(typed) => {
            let total_pages =
                check_page(typed.current_page, typed.total_pages, typed.users.len(), body, page, memory_cap)?;
            for user in typed.users {
                builder.add(user);
            }
            total_pages
        }
        Err(_) => {
            let raw: RawPage<'_> =
                serde_json::from_str(&text).map_err(|e| VendorError::NotJson { reason: e.to_string() })?;
            let total_pages = check_page(raw.current_page, raw.total_pages, raw.users.len(), body, page, memory_cap)?;
            for user in &raw.users {
                match serde_json::from_str::<RawUser<'_>>(user.get()) {
                    Ok(user) => builder.add(user),
                    // The id is kept when it can be read: the reject must say whose record it was.
                    Err(e) => builder.reject(id_alone(user.get()), format!("user is not a valid record: {e}")),
                }
            }
            total_pages
        }
    };
    Ok(builder.finish(total_pages))
}

/// The page asked for, consistent with its own `total_pages` (returned),
/// and small enough to build: tiny users in a small body would still make a
/// large page once built.
fn check_page(
    current_page: u64,
    total_pages: u64,
    users: usize,
    body: &[u8],
    page: u32,
    memory_cap: u64,
) -> Result<u32, VendorError> {
    if current_page != u64::from(page) {
        return Err(VendorError::WrongPage { asked: page, got: current_page });
    }
    let total_pages = u32::try_from(total_pages)
        .map_err(|_| VendorError::NotJson { reason: format!("total_pages {total_pages} out of range") })?;
    check_count(page, total_pages, users)?;
    let estimate = users as u64 * RECORD_OVERHEAD_BYTES + 2 * body.len() as u64;
    if estimate > memory_cap {
        return Err(VendorError::PageTooLarge { users, bytes: estimate, limit_bytes: memory_cap });
    }
    Ok(total_pages)
}

/// An answer agrees with itself when its page holds users exactly if it is
/// one of its `total_pages`. Two exceptions are the listing shrinking while
/// paging, and lose nobody: the last page empty (the count was taken before
/// the last users went), and any page past the end empty.
fn check_count(page: u32, total_pages: u32, users: usize) -> Result<(), VendorError> {
    if users > 0 && page > total_pages {
        return Err(VendorError::UsersPastTotal { page, total_pages, users });
    }
    if users == 0 && page < total_pages {
        return Err(VendorError::EmptyPage { page, total_pages });
    }
    Ok(())
}

/// Encodes a page's users one by one, reusing its buffers.
struct PageBuilder<'k> {
    page: Page,
    key_fields: &'k [KeyField],
    record: RecordBuf,
    position: u32,
    /// Whether values may hold NUL, which PostgreSQL text can't.
    has_nul: bool,
}

impl<'k> PageBuilder<'k> {
    fn new(number: u32, key_fields: &'k [KeyField], has_nul: bool, body_bytes: usize) -> PageBuilder<'k> {
        // Records take about what their JSON took: one allocation, usually.
        let records = Vec::with_capacity(body_bytes + body_bytes / 4);
        let page = Page { number, total_pages: 0, records, users: 0, rejects: Vec::new() };
        PageBuilder { page, key_fields, record: RecordBuf::default(), position: 0, has_nul }
    }

    fn reject(&mut self, id: Option<i64>, reason: String) {
        self.page.rejects.push(RecordReject { id, reason });
        self.position += 1;
    }

    /// Encodes one user as a record sorted by key, or records why it can't be.
    fn add(&mut self, raw: RawUser<'_>) {
        let Some(id) = raw.id.as_ref().and_then(id_of) else {
            return self.reject(None, "no usable id".into());
        };
        let last_active = match raw.last_active_date.as_ref().map(|t| t.0.as_ref()) {
            None => None,
            Some(text) => match field::parse_date(text) {
                Some(days) => Some(days),
                None => {
                    return self
                        .reject(Some(id), format!("last_active_date {text:?} is not a date in the form YYYY-MM-DD"))
                }
            },
        };
        let has_nul = self.has_nul;
        let [firstname, lastname, specialty, location, classification] =
            [raw.firstname, raw.lastname, raw.specialty, raw.practice_location, raw.user_type_classification]
                .map(|v| v.map(|Text(value)| if has_nul { clean(value) } else { value }));
        let value = |f: KeyField| match f {
            KeyField::Lastname => lastname.as_deref(),
            KeyField::Firstname => firstname.as_deref(),
            KeyField::Specialty => specialty.as_deref(),
            KeyField::Location => location.as_deref(),
        };
        self.record.clear();
        start_key_sort(&mut self.record.sort);
        push_match_key(&mut self.record.sort, self.key_fields, value);
        vendor_key::finish(&mut self.record.sort, id, self.page.number, self.position);
        let fields = &mut self.record.payload;
        field::put_int8(fields, Some(id));
        // As written (`bon_air`): the warehouse keeps the raw value, and its
        // cleaned location reads `_` as a space.
        for text in [&firstname, &lastname, &specialty, &location] {
            field::put_text(fields, text.as_deref().map(str::as_bytes));
        }
        field::put_text(fields, classification.as_deref().map(str::as_bytes));
        field::put_date(fields, last_active);
        self.record.record().encode_into(&mut self.page.records);
        self.page.users += 1;
        self.position += 1;
    }

    fn finish(mut self, total_pages: u32) -> Page {
        self.page.total_pages = total_pages;
        self.page
    }
}

/// Text as stored: NUL bytes (which PostgreSQL text can't hold) removed.
fn clean(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', ""))
    } else {
        value
    }
}

/// A user's id alone, every other field skipped unread: a value that fails
/// as text (a lone surrogate escape, say) does not hide whose record it is.
#[derive(Deserialize)]
struct IdAlone {
    #[serde(default)]
    id: Option<serde_json::Value>,
}

/// The usable id of a user that did not parse as a whole, if it has one.
fn id_alone(user: &str) -> Option<i64> {
    serde_json::from_str::<IdAlone>(user).ok()?.id.as_ref().and_then(id_of)
}

fn id_of(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::vendor;

    /// One decoded user of a parsed page.
    #[derive(Debug, PartialEq)]
    struct User {
        id: i64,
        page: u32,
        position: u32,
        key: String,
        texts: [Option<String>; 5],
        last_active: Option<i32>,
    }

    fn users(page: &Page) -> Vec<User> {
        page.records()
            .map(|record| {
                let fields = field::split::<{ vendor::FIELDS }>(record.payload).unwrap();
                let text = |i: usize| field::text(fields[i]).map(str::to_string);
                let tail = &record.sort[record.sort.len() - 8..];
                let page = u32::from_be_bytes(tail[..4].try_into().unwrap());
                let position = u32::from_be_bytes(tail[4..].try_into().unwrap());
                User {
                    id: field::int8(fields[vendor::ID]).unwrap(),
                    page,
                    position,
                    key: String::from_utf8(crate::record::match_key_of(record.sort).to_vec()).unwrap(),
                    texts: [
                        text(vendor::FIRSTNAME),
                        text(vendor::LASTNAME),
                        text(vendor::SPECIALTY),
                        text(vendor::LOCATION),
                        text(vendor::CLASSIFICATION),
                    ],
                    last_active: field::date_days(fields[vendor::LAST_ACTIVE]),
                }
            })
            .collect()
    }

    fn parse(body: &[u8]) -> Result<Page, VendorError> {
        parse_page(body, 1, u64::MAX, &KeyField::ALL)
    }

    #[test]
    fn page_parses_and_ignores_unknown_fields() {
        let body = br#"{"current_page": 3, "total_pages": 212, "extra": {"x": 1},
            "users": [{"id": 109982, "firstname": "Fern", "lastname": "Angelovich",
            "practice_location": "bon_air", "specialty": "Neurology",
            "user_type_classification": "Contributor", "last_active_date": "2017-01-24", "new_field": [1]}]}"#;
        let page = parse_page(body, 3, u64::MAX, &KeyField::ALL).unwrap();
        assert_eq!(page.total_pages, 212);
        assert_eq!(page.users, 1);
        let u = &users(&page)[0];
        assert_eq!((u.id, u.page, u.position), (109982, 3, 0));
        assert_eq!(u.key, "angelovich|fern|neurology|bon air");
        assert_eq!(u.texts[3].as_deref(), Some("bon_air"), "kept as written");
        assert_eq!(u.texts[4].as_deref(), Some("Contributor"));
        assert_eq!(u.last_active, field::parse_date("2017-01-24"));
    }

    #[test]
    fn the_key_follows_the_chosen_fields_and_a_blank_field_is_unmatchable() {
        let body = br#"{"current_page": 1, "total_pages": 1, "users": [
            {"id": 1, "firstname": "Fern", "lastname": "A", "specialty": " ", "practice_location": "x"}]}"#;
        let on_names = parse_page(body, 1, u64::MAX, &[KeyField::Lastname, KeyField::Firstname]).unwrap();
        assert_eq!(users(&on_names)[0].key, "a|fern");
        assert_eq!(users(&parse(body).unwrap())[0].key, "", "a blank specialty makes the record unmatchable");
    }

    #[test]
    fn bad_records_become_rejects_not_errors() {
        let body = br#"{"current_page": 1, "total_pages": 1, "users": [
            {"firstname": "NoId"}, {"id": "abc"}, {"id": 5, "last_active_date": "2017-02-30"},
            {"id": 6, "firstname": 7}, {"id": "8", "last_active_date": null}]}"#;
        let page = parse(body).unwrap();
        let parsed = users(&page);
        assert_eq!(parsed.iter().map(|u| (u.id, u.position)).collect::<Vec<_>>(), vec![(8, 4)]);
        assert_eq!(page.rejects.len(), 4);
        assert_eq!(page.rejects[2].id, Some(5));
    }

    #[test]
    fn hostile_values_become_clean_values() {
        let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
        let long = "x".repeat(1 << 20);
        let body = format!(
            r#"{{"current_page": 1, "total_pages": 1, "users": [
            {{"id": 1, "firstname": "a\u0000b", "lastname": "{long}", "unknown": {deep}}},
            {{"id": 2, "firstname": "tab\tnew\nline\\ \"q\", c", "lastname": "🦀 Ødegaard"}}]}}"#
        );
        let mut bytes = body.into_bytes();
        // An invalid UTF-8 byte inside a value.
        let at = bytes.windows(3).position(|w| w == b"new").unwrap();
        bytes[at] = 0xff;
        let page = parse(&bytes).unwrap();
        assert_eq!(page.users, 2, "{:?}", page.rejects);
        let parsed = users(&page);
        assert_eq!(parsed[0].texts[0].as_deref(), Some("ab"));
        assert_eq!(parsed[0].texts[1].as_ref().map(String::len), Some(1 << 20));
        assert!(parsed[1].texts[0].as_deref().unwrap().contains('\u{fffd}'));
    }

    #[test]
    fn a_page_of_many_tiny_users_is_refused_before_they_are_built() {
        let users: Vec<String> = (0..10_000).map(|i| format!(r#"{{"id":{i}}}"#)).collect();
        let body = format!(r#"{{"current_page": 1, "total_pages": 1, "users": [{}]}}"#, users.join(","));
        let err = parse_page(body.as_bytes(), 1, 1 << 20, &KeyField::ALL).unwrap_err();
        assert!(matches!(err, VendorError::PageTooLarge { users: 10_000, .. }), "{err}");
        assert!(!super::super::retry::is_transient(&err));
        let page = parse_page(body.as_bytes(), 1, 8 << 20, &KeyField::ALL).unwrap();
        assert_eq!(page.users, 10_000);
        // The estimate holds: the records built stay within it.
        assert!((page.records.len() as u64) < 10_000 * RECORD_OVERHEAD_BYTES + 2 * body.len() as u64);
    }

    // See: issue 9 (a reject for a lone surrogate carried `id: null`).
    #[test]
    fn issue_9_a_reject_for_a_lone_surrogate_in_a_name_carries_the_id() {
        let body = br#"{"current_page": 1, "total_pages": 1, "users": [
            {"id": 41, "firstname": "Ann\ud800", "lastname": "B"}, {"id": "42", "lastname": "\udc00x"},
            {"id": 43, "firstname": "Ok"}]}"#;
        let page = parse(body).unwrap();
        assert_eq!(page.users, 1);
        let rejects: Vec<(Option<i64>, &str)> = page.rejects.iter().map(|r| (r.id, r.reason.as_str())).collect();
        assert_eq!(rejects.iter().map(|r| r.0).collect::<Vec<_>>(), vec![Some(41), Some(42)], "{rejects:?}");
        assert!(rejects.iter().all(|r| r.1.contains("hex escape")), "{rejects:?}");
    }

    #[test]
    fn wrong_types_are_rejects() {
        let body = br#"{"current_page": 1, "total_pages": 1, "users": [
            {"id": 1, "lastname": ["x"]}, {"id": 2.5}, {"id": {"a": 1}}, 17, null, {"id": 3, "last_active_date": 20170101}]}"#;
        let page = parse(body).unwrap();
        assert_eq!(page.users, 0);
        assert_eq!(page.rejects.len(), 6);
    }

    #[test]
    fn the_fast_path_and_the_per_user_path_build_the_same_records() {
        let good = r#"{"id": 7, "firstname": "Zoë", "lastname": "N\u00fa\u00f1ez", "practice_location": "a_b",
            "specialty": "Onc", "user_type_classification": "Lurker", "last_active_date": "2017-01-02"}"#;
        let clean = format!(r#"{{"current_page": 1, "total_pages": 2, "users": [{good}, {good}]}}"#);
        // A bad user sends the page through the per-user path.
        let mixed = format!(r#"{{"current_page": 1, "total_pages": 2, "users": [{good}, 17, {good}]}}"#);
        let fast = users(&parse(clean.as_bytes()).unwrap());
        let slow = users(&parse(mixed.as_bytes()).unwrap());
        assert_eq!(fast[0], slow[0]);
        assert_eq!(fast[1].texts, slow[1].texts);
        assert_eq!(slow[1].position, 2, "the reject keeps its position");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_page_or_an_error_never_a_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&body);
        }

        #[test]
        fn a_mangled_page_gives_a_page_or_an_error_never_a_panic(cut in 0usize..300, byte in proptest::num::u8::ANY) {
            let mut body = br#"{"current_page": 1, "total_pages": 2, "users": [{"id": 5, "firstname": "Fern", "lastname": "A", "practice_location": "x_y", "specialty": "N", "user_type_classification": "L", "last_active_date": "2017-01-24"}]}"#.to_vec();
            let at = cut % body.len();
            body[at] = byte;
            if let Ok(page) = parse(&body) {
                proptest::prop_assert_eq!(users(&page).len(), page.users);
            }
        }
    }

    // See: issue 9 (answers that contradict their own total_pages were accepted).
    #[test]
    fn issue_9_an_answer_whose_users_contradict_its_total_pages_is_an_error() {
        let body = |page: u32, total: u32, users: &str| {
            format!(r#"{{"current_page": {page}, "total_pages": {total}, "users": [{users}]}}"#)
        };
        let at = |page: u32, text: String| parse_page(text.as_bytes(), page, u64::MAX, &KeyField::ALL);
        let user = r#"{"id": 1}"#;
        assert!(matches!(
            at(1, body(1, 0, user)),
            Err(VendorError::UsersPastTotal { page: 1, total_pages: 0, users: 1 })
        ));
        // A user that is a reject is still a user on the page.
        assert!(matches!(at(4, body(4, 3, "17")), Err(VendorError::UsersPastTotal { .. })));
        assert!(matches!(at(2, body(2, 30, "")), Err(VendorError::EmptyPage { page: 2, total_pages: 30 })));
        // Consistent: users within the total; no users on the last page, past it, or of an empty listing.
        for (page, total, users) in [(3, 3, user), (3, 3, ""), (5, 3, ""), (1, 0, "")] {
            assert!(at(page, body(page, total, users)).is_ok(), "page {page} of {total} with [{users}]");
        }
    }

    #[test]
    fn truncated_or_foreign_bodies_are_not_pages() {
        assert!(matches!(parse(br#"{"current_page": 1, "total_pa"#), Err(VendorError::NotJson { .. })));
        assert!(matches!(parse(b"<html>"), Err(VendorError::NotJson { .. })));
        assert!(matches!(
            parse(br#"{"current_page": 2, "total_pages": 3, "users": []}"#),
            Err(VendorError::WrongPage { .. })
        ));
    }
}
