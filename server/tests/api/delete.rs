//! DELETE /api/1/composes/{id}

use actix_web::http::Method;
use actix_web::test::TestRequest;
use odcs_common::config::{AuthBackend, ClientRule, Config};
use serde_json::json;

use crate::on_both_stores;
use crate::support::{as_user, test_config, TestApp};

fn proxied() -> Config {
    let mut config = test_config();
    config.auth.backend = AuthBackend::Proxy;
    config.auth.trusted_proxies = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    config.auth.realms = vec!["EXAMPLE.COM".into()];
    config.policy.admins.users.push("boss".into());
    for user in ["alice", "bob"] {
        config.policy.allowed_clients.users.insert(
            user.into(),
            ClientRule {
                source_types: Some(vec!["tag".into()]),
                ..ClientRule::default()
            },
        );
    }
    config
}

async fn create_as(app: &TestApp, user: &str) -> i64 {
    let req = as_user(TestRequest::post().uri("/api/1/composes/"), user, "")
        .set_payload(json!({"source": {"type": "tag", "source": "t"}}).to_string());
    let reply = app.send(req).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["id"].as_i64().expect("id")
}

async fn delete_as(app: &TestApp, user: Option<&str>, id: i64) -> crate::support::Reply {
    let req = TestRequest::default()
        .method(Method::DELETE)
        .uri(&format!("/api/1/composes/{id}"));
    let req = match user {
        Some(user) => as_user(req, user, ""),
        None => req,
    };
    app.send(req).await
}

on_both_stores!(a_waiting_compose_is_canceled, test_config(), |app| {
    let id = app
        .create(json!({"source": {"type": "tag", "source": "t"}}))
        .await["id"]
        .as_i64()
        .expect("id");
    let reply = app
        .request(Method::DELETE, &format!("/api/1/composes/{id}"), None)
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({"status": 202, "message": format!("Compose (id={id}) has been canceled")})
    );
    let shown = app.get(&format!("/api/1/composes/{id}")).await.body;
    assert_eq!(shown["state_name"], "failed");
    assert_eq!(shown["state_reason"], "Canceled by unknown");
});

on_both_stores!(owners_and_admins_cancel_others_may_not, proxied(), |app| {
    let mine = create_as(&app, "alice").await;
    let reply = delete_as(&app, Some("bob"), mine).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body["message"],
        format!("Compose (id={mine}) can not be canceled, it's owned by someone else.")
    );
    let reply = delete_as(&app, Some("alice"), mine).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(
        app.get(&format!("/api/1/composes/{mine}")).await.body["state_reason"],
        "Canceled by alice"
    );

    let theirs = create_as(&app, "bob").await;
    let reply = delete_as(&app, Some("boss"), theirs).await;
    assert_eq!(reply.status, 202);
    let reply = delete_as(&app, None, theirs).await;
    assert_eq!(reply.status, 401, "anonymous callers must log in");
});

on_both_stores!(only_admins_remove_finished_composes, proxied(), |app| {
    let id = create_as(&app, "alice").await;
    app.set(id, "state = 2");
    let reply = delete_as(&app, Some("alice"), id).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["message"], "User alice is not in role admins.");
    // A user of another realm is not the admin of the configured one.
    let reply = delete_as(&app, Some("boss@EVIL.REALM"), id).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body["message"],
        "User boss@EVIL.REALM is not in role admins."
    );
    let reply = delete_as(&app, Some("boss@EXAMPLE.COM"), id).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    app.set(id, "removed_by = NULL");
    let reply = delete_as(&app, Some("boss"), id).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert!(reply.body["message"]
        .as_str()
        .expect("message")
        .contains("has been accepted"));
    let shown = app.get(&format!("/api/1/composes/{id}")).await.body;
    assert_eq!(shown["removed_by"], "boss");
    assert_eq!(
        shown["state_name"], "done",
        "the expiry job removes it later"
    );
    assert!(
        shown["time_to_expire"].as_str().expect("time")
            <= odcs_common::api::format_time(odcs_common::time::now()).as_str()
    );
});

on_both_stores!(
    generating_composes_cannot_be_removed,
    test_config(),
    |app| {
        let id = app
            .create(json!({"source": {"type": "tag", "source": "t"}}))
            .await["id"]
            .as_i64()
            .expect("id");
        app.set(id, "state = 1");
        let reply = app
            .request(Method::DELETE, &format!("/api/1/composes/{id}"), None)
            .await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.body["message"],
            format!(
                "Compose (id={id}) can not be removed, its state need to be in ['done', 'failed']."
            )
        );
        let reply = app
            .request(Method::DELETE, "/api/1/composes/999", None)
            .await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.body["message"], "No such compose found.");
    }
);
