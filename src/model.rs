//! What every stage names: the side a record came from and the match status of a warehouse row.
//! (The records themselves travel as bytes: see [`crate::record`].)

use serde::{Deserialize, Serialize};

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
