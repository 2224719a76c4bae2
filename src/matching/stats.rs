//! What match counts for the report, as it writes the rows (no second pass):
//! rows per status, each platform's users and active users, overall and per
//! specialty, the days since users were last active, and the 2x2 active
//! table of matched pairs with its phi coefficient.

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

/// Users of one platform, and how many of them are active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformCounts {
    /// Records (users) of the platform.
    pub users: u64,
    /// Those active on it (SPEC §5).
    pub active: u64,
}

impl PlatformCounts {
    /// Counts one user.
    pub fn add(&mut self, active: bool) {
        self.users += 1;
        self.active += u64::from(active);
    }

    /// The active share, or `None` without users.
    pub fn share(&self) -> Option<f64> {
        (self.users > 0).then(|| self.active as f64 / self.users as f64)
    }
}

/// Users of both platforms with one cleaned specialty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialtyCounts {
    /// The cleaned specialty ([`crate::clean`]); `None` for a blank one.
    pub specialty: Option<String>,
    /// Our users with it.
    pub internal: PlatformCounts,
    /// The vendor's users with it.
    pub vendor: PlatformCounts,
}

/// Specialties counted one by one; users of any further specialty are
/// counted together ([`MatchStats::other_specialties`]), so that garbage in
/// the column cannot grow the counts without bound.
pub const MAX_SPECIALTIES: usize = 100;

/// The bins of days since last active, as (first day, last day, label).
pub const DAYS_SINCE_BINS: [(i32, i32, &str); 8] = [
    (0, 7, "0-7"),
    (8, 14, "8-14"),
    (15, 30, "15-30"),
    (31, 60, "31-60"),
    (61, 90, "61-90"),
    (91, 180, "91-180"),
    (181, 365, "181-365"),
    (366, i32::MAX, "over 365"),
];

/// Users per bin of days since last active (dated on or before the report
/// date; null and future dates are counted as data quality instead).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaysSince(pub [u64; DAYS_SINCE_BINS.len()]);

impl DaysSince {
    /// Counts a user last active `days` days before the report date.
    pub fn add(&mut self, days: i32) {
        if let Some(bin) = DAYS_SINCE_BINS.iter().position(|(first, last, _)| (*first..=*last).contains(&days)) {
            self.0[bin] += 1;
        }
    }
}

/// Everything the match stage counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Our users, and how many are active (runs matched by versions before
    /// these counts read them as zero, as every field below).
    #[serde(default)]
    pub internal: PlatformCounts,
    /// The vendor's users, and how many are active.
    #[serde(default)]
    pub vendor: PlatformCounts,
    /// Our users by days since last active.
    #[serde(default)]
    pub internal_days_since: DaysSince,
    /// The vendor's users by days since last active.
    #[serde(default)]
    pub vendor_days_since: DaysSince,
    /// Users per cleaned specialty, the first [`MAX_SPECIALTIES`] seen, by name.
    #[serde(default)]
    pub specialties: Vec<SpecialtyCounts>,
    /// Users of the specialties past the first [`MAX_SPECIALTIES`].
    #[serde(default)]
    pub other_specialties: SpecialtyCounts,
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
    fn days_since_falls_in_one_bin_and_future_days_in_none() {
        let mut d = DaysSince::default();
        for days in [0, 7, 8, 30, 31, 365, 366, 100_000, -1] {
            d.add(days);
        }
        assert_eq!(d.0, [2, 1, 1, 1, 0, 0, 1, 2]);
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
