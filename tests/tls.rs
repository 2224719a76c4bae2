//! TLS: PostgreSQL with sslmode=require and certificate verification, and an
//! https vendor, each against a local server whose certificate comes from a
//! CA the test creates.

use crate::util::naive::{expected_rows, internal_users, internal_users_from, vendor_users};
use crate::util::tls::{HttpsServer, TestCa, TlsCluster};
use crate::util::*;

const TABLE: &str = "public.platform_user_activity";

fn run(env: &TestEnv, vendor: &str, db_url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = hand_written_run(vendor, db_url);
    args.extend(extra);
    env.run(&args)
}

#[test]
fn databases_over_verified_tls_and_plain_or_untrusted_connections_refused() {
    let ca = TestCa::new();
    let cluster = TlsCluster::start(&ca.server_cert());
    let mut client = cluster.socket_client();
    seed_hand_written(&mut client);
    let server = Server::start(&repo("fixtures/vendor"), &[]);
    let env = TestEnv::new();
    let ca_path = ca.write(env.path());
    let base = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);

    let tls = format!("{base}?sslmode=require&sslrootcert={}", ca_path.display());
    assert_exit(&run(&env, &server.url, &tls, &[]), 0);
    let expected =
        expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users_from(&mut client), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows_from(&mut client, TABLE, "2017-02-02"), &expected);

    // The server takes TLS only: a plain connection is refused, clearly.
    let plain = run(&env, &server.url, &base, &[]);
    assert_exit(&plain, 1);
    assert_one_error_line(&plain);
    assert!(stderr(&plain).contains("could not connect to the source database"), "{}", stderr(&plain));

    // A certificate from another CA is not trusted.
    let other = TestCa::new();
    let other_path = env.path().join("other-ca.pem");
    std::fs::write(&other_path, &other.cert_pem).unwrap();
    let untrusted =
        run(&env, &server.url, &format!("{base}?sslmode=verify-full&sslrootcert={}", other_path.display()), &[]);
    assert_exit(&untrusted, 1);
    assert_one_error_line(&untrusted);
    assert!(stderr(&untrusted).to_lowercase().contains("certificate"), "{}", stderr(&untrusted));

    // See: issue 9, item 4: `fixtures generate` takes the same URLs as the pipeline.
    client.batch_execute("CREATE DATABASE fx").unwrap();
    let fx = format!(
        "postgres://postgres@127.0.0.1:{}/fx?sslmode=verify-full&sslrootcert={}",
        cluster.port,
        ca_path.display()
    );
    let out_dir = env.path().join("fixtures");
    let generated = env
        .command(&["fixtures", "generate", "--users", "300", "--page-size", "100", "--source-url", &fx, "--out-dir"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_exit(&generated, 0);
    let mut fx_client = postgres::Client::connect(
        &format!("host={} port={} user=postgres dbname=fx", cluster.socket_dir().display(), cluster.port),
        postgres::NoTls,
    )
    .unwrap();
    let users: i64 = fx_client.query_one("SELECT count(*) FROM \"user\"", &[]).unwrap().get(0);
    assert_eq!(users, 300);
}

#[test]
fn vendor_over_https_trusts_the_given_ca_only() {
    let ca = TestCa::new();
    let vendor = HttpsServer::start(&repo("fixtures/vendor"), &ca.server_cert());
    let db = seeded_db("https");
    let env = TestEnv::new();
    let ca_path = ca.write(env.path());
    let url = db.url();

    let output = run(&env, &vendor.url, &url, &["--vendor-ca-file", ca_path.to_str().unwrap()]);
    assert_exit(&output, 0);
    let expected = expected_rows(&vendor_users(&repo("fixtures/vendor")), &internal_users(&db), "2017-02-02", 30);
    assert_rows_eq(&warehouse_rows(&db, TABLE, "2017-02-02"), &expected);

    let untrusted = run(&env, &vendor.url, &url, &["--max-retries", "0"]);
    assert_exit(&untrusted, 1);
    assert_one_error_line(&untrusted);
    assert!(stderr(&untrusted).to_lowercase().contains("certificate"), "{}", stderr(&untrusted));
}
