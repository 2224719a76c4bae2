//! What match counts for the report: rows per status, the 2x2 active table of matched pairs, the phi coefficient.

use serde::{Deserialize, Serialize};

use crate::model::MatchStatus;

/// A count per match status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// `matched`.
    pub matched: u64,
    /// `ambiguous`.
    pub ambiguous: u64,
    /// `internal_only`.
    pub internal_only: u64,
    /// `vendor_only`.
    pub vendor_only: u64,
    /// `unmatchable`.
    pub unmatchable: u64,
}

impl StatusCounts {
    /// Adds one to `status`.
    pub fn add(&mut self, status: MatchStatus) {
        *self.get_mut(status) += 1;
    }
    /// The count of `status`.
    pub fn get(&self, status: MatchStatus) -> u64 {
        match status {
            MatchStatus::Matched => self.matched,
            MatchStatus::Ambiguous => self.ambiguous,
            MatchStatus::InternalOnly => self.internal_only,
            MatchStatus::VendorOnly => self.vendor_only,
            MatchStatus::Unmatchable => self.unmatchable,
        }
    }
    fn get_mut(&mut self, status: MatchStatus) -> &mut u64 {
        match status {
            MatchStatus::Matched => &mut self.matched,
            MatchStatus::Ambiguous => &mut self.ambiguous,
            MatchStatus::InternalOnly => &mut self.internal_only,
            MatchStatus::VendorOnly => &mut self.vendor_only,
            MatchStatus::Unmatchable => &mut self.unmatchable,
        }
    }
    /// The sum over all statuses.
    pub fn total(&self) -> u64 {
        MatchStatus::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

/// Active status of matched pairs: a 2x2 table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveTable {
    /// Active on both platforms.
    pub both: u64,
    /// Active on ours only.
    pub internal_only: u64,
    /// Active on the vendor's only.
    pub vendor_only: u64,
    /// Active on neither.
    pub neither: u64,
}

impl ActiveTable {
    /// Counts one matched pair.
    pub fn add(&mut self, internal_active: bool, vendor_active: bool) {
        match (internal_active, vendor_active) {
            (true, true) => self.both += 1,
            (true, false) => self.internal_only += 1,
            (false, true) => self.vendor_only += 1,
            (false, false) => self.neither += 1,
        }
    }

    /// The phi coefficient of the two active flags, or `None` when a row or
    /// column of the table is empty (phi is undefined then).
    pub fn phi(&self) -> Option<f64> {
        let [a, b, c, d] = [self.both, self.internal_only, self.vendor_only, self.neither].map(|n| n as f64);
        let denominator = ((a + b) * (c + d) * (a + c) * (b + d)).sqrt();
        if denominator == 0.0 {
            return None;
        }
        Some((a * d - b * c) / denominator)
    }
}

/// Everything the match stage counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchStats {
    /// Warehouse rows per status (a matched pair is one row).
    pub rows: StatusCounts,
    /// Vendor records per status.
    pub vendor_records: StatusCounts,
    /// Our records per status.
    pub internal_records: StatusCounts,
    /// Active flags of matched pairs.
    pub active: ActiveTable,
    /// Vendor records last active after the report date.
    pub vendor_future_dates: u64,
    /// Our records last active after the report date.
    pub internal_future_dates: u64,
    /// Vendor records without a last active date.
    pub vendor_null_dates: u64,
    /// Our records without a last active date.
    pub internal_null_dates: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_of_perfect_association_is_one() {
        let t = ActiveTable { both: 10, internal_only: 0, vendor_only: 0, neither: 5 };
        assert!((t.phi().unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn phi_of_a_known_table() {
        // (20*40 - 10*30) / sqrt(30*70*50*50) = 500 / 2291.29
        let t = ActiveTable { both: 20, internal_only: 10, vendor_only: 30, neither: 40 };
        assert!((t.phi().unwrap() - 500.0 / (30.0f64 * 70.0 * 50.0 * 50.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn phi_is_undefined_with_an_empty_margin() {
        let t = ActiveTable { both: 3, internal_only: 4, vendor_only: 0, neither: 0 };
        assert_eq!(t.phi(), None);
    }

    #[test]
    fn status_counts_add_up() {
        let mut c = StatusCounts::default();
        for s in MatchStatus::ALL {
            c.add(s);
        }
        c.add(MatchStatus::Matched);
        assert_eq!((c.matched, c.total()), (2, 6));
    }
}
