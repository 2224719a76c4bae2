//! What every stage names: the stages themselves, the side a record came from and the match status of a warehouse row.
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

/// The stages of a run, in order (the report counts as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Stage 1.
    Extract,
    /// Stage 2.
    Match,
    /// Stage 3.
    Load,
    /// The report.
    Report,
}

impl Stage {
    /// Every stage in order.
    pub const ALL: [Stage; 4] = [Stage::Extract, Stage::Match, Stage::Load, Stage::Report];

    /// The stage's name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Extract => "extract",
            Stage::Match => "match",
            Stage::Load => "load",
            Stage::Report => "report",
        }
    }
}
