//! A Citus cluster as the warehouse (issue 13): the table distributed by
//! `user_key`, the date's partition built aside on the same shards and
//! swapped in, re-runs that never duplicate, readers that never see a mix,
//! and a worker stopped mid-load. Our users and the vendor's come from the
//! test PostgreSQL server and the fixture server, as everywhere else.

use std::process::{Command, Output};
use std::time::Duration;

use crate::load::PLAIN_DDL;
use crate::util::citus::{kit, CitusSchema, StoppedWorker};
use crate::util::naive::{self, expected_rows, internal_users, vendor_users};
use crate::util::*;

const FAILPOINT: &str = "VENDOR_MATCH_FAILPOINT";

/// `run` from `source` and the pages `server` serves into the table of `citus`, with `extra` arguments.
fn command_into(env: &TestEnv, server: &Server, source: &TestDb, citus: &CitusSchema, extra: &[&str]) -> Command {
    let (url, table) = (source.url(), citus.table());
    let mut args = hand_written_run_into(&server.url, &url, citus.url());
    args.extend(["--warehouse-table", &table]);
    args.extend(extra);
    env.command(&args)
}

/// One test's world: a schema on the cluster as the warehouse, the
/// hand-written users and vendor pages as the sources.
struct HandWritten {
    citus: CitusSchema,
    db: TestDb,
    server: Server,
    env: TestEnv,
}

impl HandWritten {
    /// `None` (said in one line) when no cluster is configured.
    fn new(prefix: &str) -> Option<HandWritten> {
        let citus = CitusSchema::new(prefix)?;
        let db = seeded_db(&format!("citus_{prefix}"));
        Some(HandWritten { citus, db, server: hand_written_server(), env: TestEnv::new() })
    }

    fn command(&self, extra: &[&str]) -> Command {
        command_into(&self.env, &self.server, &self.db, &self.citus, extra)
    }

    fn run(&self, extra: &[&str]) -> Output {
        self.command(extra).output().unwrap()
    }

    /// The naive join's rows of `date`.
    fn expected(&self, date: &str, days: i64) -> Vec<WarehouseRow> {
        expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(&self.db), date, days)
    }

    /// The warehouse's rows of `date`.
    fn rows(&self, date: &str) -> Vec<WarehouseRow> {
        warehouse_rows_from(&mut self.citus.client(), &self.citus.table(), date)
    }

    /// Staging tables left in the schema.
    fn leftovers(&self) -> i64 {
        self.citus
            .client()
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relnamespace = $1::text::regnamespace AND relname LIKE '%loading'",
                &[&self.citus.schema],
            )
            .unwrap()
            .get(0)
    }
}

/// (table, distribution column, colocation id) of every Citus table in the schema.
fn distributed_tables(citus: &CitusSchema) -> Vec<(String, String, i32)> {
    citus
        .client()
        .query(
            "SELECT p.logicalrelid::regclass::text, column_to_column_name(p.logicalrelid, p.partkey), p.colocationid \
             FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid \
             WHERE c.relnamespace = $1::text::regnamespace AND p.partmethod = 'h' ORDER BY 1",
            &[&citus.schema],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[test]
fn generated_fixtures_load_into_a_distributed_table_with_the_naive_join_rows_on_both_workers() {
    let Some(citus) = CitusSchema::new("generated") else { return };
    let db = TestDb::new("citus_generated");
    let env = TestEnv::new();
    let pages = env.path().join("fixtures");
    let planted = generate(&db, &pages, &["--vendor-users", "3000", "--internal-users", "5000", "--page-size", "100"]);
    let server = Server::start(&pages, &[]);
    assert_exit(&command_into(&env, &server, &db, &citus, &[]).output().unwrap(), 0);

    let table = citus.table();
    let expected = expected_rows(&vendor_users(&pages), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows_from(&mut citus.client(), &table, "2017-02-02"), &expected);
    let matched = expected.iter().filter(|r| r.status == "matched").count();
    assert_eq!(matched as u64, planted["total_matches"].as_u64().unwrap());

    // The table and its partition: distributed by user_key, colocated.
    let tables = distributed_tables(&citus);
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    let partition = format!("{}_20170202", table);
    assert_eq!(names, [table.as_str(), partition.as_str()]);
    assert!(tables.iter().all(|t| t.1 == "user_key" && t.2 == tables[0].2), "{tables:?}");

    // user_key is our id where the row has one, else the vendor's: never null.
    let mut client = citus.client();
    let wrong: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM {table} WHERE user_key IS DISTINCT FROM coalesce(internal_user_id, vendor_user_id)"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0);

    // Rows on both workers, adding up to the table.
    let per_node: Vec<(String, i32, i64)> = client
        .query(
            "SELECT nodename, nodeport, sum(result::bigint)::bigint FROM \
             run_command_on_placements($1::text::regclass, 'SELECT count(*) FROM %s') GROUP BY 1, 2 ORDER BY 2",
            &[&partition],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(per_node.len(), 2, "{per_node:?}");
    assert!(per_node.iter().all(|n| n.2 > 0), "{per_node:?}");
    assert_eq!(per_node.iter().map(|n| n.2).sum::<i64>(), expected.len() as i64);
    let report = std::fs::read_to_string(env.output()).unwrap();
    assert!(report.contains("Citus: distributed by user_key, ") && report.contains(" on 2 nodes"), "{report}");
    assert!(report.contains("SELECT create_distributed_table("), "{report}");
}

#[test]
fn a_rerun_of_a_date_on_citus_replaces_its_rows_and_leaves_other_dates_alone() {
    let Some(w) = HandWritten::new("rerun") else { return };
    assert_exit(&w.run(&["--report-date", "2017-02-02", "--active-days", "10"]), 0);
    assert_exit(&w.run(&["--report-date", "2017-01-15"]), 0);
    let again = w.run(&["--report-date", "2017-02-02"]);
    assert_exit(&again, 0);

    let feb = w.expected("2017-02-02", 30);
    assert_rows_eq(&w.rows("2017-02-02"), &feb);
    assert_rows_eq(&w.rows("2017-01-15"), &w.expected("2017-01-15", 30));
    assert!(
        stdout(&again).contains(&format!("({} rows loaded, {} replaced)", feb.len(), feb.len())),
        "{}",
        stdout(&again)
    );
    // Two partitions, both distributed beside the table; nothing left aside.
    assert_eq!(distributed_tables(&w.citus).len(), 3, "{:?}", distributed_tables(&w.citus));
    assert_eq!(w.leftovers(), 0);
    // The views answer on Citus too: the churn into the rerun date, as the naive join counts it.
    let churn = w
        .citus
        .client()
        .query_one(
            &format!(
                "SELECT since_date::text, vendor_active_users, vendor_active_churned, vendor_inactive_users, \
                 vendor_inactive_churned FROM {}_churn WHERE report_date = '2017-02-02'",
                w.citus.table()
            ),
            &[],
        )
        .unwrap();
    assert_eq!(churn.get::<_, String>(0), "2017-01-15");
    let found: Vec<i64> = (1..5).map(|i| churn.get(i)).collect();
    let want = naive::churn(&w.expected("2017-01-15", 30), &feb);
    assert!(want[0] + want[2] > 0, "no user to follow: {want:?}");
    assert_eq!(found, want);
    let report = stdout(&again);
    assert!(report.contains("Churn from 2017-01-15 to 2017-02-02"), "{report}");
    let (loads, lines): (i64, i64) = {
        let mut client = w.citus.client();
        let mut count = |sql: String| -> i64 { client.query_one(&sql, &[]).unwrap().get(0) };
        (
            count(format!("SELECT count(*) FROM {}_loads", w.citus.table())),
            count(format!("SELECT count(*) FROM {}_summary", w.citus.table())),
        )
    };
    assert_eq!((loads, lines), (3, 2), "a loads row per load, a summary line per date");
}

/// Runs a load of `date` (its swap held open 2 s) while a reader reads the
/// date's rows all along: every read must be `old` or `new`, whole.
fn read_through_a_load(w: &HandWritten, date: &str, old: &[WarehouseRow], new: &[WarehouseRow]) {
    let mut load = w.command(&["--report-date", date]).env(FAILPOINT, "load.committing:pause=2000").spawn().unwrap();
    let (mut saw_old, mut saw_new) = (0, 0);
    loop {
        let done = load.try_wait().unwrap().is_some();
        let rows = w.rows(date);
        if rows == old {
            saw_old += 1;
        } else {
            assert_rows_eq(&rows, new);
            saw_new += 1;
        }
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(load.wait().unwrap().success());
    assert!(saw_old > 0 && saw_new > 0, "old {saw_old}, new {saw_new}");
}

#[test]
fn readers_of_a_citus_table_see_the_old_rows_or_the_new_never_a_mix() {
    let Some(w) = HandWritten::new("readers") else { return };
    // The table exists (another date); a date's first load, then a load replacing a date's rows.
    assert_exit(&w.run(&["--report-date", "2016-12-31"]), 0);
    read_through_a_load(&w, "2017-01-15", &[], &w.expected("2017-01-15", 30));
    assert_exit(&w.run(&["--active-days", "10"]), 0);
    let old = w.rows("2017-02-02");
    let new = w.expected("2017-02-02", 30);
    assert_ne!(old, new);
    read_through_a_load(&w, "2017-02-02", &old, &new);
}

#[test]
fn a_plain_table_distributed_by_user_key_has_its_date_replaced_with_the_key_added() {
    let Some(w) = HandWritten::new("plain") else { return };
    let table = w.citus.table();
    // A DBA's table: not partitioned, distributed by user_key, one row of another date.
    let ddl = PLAIN_DDL.replace("DEFAULT now())", "DEFAULT now(), user_key bigint NOT NULL)");
    w.citus
        .client()
        .batch_execute(&format!(
            "SET search_path = {}; {ddl};
             SELECT create_distributed_table('{table}', 'user_key');
             INSERT INTO {table} (report_date, run_id, match_status, user_key) VALUES ('2016-12-31', 'old', 'matched', 1);",
            w.citus.schema
        ))
        .unwrap();
    assert_exit(&w.run(&[]), 0);
    let again = w.run(&[]);
    assert_exit(&again, 0);
    let expected = w.expected("2017-02-02", 30);
    assert_rows_eq(&w.rows("2017-02-02"), &expected);
    let row = w
        .citus
        .client()
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE report_date <> '2017-02-02'), \
                 count(*) FILTER (WHERE report_date = '2017-02-02' AND user_key IS DISTINCT FROM coalesce(internal_user_id, vendor_user_id)) \
                 FROM {table}"
            ),
            &[],
        )
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (1, 0));
    assert!(stdout(&again).contains(&format!("({} rows loaded, {} replaced)", expected.len(), expected.len())));
}

#[test]
fn a_worker_stopped_mid_load_fails_the_load_in_one_line_and_resume_finishes_once_it_is_back() {
    let Some(w) = HandWritten::new("worker") else { return };
    let Some(cluster) = kit() else { return };
    // Old rows of the date: a 10-day window.
    assert_exit(&w.run(&["--active-days", "10"]), 0);
    let old = w.rows("2017-02-02");

    // A second run of the date pauses inside its COPY; worker 2 stops meanwhile.
    let mut load = Watched::spawn(w.command(&[]).env(FAILPOINT, "load.copying:pause=3000"));
    load.wait_for("failpoint load.copying: pausing");
    let worker = StoppedWorker::stop(&cluster, 2);
    let failed = load.finish();
    assert_exit(&failed, 1);
    assert_one_error_line(&failed);
    let err = stderr(&failed);
    assert!(err.contains("vendor-match resume --run-id"), "{err}");
    assert!(err.contains("remote node") && err.contains(":9702"), "{err}");

    // Back up: nothing of the failed load is visible, then resume finishes it.
    worker.start();
    assert_rows_eq(&w.rows("2017-02-02"), &old);
    let resumed = w.env.run(&["resume", "--quiet", "--warehouse-url", w.citus.url()]);
    assert_exit(&resumed, 0);
    assert_rows_eq(&w.rows("2017-02-02"), &w.expected("2017-02-02", 30));
    assert_eq!(w.leftovers(), 0);
}
