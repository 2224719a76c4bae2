//! The status of one key group (SPEC §4), decided from at most two records per side.

use crate::model::MatchStatus;

/// How many records of one key a side has, as far as matching cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// None.
    Absent,
    /// Exactly one.
    One,
    /// Two or more.
    Many,
}

impl Presence {
    /// From "has a first record" and "has a second record".
    pub fn from_peek(first: bool, second: bool) -> Presence {
        match (first, second) {
            (false, _) => Presence::Absent,
            (true, false) => Presence::One,
            (true, true) => Presence::Many,
        }
    }
}

/// The status shared by every record of a key group.
///
/// One record on each side: `matched`. More than one on either side: every
/// record of the key is `ambiguous` (no pairing is guessed). Otherwise the
/// records of the one side present are `vendor_only` / `internal_only`.
pub fn group_status(vendor: Presence, internal: Presence) -> Option<MatchStatus> {
    use Presence::*;
    match (vendor, internal) {
        (Absent, Absent) => None,
        (One, One) => Some(MatchStatus::Matched),
        (Many, _) | (_, Many) => Some(MatchStatus::Ambiguous),
        (One, Absent) => Some(MatchStatus::VendorOnly),
        (Absent, One) => Some(MatchStatus::InternalOnly),
    }
}

#[cfg(test)]
mod tests {
    use super::Presence::*;
    use super::*;

    #[test]
    fn one_to_one_is_matched() {
        assert_eq!(group_status(One, One), Some(MatchStatus::Matched));
    }

    #[test]
    fn every_ambiguous_shape_is_ambiguous() {
        assert_eq!(group_status(One, Many), Some(MatchStatus::Ambiguous)); // 1:2
        assert_eq!(group_status(Many, One), Some(MatchStatus::Ambiguous)); // 2:1
        assert_eq!(group_status(Many, Many), Some(MatchStatus::Ambiguous)); // 2:2
        assert_eq!(group_status(Many, Absent), Some(MatchStatus::Ambiguous)); // 2:0
        assert_eq!(group_status(Absent, Many), Some(MatchStatus::Ambiguous)); // 0:2
    }

    #[test]
    fn one_side_only() {
        assert_eq!(group_status(One, Absent), Some(MatchStatus::VendorOnly));
        assert_eq!(group_status(Absent, One), Some(MatchStatus::InternalOnly));
        assert_eq!(group_status(Absent, Absent), None);
    }
}
