//! The DDL of what the tool creates: the warehouse table, partitioned by
//! report date (on a Citus coordinator also distributed by `user_key`), with
//! a comment on it and on every column; and beside it the loads table (one
//! row per load) and two views, the summary per report date and the churn
//! between consecutive report dates, so that readers find their way with `\d+`.

use super::distribution::{self, USER_KEY, USER_KEY_TYPE};
use crate::table::{Column, TableName, COLUMNS};

/// The comment on the warehouse table.
const TABLE_COMMENT: &str =
    "Friendly Vendor's users matched with ours, one row per user of either platform (a matched \
    pair is one row) per report date, with each platform's active status. Loaded by vendor-match; each load \
    replaces one report date. Each load is recorded in the table named like this one with the suffix _loads; \
    one line per report date in the view with _summary, churn between report dates in the view with _churn.";

/// `CREATE TABLE IF NOT EXISTS` for the warehouse table (one partition per
/// report date, so that a load builds a date's rows aside and swaps them
/// in), then its comments: statements to run one by one in one transaction.
pub fn create_table(table: &TableName) -> Vec<String> {
    let mut statements = vec![create("CREATE TABLE IF NOT EXISTS", table, &[])];
    statements.extend(comments(table));
    statements
}

/// The warehouse table on a Citus coordinator: [`create_table`] with
/// `user_key`, distributed by it; statements to run one by one (Citus sends
/// a DDL statement's text on to the workers, one statement at a time) in one
/// transaction, so the table is never seen local. Its partitions are
/// distributed by the same column, colocated.
pub fn create_distributed_table(table: &TableName) -> Vec<String> {
    let mut statements = vec![
        // Not IF NOT EXISTS: a table made meanwhile by someone else must fail
        // the load, not be distributed (its rows moved to the workers).
        create("CREATE TABLE", table, &[(USER_KEY, &format!("{USER_KEY_TYPE} NOT NULL"))]),
        format!("{};", distribution::comment_user_key(table)),
    ];
    statements.extend(comments(table));
    statements.push(format!("{};", distribution::distribute(table, USER_KEY, None)));
    statements
}

fn create(create: &str, table: &TableName, extra: &[(&str, &str)]) -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|c| (c.name, c.sql_type))
        .chain(extra.iter().copied())
        .map(|(name, ty)| format!("  {name} {ty}"))
        .collect();
    format!(
        "{create} {} (\n{},\n  CHECK (match_status IN ('matched', 'ambiguous', 'internal_only', 'vendor_only', 'unmatchable'))\n) PARTITION BY LIST (report_date);",
        table.quoted(),
        columns.join(",\n")
    )
}

/// `COMMENT ON` the table and each of its columns.
fn comments(table: &TableName) -> Vec<String> {
    let mut statements = vec![format!("COMMENT ON TABLE {} IS {};", table.quoted(), literal(TABLE_COMMENT))];
    statements.extend(
        COLUMNS.iter().map(|c| format!("COMMENT ON COLUMN {}.{} IS {};", table.quoted(), c.name, literal(c.comment))),
    );
    statements
}

/// Adds `missing` columns to a table made by an earlier version (the raw
/// values, [`Column::raw`], came later), with their comments: statements for
/// one transaction.
pub fn add_columns(table: &TableName, missing: &[Column]) -> Vec<String> {
    missing
        .iter()
        .flat_map(|c| {
            [
                format!("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {};", table.quoted(), c.name, c.sql_type),
                format!("COMMENT ON COLUMN {}.{} IS {};", table.quoted(), c.name, literal(c.comment)),
            ]
        })
        .collect()
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The loads table: `<table>_loads`.
pub fn loads_table(table: &TableName) -> TableName {
    table.with_suffix("_loads")
}

/// The summary view: `<table>_summary`.
pub fn summary_view(table: &TableName) -> TableName {
    table.with_suffix("_summary")
}

/// The churn view: `<table>_churn`.
pub fn churn_view(table: &TableName) -> TableName {
    table.with_suffix("_churn")
}

/// The loads table's columns, with comments: who loaded which date when,
/// with what settings, and what the load held.
pub const LOADS_COLUMNS: [(&str, &str, &str); 17] = [
    ("report_date", "date NOT NULL", "The report date loaded."),
    ("run_id", "text NOT NULL", "The vendor-match run that loaded it (vendor-match status RUN_ID)."),
    (
        "loaded_at",
        "timestamptz NOT NULL DEFAULT clock_timestamp()",
        "When the load wrote this row, just before its commit.",
    ),
    ("tool_version", "text NOT NULL", "The vendor-match version."),
    ("tool_commit", "text NOT NULL", "The git commit vendor-match was built from (unknown when built outside git)."),
    ("settings", "jsonb NOT NULL", "The run-defining settings: report date, active window, match key, vendor URL."),
    (
        "active_days",
        "integer NOT NULL",
        "The active window: active when last active within this many days up to report_date.",
    ),
    ("rows_matched", "bigint NOT NULL", "Rows loaded with match_status matched (Total Matches)."),
    ("rows_ambiguous", "bigint NOT NULL", "Rows loaded with match_status ambiguous."),
    ("rows_internal_only", "bigint NOT NULL", "Rows loaded with match_status internal_only."),
    ("rows_vendor_only", "bigint NOT NULL", "Rows loaded with match_status vendor_only."),
    ("rows_unmatchable", "bigint NOT NULL", "Rows loaded with match_status unmatchable."),
    ("internal_users", "bigint NOT NULL", "Our users loaded (rows with internal_user_id)."),
    ("internal_active", "bigint NOT NULL", "Of them, active on our platform."),
    ("vendor_users", "bigint NOT NULL", "Friendly Vendor's users loaded (rows with vendor_user_id)."),
    ("vendor_active", "bigint NOT NULL", "Of them, active on the vendor's platform."),
    ("matched_both_active", "bigint NOT NULL", "Matched pairs active on both platforms."),
];

/// The loads table and its comments, then the two views: statements to run
/// one by one in one transaction. `citus`: the warehouse table is
/// distributed by `user_key`, and the churn view joins on it too (so that
/// each worker joins its own shards).
/// `with_loads_table`: the loads table is missing too (a table dropped and
/// made again keeps its record of loads).
pub fn create_companions(table: &TableName, citus: bool, with_loads_table: bool) -> Vec<String> {
    let loads = loads_table(table);
    let mut statements = Vec::new();
    if with_loads_table {
        let columns: Vec<String> = LOADS_COLUMNS.iter().map(|(name, ty, _)| format!("  {name} {ty}")).collect();
        statements.push(format!("CREATE TABLE {} (\n{}\n);", loads.quoted(), columns.join(",\n")));
        if citus {
            // On every node, so that the views join it with the shards where they are.
            statements.push(format!("SELECT create_reference_table({});", literal(&loads.quoted())));
        }
        statements.push(format!(
            "COMMENT ON TABLE {} IS {};",
            loads.quoted(),
            literal(&format!(
                "One row per load of {table} by vendor-match, written in the transaction that swaps the date in."
            ))
        ));
        statements.extend(
            LOADS_COLUMNS.iter().map(|(name, _, comment)| {
                format!("COMMENT ON COLUMN {}.{name} IS {};", loads.quoted(), literal(comment))
            }),
        );
    }
    statements.push(churn_view_sql(table, citus));
    statements.push(format!(
        "COMMENT ON VIEW {} IS {};",
        churn_view(table).quoted(),
        literal(
            "Churn between each report date and the one loaded before it (since_date): among our users matched and \
             active on our platform at since_date and still ours at report_date, how many are inactive at \
             report_date, split by their vendor status at since_date."
        )
    ));
    statements.push(summary_view_sql(table));
    statements.push(format!(
        "COMMENT ON VIEW {} IS {};",
        summary_view(table).quoted(),
        literal(
            "One line per report date: users and active share on each platform, matched pairs and their 2x2 of \
             active status with phi, and the churn since the date loaded before (from the _churn view)."
        )
    ));
    statements
}

/// The churn view. The dates come from the loads table (small), not from
/// the rows. The earlier rows are our matched, active users; the later ones
/// the same users at the later date, whatever their status.
fn churn_view_sql(table: &TableName, citus: bool) -> String {
    let colocated = if citus { format!(" AND later.{USER_KEY} = earlier.{USER_KEY}") } else { String::new() };
    format!(
        "CREATE VIEW {churn} AS
WITH dates AS (
  SELECT report_date, lag(report_date) OVER (ORDER BY report_date) AS since_date
  FROM (SELECT DISTINCT report_date FROM {loads}) loaded
)
SELECT d.report_date, d.since_date,
  count(*) FILTER (WHERE earlier.vendor_is_active) AS vendor_active_users,
  count(*) FILTER (WHERE earlier.vendor_is_active AND NOT later.internal_is_active) AS vendor_active_churned,
  count(*) FILTER (WHERE NOT earlier.vendor_is_active) AS vendor_inactive_users,
  count(*) FILTER (WHERE NOT earlier.vendor_is_active AND NOT later.internal_is_active) AS vendor_inactive_churned
FROM dates d
JOIN {table} earlier ON earlier.report_date = d.since_date
  AND earlier.match_status = 'matched' AND earlier.internal_is_active
JOIN {table} later ON later.report_date = d.report_date
  AND later.internal_user_id = earlier.internal_user_id{colocated}
GROUP BY d.report_date, d.since_date;",
        churn = churn_view(table).quoted(),
        loads = loads_table(table).quoted(),
        table = table.quoted(),
    )
}

/// The summary view: per report date from the rows themselves, with the
/// churn since the date before.
fn summary_view_sql(table: &TableName) -> String {
    format!(
        "CREATE VIEW {summary} AS
SELECT c.report_date,
  c.internal_users, c.internal_active,
  round(c.internal_active::numeric / nullif(c.internal_users, 0), 4) AS internal_active_share,
  c.vendor_users, c.vendor_active,
  round(c.vendor_active::numeric / nullif(c.vendor_users, 0), 4) AS vendor_active_share,
  c.matched_pairs, c.both_active, c.internal_only_active, c.vendor_only_active, c.neither_active,
  round(((c.both_active * c.neither_active - c.internal_only_active * c.vendor_only_active)
    / nullif(sqrt((c.both_active + c.internal_only_active)::float8 * (c.vendor_only_active + c.neither_active)
      * (c.both_active + c.vendor_only_active) * (c.internal_only_active + c.neither_active)), 0))::numeric, 4) AS phi,
  ch.since_date AS churn_since_date,
  ch.vendor_active_users AS churn_vendor_active_users, ch.vendor_active_churned AS churn_vendor_active_churned,
  round(ch.vendor_active_churned::numeric / nullif(ch.vendor_active_users, 0), 4) AS churn_share_vendor_active,
  ch.vendor_inactive_users AS churn_vendor_inactive_users, ch.vendor_inactive_churned AS churn_vendor_inactive_churned,
  round(ch.vendor_inactive_churned::numeric / nullif(ch.vendor_inactive_users, 0), 4) AS churn_share_vendor_inactive
FROM (
  SELECT report_date,
    count(internal_user_id) AS internal_users,
    count(*) FILTER (WHERE internal_is_active) AS internal_active,
    count(vendor_user_id) AS vendor_users,
    count(*) FILTER (WHERE vendor_is_active) AS vendor_active,
    count(*) FILTER (WHERE match_status = 'matched') AS matched_pairs,
    count(*) FILTER (WHERE match_status = 'matched' AND internal_is_active AND vendor_is_active) AS both_active,
    count(*) FILTER (WHERE match_status = 'matched' AND internal_is_active AND NOT vendor_is_active) AS internal_only_active,
    count(*) FILTER (WHERE match_status = 'matched' AND NOT internal_is_active AND vendor_is_active) AS vendor_only_active,
    count(*) FILTER (WHERE match_status = 'matched' AND NOT internal_is_active AND NOT vendor_is_active) AS neither_active
  FROM {table}
  GROUP BY report_date
) c
LEFT JOIN {churn} ch ON ch.report_date = c.report_date;",
        summary = summary_view(table).quoted(),
        churn = churn_view(table).quoted(),
        table = table.quoted(),
    )
}

/// The DDL the report shows: the table, its companions, and not the
/// comments (`\d+` shows them).
pub fn shown(table: &TableName, citus: bool) -> String {
    let mut shown: Vec<String> = if citus { create_distributed_table(table) } else { create_table(table) }
        .into_iter()
        .filter(|s| !s.starts_with("COMMENT ON"))
        .collect();
    shown.push(format!("-- COMMENT ON the table, each column, the loads table and the views: see \\d+ {table}"));
    shown.extend(create_companions(table, citus, true).into_iter().filter(|s| !s.starts_with("COMMENT ON")));
    shown.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_names_every_column_once() {
        let t = TableName::parse("t").unwrap();
        for ddl in [create_table(&t).join("\n"), create_distributed_table(&t).join("\n")] {
            for c in COLUMNS {
                assert_eq!(ddl.matches(&format!("  {} ", c.name)).count(), 1, "{}", c.name);
                assert_eq!(ddl.matches(&format!("COMMENT ON COLUMN \"t\".{} IS '", c.name)).count(), 1, "{}", c.name);
            }
            assert_eq!(ddl.matches("COMMENT ON TABLE \"t\" IS '").count(), 1);
        }
        assert!(!create_table(&t).join("\n").contains(USER_KEY));
        assert_eq!(create_distributed_table(&t).join("\n").matches("  user_key bigint NOT NULL").count(), 1);
    }
}
