//! Connection URLs reach the server with their meaning unchanged: every
//! parameter the README documents, read back from the server's own view of
//! the session, through the tool's connections and through a whole run.

use vendor_match::db;
use vendor_match::secret::SecretUrl;

use crate::util::naive::{expected_rows, internal_users, vendor_users};
use crate::util::*;

/// The session settings and TLS state the server sees for `client`'s session.
const SESSION: &str = "SELECT current_setting('statement_timeout'), current_setting('search_path'), \
     current_setting('application_name'), (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())";

fn url(raw: &str) -> SecretUrl {
    SecretUrl::parse(raw, &["postgres"]).unwrap()
}

// See: issue 9, item 4 (the space of `options=-c%20statement_timeout%3D300` reached the server as `+`).
#[test]
fn issue_9_every_documented_url_parameter_reaches_the_server_with_its_meaning() {
    let db = TestDb::new("params");
    let query = "options=-c%20statement_timeout%3D300%20-c%20search_path%3Ddw&application_name=nightly%20load\
                 &connect_timeout=7&sslmode=disable";
    let given = url(&format!("{}?{query}", db.url()));
    let expected = ("300ms".to_string(), "dw".to_string(), "nightly load".to_string(), Some(false));

    let mut client =
        db::connect(&given, "warehouse").unwrap_or_else(|e| panic!("{}", vendor_match::causes::one_line(&e)));
    let row = client.query_one(SESSION, &[]).unwrap();
    assert_eq!((row.get(0), row.get(1), row.get(2), row.get(3)), expected, "db::connect");

    let streaming = db::connect_streaming(&given, "source").unwrap();
    let row = streaming.block_on(streaming.client().query_one(SESSION, &[])).unwrap();
    assert_eq!((row.get(0), row.get(1), row.get(2), row.get(3)), expected, "db::connect_streaming");

    // Without application_name the sessions are named after the tool;
    // `prefer`, the default, is a plain connection (README).
    let mut client = db::connect(&url(&format!("{}?sslmode=prefer", db.url())), "warehouse").unwrap();
    let row = client.query_one(SESSION, &[]).unwrap();
    assert_eq!((row.get::<_, String>(2), row.get::<_, Option<bool>>(3)), ("vendor-match".to_string(), Some(false)));

    // `require` never falls back to a plain connection: the local server's
    // certificate is not one the system trusts, so the connection is refused.
    let refused = db::connect(&url(&format!("{}?sslmode=require", db.url())), "warehouse");
    let error = vendor_match::causes::one_line(&refused.err().expect("sslmode=require connected without verified TLS"));
    assert!(error.to_lowercase().contains("certificate") || error.contains("TLS"), "{error}");
}

// See: issue 9, item 4 (the README's statement_timeout recipe exited 1).
#[test]
fn issue_9_a_run_with_session_options_in_the_warehouse_url_loads_where_they_say() {
    let db = seeded_db("options");
    db.client().batch_execute("CREATE SCHEMA dw").unwrap();
    let server = hand_written_server();
    let env = TestEnv::new();
    let source = db.url();
    let warehouse = format!("{}?options=-c%20statement_timeout%3D300%20-c%20search_path%3Ddw", db.url());
    let mut args = hand_written_run_into(&server.url, &source, &warehouse);
    args.extend(["--warehouse-table", "platform_user_activity"]);
    let output = env.run(&args);
    assert_exit(&output, 0);
    // The unqualified table was created in the schema the options' search_path names.
    let expected = expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, "dw.platform_user_activity", "2017-02-02"), &expected);
    let in_public: bool =
        db.client().query_one("SELECT to_regclass('public.platform_user_activity') IS NOT NULL", &[]).unwrap().get(0);
    assert!(!in_public, "the table was created in public: the search_path did not arrive");
}
