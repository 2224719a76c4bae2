//! What the warehouse's catalog says about the table: whether it exists,
//! partitioned by report date or plain, whether its columns take our rows,
//! whether Citus distributes it (and the database is a Citus coordinator),
//! which partition holds a date, and whether a leftover staging table is ours.

use postgres::GenericClient;

use super::distribution::{RowShape, USER_KEY, USER_KEY_TYPE};
use crate::table::{column_type, Column, TableName, COLUMNS};

/// How a report date's rows are replaced in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Partitioned by `LIST (report_date)` (the table the tool creates): the
    /// rows are built in a table aside and swapped in as the date's partition.
    Partitioned,
    /// Anything else (a plain table made by someone else): the date's rows
    /// are deleted and copied in within one transaction.
    Plain,
}

/// What the load needs to know of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// How a date's rows are replaced.
    pub layout: Layout,
    /// The rows COPY sends.
    pub rows: RowShape,
    /// The column Citus distributes the table by; `None` for a table of one server.
    pub distributed_by: Option<String>,
    /// Whether the loads table is beside it ([`super::ddl::loads_table`]).
    pub loads_table: bool,
}

/// The table does not take the rows as the tool writes them.
#[derive(Debug, thiserror::Error)]
#[error("warehouse table {table} {problem}")]
pub struct TableMismatch {
    /// The table.
    pub table: String,
    /// What differs.
    pub problem: String,
}

/// Problems reading the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A query failed.
    #[error(transparent)]
    Db(#[from] postgres::Error),
    /// The table's columns differ from ours.
    #[error(transparent)]
    Mismatch(#[from] TableMismatch),
}

/// Whether the table exists (any relation of that name, as `CREATE TABLE IF
/// NOT EXISTS` would see it). Needs USAGE on its schema, nothing more.
pub fn exists(client: &mut impl GenericClient, table: &TableName) -> Result<bool, postgres::Error> {
    Ok(client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table.quoted()])?.get(0))
}

/// Whether `loads` is a loads table this loader can record into: there,
/// with the tool's columns, and INSERT allowed.
fn writable_loads_table(client: &mut impl GenericClient, loads: &TableName) -> Result<bool, postgres::Error> {
    let columns: Vec<&str> = super::ddl::LOADS_COLUMNS.iter().map(|(name, _, _)| *name).collect();
    Ok(client
        .query_one(
            "SELECT coalesce(has_table_privilege(to_regclass($1), 'INSERT'), false) \
             AND (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND NOT attisdropped \
                  AND attname::text = ANY($2)) = cardinality($2)",
            &[&loads.quoted(), &columns],
        )?
        .get(0))
}

/// The tool's columns the table lacks.
pub fn missing_columns(client: &mut impl GenericClient, table: &TableName) -> Result<Vec<Column>, postgres::Error> {
    let present: Vec<String> = client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            &[&table.quoted()],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(COLUMNS.into_iter().filter(|c| !present.iter().any(|p| p == c.name)).collect())
}

/// Whether the loader may create tables in the table's schema (its own, or
/// the first of the search path).
pub fn may_create_beside(client: &mut impl GenericClient, table: &TableName) -> Result<bool, postgres::Error> {
    Ok(client
        .query_one("SELECT has_schema_privilege(coalesce($1, current_schema()), 'CREATE')", &[&table.schema])?
        .get(0))
}

/// Whether the database is a Citus coordinator (the extension is installed):
/// the table the tool creates there is distributed.
pub fn is_citus(client: &mut impl GenericClient) -> Result<bool, postgres::Error> {
    Ok(client.query_one("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')", &[])?.get(0))
}

/// Checks that every column the tool writes exists with the type it writes
/// (binary COPY sends exact types), and tells how the table is laid out.
pub fn inspect(client: &mut impl GenericClient, table: &TableName) -> Result<TableShape, CatalogError> {
    let regclass = format!("{}::regclass", table.quoted_literal());
    let columns = client.query(
        &format!(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = {regclass} AND attnum > 0 AND NOT attisdropped"
        ),
        &[],
    )?;
    for Column { name, sql_type: declared, .. } in COLUMNS {
        let found = columns.iter().find(|row| row.get::<_, String>(0) == name).map(|row| row.get::<_, String>(1));
        let expected = column_type(declared);
        let problem = match found {
            None => format!("has no column {name}"),
            Some(found) if found != expected => {
                format!("has column {name} of type {found}; the tool writes {expected}")
            }
            Some(_) => continue,
        };
        return Err(TableMismatch { table: table.to_string(), problem }.into());
    }
    let partitioned_by_date: bool = client
        .query_one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p \
                 JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] \
                 WHERE p.partrelid = {regclass} AND p.partstrat = 'l' AND p.partnatts = 1 \
                 AND a.attname = 'report_date')"
            ),
            &[],
        )?
        .get(0);
    let distributed_by = if is_citus(client)? { distribution_column(client, &regclass)? } else { None };
    // Only a table Citus distributes by user_key gets the column from the
    // tool: anywhere else a user_key column is someone else's, left alone.
    let rows = if distributed_by.as_deref() == Some(USER_KEY) {
        let found = columns.iter().find(|row| row.get::<_, String>(0) == USER_KEY).map(|row| row.get::<_, String>(1));
        if found.as_deref() != Some(USER_KEY_TYPE) {
            let found = found.unwrap_or_default();
            let problem = format!("is distributed by {USER_KEY} of type {found}; the tool writes {USER_KEY_TYPE}");
            return Err(TableMismatch { table: table.to_string(), problem }.into());
        }
        RowShape::WithUserKey
    } else {
        RowShape::AsWritten
    };
    let layout = if partitioned_by_date { Layout::Partitioned } else { Layout::Plain };
    let loads_table = writable_loads_table(client, &super::ddl::loads_table(table))?;
    Ok(TableShape { layout, rows, distributed_by, loads_table })
}

/// The column Citus hash-distributes `regclass` by, if it does.
fn distribution_column(client: &mut impl GenericClient, regclass: &str) -> Result<Option<String>, postgres::Error> {
    let row = client.query_opt(
        &format!(
            "SELECT column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition \
             WHERE logicalrelid = {regclass} AND partmethod = 'h'"
        ),
        &[],
    )?;
    Ok(row.map(|r| r.get(0)))
}

/// The partition of `table` holding the rows of `date` (as a quoted,
/// schema-qualified name PostgreSQL wrote), if there is one.
pub fn partition_of(
    client: &mut impl GenericClient,
    table: &TableName,
    date: chrono::NaiveDate,
) -> Result<Option<String>, postgres::Error> {
    // The bound is printed with the session's DateStyle, which the load sets to ISO.
    let bound = format!("FOR VALUES IN ('{date}')");
    let row = client.query_opt(
        &format!(
            "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = {}::regclass AND pg_get_expr(c.relpartbound, c.oid) = $1",
            table.quoted_literal()
        ),
        &[&bound],
    )?;
    Ok(row.map(|r| r.get(0)))
}

/// The comment that marks a staging table as the tool's own, so that only
/// such a table is ever dropped as a leftover.
pub fn staging_comment(table: &TableName, date: chrono::NaiveDate) -> String {
    format!("vendor-match: rows of {date} for {table}, being loaded")
}

/// Whether `staging` carries the tool's comment for this load; `None` when
/// there is no such table.
pub fn is_our_staging(
    client: &mut impl GenericClient,
    table: &TableName,
    staging: &TableName,
    date: chrono::NaiveDate,
) -> Result<Option<bool>, postgres::Error> {
    let row = client.query_one(
        "SELECT to_regclass($1) IS NOT NULL, obj_description(to_regclass($1), 'pg_class') IS NOT DISTINCT FROM $2",
        &[&staging.quoted(), &staging_comment(table, date)],
    )?;
    Ok(row.get::<_, bool>(0).then(|| row.get(1)))
}
