//! Our users, streamed out of the source database in id order (never the
//! whole table in memory) and encoded row by row: PostgreSQL by `COPY ... TO
//! STDOUT`, MySQL / MariaDB by one text-protocol query read as it arrives.

mod after;
pub mod encode;
mod error;
mod from_mysql;
mod from_postgres;
pub mod probe;

pub use after::After;
pub use error::InternalError;

use encode::{RowEncoder, RowReject};
use probe::ProbeError;

use crate::db::{self, ConnectError, StreamingConnection};
use crate::mysql_db;
use crate::record::RecordBuf;
use crate::secret::SecretUrl;

/// A session on the source database, for one stream of our users.
pub enum SourceSession {
    /// PostgreSQL.
    Postgres(Box<StreamingConnection>),
    /// MySQL or MariaDB.
    MySql(mysql::Conn),
}

/// Connects to the source database named by `url` (its scheme says which kind).
pub fn connect(url: &SecretUrl) -> Result<SourceSession, ConnectError> {
    if mysql_db::is_mysql(url) {
        Ok(SourceSession::MySql(mysql_db::connect(url, "source")?))
    } else {
        Ok(SourceSession::Postgres(Box::new(db::connect_streaming(url, "source")?)))
    }
}

impl SourceSession {
    /// Streams every user after `after`, in id order, each encoded into
    /// `record` and handed to `on_row` with its id or why it is a reject;
    /// returns the number of rows read. The session is spent after an error.
    pub fn stream<E: From<InternalError>>(
        &mut self,
        after: After,
        encoder: &mut RowEncoder,
        record: &mut RecordBuf,
        on_row: impl FnMut(Result<i64, RowReject>, &RecordBuf) -> Result<(), E>,
    ) -> Result<u64, E> {
        match self {
            SourceSession::Postgres(connection) => from_postgres::stream(connection, after.id, encoder, record, on_row),
            SourceSession::MySql(conn) => from_mysql::stream(conn, after, encoder, record, on_row),
        }
    }

    /// Checks that the tables the extract reads are there and that its
    /// query is accepted (columns and privileges), reading no rows; `url`
    /// is the session's, for the messages (masked).
    pub fn check_tables(&mut self, url: &SecretUrl) -> Result<(), ProbeError> {
        match self {
            SourceSession::Postgres(connection) => probe::check_postgres(connection, &url.masked()),
            SourceSession::MySql(conn) => probe::check_mysql(conn, &url.masked()),
        }
    }

    /// The catalog's estimate of the users the extract will read (the rows
    /// of `"user"`); `None` when the server has none (never analyzed).
    pub fn estimate_rows(&mut self, url: &SecretUrl) -> Result<Option<u64>, ProbeError> {
        match self {
            SourceSession::Postgres(connection) => probe::estimate_postgres(connection, &url.masked()),
            SourceSession::MySql(conn) => probe::estimate_mysql(conn, &url.masked()),
        }
    }
}

/// The catalog's estimate of the users in the source database `url` (one
/// short session): a progress bar's total, the preflight's disk estimate.
pub fn estimate_rows(url: &SecretUrl) -> Result<Option<u64>, ProbeError> {
    connect(url)?.estimate_rows(url)
}
