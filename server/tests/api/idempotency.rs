//! POST /api/1/composes/ with an `Idempotency-Key`.

use actix_web::test::TestRequest;
use diesel::prelude::*;
use odcs_common::config::{AuthBackend, ClientRule, Config};
use odcs_common::db::schema::{composes, idempotency_keys};
use odcs_common::db::DbConnection;
use serde_json::{json, Value};

use crate::on_both_stores;
use crate::support::{as_user, test_config, Reply, TestApp};

/// Composes stored, counted in the database (the list's total may be a cached count).
fn stored(app: &TestApp) -> i64 {
    let mut conn = app.conn();
    let conn: &mut DbConnection = &mut conn;
    composes::table
        .count()
        .get_result(conn)
        .expect("count composes")
}

async fn create_with_key(app: &TestApp, key: &str, body: &str) -> Reply {
    app.send(
        TestRequest::post()
            .uri("/api/1/composes/")
            .insert_header(("Idempotency-Key", key))
            .set_payload(body.to_owned()),
    )
    .await
}

fn id(reply: &Reply) -> i64 {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["id"].as_i64().expect("id")
}

on_both_stores!(
    a_repeated_create_returns_the_first_compose,
    test_config(),
    |app| {
        let first = create_with_key(
        &app,
        "retry-1",
        r#"{"source": {"type": "tag", "source": "f40", "packages": ["ed"]}, "arches": ["x86_64"]}"#,
    )
    .await;
        // The same request with its keys in another order is the same request.
        let again = create_with_key(
        &app,
        "retry-1",
        r#"{"arches": ["x86_64"], "source": {"packages": ["ed"], "source": "f40", "type": "tag"}}"#,
    )
    .await;
        assert_eq!(id(&again), id(&first));
        assert_eq!(again.body, first.body);
        assert_eq!(stored(&app), 1);

        // Another key, or none, is another request.
        let other = create_with_key(
            &app,
            "retry-2",
            r#"{"source": {"type": "tag", "source": "f40"}}"#,
        )
        .await;
        assert_ne!(id(&other), id(&first));
        app.create(json!({"source": {"type": "tag", "source": "f40"}}))
            .await;
        app.create(json!({"source": {"type": "tag", "source": "f40"}}))
            .await;
        assert_eq!(stored(&app), 4);
    }
);

on_both_stores!(
    a_key_reused_with_another_body_is_refused,
    test_config(),
    |app| {
        let first =
            id(&create_with_key(&app, "k", r#"{"source": {"type": "tag", "source": "a"}}"#).await);
        let reply =
            create_with_key(&app, "k", r#"{"source": {"type": "tag", "source": "b"}}"#).await;
        assert_eq!(reply.status, 422, "{}", reply.text);
        assert_eq!(reply.body["status"], 422);
        assert_eq!(reply.body["error"], "Unprocessable Entity");
        let message = reply.body["message"].as_str().expect("message");
        assert!(message.contains("Idempotency-Key \"k\""), "{message}");
        assert!(message.contains(&format!("compose {first}")), "{message}");
        assert_eq!(stored(&app), 1);
    }
);

on_both_stores!(unusable_keys_are_refused_by_name, test_config(), |app| {
    let body = r#"{"source": {"type": "tag", "source": "a"}}"#;
    for key in ["", "   ", &"x".repeat(256), "caf\u{e9}"] {
        let reply = create_with_key(&app, key, body).await;
        assert_eq!(reply.status, 400, "{key:?}: {}", reply.text);
        let message = reply.body["message"].as_str().expect("message");
        assert!(message.contains("Idempotency-Key"), "{message}");
    }
    assert_eq!(stored(&app), 0);
});

fn proxied() -> Config {
    let mut config = test_config();
    config.auth.backend = AuthBackend::Proxy;
    config.auth.trusted_proxies = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    for user in ["alice", "bob"] {
        config
            .policy
            .allowed_clients
            .users
            .insert(user.into(), ClientRule::default());
    }
    config
}

on_both_stores!(keys_belong_to_their_owner, proxied(), |app| {
    let body = json!({"source": {"type": "tag", "source": "a"}}).to_string();
    let mut ids = Vec::new();
    for user in ["alice", "bob", "alice"] {
        let req = as_user(TestRequest::post().uri("/api/1/composes/"), user, "")
            .insert_header(("Idempotency-Key", "shared"))
            .set_payload(body.clone());
        ids.push(id(&app.send(req).await));
    }
    assert_ne!(ids[0], ids[1], "bob's key is not alice's");
    assert_eq!(ids[0], ids[2]);
    assert_eq!(stored(&app), 2);
});

on_both_stores!(a_removed_compose_frees_its_key, test_config(), |app| {
    let body = r#"{"source": {"type": "tag", "source": "a"}}"#;
    let first = id(&create_with_key(&app, "nightly", body).await);
    app.set(first, "state = 3");
    let second = id(&create_with_key(&app, "nightly", body).await);
    assert_ne!(second, first, "a removed compose is not handed out again");
    let again = id(&create_with_key(&app, "nightly", body).await);
    assert_eq!(again, second);
    let mut conn = app.conn();
    let conn: &mut DbConnection = &mut conn;
    let keys: Vec<i32> = idempotency_keys::table
        .select(idempotency_keys::compose_id)
        .load(conn)
        .expect("keys");
    assert_eq!(keys, vec![i32::try_from(second).expect("id")]);
});

on_both_stores!(
    concurrent_creates_with_one_key_store_one_compose,
    test_config(),
    |app| {
        let body = r#"{"source": {"type": "tag", "source": "a"}}"#;
        let replies: Vec<Reply> =
            futures_util::future::join_all((0..12).map(|_| create_with_key(&app, "burst", body)))
                .await;
        let ids: Vec<i64> = replies.iter().map(id).collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
        let bodies: Vec<&Value> = replies.iter().map(|r| &r.body).collect();
        assert!(bodies.iter().all(|b| *b == bodies[0]));
        assert_eq!(stored(&app), 1);
    }
);
