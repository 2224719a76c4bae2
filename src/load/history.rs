//! The record of loads and what it tells across report dates: the loads
//! table's row for this load (written in the swap's transaction), and, read
//! back once the load has committed, the trend of every loaded date and the
//! churn since the date loaded before this one.

use chrono::NaiveDate;
use postgres::GenericClient;
use serde::{Deserialize, Serialize};

use super::ddl::{self, LOADS_COLUMNS};
use crate::matching::stats::{MatchStats, PlatformCounts};
use crate::settings::RunSettings;
use crate::table::TableName;

/// The version and commit this binary was built from.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit of the build (`unknown` outside a git checkout).
pub const TOOL_COMMIT: &str = env!("VENDOR_MATCH_COMMIT");

/// Every report date loaded, and the churn into this one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One summary per loaded report date (its latest load), oldest first.
    pub dates: Vec<DateSummary>,
    /// Churn from the date loaded before this run's to this run's, when there is one.
    pub churn: Option<Churn>,
}

/// One report date as its latest load recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateSummary {
    /// The report date.
    pub report_date: NaiveDate,
    /// Our users and active users.
    pub internal: PlatformCounts,
    /// The vendor's users and active users.
    pub vendor: PlatformCounts,
    /// Matched pairs.
    pub matched: u64,
}

/// Among our users matched and active at `since` and still ours at `until`,
/// those inactive at `until`, split by their vendor status at `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Churn {
    /// The earlier report date.
    pub since: NaiveDate,
    /// The later one (this run's).
    pub until: NaiveDate,
    /// Those active on the vendor's platform at `since`.
    pub vendor_active: ChurnGroup,
    /// Those inactive on the vendor's platform at `since`.
    pub vendor_inactive: ChurnGroup,
}

/// Users of one group, and how many of them churned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChurnGroup {
    /// Users in the group.
    pub users: u64,
    /// Of them, inactive on our platform at the later date.
    pub churned: u64,
}

impl ChurnGroup {
    /// The churned share, or `None` without users.
    pub fn share(&self) -> Option<f64> {
        (self.users > 0).then(|| self.churned as f64 / self.users as f64)
    }

    /// The 95 % Wilson score interval of the share: unlike the normal
    /// approximation it stays inside 0..1 for small groups and shares near 0 or 1.
    pub fn interval95(&self) -> Option<(f64, f64)> {
        let n = self.users as f64;
        let p = self.share()?;
        let z = 1.959_963_984_540_054_f64;
        let z2 = z * z;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        Some(((centre - half).max(0.0), (centre + half).min(1.0)))
    }
}

/// The run-defining settings as the loads table keeps them (no connection
/// secrets: the vendor URL is the masked one the manifest keeps).
fn settings_json(settings: &RunSettings) -> serde_json::Value {
    serde_json::json!({
        "report_date": settings.report_date,
        "active_days": settings.active_days,
        "match_on": crate::key::KeyField::list(&settings.match_on),
        "vendor_url": settings.vendor_url_masked,
        "max_reject_ratio": settings.max_reject_ratio,
        "max_pages": settings.max_pages,
    })
}

/// Writes this load's row into the loads table, in the caller's transaction.
pub(super) fn record(
    tx: &mut impl GenericClient,
    table: &TableName,
    run_id: &str,
    settings: &RunSettings,
    stats: &MatchStats,
) -> Result<(), postgres::Error> {
    let names: Vec<&str> = LOADS_COLUMNS.iter().map(|(name, _, _)| *name).filter(|name| *name != "loaded_at").collect();
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        ddl::loads_table(table).quoted(),
        names.join(", "),
        placeholders.join(", ")
    );
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let rows = &stats.rows;
    let active_days = i32::try_from(settings.active_days).unwrap_or(i32::MAX);
    tx.execute(
        &sql,
        &[
            &settings.report_date,
            &run_id,
            &TOOL_VERSION,
            &TOOL_COMMIT,
            &settings_json(settings),
            &active_days,
            &count(rows.matched),
            &count(rows.ambiguous),
            &count(rows.internal_only),
            &count(rows.vendor_only),
            &count(rows.unmatchable),
            &count(stats.internal.users),
            &count(stats.internal.active),
            &count(stats.vendor.users),
            &count(stats.vendor.active),
            &count(stats.active.both),
        ],
    )?;
    Ok(())
}

/// Reads the trend from the loads table and the churn into `date` from the churn view.
pub(super) fn read(
    client: &mut impl GenericClient,
    table: &TableName,
    date: NaiveDate,
) -> Result<History, postgres::Error> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let dates: Vec<DateSummary> = client
        .query(
            &format!(
                "SELECT DISTINCT ON (report_date) report_date, internal_users, internal_active, vendor_users, \
                 vendor_active, rows_matched FROM {} ORDER BY report_date, loaded_at DESC",
                ddl::loads_table(table).quoted()
            ),
            &[],
        )?
        .iter()
        .map(|row| DateSummary {
            report_date: row.get(0),
            internal: PlatformCounts { users: count(row.get(1)), active: count(row.get(2)) },
            vendor: PlatformCounts { users: count(row.get(3)), active: count(row.get(4)) },
            matched: count(row.get(5)),
        })
        .collect();
    let counted = client
        .query_opt(
            &format!(
                "SELECT since_date, vendor_active_users, vendor_active_churned, vendor_inactive_users, \
                 vendor_inactive_churned FROM {} WHERE report_date = $1",
                ddl::churn_view(table).quoted()
            ),
            &[&date],
        )?
        .map(|row| Churn {
            since: row.get(0),
            until: date,
            vendor_active: ChurnGroup { users: count(row.get(1)), churned: count(row.get(2)) },
            vendor_inactive: ChurnGroup { users: count(row.get(3)), churned: count(row.get(4)) },
        });
    // The view has no line for a date none of whose earlier users were
    // matched and active: that is a churn of no one, not no earlier date.
    let earlier = dates.iter().map(|d| d.report_date).filter(|d| *d < date).max();
    let churn = counted.or_else(|| {
        earlier.map(|since| Churn {
            since,
            until: date,
            vendor_active: ChurnGroup::default(),
            vendor_inactive: ChurnGroup::default(),
        })
    });
    Ok(History { dates, churn })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wilson_interval_holds_the_share_and_stays_in_0_1() {
        let group = ChurnGroup { users: 100, churned: 10 };
        let (low, high) = group.interval95().unwrap();
        // Wilson's interval for 10 of 100: 0.0552 .. 0.1744.
        assert!((low - 0.0552).abs() < 1e-3 && (high - 0.1744).abs() < 1e-3, "{low} {high}");
        let (low, high) = ChurnGroup { users: 5, churned: 0 }.interval95().unwrap();
        assert!(low == 0.0 && high > 0.0 && high < 1.0);
        assert_eq!(ChurnGroup::default().interval95(), None);
    }
}
