//! A failure of the stream of our users itself (not of one row).

/// A failure of the stream itself (not of one row).
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// The query or the connection failed.
    #[error("streaming our users out of PostgreSQL failed")]
    Db(#[from] postgres::Error),
    /// Reading the COPY stream failed.
    #[error("reading the COPY stream failed")]
    Io(#[from] std::io::Error),
    /// The MySQL query or connection failed.
    #[error("streaming our users out of MySQL failed")]
    MySql(#[from] mysql::Error),
}

impl InternalError {
    /// Whether the stream broke off (connection lost, server shutting the
    /// session down) rather than failed for good (a missing table, a bad query).
    pub fn is_transient(&self) -> bool {
        match self {
            InternalError::Io(_) => true,
            InternalError::Db(error) => crate::db::is_connection_loss(error),
            InternalError::MySql(error) => crate::mysql_db::is_connection_loss(error),
        }
    }
}
