//! The one integration test binary: the built `vendor-match` against a real
//! PostgreSQL server (and a MariaDB one) and `fixtures serve` over loopback.

// Helpers: scratch databases, the fixture server, the naive join.
mod util;

// A Citus cluster as the warehouse: distributed, colocated, a worker stopped mid-load.
mod citus;
// Exit codes, one `error:` line, help texts, passwords never shown.
mod cli;
// inspect (intermediate files as CSV), runs and gc, completions and man pages.
mod commands;
// Connection URLs reach the server with their meaning unchanged.
mod connections;
// Damaged run files: the exact rows or an error naming the file.
mod damage;
// Vendor faults retried to the same rows; a failing page, then resume.
mod faults;
// The warehouse table: date partitions, a plain table, tables not ours.
mod load;
// fixtures generate into MariaDB: the same rows as into PostgreSQL; tables not ours.
mod mysql_fixtures;
// Data quality at the sources: vendor paging, dates, rejects (issue 9).
mod quality;
// MySQL / MariaDB as the source: the same rows as from PostgreSQL, and its types.
mod mysql_source;
// Peak memory under --memory-budget + 48 MiB.
mod memory;
// Disk: intermediate files removed once consumed, the high-water, a full disk.
mod disk;
// Crash consistency: failpoints, kill -9, broken database connections.
mod resume;
// TLS to PostgreSQL and to an https vendor, with a CA made by the test.
mod tls;
// A scheduler's retries by run id, SIGINT / SIGTERM mid-stage, status --json against its schema.
mod scheduler;
// End-to-end runs compared with a naive in-memory join; re-runs; stages.
mod pipeline;
// Checks before a run: output, work dir, source tables, warehouse privileges, vendor page 1, disk.
mod preflight;
// What analysts read: cleaned and raw values, comments, the loads table, the summary and churn views.
mod warehouse;
// report.html in headless Chromium: every chart, the naive join's figures, no console errors.
mod report_html;
// The import graph of src/: no cycle, no edge that climbs.
mod layers;
