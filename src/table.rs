//! The warehouse table's name, quoted as an identifier everywhere, and its columns (SPEC §6).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A `[schema.]table` name. It only ever reaches SQL through [`quote_ident`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TableName {
    /// The schema, if given.
    pub schema: Option<String>,
    /// The table.
    pub table: String,
}

impl TableName {
    /// Parses `table` or `schema.table`. Names are taken literally (case and
    /// any character kept), since they are always quoted.
    pub fn parse(raw: &str) -> Result<TableName, String> {
        let parts: Vec<&str> = raw.split('.').collect();
        let valid = |s: &str| !s.is_empty() && !s.contains('\0') && s.len() <= 63;
        match parts.as_slice() {
            [table] if valid(table) => Ok(TableName { schema: None, table: table.to_string() }),
            [schema, table] if valid(schema) && valid(table) => {
                Ok(TableName { schema: Some(schema.to_string()), table: table.to_string() })
            }
            _ => Err(format!("`{raw}` is not [SCHEMA.]TABLE (names of 1 to 63 characters, one dot at most)")),
        }
    }

    /// The name quoted for SQL: `"schema"."table"`.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&self.table)),
            None => quote_ident(&self.table),
        }
    }

    /// A table in the same schema named after this one with `suffix`,
    /// shortening this name (at a character boundary) to PostgreSQL's 63 bytes.
    pub fn with_suffix(&self, suffix: &str) -> TableName {
        let mut keep = 63usize.saturating_sub(suffix.len()).min(self.table.len());
        while !self.table.is_char_boundary(keep) {
            keep -= 1;
        }
        TableName { schema: self.schema.clone(), table: format!("{}{suffix}", &self.table[..keep]) }
    }

    /// The partition holding the rows of `date`: `<table>_YYYYMMDD`.
    pub fn partition(&self, date: chrono::NaiveDate) -> TableName {
        self.with_suffix(&date.format("_%Y%m%d").to_string())
    }

    /// The table a load of `date` builds before it becomes the partition.
    pub fn staging(&self, date: chrono::NaiveDate) -> TableName {
        self.with_suffix(&date.format("_%Y%m%d_loading").to_string())
    }

    /// The name as a SQL string literal, for `'...'::regclass`.
    pub fn quoted_literal(&self) -> String {
        format!("'{}'", self.quoted().replace('\'', "''"))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.table),
            None => f.write_str(&self.table),
        }
    }
}

impl TryFrom<String> for TableName {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        TableName::parse(&raw)
    }
}

impl From<TableName> for String {
    fn from(name: TableName) -> String {
        name.to_string()
    }
}

/// Quotes an identifier: wrapped in double quotes, inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A column of the warehouse table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its declared type (`date NOT NULL`).
    pub sql_type: &'static str,
    /// What it holds, for `COMMENT ON COLUMN`: readers find it with `\d+`.
    pub comment: &'static str,
}

const fn column(name: &'static str, sql_type: &'static str, comment: &'static str) -> Column {
    Column { name, sql_type, comment }
}

impl Column {
    /// A raw-value column (`*_raw`): a platform's value as read, kept for
    /// audit. Added in the table's second layout (nullable, so a table of the
    /// first gets it added), and left out of the load's ANALYZE, which it
    /// would make half again as long, for columns nobody filters on.
    pub fn raw(&self) -> bool {
        self.name.ends_with("_raw")
    }
}

/// The warehouse columns in table order, with their types and comments
/// (SPEC §6; the raw columns come last, after the contract's minimum).
pub const COLUMNS: [Column; 25] = [
    column("report_date", "date NOT NULL", "The report date of the load; one partition per date."),
    column("run_id", "text NOT NULL", "The vendor-match run that loaded the row (see the loads table)."),
    column(
        "match_status",
        "text NOT NULL",
        "matched (one record on each platform with this key), ambiguous (more than one on a side), \
         internal_only, vendor_only, or unmatchable (a key field blank).",
    ),
    column(
        "match_key",
        "text",
        "The normalized key the platforms were matched on (lowercase, NFKC, whitespace collapsed), \
         fields joined by |; null when unmatchable.",
    ),
    column("internal_user_id", "bigint", "Our user id (\"user\".id); null when only the vendor has the user."),
    column("vendor_user_id", "bigint", "Friendly Vendor's user id; null when only we have the user."),
    column(
        "firstname",
        "text",
        "First name, cleaned (NFKC, whitespace collapsed and trimmed, _ as a space, case kept): ours when we \
         have the user, else the vendor's.",
    ),
    column("lastname", "text", "Last name, cleaned as firstname: ours when we have the user, else the vendor's."),
    column(
        "specialty",
        "text",
        "Medical specialty, cleaned as firstname and in title case (Neurology): ours when we have the user, \
         else the vendor's; group by this.",
    ),
    column(
        "practice_location",
        "text",
        "Practice location, cleaned as specialty (title case): ours (user_practice.location) when we have \
         the user, else the vendor's.",
    ),
    column("internal_classification", "text", "Our classification of the user, as written; null without our record."),
    column("internal_platform_registered_on", "text", "Our platform_registered_on, as written."),
    column("internal_last_active_date", "date", "The day the user was last active on our platform."),
    column(
        "internal_is_active",
        "boolean",
        "Active on our platform: internal_last_active_date within the run's active window (default 30 days, \
         in the loads table) up to report_date, inclusive; a null or later date is inactive. Null without \
         our record.",
    ),
    column(
        "vendor_classification",
        "text",
        "The vendor's user_type_classification, as written; null without a vendor record.",
    ),
    column("vendor_last_active_date", "date", "The day the user was last active on Friendly Vendor's platform."),
    column(
        "vendor_is_active",
        "boolean",
        "Active on Friendly Vendor's platform, by the same rule as internal_is_active. Null without a vendor \
         record.",
    ),
    column("internal_firstname_raw", "text", "Our firstname exactly as read, before cleaning."),
    column("internal_lastname_raw", "text", "Our lastname exactly as read, before cleaning."),
    column("internal_specialty_raw", "text", "Our specialty exactly as read, before cleaning."),
    column("internal_practice_location_raw", "text", "Our user_practice.location exactly as read, before cleaning."),
    column("vendor_firstname_raw", "text", "The vendor's firstname exactly as read, before cleaning."),
    column("vendor_lastname_raw", "text", "The vendor's lastname exactly as read, before cleaning."),
    column("vendor_specialty_raw", "text", "The vendor's specialty exactly as read, before cleaning."),
    column("vendor_practice_location_raw", "text", "The vendor's practice_location exactly as read, before cleaning."),
];

/// The type of a column as `format_type` names it (`date NOT NULL` → `date`).
pub fn column_type(declared: &str) -> &str {
    declared.split(" NOT NULL").next().unwrap_or(declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_inner_quotes_doubled() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("a\"; DROP TABLE x; --"), "\"a\"\"; DROP TABLE x; --\"");
    }

    #[test]
    fn schema_qualified_name_is_quoted_part_by_part() {
        let t = TableName::parse("public.platform_user_activity").unwrap();
        assert_eq!(t.quoted(), "\"public\".\"platform_user_activity\"");
        assert_eq!(t.to_string(), "public.platform_user_activity");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(TableName::parse("").is_err());
        assert!(TableName::parse("a.b.c").is_err());
        assert!(TableName::parse(".t").is_err());
        assert!(TableName::parse(&"x".repeat(64)).is_err());
    }

    #[test]
    fn partition_names_fit_in_63_bytes_at_a_character_boundary() {
        let date = "2017-02-02".parse().unwrap();
        let t = TableName::parse("public.platform_user_activity").unwrap();
        assert_eq!(t.partition(date).quoted(), "\"public\".\"platform_user_activity_20170202\"");
        assert_eq!(t.staging(date).table, "platform_user_activity_20170202_loading");
        let long = TableName::parse(&"é".repeat(31)).unwrap();
        let staging = long.staging(date);
        assert!(staging.table.len() <= 63 && staging.table.ends_with("_20170202_loading"), "{}", staging.table);
    }

    #[test]
    fn a_quoted_literal_escapes_quotes() {
        assert_eq!(TableName::parse("it's").unwrap().quoted_literal(), "'\"it''s\"'");
    }
}
