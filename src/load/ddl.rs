//! The DDL of the table the tool creates: partitioned by report date, and on
//! a Citus coordinator also distributed by `user_key`.

use super::distribution::{self, USER_KEY, USER_KEY_TYPE};
use crate::table::{TableName, COLUMNS};

/// `CREATE TABLE IF NOT EXISTS` for the warehouse table: one partition per
/// report date, so that a load builds a date's rows aside and swaps them in.
pub fn create_table(table: &TableName) -> String {
    create("CREATE TABLE IF NOT EXISTS", table, &[])
}

/// The warehouse table on a Citus coordinator: [`create_table`] with
/// `user_key`, distributed by it; statements to run one by one (Citus sends
/// a DDL statement's text on to the workers, one statement at a time) in one
/// transaction, so the table is never seen local. Its partitions are
/// distributed by the same column, colocated.
pub fn create_distributed_table(table: &TableName) -> Vec<String> {
    vec![
        // Not IF NOT EXISTS: a table made meanwhile by someone else must fail
        // the load, not be distributed (its rows moved to the workers).
        create("CREATE TABLE", table, &[(USER_KEY, &format!("{USER_KEY_TYPE} NOT NULL"))]),
        format!("{};", distribution::comment_user_key(table)),
        format!("{};", distribution::distribute(table, USER_KEY, None)),
    ]
}

fn create(create: &str, table: &TableName, extra: &[(&str, &str)]) -> String {
    let columns: Vec<String> = COLUMNS.iter().chain(extra.iter()).map(|(name, ty)| format!("  {name} {ty}")).collect();
    format!(
        "{create} {} (\n{},\n  CHECK (match_status IN ('matched', 'ambiguous', 'internal_only', 'vendor_only', 'unmatchable'))\n) PARTITION BY LIST (report_date);",
        table.quoted(),
        columns.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_names_every_column_once() {
        let t = TableName::parse("t").unwrap();
        for ddl in [create_table(&t), create_distributed_table(&t).join("\n")] {
            for (name, _) in COLUMNS {
                assert_eq!(ddl.matches(&format!("  {name} ")).count(), 1, "{name}");
            }
        }
        assert!(!create_table(&t).contains(USER_KEY));
        assert_eq!(create_distributed_table(&t).join("\n").matches("  user_key bigint NOT NULL").count(), 1);
    }
}
