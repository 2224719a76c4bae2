//! Merge-join tests: every status and ambiguous shape, and a property against a naive in-memory join.

use std::collections::BTreeMap;
use std::convert::Infallible;

use proptest::prelude::*;

use super::join;
use crate::key::KeyField;
use crate::model::{InternalUser, Keyed, MatchStatus, VendorUser};

fn vendor(id: i64, key: &str) -> Keyed<VendorUser> {
    Keyed { key: key.to_string(), user: VendorUser::with_id(id) }
}

fn internal(id: i64, key: &str) -> Keyed<InternalUser> {
    Keyed { key: key.to_string(), user: InternalUser::with_id(id) }
}

type Row = (MatchStatus, Option<i64>, Option<i64>);

fn run_join(mut v: Vec<Keyed<VendorUser>>, mut i: Vec<Keyed<InternalUser>>) -> Vec<Row> {
    v.sort();
    i.sort();
    let mut rows = Vec::new();
    join(v.into_iter().map(Ok::<_, Infallible>), i.into_iter().map(Ok), |s, v, i| {
        rows.push((s, v.map(|r| r.user.id), i.map(|r| r.user.id)));
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
    let mut v = vendor(10, "");
    v.user.lastname = Some("  ANGELOVICH".into());
    v.user.firstname = Some("Fern".into());
    v.user.specialty = Some("Neurology".into());
    v.user.practice_location = Some("bon_air".into());
    let mut i = internal(1, "");
    i.user.lastname = Some("Angelovich".into());
    i.user.firstname = Some("fern ".into());
    i.user.specialty = Some("neurology".into());
    i.user.location = Some("bon air".into());
    let v = Keyed::new(v.user, &KeyField::ALL);
    let i = Keyed::new(i.user, &KeyField::ALL);
    assert_eq!(run_join(vec![v], vec![i]), vec![(MatchStatus::Matched, Some(10), Some(1))]);
}

/// The SPEC §4 rule, the simple way: group everything in memory.
fn naive(v: &[Keyed<VendorUser>], i: &[Keyed<InternalUser>]) -> Vec<Row> {
    let mut groups: BTreeMap<&str, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    let mut rows = Vec::new();
    for r in v {
        if r.key.is_empty() {
            rows.push((MatchStatus::Unmatchable, Some(r.user.id), None));
        } else {
            groups.entry(&r.key).or_default().0.push(r.user.id);
        }
    }
    for r in i {
        if r.key.is_empty() {
            rows.push((MatchStatus::Unmatchable, None, Some(r.user.id)));
        } else {
            groups.entry(&r.key).or_default().1.push(r.user.id);
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
        v_keys in proptest::collection::vec(prop_oneof![Just(String::new()), "[a-e]"], 0..40),
        i_keys in proptest::collection::vec(prop_oneof![Just(String::new()), "[a-e]"], 0..40),
    ) {
        let v: Vec<_> = v_keys.iter().enumerate().map(|(n, k)| vendor(1000 + n as i64, k)).collect();
        let i: Vec<_> = i_keys.iter().enumerate().map(|(n, k)| internal(n as i64, k)).collect();
        prop_assert_eq!(run_join(v.clone(), i.clone()), naive(&v, &i));
    }
}
