//! The active rule (SPEC §5), its one home: last active within the window
//! ending on the report date.

use chrono::NaiveDate;

use crate::record::field::days_from_date;

/// The rule of one run, on dates as records carry them (days since
/// 2000-01-01, PostgreSQL's date epoch).
///
/// Active when `report_date - active_days <= last_active <= report_date`,
/// both ends inclusive. A null date is inactive; so is a date after the
/// report date, which [`is_future`](ActiveRule::is_future) reports as a
/// data-quality warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveRule {
    report_day: i32,
    window: i32,
}

impl ActiveRule {
    /// The rule for `report_date` with a window of `active_days`.
    pub fn new(report_date: NaiveDate, active_days: u32) -> ActiveRule {
        ActiveRule { report_day: days_from_date(report_date), window: i32::try_from(active_days).unwrap_or(i32::MAX) }
    }

    /// Whether a user last active on `last_active` is active.
    #[inline]
    pub fn is_active(self, last_active: Option<i32>) -> bool {
        last_active.is_some_and(|day| day <= self.report_day && day >= self.report_day.saturating_sub(self.window))
    }

    /// Days from `last_active` to the report date (negative after it).
    #[inline]
    pub fn days_since(self, last_active: i32) -> i32 {
        self.report_day.saturating_sub(last_active)
    }

    /// Whether `last_active` lies after the report date.
    #[inline]
    pub fn is_future(self, last_active: Option<i32>) -> bool {
        last_active.is_some_and(|day| day > self.report_day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TODAY: &str = "2017-02-02";

    fn rule(window: u32) -> ActiveRule {
        ActiveRule::new(date(TODAY), window)
    }

    fn day(s: &str) -> Option<i32> {
        Some(days_from_date(date(s)))
    }

    #[test]
    fn thirty_days_before_is_active() {
        assert!(rule(30).is_active(day("2017-01-03")));
    }

    #[test]
    fn thirty_one_days_before_is_inactive() {
        assert!(!rule(30).is_active(day("2017-01-02")));
    }

    #[test]
    fn the_report_date_itself_is_active() {
        assert!(rule(30).is_active(day(TODAY)));
    }

    #[test]
    fn a_future_date_is_inactive_and_flagged() {
        assert!(!rule(30).is_active(day("2017-02-03")));
        assert!(rule(30).is_future(day("2017-02-03")));
        assert!(!rule(30).is_future(day(TODAY)));
    }

    #[test]
    fn a_null_date_is_inactive() {
        assert!(!rule(30).is_active(None));
        assert!(!rule(30).is_future(None));
    }

    #[test]
    fn the_active_rule_on_days_agrees_with_date_arithmetic() {
        let today = date(TODAY);
        for offset in -40..5 {
            for window in [0u32, 1, 30] {
                let when = today + chrono::Duration::days(offset);
                let by_dates = today - chrono::Days::new(u64::from(window)) <= when && when <= today;
                assert_eq!(
                    rule(window).is_active(Some(days_from_date(when))),
                    by_dates,
                    "{when} with a {window}-day window"
                );
            }
        }
    }
}
