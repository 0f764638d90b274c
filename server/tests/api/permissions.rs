//! Identity from a trusted proxy, and `allowed_clients` enforcement.

use actix_web::test::TestRequest;
use odcs_common::config::{AuthBackend, ClientRule, Config};
use serde_json::json;

use crate::on_both_stores;
use crate::support::{as_user, test_config};

fn proxied() -> Config {
    let mut config = test_config();
    config.auth.backend = AuthBackend::Proxy;
    config.auth.trusted_proxies = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    config.auth.realms = vec!["EXAMPLE.COM".into()];
    config.policy.allowed_clients.users.insert(
        "alice".into(),
        ClientRule {
            source_types: Some(vec!["tag".into(), "repo".into()]),
            // A rule restricting flags lists no_flags, as the reference needs.
            flags: Some(vec!["no_flags".into(), "no_deps".into()]),
            ..ClientRule::default()
        },
    );
    config.policy.allowed_clients.groups.insert(
        "releng".into(),
        ClientRule {
            source_types: Some(vec!["module".into()]),
            ..ClientRule::default()
        },
    );
    config
}

fn tag_body() -> String {
    json!({"source": {"type": "tag", "source": "t"}}).to_string()
}

on_both_stores!(writes_need_a_believable_identity, proxied(), |app| {
    let reply = app
        .send(
            TestRequest::post()
                .uri("/api/1/composes/")
                .set_payload(tag_body()),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.body["error"], "Unauthorized");

    let untrusted = TestRequest::post()
        .uri("/api/1/composes/")
        .peer_addr("192.0.2.7:5555".parse().expect("addr"))
        .insert_header(("X-Remote-User", "alice"))
        .set_payload(tag_body());
    assert_eq!(
        app.send(untrusted).await.status,
        401,
        "headers from untrusted peers are ignored"
    );

    let reads = app.send(TestRequest::get().uri("/api/1/composes/")).await;
    assert_eq!(reads.status, 200, "anonymous reads are fine");
    assert_eq!(app.count().await, 0);
});

on_both_stores!(allowed_clients_are_enforced, proxied(), |app| {
    let reply = app
        .send(
            as_user(TestRequest::post().uri("/api/1/composes/"), "mallory", "")
                .set_payload(tag_body()),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body["message"],
        "User mallory is not in role allowed_clients."
    );

    let reply = app
        .send(
            as_user(
                TestRequest::post().uri("/api/1/composes/"),
                "alice@EXAMPLE.COM",
                "",
            )
            .set_payload(tag_body()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body["owner"], "alice",
        "the Kerberos realm is stripped"
    );

    let module = json!({"source": {"type": "module", "source": "ed:1"}}).to_string();
    let reply = app
        .send(
            as_user(TestRequest::post().uri("/api/1/composes/"), "alice", "")
                .set_payload(module.clone()),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body["message"],
        "User alice not allowed to operate with compose with source_types=module."
    );

    let flagged =
        json!({"source": {"type": "tag", "source": "t"}, "flags": ["check_deps"]}).to_string();
    let reply = app
        .send(
            as_user(TestRequest::post().uri("/api/1/composes/"), "alice", "").set_payload(flagged),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(reply.body["message"]
        .as_str()
        .expect("message")
        .contains("flags=check_deps"));

    let reply = app
        .send(
            as_user(
                TestRequest::post().uri("/api/1/composes/"),
                "bob",
                "staff, releng",
            )
            .set_payload(module),
        )
        .await;
    assert_eq!(reply.status, 200, "group rule: {}", reply.text);
    assert_eq!(app.count().await, 2);
});

on_both_stores!(renewals_check_the_old_compose, proxied(), |app| {
    let module = json!({"source": {"type": "module", "source": "ed:1"}}).to_string();
    let reply = app
        .send(
            as_user(TestRequest::post().uri("/api/1/composes/"), "bob", "releng")
                .set_payload(module),
        )
        .await;
    let id = reply.body["id"].as_i64().expect("id");
    app.set(id, "state = 4");
    let renew = |user: &str, groups: &str| {
        as_user(
            TestRequest::patch().uri(&format!("/api/1/composes/{id}")),
            user,
            groups,
        )
    };
    assert_eq!(app.send(renew("alice", "")).await.status, 403);
    let reply = app.send(renew("bob", "releng")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["owner"], "bob");
});
