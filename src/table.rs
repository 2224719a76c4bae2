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

/// The warehouse columns in table order, with their types (SPEC §6).
pub const COLUMNS: [(&str, &str); 17] = [
    ("report_date", "date NOT NULL"),
    ("run_id", "text NOT NULL"),
    ("match_status", "text NOT NULL"),
    ("match_key", "text"),
    ("internal_user_id", "bigint"),
    ("vendor_user_id", "bigint"),
    ("firstname", "text"),
    ("lastname", "text"),
    ("specialty", "text"),
    ("practice_location", "text"),
    ("internal_classification", "text"),
    ("internal_platform_registered_on", "text"),
    ("internal_last_active_date", "date"),
    ("internal_is_active", "boolean"),
    ("vendor_classification", "text"),
    ("vendor_last_active_date", "date"),
    ("vendor_is_active", "boolean"),
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
