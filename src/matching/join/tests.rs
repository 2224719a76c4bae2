//! Merge-join tests: every status and ambiguous shape, and a property against a naive in-memory join.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{join, Cursor};
use crate::key::{push_match_key, KeyField};
use crate::model::MatchStatus;
use crate::record::{field, finish_key_sort, start_key_sort, Record};
use crate::sort::SortError;

/// A key-sorted stream held in memory.
struct InMemory {
    records: Vec<Vec<u8>>,
    at: usize,
}

impl Cursor for InMemory {
    fn peek(&self) -> Option<Record<'_>> {
        self.records.get(self.at).and_then(|r| Record::decode(r))
    }
    fn advance(&mut self) -> Result<(), SortError> {
        self.at += 1;
        Ok(())
    }
}

/// A record of `id` with the match key `key` ("" = unmatchable).
type Input = (i64, String);

fn vendor(id: i64, key: &str) -> Input {
    (id, key.to_string())
}

fn internal(id: i64, key: &str) -> Input {
    (id, key.to_string())
}

fn cursor(inputs: &[Input]) -> InMemory {
    let mut records: Vec<Vec<u8>> = inputs
        .iter()
        .map(|(id, key)| {
            let mut sort = Vec::new();
            start_key_sort(&mut sort);
            sort.extend_from_slice(key.as_bytes());
            finish_key_sort(&mut sort, *id);
            let mut payload = Vec::new();
            field::put_int8(&mut payload, Some(*id));
            let mut encoded = Vec::new();
            Record { sort: &sort, payload: &payload }.encode_into(&mut encoded);
            encoded
        })
        .collect();
    records.sort_by(|a, b| Record::decode(a).unwrap().sort.cmp(Record::decode(b).unwrap().sort));
    InMemory { records, at: 0 }
}

type Row = (MatchStatus, Option<i64>, Option<i64>);

fn id(record: Record<'_>) -> i64 {
    field::int8(field::split::<1>(record.payload).unwrap()[0]).unwrap()
}

fn run_join(v: Vec<Input>, i: Vec<Input>) -> Vec<Row> {
    let mut rows = Vec::new();
    join(&mut cursor(&v), &mut cursor(&i), |s, v, i| -> Result<(), SortError> {
        rows.push((s, v.map(id), i.map(id)));
        Ok(())
    })
    .unwrap();
    rows.sort();
    rows
}

#[test]
fn one_to_one_is_one_matched_row() {
    assert_eq!(
        run_join(vec![vendor(10, "a")], vec![internal(1, "a")]),
        vec![(MatchStatus::Matched, Some(10), Some(1))]
    );
}

#[test]
fn one_vendor_two_internal_is_three_ambiguous_rows() {
    let rows = run_join(vec![vendor(10, "a")], vec![internal(1, "a"), internal(2, "a")]);
    assert_eq!(
        rows,
        vec![
            (MatchStatus::Ambiguous, None, Some(1)),
            (MatchStatus::Ambiguous, None, Some(2)),
            (MatchStatus::Ambiguous, Some(10), None)
        ]
    );
}

#[test]
fn two_vendor_one_internal_is_ambiguous() {
    let rows = run_join(vec![vendor(10, "a"), vendor(11, "a")], vec![internal(1, "a")]);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.0 == MatchStatus::Ambiguous));
}

#[test]
fn two_by_two_is_four_ambiguous_rows() {
    let rows = run_join(vec![vendor(10, "a"), vendor(11, "a")], vec![internal(1, "a"), internal(2, "a")]);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.0 == MatchStatus::Ambiguous));
}

#[test]
fn one_sided_keys_and_unmatchable_records() {
    let rows =
        run_join(vec![vendor(10, "b"), vendor(11, "")], vec![internal(1, "c"), internal(2, ""), internal(3, "")]);
    assert_eq!(
        rows,
        vec![
            (MatchStatus::InternalOnly, None, Some(1)),
            (MatchStatus::VendorOnly, Some(10), None),
            (MatchStatus::Unmatchable, None, Some(2)),
            (MatchStatus::Unmatchable, None, Some(3)),
            (MatchStatus::Unmatchable, Some(11), None),
        ]
    );
}

#[test]
fn keys_are_built_from_normalized_fields_before_joining() {
    let key = |values: [&str; 4]| {
        let mut out = Vec::new();
        assert!(push_match_key(&mut out, &KeyField::ALL, |f| Some(values[f as usize])));
        String::from_utf8(out).unwrap()
    };
    let v = (10, key(["  ANGELOVICH", "Fern", "Neurology", "bon_air"]));
    let i = (1, key(["Angelovich", "fern ", "neurology", "bon air"]));
    assert_eq!(run_join(vec![v], vec![i]), vec![(MatchStatus::Matched, Some(10), Some(1))]);
}

#[test]
fn a_key_that_prefixes_another_is_a_different_key() {
    let rows = run_join(vec![vendor(10, "ab"), vendor(11, "a")], vec![internal(1, "a"), internal(2, "a b")]);
    assert_eq!(
        rows,
        vec![
            (MatchStatus::Matched, Some(11), Some(1)),
            (MatchStatus::InternalOnly, None, Some(2)),
            (MatchStatus::VendorOnly, Some(10), None),
        ]
    );
}

/// The SPEC §4 rule, the simple way: group everything in memory.
fn naive(v: &[Input], i: &[Input]) -> Vec<Row> {
    let mut groups: BTreeMap<&str, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    let mut rows = Vec::new();
    for (id, key) in v {
        if key.is_empty() {
            rows.push((MatchStatus::Unmatchable, Some(*id), None));
        } else {
            groups.entry(key).or_default().0.push(*id);
        }
    }
    for (id, key) in i {
        if key.is_empty() {
            rows.push((MatchStatus::Unmatchable, None, Some(*id)));
        } else {
            groups.entry(key).or_default().1.push(*id);
        }
    }
    for (vs, is) in groups.values() {
        match (vs.len(), is.len()) {
            (1, 1) => rows.push((MatchStatus::Matched, Some(vs[0]), Some(is[0]))),
            (a, b) if a > 1 || b > 1 => {
                rows.extend(vs.iter().map(|id| (MatchStatus::Ambiguous, Some(*id), None)));
                rows.extend(is.iter().map(|id| (MatchStatus::Ambiguous, None, Some(*id))));
            }
            (1, 0) => rows.push((MatchStatus::VendorOnly, Some(vs[0]), None)),
            _ => rows.push((MatchStatus::InternalOnly, None, Some(is[0]))),
        }
    }
    rows.sort();
    rows
}

proptest! {
    #[test]
    fn join_equals_a_naive_in_memory_join(
        v_keys in proptest::collection::vec(prop_oneof![Just(String::new()), "[a-c]{1,2}"], 0..40),
        i_keys in proptest::collection::vec(prop_oneof![Just(String::new()), "[a-c]{1,2}"], 0..40),
    ) {
        let v: Vec<_> = v_keys.iter().enumerate().map(|(n, k)| vendor(1000 + n as i64, k)).collect();
        let i: Vec<_> = i_keys.iter().enumerate().map(|(n, k)| internal(n as i64, k)).collect();
        prop_assert_eq!(run_join(v.clone(), i.clone()), naive(&v, &i));
    }
}
