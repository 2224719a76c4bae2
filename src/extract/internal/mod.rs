//! Our users, streamed out of the source database in id order (never the
//! whole table in memory) and encoded row by row: PostgreSQL by `COPY ... TO
//! STDOUT`, MySQL / MariaDB by one text-protocol query read as it arrives.

mod after;
pub mod encode;
mod error;
mod from_mysql;
mod from_postgres;

pub use after::After;
pub use error::InternalError;

use encode::{RowEncoder, RowReject};

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
}
