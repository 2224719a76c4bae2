//! What the load will ask of the warehouse, checked before a run starts:
//! the table's schema usable, and the privileges the load's way of writing
//! the table needs (as [`super::load`] will write it: created, swapped in as
//! a partition, or its date deleted and copied in).

use postgres::GenericClient;

use super::catalog::{self, CatalogError, Layout, TableMismatch};
use crate::db::{self, ConnectError};
use crate::secret::SecretUrl;
use crate::table::{quote_ident, TableName};

/// How the load will write the table, as far as the catalog tells now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The table is not there: the load creates it.
    Create,
    /// The table is there: its date's rows are replaced this way.
    Replace(Layout),
}

/// Why the load could not write the table.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The table's schema is not in the database.
    #[error(
        "the warehouse database {url} has no schema `{schema}` for --warehouse-table {table}; create it, \
         or name a table in a schema that exists"
    )]
    NoSchema {
        /// The database, masked.
        url: String,
        /// The schema.
        schema: String,
        /// The table.
        table: String,
    },
    /// No schema to create the table in: the search path names none that exists.
    #[error(
        "the warehouse database {url} has no schema on the search path for --warehouse-table {table}; \
         name its schema (e.g. public.{table})"
    )]
    NoCurrentSchema {
        /// The database, masked.
        url: String,
        /// The table.
        table: String,
    },
    /// A privilege the load needs is missing.
    #[error("the warehouse user {role} may not {purpose}: it needs {needs}")]
    Privilege {
        /// The user the load connects as.
        role: String,
        /// What the load would do.
        purpose: String,
        /// The privilege, and how to grant it.
        needs: String,
    },
    /// The table does not take the rows as the tool writes them.
    #[error(transparent)]
    Mismatch(#[from] TableMismatch),
    /// Asking the catalog failed.
    #[error("reading the catalog of the warehouse database {url} failed")]
    Db {
        /// The database, masked.
        url: String,
        /// The cause.
        #[source]
        source: postgres::Error,
    },
}

impl AccessError {
    /// Whether the settings are at fault (a schema or privilege missing):
    /// running again as it is would fail again. A table whose columns
    /// differ is the load's own failure (exit 1), found earlier.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            AccessError::NoSchema { .. } | AccessError::NoCurrentSchema { .. } | AccessError::Privilege { .. }
        )
    }
}

/// The schema the table is in (or would be created in), and the user's rights there.
struct Schema {
    role: String,
    name: Option<String>,
    exists: bool,
    usage: bool,
    create: bool,
}

/// The table and the user's rights on it.
struct Rights {
    owner: bool,
    select: bool,
    insert: bool,
    delete: bool,
}

/// Connects to `warehouse` and checks that the load may write `table`:
///
/// - its schema exists and the user has USAGE on it;
/// - no table: CREATE on the schema (the load creates it);
/// - a table partitioned by date (the tool's): its columns, CREATE on the
///   schema (the date's rows are built in a table beside it) and ownership
///   (the swap attaches and detaches partitions);
/// - any other table: its columns, and SELECT, INSERT and DELETE on it;
/// - a table of the first layout (without the `*_raw` columns): ownership,
///   to add them.
pub fn check(warehouse: &SecretUrl, table: &TableName) -> Result<Plan, AccessError> {
    let mut client = db::connect(warehouse, "warehouse")?;
    let url = warehouse.masked();
    let db = |source| AccessError::Db { url: url.clone(), source };
    let schema = schema(&mut client, table).map_err(db)?;
    let Some(schema_name) = schema.name.clone() else {
        return Err(AccessError::NoCurrentSchema { url, table: table.to_string() });
    };
    if !schema.exists {
        return Err(AccessError::NoSchema { url, schema: schema_name, table: table.to_string() });
    }
    let missing = |purpose: String, needs: String| AccessError::Privilege { role: schema.role.clone(), purpose, needs };
    let grant = |privilege: &str| {
        format!(
            "{privilege} on schema {0} (GRANT {privilege} ON SCHEMA {0} TO {1})",
            quote_ident(&schema_name),
            quote_ident(&schema.role)
        )
    };
    if !schema.usage {
        return Err(missing(format!("use schema {}", quote_ident(&schema_name)), grant("USAGE")));
    }
    if !catalog::exists(&mut client, table).map_err(db)? {
        if !schema.create {
            let needs = format!("{}, or the table made beforehand by a user who may", grant("CREATE"));
            return Err(missing(format!("create table {table}"), needs));
        }
        return Ok(Plan::Create);
    }
    let rights = rights(&mut client, table).map_err(db)?;
    let own = || format!("to own table {table} (or be a member of its owner's role)");
    let unaltered = catalog::missing_columns(&mut client, table).map_err(db)?;
    if !unaltered.is_empty() && unaltered.iter().all(crate::table::Column::raw) {
        // A table of the first layout: the load adds the columns first, and
        // only then can tell how it is laid out.
        if !rights.owner {
            return Err(missing(format!("add this version's *_raw columns to {table}"), own()));
        }
        return Ok(Plan::Replace(Layout::Partitioned));
    }
    let layout = match catalog::inspect(&mut client, table) {
        Ok(shape) => shape.layout,
        Err(CatalogError::Mismatch(mismatch)) => return Err(mismatch.into()),
        Err(CatalogError::Db(source)) => return Err(db(source)),
    };
    match layout {
        Layout::Partitioned if !schema.create => {
            let needs = format!("{} to build the date's rows beside it", grant("CREATE"));
            Err(missing(format!("load table {table}, partitioned by date"), needs))
        }
        Layout::Partitioned if !rights.owner => Err(missing(format!("swap the date's partition into {table}"), own())),
        Layout::Plain if !(rights.select && rights.insert && rights.delete) => {
            let needs = format!(
                "SELECT, INSERT and DELETE on it (GRANT SELECT, INSERT, DELETE ON {table} TO {})",
                quote_ident(&schema.role)
            );
            Err(missing(format!("replace the date's rows of {table}"), needs))
        }
        _ => Ok(Plan::Replace(layout)),
    }
}

/// The table's schema (its own, or the first of the search path) and the user's rights there.
fn schema(client: &mut impl GenericClient, table: &TableName) -> Result<Schema, postgres::Error> {
    let row = client.query_one(
        "SELECT current_user::text, s.name, n.oid IS NOT NULL, \
         coalesce(has_schema_privilege(n.oid, 'USAGE'), false), coalesce(has_schema_privilege(n.oid, 'CREATE'), false) \
         FROM (SELECT coalesce($1::text, current_schema()::text) AS name) s LEFT JOIN pg_namespace n ON n.nspname = s.name",
        &[&table.schema],
    )?;
    Ok(Schema { role: row.get(0), name: row.get(1), exists: row.get(2), usage: row.get(3), create: row.get(4) })
}

/// The user's rights on the table (ownership through membership of the owner's role).
fn rights(client: &mut impl GenericClient, table: &TableName) -> Result<Rights, postgres::Error> {
    let row = client.query_one(
        "SELECT pg_has_role(c.relowner, 'USAGE'), has_table_privilege(c.oid, 'SELECT'), \
         has_table_privilege(c.oid, 'INSERT'), has_table_privilege(c.oid, 'DELETE') \
         FROM pg_class c WHERE c.oid = to_regclass($1)",
        &[&table.quoted()],
    )?;
    Ok(Rights { owner: row.get(0), select: row.get(1), insert: row.get(2), delete: row.get(3) })
}
