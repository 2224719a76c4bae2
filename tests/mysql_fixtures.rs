//! `fixtures generate` into MySQL / MariaDB: the same rows, pages and
//! expected.json as into PostgreSQL, and tables it did not make left alone.

use std::collections::BTreeMap;
use std::path::Path;

use mysql::prelude::Queryable;

use crate::util::mysql_server::{generate_mysql, MySqlDb};
use crate::util::naive::{internal_users_from, internal_users_from_mysql, Person};
use crate::util::*;

/// Every page file and expected.json of `dir`, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect()
}

fn by_id(mut people: Vec<Person>) -> Vec<Person> {
    people.sort_by_key(|p| p.id);
    people
}

// See: issue "Our users from MySQL too".
#[test]
fn the_same_seed_gives_the_same_users_and_pages_in_mariadb_as_in_postgresql() {
    let (my, pg) = (MySqlDb::new("fxsame"), TestDb::new("fxsame"));
    let (my_dir, pg_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The highest quirk rate: tabs, newlines, carriage returns, backslash-free
    // but non-ASCII names, nulls and future dates all reach the tables.
    let args = ["--users", "4000", "--page-size", "300", "--seed", "9", "--quirk-rate", "0.2"];
    let my_expected = generate_mysql(&my, my_dir.path(), &args);
    let pg_expected = generate(&pg, pg_dir.path(), &args);
    assert_eq!(my_expected, pg_expected, "expected.json differs");
    assert_eq!(files(my_dir.path()), files(pg_dir.path()), "the vendor pages differ");

    let from_my = by_id(internal_users_from_mysql(&mut my.conn()));
    let from_pg = by_id(internal_users_from(&mut pg.client()));
    assert_eq!(from_pg.len(), 4000);
    // The rows that would show an encoding difference are there to compare.
    let some = |what: &str, test: &dyn Fn(&Person) -> bool| assert!(from_pg.iter().any(test), "no {what}");
    some("tab", &|p| p.firstname.as_deref().is_some_and(|f| f.contains('\t')));
    some("newline", &|p| p.firstname.as_deref().is_some_and(|f| f.contains('\n')));
    some("carriage return", &|p| p.firstname.as_deref().is_some_and(|f| f.contains('\r')));
    some("non-ASCII", &|p| p.lastname.as_deref().is_some_and(|f| !f.is_ascii()));
    some("null name", &|p| p.firstname.is_none() || p.lastname.is_none() || p.specialty.is_none());
    some("empty name", &|p| p.firstname.as_deref() == Some("") || p.lastname.as_deref() == Some(""));
    some("null location", &|p| p.location.is_none());
    some("null date", &|p| p.last_active.is_none());
    if let Some((m, p)) = from_my.iter().zip(&from_pg).find(|(m, p)| m != p) {
        panic!("first differing user:\n```mysql\n{m:#?}\n```\n```postgresql\n{p:#?}\n```");
    }
    assert_eq!(from_my.len(), from_pg.len(), "user counts differ");
}

// See: issue "Our users from MySQL too"; as issue 9, item 7, for PostgreSQL.
#[test]
fn fixtures_generate_refuses_mysql_tables_it_did_not_make_without_force() {
    let db = MySqlDb::new("fxguard");
    db.conn()
        .query_drop(
            "CREATE TABLE `user` (id BIGINT PRIMARY KEY, firstname TEXT) COMMENT='ours, real'; \
             INSERT INTO `user` VALUES (1, 'Ada'), (2, 'Grace')",
        )
        .unwrap();
    let env = TestEnv::new();
    let pages = env.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    std::fs::write(pages.join("page-000001.json"), "kept").unwrap();
    let generate = |url: &str, args: &[&str]| {
        env.command(&["fixtures", "generate", "--page-size", "5", "--out-dir"])
            .arg(&pages)
            .args(args)
            .env("SOURCE_DATABASE_URL", url)
            .output()
            .unwrap()
    };
    let users =
        || -> Vec<(i64, Option<String>)> { db.conn().query("SELECT id, firstname FROM `user` ORDER BY id").unwrap() };
    let seeded = users();

    let refused = generate(&db.url(), &["--users", "10"]);
    assert_exit(&refused, 2);
    assert_one_error_line(&refused);
    let err = stderr(&refused);
    assert!(err.contains(&format!("{}.user ", db.name)) && err.contains("--force"), "{err}");
    assert_eq!(users(), seeded, "the rows were replaced");
    assert_eq!(std::fs::read_to_string(pages.join("page-000001.json")).unwrap(), "kept", "the out dir was touched");

    // A table of the other name is refused too, and a table without a comment.
    db.conn().query_drop("DROP TABLE `user`; CREATE TABLE user_practice (id BIGINT PRIMARY KEY)").unwrap();
    let refused = generate(&db.url(), &["--users", "10"]);
    assert_exit(&refused, 2);
    assert!(stderr(&refused).contains("user_practice"), "{}", stderr(&refused));

    // `mariadb://` is the same server.
    let mariadb = db.url().replacen("mysql:", "mariadb:", 1);
    assert_exit(&generate(&mariadb, &["--users", "10", "--force"]), 0);
    assert_eq!(users().len(), 10);
    // Tables it made itself are replaced without --force.
    assert_exit(&generate(&db.url(), &["--users", "12"]), 0);
    assert_eq!(users().len(), 12);
}
