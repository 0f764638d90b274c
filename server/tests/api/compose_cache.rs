//! GET by id served from memory (PostgreSQL): what is kept is forgotten when the database
//! announces a change, nothing is served while the change feed is lost, and writes through the
//! server are seen at once.

use actix_web::http::Method;
use diesel::connection::SimpleConnection;
use diesel::PgConnection;
use odcs_common::compose::ComposeId;
use odcs_common::db::DbConnection;
use serde_json::json;

use crate::support::{test_config, Store, TestApp};

fn postgres_app() -> TestApp {
    let app = TestApp::new(Store::Postgres, test_config());
    app.await_feed();
    app
}

async fn create(app: &TestApp) -> i64 {
    app.create(json!({"source": {"type": "tag", "source": "t"}}))
        .await["id"]
        .as_i64()
        .expect("id")
}

fn compose_id(id: i64) -> ComposeId {
    ComposeId(i32::try_from(id).expect("compose id"))
}

/// Runs `sql` on the test database as another process would, without waiting for any notice.
fn run_sql(app: &TestApp, sql: &str) {
    let mut conn = app.conn();
    let conn: &mut DbConnection = &mut conn;
    conn.batch_execute(sql).expect("run SQL");
}

#[actix_web::test]
async fn a_polled_compose_is_kept_and_forgotten_when_another_process_changes_it() {
    let app = postgres_app();
    let id = create(&app).await;
    let first = app.get(&format!("/api/1/composes/{id}")).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["state_name"], "wait");
    assert!(app.state.composes.get(&compose_id(id)).is_some(), "kept");
    let again = app.get(&format!("/api/1/composes/{id}")).await;
    assert_eq!(again.text, first.text, "served from memory, byte for byte");
    assert_eq!(
        again.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );

    // What a worker on another host does: the change notice makes the server forget it.
    app.set(
        id,
        "state = 2, state_reason = 'Compose is generated successfully'",
    );
    let done = app.get(&format!("/api/1/composes/{id}")).await;
    assert_eq!(done.body["state_name"], "done");
    assert_eq!(
        done.body["state_reason"],
        "Compose is generated successfully"
    );
}

#[actix_web::test]
async fn nothing_is_served_from_memory_while_the_change_feed_is_lost() {
    let app = postgres_app();
    let id = create(&app).await;
    app.get(&format!("/api/1/composes/{id}")).await;
    assert!(app.state.composes.get(&compose_id(id)).is_some(), "kept");

    run_sql(
        &app,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'odcs-server change feed' AND datname = current_database()",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.composes.is_listening() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lost feed went unnoticed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(app.state.composes.is_empty(), "everything forgotten");

    // A change nobody announces to this server while its feed is down is still seen.
    run_sql(
        &app,
        &format!("UPDATE composes SET state = 4 WHERE id = {id}"),
    );
    let reply = app.get(&format!("/api/1/composes/{id}")).await;
    assert_eq!(reply.body["state_name"], "failed");

    app.await_feed();
    app.get(&format!("/api/1/composes/{id}")).await;
    assert!(
        app.state.composes.get(&compose_id(id)).is_some(),
        "kept again once the feed listens"
    );
    app.set(id, "state = 2");
    let reply = app.get(&format!("/api/1/composes/{id}")).await;
    assert_eq!(reply.body["state_name"], "done");
}

#[actix_web::test]
async fn a_renewal_through_the_server_is_seen_at_once() {
    let app = postgres_app();
    let id = create(&app).await;
    app.get(&format!("/api/1/composes/{id}")).await;
    // Kept, so this waits for the notice: none is left on its way to spoil the next keep.
    app.set(id, "state = 2, time_to_expire = '2000-01-01 00:00:00'");
    let before = app.get(&format!("/api/1/composes/{id}")).await;
    assert_eq!(before.body["state_name"], "done");
    assert!(app.state.composes.get(&compose_id(id)).is_some(), "kept");
    let renewed = app
        .request(
            Method::PATCH,
            &format!("/api/1/composes/{id}"),
            Some(json!({"seconds_to_live": 600})),
        )
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert!(
        app.state.composes.get(&compose_id(id)).is_none(),
        "forgotten by the write itself"
    );
    let after = app.get(&format!("/api/1/composes/{id}")).await;
    assert_ne!(after.body["time_to_expire"], before.body["time_to_expire"]);
    assert_eq!(after.body["time_to_expire"], renewed.body["time_to_expire"]);
}

#[actix_web::test]
async fn changes_to_lease_columns_alone_are_not_announced() {
    use diesel::Connection;
    let app = postgres_app();
    let id = create(&app).await;
    let mut listener = PgConnection::establish(&app.db.url).expect("listener");
    listener
        .batch_execute("LISTEN odcs_compose_changed")
        .expect("listen");
    run_sql(
        &app,
        &format!(
            "UPDATE composes SET worker_id = 'w1', lease_expires_at = now(), attempts = 2, \
             dispatched_at = now() WHERE id = {id}"
        ),
    );
    run_sql(
        &app,
        &format!("UPDATE composes SET state = 1 WHERE id = {id}"),
    );
    // A statement after both updates: every notice they sent has arrived before its answer.
    listener.batch_execute("SELECT 1").expect("sync");
    let notices: Vec<String> = listener
        .notifications_iter()
        .map(|notice| notice.expect("notice").payload)
        .collect();
    assert_eq!(notices, vec![id.to_string()], "only the state change");
}

#[actix_web::test]
async fn every_column_the_api_shows_is_announced() {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let app = postgres_app();
    let mut conn = PgConnection::establish(&app.db.url).expect("connect");
    let names = |conn: &mut PgConnection, sql: &str| -> std::collections::BTreeSet<String> {
        diesel::sql_query(sql)
            .load::<Column>(conn)
            .expect("columns")
            .into_iter()
            .map(|c| c.name)
            .collect()
    };
    let all = names(
        &mut conn,
        "SELECT column_name::text AS name FROM information_schema.columns \
         WHERE table_name = 'composes'",
    );
    let announced = names(
        &mut conn,
        "SELECT a.attname::text AS name FROM pg_trigger t JOIN pg_attribute a \
         ON a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr) \
         WHERE t.tgname = 'composes_announce_change'",
    );
    let internal: std::collections::BTreeSet<String> = [
        "worker_id",
        "lease_expires_at",
        "dispatched_at",
        "attempts",
        "traceparent",
        "celery_task_id",
    ]
    .map(String::from)
    .into();
    let unannounced: Vec<&String> = all.difference(&announced).collect();
    assert_eq!(
        unannounced,
        internal.iter().collect::<Vec<_>>(),
        "a column the API shows must be in the trigger's column list"
    );
}

#[actix_web::test]
async fn a_feed_hears_its_own_probes_and_keeps_its_connection() {
    use diesel::prelude::*;
    use diesel::sql_types::Integer;
    use odcs_server::change_feed::{ChangeFeed, Listeners};
    use odcs_server::compose_cache::compose_cache;
    use odcs_server::events::HubWaker;
    use odcs_server::page_cache::page_cache;
    use odcs_server::totals::TotalsCache;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[derive(QueryableByName)]
    struct Backend {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    let app = postgres_app();
    let feeds = || -> Vec<i32> {
        let mut conn = PgConnection::establish(&app.db.url).expect("connect");
        diesel::sql_query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'odcs-server change feed' \
             AND datname = current_database() ORDER BY pid",
        )
        .load::<Backend>(&mut conn)
        .expect("backends")
        .into_iter()
        .map(|b| b.pid)
        .collect()
    };
    let cache = Arc::new(compose_cache(10));
    let feed = ChangeFeed::start_probing_every(
        &app.db.url,
        Listeners {
            cache: cache.clone(),
            pages: Arc::new(page_cache(10)),
            totals: Arc::new(TotalsCache::new(Duration::from_secs(1))),
            events: HubWaker::default(),
        },
        Duration::from_millis(20),
    )
    .expect("feed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cache.is_listening() {
        assert!(Instant::now() < deadline, "the feed did not listen");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = feeds();
    // Some twenty-five probes: one that did not come back would end the session.
    std::thread::sleep(Duration::from_millis(500));
    assert!(cache.is_listening());
    assert_eq!(feeds(), before, "no feed reconnected");
    drop(feed);
}
