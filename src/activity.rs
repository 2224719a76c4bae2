//! The active rule (SPEC §5): last active within the window ending on the report date.

use chrono::NaiveDate;

/// Whether a user was active, given its last active date.
///
/// Active when `report_date - active_days <= last_active <= report_date`.
/// A null date is inactive; so is a date after the report date (which
/// [`is_future`] reports as a data-quality warning).
pub fn is_active(last_active: Option<NaiveDate>, report_date: NaiveDate, active_days: u32) -> bool {
    match last_active {
        None => false,
        Some(date) => {
            let since = report_date - chrono::Days::new(u64::from(active_days));
            since <= date && date <= report_date
        }
    }
}

/// Whether a last active date lies after the report date.
pub fn is_future(last_active: Option<NaiveDate>, report_date: NaiveDate) -> bool {
    last_active.is_some_and(|date| date > report_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TODAY: &str = "2017-02-02";

    #[test]
    fn thirty_days_before_is_active() {
        assert!(is_active(Some(date("2017-01-03")), date(TODAY), 30));
    }

    #[test]
    fn thirty_one_days_before_is_inactive() {
        assert!(!is_active(Some(date("2017-01-02")), date(TODAY), 30));
    }

    #[test]
    fn the_report_date_itself_is_active() {
        assert!(is_active(Some(date(TODAY)), date(TODAY), 30));
    }

    #[test]
    fn a_future_date_is_inactive_and_flagged() {
        assert!(!is_active(Some(date("2017-02-03")), date(TODAY), 30));
        assert!(is_future(Some(date("2017-02-03")), date(TODAY)));
        assert!(!is_future(Some(date(TODAY)), date(TODAY)));
    }

    #[test]
    fn a_null_date_is_inactive() {
        assert!(!is_active(None, date(TODAY), 30));
        assert!(!is_future(None, date(TODAY)));
    }
}
