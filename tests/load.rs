//! The warehouse table: partitioned by report date when the tool creates it,
//! a plain table made by someone else replaced date by date, and tables the
//! tool must not touch.

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";

/// The warehouse columns as a plain table, the way a DBA might create it.
pub const PLAIN_DDL: &str = "CREATE TABLE platform_user_activity (
  report_date date NOT NULL, run_id text NOT NULL, match_status text NOT NULL, match_key text,
  internal_user_id bigint, vendor_user_id bigint, firstname text, lastname text, specialty text,
  practice_location text, internal_classification text, internal_platform_registered_on text,
  internal_last_active_date date, internal_is_active boolean, vendor_classification text,
  vendor_last_active_date date, vendor_is_active boolean, internal_firstname_raw text,
  internal_lastname_raw text, internal_specialty_raw text, internal_practice_location_raw text,
  vendor_firstname_raw text, vendor_lastname_raw text, vendor_specialty_raw text,
  vendor_practice_location_raw text, loaded_at timestamptz DEFAULT now())";

fn run_date(env: &TestEnv, server: &Server, url: &str, date: &str) -> std::process::Output {
    let mut args = hand_written_run(&server.url, url);
    args.extend(["--report-date", date]);
    env.run(&args)
}

fn expected(db: &TestDb, date: &str) -> Vec<WarehouseRow> {
    expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(db), date, 30)
}

#[test]
fn each_report_date_is_a_partition_of_the_table_the_tool_creates() {
    let db = seeded_db("partitions");
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    for date in ["2017-02-02", "2017-01-15", "2017-02-02"] {
        assert_exit(&run_date(&env, &server, &url, date), 0);
    }
    let mut client = db.client();
    let partitions: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'public.platform_user_activity'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(partitions, ["platform_user_activity_20170115", "platform_user_activity_20170202"]);
    // No staging table is left behind.
    let tables: i64 = client
        .query_one("SELECT count(*) FROM pg_class WHERE relname LIKE 'platform_user_activity%loading'", &[])
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected(&db, "2017-02-02"));
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-01-15"), &expected(&db, "2017-01-15"));
}

#[test]
fn a_plain_table_made_by_someone_else_has_its_date_replaced_in_one_transaction() {
    let db = seeded_db("plain");
    db.client().batch_execute(PLAIN_DDL).unwrap();
    // A row of another date, which a load must leave alone.
    db.client()
        .batch_execute(
            "INSERT INTO platform_user_activity (report_date, run_id, match_status) VALUES ('2016-12-31', 'old', 'matched')",
        )
        .unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let url = db.url();
    assert_exit(&run_date(&env, &server, &url, "2017-02-02"), 0);
    let second = run_date(&env, &server, &url, "2017-02-02");
    assert_exit(&second, 0);
    let expected = expected(&db, "2017-02-02");
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);
    assert!(
        stdout(&second).contains(&format!("({} rows loaded, {} replaced)", expected.len(), expected.len())),
        "{}",
        stdout(&second)
    );
    let mut client = db.client();
    let others: i64 =
        client.query_one("SELECT count(*) FROM platform_user_activity WHERE run_id = 'old'", &[]).unwrap().get(0);
    assert_eq!(others, 1);
    // Still a plain table: the tool did not repartition it.
    let kind: String = client
        .query_one("SELECT relkind::text FROM pg_class WHERE relname = 'platform_user_activity'", &[])
        .unwrap()
        .get(0);
    assert_eq!(kind, "r");
}

#[test]
fn on_one_server_a_user_key_column_is_someone_elses_and_the_tool_creates_none() {
    let db = seeded_db("userkey");
    // A DBA's column named like the Citus distribution column, of another type.
    db.client()
        .batch_execute(
            &PLAIN_DDL.replace("loaded_at timestamptz", "user_key text DEFAULT 'dba', loaded_at timestamptz"),
        )
        .unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    assert_exit(&run_date(&env, &server, &db.url(), "2017-02-02"), 0);
    let expected = expected(&db, "2017-02-02");
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);
    let theirs: i64 = db
        .client()
        .query_one("SELECT count(*) FROM platform_user_activity WHERE user_key = 'dba'", &[])
        .unwrap()
        .get(0);
    assert_eq!(theirs as usize, expected.len());

    // The table the tool creates on one server has no such column.
    let fresh = seeded_db("userkey_fresh");
    assert_exit(&run_date(&env, &server, &fresh.url(), "2017-02-02"), 0);
    let columns: i64 = fresh
        .client()
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'platform_user_activity'::regclass AND attname = 'user_key'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(columns, 0);
}

#[test]
fn a_table_with_another_column_type_fails_with_one_clear_line_and_loads_nothing() {
    let db = seeded_db("mismatch");
    db.client().batch_execute(&PLAIN_DDL.replace("internal_user_id bigint", "internal_user_id integer")).unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let output = run_date(&env, &server, &db.url(), "2017-02-02");
    assert_exit(&output, 1);
    assert_one_error_line(&output);
    let err = stderr(&output);
    assert!(err.contains("internal_user_id of type integer") && err.contains("bigint"), "{err}");
    let rows: i64 = db.client().query_one("SELECT count(*) FROM platform_user_activity", &[]).unwrap().get(0);
    assert_eq!(rows, 0);
}

#[test]
fn a_table_in_the_way_of_the_staging_table_is_left_alone() {
    let db = seeded_db("inway");
    db.client()
        .batch_execute("CREATE TABLE platform_user_activity_20170202_loading (note text); INSERT INTO platform_user_activity_20170202_loading VALUES ('mine')")
        .unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let output = run_date(&env, &server, &db.url(), "2017-02-02");
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("is not a vendor-match staging table"), "{}", stderr(&output));
    let note: String =
        db.client().query_one("SELECT note FROM platform_user_activity_20170202_loading", &[]).unwrap().get(0);
    assert_eq!(note, "mine");
}

// See: issue 9, item 6 (the load ran CREATE TABLE IF NOT EXISTS, which needs CREATE on the schema).
#[test]
fn issue_9_a_loader_with_usage_and_select_insert_delete_only_loads_a_plain_table() {
    let role = TestRole::new("loader");
    let db = seeded_db("leastpriv");
    db.client()
        .batch_execute(&format!(
            "CREATE SCHEMA dw;
             {ddl};
             INSERT INTO dw.platform_user_activity (report_date, run_id, match_status) VALUES ('2016-12-31', 'old', 'matched');
             REVOKE CREATE ON SCHEMA public FROM PUBLIC;
             GRANT USAGE ON SCHEMA dw TO \"{role}\";
             GRANT SELECT, INSERT, DELETE ON dw.platform_user_activity TO \"{role}\";",
            ddl = PLAIN_DDL.replace("CREATE TABLE platform_user_activity", "CREATE TABLE dw.platform_user_activity"),
            role = role.name,
        ))
        .unwrap();
    let mut loader = url::Url::parse(&db.url()).unwrap();
    loader.set_username(&role.name).unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let source = db.url();
    for _ in 0..2 {
        let loader = loader.to_string();
        let mut args = hand_written_run_into(&server.url, &source, &loader);
        args.extend(["--warehouse-table", "dw.platform_user_activity"]);
        let output = env.run(&args);
        assert_exit(&output, 0);
    }
    assert_rows_eq(&warehouse_rows(&db, "dw.platform_user_activity", "2017-02-02"), &expected(&db, "2017-02-02"));
    let others: i64 = db
        .client()
        .query_one("SELECT count(*) FROM dw.platform_user_activity WHERE run_id = 'old'", &[])
        .unwrap()
        .get(0);
    assert_eq!(others, 1, "another date's row was touched");
}
