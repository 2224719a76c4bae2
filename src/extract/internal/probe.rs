//! A look at the source database before a run: the tables the extract reads
//! are there and readable with the columns it reads, and how many users the
//! catalog expects (for the disk estimate and a progress bar's total).

use mysql::prelude::Queryable;

use super::after::After;
use super::{from_mysql, from_postgres};
use crate::db::{ConnectError, StreamingConnection};

/// The tables the extract reads, as its query names them.
pub const TABLES: [&str; 2] = ["user", "user_practice"];

/// Why the source can't be read as the extract reads it.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A table the extract reads is not there.
    #[error(
        "the source database {url} has no table `{table}` (the extract reads \"user\" and user_practice); \
         point --source-url at the database that holds them"
    )]
    Missing {
        /// The database, masked.
        url: String,
        /// The table.
        table: &'static str,
    },
    /// The server refused the extract's query: a column missing, or a
    /// privilege (SELECT) the user lacks.
    #[error(
        "the source database {url} refuses the extract's query (SELECT on \"user\" and user_practice, with \
         their columns id, firstname, lastname, specialty, classification, platform_registered_on, \
         last_active_date, practice_id and location); grant what it names or point --source-url elsewhere"
    )]
    Refused {
        /// The database, masked.
        url: String,
        /// The server's answer.
        #[source]
        source: QueryError,
    },
    /// Asking failed otherwise (a lost connection, say).
    #[error("asking the source database {url} about its tables failed")]
    Query {
        /// The database, masked.
        url: String,
        /// The cause.
        #[source]
        source: QueryError,
    },
}

impl ProbeError {
    /// Whether the settings are at fault (a table, column or privilege
    /// missing): running again as it is would fail again.
    pub fn is_config(&self) -> bool {
        matches!(self, ProbeError::Missing { .. } | ProbeError::Refused { .. })
    }
}

/// A query's failure, from either kind of server.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// PostgreSQL's.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// MySQL's or MariaDB's.
    #[error(transparent)]
    MySql(#[from] mysql::Error),
}

impl QueryError {
    /// Whether the server refused the query itself (no such table or
    /// column, no privilege) rather than failed to answer.
    fn is_refusal(&self) -> bool {
        match self {
            // Class 42: syntax error or access rule violation.
            QueryError::Postgres(e) => e.as_db_error().is_some_and(|db| db.code().code().starts_with("42")),
            // ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR,
            // ER_BAD_FIELD_ERROR, ER_NO_SUCH_TABLE, ER_DBACCESS_DENIED_ERROR.
            QueryError::MySql(mysql::Error::MySqlError(e)) => matches!(e.code, 1142 | 1143 | 1054 | 1146 | 1044),
            QueryError::MySql(_) => false,
        }
    }
}

/// Sorts a failed query into [`ProbeError::Refused`] or [`ProbeError::Query`].
fn failed(url: &str) -> impl Fn(QueryError) -> ProbeError + '_ {
    move |source| {
        let url = url.to_string();
        if source.is_refusal() {
            ProbeError::Refused { url, source }
        } else {
            ProbeError::Query { url, source }
        }
    }
}

/// PostgreSQL: each table found where the extract's query finds it (the
/// search path), then the query itself asked for no rows.
pub(super) fn check_postgres(connection: &StreamingConnection, url: &str) -> Result<(), ProbeError> {
    let client = connection.client();
    for table in TABLES {
        let name = crate::table::quote_ident(table);
        let found: bool = connection
            .block_on(client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name]))
            .map_err(|e| failed(url)(e.into()))?
            .get(0);
        if !found {
            return Err(ProbeError::Missing { url: url.to_string(), table });
        }
    }
    let query = format!("{} LIMIT 0", from_postgres::select(None));
    connection.block_on(client.batch_execute(&query)).map_err(|e| failed(url)(e.into()))
}

/// PostgreSQL: the planner's estimate of the rows of `"user"` (its
/// statistics scaled to the table's size now, as the planner does); `None`
/// when the table was never analyzed.
pub(super) fn estimate_postgres(connection: &StreamingConnection, url: &str) -> Result<Option<u64>, ProbeError> {
    let query = "SELECT CASE WHEN c.reltuples < 0 THEN NULL \
                 WHEN c.relpages > 0 THEN c.reltuples::float8 / c.relpages \
                   * (pg_relation_size(c.oid) / current_setting('block_size')::float8) \
                 ELSE c.reltuples::float8 END \
                 FROM pg_class c WHERE c.oid = to_regclass('\"user\"')";
    let client = connection.client();
    let row = connection.block_on(client.query_opt(query, &[])).map_err(|e| failed(url)(e.into()))?;
    let estimate: Option<f64> = row.and_then(|r| r.get(0));
    Ok(estimate.filter(|n| n.is_finite() && *n >= 0.0).map(|n| n.round() as u64))
}

/// MySQL / MariaDB: each table in the URL's database, then the extract's
/// query asked for no rows.
pub(super) fn check_mysql(conn: &mut mysql::Conn, url: &str) -> Result<(), ProbeError> {
    for table in TABLES {
        let found: Option<u64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (table,),
            )
            .map_err(|e| failed(url)(e.into()))?;
        if found.unwrap_or(0) == 0 {
            return Err(ProbeError::Missing { url: url.to_string(), table });
        }
    }
    let query = format!("{} LIMIT 0", from_mysql::query(After::default()));
    conn.query_drop(query).map_err(|e| failed(url)(e.into()))
}

/// MySQL / MariaDB: `information_schema.TABLES.TABLE_ROWS` of `user` (an
/// estimate for InnoDB); `None` when the server has none.
pub(super) fn estimate_mysql(conn: &mut mysql::Conn, url: &str) -> Result<Option<u64>, ProbeError> {
    let rows: Option<Option<u64>> = conn
        .query_first(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'user'",
        )
        .map_err(|e| failed(url)(e.into()))?;
    Ok(rows.flatten())
}
