//! Every environment variable the program reads, in one place.

/// Vendor API base URL, API version included (`--vendor-url`).
pub const VENDOR_API_URL: &str = "VENDOR_API_URL";
/// Internal PostgreSQL database (`--source-url`).
pub const SOURCE_DATABASE_URL: &str = "SOURCE_DATABASE_URL";
/// Warehouse PostgreSQL database (`--warehouse-url`).
pub const WAREHOUSE_DATABASE_URL: &str = "WAREHOUSE_DATABASE_URL";
/// Test only: `POINT` or `POINT=N` makes the process abort (like `kill -9`)
/// at the N-th time (default 1st) it passes the named failpoint.
pub const FAILPOINT: &str = "VENDOR_MATCH_FAILPOINT";
/// Seconds between two progress log lines when stderr is not a terminal
/// (default 10; 0 for none): there, the log lines are the progress.
pub const PROGRESS_LOG_SECS: &str = "VENDOR_MATCH_PROGRESS_LOG_SECS";
