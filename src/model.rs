//! The records that flow through the pipeline: one user of each side, keyed for sorting.

use std::cmp::Ordering;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::key::KeyField;

/// One vendor user as read from a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorUser {
    /// Vendor `id`.
    pub id: i64,
    /// The page it came from (the later page wins for a repeated id).
    pub page: u32,
    /// Its position on that page.
    pub position: u32,
    /// First name.
    pub firstname: Option<String>,
    /// Last name.
    pub lastname: Option<String>,
    /// Specialty.
    pub specialty: Option<String>,
    /// `practice_location`, with underscores as the vendor writes it.
    pub practice_location: Option<String>,
    /// `user_type_classification`.
    pub classification: Option<String>,
    /// Last active date.
    pub last_active_date: Option<NaiveDate>,
}

/// One of our users, joined to its practice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalUser {
    /// `"user".id`.
    pub id: i64,
    /// First name.
    pub firstname: Option<String>,
    /// Last name.
    pub lastname: Option<String>,
    /// Specialty.
    pub specialty: Option<String>,
    /// `user_practice.location`.
    pub location: Option<String>,
    /// `classification`.
    pub classification: Option<String>,
    /// `platform_registered_on`.
    pub platform_registered_on: Option<String>,
    /// Last active date.
    pub last_active_date: Option<NaiveDate>,
}

#[cfg(test)]
impl VendorUser {
    /// A user with only an id, for tests.
    pub(crate) fn with_id(id: i64) -> VendorUser {
        VendorUser {
            id,
            page: 1,
            position: 0,
            firstname: None,
            lastname: None,
            specialty: None,
            practice_location: None,
            classification: None,
            last_active_date: None,
        }
    }
}

#[cfg(test)]
impl InternalUser {
    /// A user with only an id, for tests.
    pub(crate) fn with_id(id: i64) -> InternalUser {
        InternalUser {
            id,
            firstname: None,
            lastname: None,
            specialty: None,
            location: None,
            classification: None,
            platform_registered_on: None,
            last_active_date: None,
        }
    }
}

/// Which source a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Friendly Vendor's API.
    Vendor,
    /// Our PostgreSQL database.
    Internal,
}

impl Side {
    /// `vendor` or `internal`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Vendor => "vendor",
            Side::Internal => "internal",
        }
    }
}

/// The outcome of matching for one warehouse row (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    /// Exactly one record on each side has the key.
    Matched,
    /// More than one record on a side has the key.
    Ambiguous,
    /// Only we have the key.
    InternalOnly,
    /// Only the vendor has the key.
    VendorOnly,
    /// A key field is missing or blank.
    Unmatchable,
}

impl MatchStatus {
    /// Every status, in report order.
    pub const ALL: [MatchStatus; 5] = [
        MatchStatus::Matched,
        MatchStatus::Ambiguous,
        MatchStatus::InternalOnly,
        MatchStatus::VendorOnly,
        MatchStatus::Unmatchable,
    ];

    /// The text stored in `match_status`.
    pub fn name(self) -> &'static str {
        match self {
            MatchStatus::Matched => "matched",
            MatchStatus::Ambiguous => "ambiguous",
            MatchStatus::InternalOnly => "internal_only",
            MatchStatus::VendorOnly => "vendor_only",
            MatchStatus::Unmatchable => "unmatchable",
        }
    }
}

/// Access to the key fields of a user of either side.
pub trait KeySource {
    /// The raw value of a key field.
    fn key_value(&self, field: KeyField) -> Option<&str>;
    /// The source id.
    fn id(&self) -> i64;
}

impl KeySource for VendorUser {
    fn key_value(&self, field: KeyField) -> Option<&str> {
        match field {
            KeyField::Lastname => self.lastname.as_deref(),
            KeyField::Firstname => self.firstname.as_deref(),
            KeyField::Specialty => self.specialty.as_deref(),
            KeyField::Location => self.practice_location.as_deref(),
        }
    }
    fn id(&self) -> i64 {
        self.id
    }
}

impl KeySource for InternalUser {
    fn key_value(&self, field: KeyField) -> Option<&str> {
        match field {
            KeyField::Lastname => self.lastname.as_deref(),
            KeyField::Firstname => self.firstname.as_deref(),
            KeyField::Specialty => self.specialty.as_deref(),
            KeyField::Location => self.location.as_deref(),
        }
    }
    fn id(&self) -> i64 {
        self.id
    }
}

/// A user with its match key, ordered by (key, id). An empty key means
/// unmatchable: those sort first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<T> {
    /// The encoded match key, or "" when unmatchable.
    pub key: String,
    /// The user.
    pub user: T,
}

impl<T: KeySource> Keyed<T> {
    /// Keys `user` on `fields`.
    pub fn new(user: T, fields: &[KeyField]) -> Keyed<T> {
        let key = crate::key::match_key(fields, |f| user.key_value(f)).unwrap_or_default();
        Keyed { key, user }
    }
}

impl<T: KeySource + Eq> Ord for Keyed<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key).then_with(|| self.user.id().cmp(&other.user.id()))
    }
}

impl<T: KeySource + Eq> PartialOrd for Keyed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A vendor user ordered by (id, page, position): the last of a run of equal
/// ids is the one from the latest page, which wins (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorById(pub VendorUser);

impl Ord for VendorById {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.0, &other.0);
        (a.id, a.page, a.position).cmp(&(b.id, b.page, b.position))
    }
}

impl PartialOrd for VendorById {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One warehouse row (SPEC §6): a matched pair, or one record of either side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CombinedRow<'a> {
    /// The run's report date.
    pub report_date: NaiveDate,
    /// The run that loaded the row.
    pub run_id: &'a str,
    /// The outcome.
    pub match_status: MatchStatus,
    /// The normalized key; null for unmatchable records.
    pub match_key: Option<&'a str>,
    /// Our id.
    pub internal_user_id: Option<i64>,
    /// Vendor id.
    pub vendor_user_id: Option<i64>,
    /// Ours when we have the user, else the vendor's.
    pub firstname: Option<&'a str>,
    /// Ours when we have the user, else the vendor's.
    pub lastname: Option<&'a str>,
    /// Ours when we have the user, else the vendor's.
    pub specialty: Option<&'a str>,
    /// Ours when we have the user, else the vendor's with `_` read as a space.
    pub practice_location: Option<String>,
    /// Our classification.
    pub internal_classification: Option<&'a str>,
    /// Our registration platform.
    pub internal_platform_registered_on: Option<&'a str>,
    /// Our last active date.
    pub internal_last_active_date: Option<NaiveDate>,
    /// Active on our platform; null without an internal record.
    pub internal_is_active: Option<bool>,
    /// Vendor classification.
    pub vendor_classification: Option<&'a str>,
    /// Vendor last active date.
    pub vendor_last_active_date: Option<NaiveDate>,
    /// Active on the vendor's platform; null without a vendor record.
    pub vendor_is_active: Option<bool>,
}
