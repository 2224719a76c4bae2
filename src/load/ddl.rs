//! The DDL of the table the tool creates: partitioned by report date.

use crate::table::{TableName, COLUMNS};

/// `CREATE TABLE IF NOT EXISTS` for the warehouse table: one partition per
/// report date, so that a load builds a date's rows aside and swaps them in.
pub fn create_table(table: &TableName) -> String {
    let columns: Vec<String> = COLUMNS.iter().map(|(name, ty)| format!("  {name} {ty}")).collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{},\n  CHECK (match_status IN ('matched', 'ambiguous', 'internal_only', 'vendor_only', 'unmatchable'))\n) PARTITION BY LIST (report_date);",
        table.quoted(),
        columns.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_names_every_column_once() {
        let ddl = create_table(&TableName::parse("t").unwrap());
        for (name, _) in COLUMNS {
            assert_eq!(ddl.matches(&format!("  {name} ")).count(), 1, "{name}");
        }
    }
}
