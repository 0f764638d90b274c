//! List pages and totals served from memory (PostgreSQL): a page is kept once read, served
//! with links that follow each request, and forgotten (a total outdated) when another process
//! changes, inserts or deletes any compose, or when the change feed is lost.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use odcs_common::db::DbConnection;
use serde_json::json;

use crate::support::{test_config, Store, TestApp};

/// The server under test, with list totals counted on every request, so that what a test sees
/// depends on the page cache alone.
fn postgres_app() -> TestApp {
    let mut config = test_config();
    config.server.list_total_cache_ms = 0;
    let app = TestApp::new(Store::Postgres, config);
    app.await_feed();
    app
}

async fn create(app: &TestApp, owner_label: &str) -> i64 {
    app.create(json!({"source": {"type": "tag", "source": "t"}, "label": owner_label}))
        .await["id"]
        .as_i64()
        .expect("id")
}

/// Runs `sql` as another process would, then waits until the server heard of a change.
fn run_sql_elsewhere(app: &TestApp, sql: &str) {
    let heard = app.state.pages.changes_heard();
    let mut conn = app.conn();
    let conn: &mut DbConnection = &mut conn;
    conn.batch_execute(sql).expect("run SQL");
    app.await_page_notice(heard);
}

/// Reads `uri` until the server keeps its page: the notices of the test's own creates reach
/// the server a little after they commit, and each forgets the page once more.
async fn read_until_kept(app: &TestApp, uri: &str) -> crate::support::Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = app.get(uri).await;
        if !app.state.pages.is_empty() {
            return reply;
        }
        assert!(Instant::now() < deadline, "{uri} never kept");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ids(reply: &serde_json::Value) -> Vec<i64> {
    reply["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect()
}

const PAGE: &str = "/api/1/composes/?label=kept&per_page=2";

#[actix_web::test]
async fn a_page_is_kept_and_forgotten_when_another_process_changes_a_compose() {
    let app = postgres_app();
    let (a, b, c) = (
        create(&app, "kept").await,
        create(&app, "kept").await,
        create(&app, "kept").await,
    );
    let first = read_until_kept(&app, PAGE).await;
    assert_eq!(ids(&first.body), vec![c, b]);
    let again = app.get(PAGE).await;
    assert_eq!(again.text, first.text, "byte for byte");
    assert_eq!(again.body["meta"]["total"], 3);

    // What a worker on another host does: the page is forgotten and read again.
    run_sql_elsewhere(
        &app,
        &format!("UPDATE composes SET state = 2 WHERE id = {c}"),
    );
    assert!(app.state.pages.is_empty(), "forgotten");
    let done = app.get(PAGE).await;
    assert_eq!(done.body["items"][0]["state_name"], "done");

    // A compose another frontend stores, and one an operator deletes, show up at once.
    run_sql_elsewhere(
        &app,
        &format!(
            "INSERT INTO composes (owner, source_type, source, state, results, flags, \
             time_to_expire, time_submitted, label) \
             SELECT owner, source_type, source, 0, results, flags, time_to_expire, \
             time_submitted, label FROM composes WHERE id = {a}"
        ),
    );
    let inserted = app.get(PAGE).await;
    assert_eq!(inserted.body["meta"]["total"], 4);
    let newest = ids(&inserted.body)[0];
    assert!(newest > c, "the inserted compose leads the page");
    run_sql_elsewhere(&app, &format!("DELETE FROM composes WHERE id = {newest}"));
    let deleted = app.get(PAGE).await;
    assert_eq!(ids(&deleted.body), vec![c, b]);
    assert_eq!(deleted.body["meta"]["total"], 3);
}

#[actix_web::test]
async fn a_kept_page_links_to_the_url_each_request_used() {
    let app = postgres_app();
    for _ in 0..3 {
        create(&app, "kept").await;
    }
    let plain = read_until_kept(&app, PAGE).await;
    let proxied = app
        .send(
            actix_web::test::TestRequest::get()
                .uri(PAGE)
                .insert_header(("X-Forwarded-Host", "odcs.example.com"))
                .insert_header(("X-Scheme", "https")),
        )
        .await;
    assert_eq!(proxied.body["items"], plain.body["items"]);
    let next = proxied.body["meta"]["next"].as_str().expect("next link");
    assert!(
        next.starts_with("https://odcs.example.com/api/1/composes/"),
        "{next}"
    );
    assert_ne!(proxied.body["meta"]["next"], plain.body["meta"]["next"]);
}

#[actix_web::test]
async fn a_create_through_the_server_is_listed_at_once() {
    let app = postgres_app();
    create(&app, "kept").await;
    read_until_kept(&app, PAGE).await;
    let id = create(&app, "kept").await;
    let page = app.get(PAGE).await;
    assert_eq!(
        ids(&page.body)[0],
        id,
        "no notice awaited: the write was this process's"
    );
}

#[actix_web::test]
async fn nothing_is_kept_while_the_change_feed_is_lost() {
    let app = postgres_app();
    let id = create(&app, "kept").await;
    read_until_kept(&app, PAGE).await;
    let mut conn = app.conn();
    let conn: &mut DbConnection = &mut conn;
    conn.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'odcs-server change feed' AND datname = current_database()",
    )
    .expect("end the feed's session");
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state.pages.is_listening() {
        assert!(Instant::now() < deadline, "the lost feed went unnoticed");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(app.state.pages.is_empty(), "everything forgotten");
    conn.batch_execute(&format!("UPDATE composes SET state = 4 WHERE id = {id}"))
        .expect("fail the compose");
    let page = app.get(PAGE).await;
    assert_eq!(page.body["items"][0]["state_name"], "failed");
    app.await_feed();
}

#[actix_web::test]
async fn sqlite_keeps_no_pages() {
    let app = TestApp::new(Store::Sqlite, test_config());
    create(&app, "kept").await;
    app.get(PAGE).await;
    app.get(PAGE).await;
    assert!(app.state.pages.is_empty());
}

#[actix_web::test]
async fn a_total_kept_for_an_hour_still_follows_another_process_s_insert() {
    let mut config = test_config();
    config.server.list_total_cache_ms = 3_600_000;
    let app = TestApp::new(Store::Postgres, config);
    app.await_feed();
    let a = create(&app, "kept").await;
    let before = read_until_kept(&app, PAGE).await;
    assert_eq!(before.body["meta"]["total"], 1);
    let mut conn = app.conn();
    let conn: &mut DbConnection = &mut conn;
    conn.batch_execute(&format!(
        "INSERT INTO composes (owner, source_type, source, state, results, flags, \
         time_to_expire, time_submitted, label) \
         SELECT owner, source_type, source, 0, results, flags, time_to_expire, \
         time_submitted, label FROM composes WHERE id = {a}"
    ))
    .expect("insert as another frontend would");
    // Only the change notice can outdate a total kept for an hour.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = app.get(PAGE).await;
        if page.body["meta"]["total"] == 2 {
            assert_eq!(ids(&page.body).len(), 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the total never followed the insert"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
