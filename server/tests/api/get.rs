//! GET /api/1/composes/{id}

use serde_json::json;

use crate::on_both_stores;
use crate::support::test_config;

on_both_stores!(
    a_compose_is_shown_with_its_config_dump,
    test_config(),
    |app| {
        let created = app
            .create(json!({"source": {"type": "tag", "source": "t"}}))
            .await;
        let id = created["id"].as_i64().expect("id");
        app.set(id, "pungi_config_dump = 'release_name = \"x\"'");
        for uri in [
            format!("/api/1/composes/{id}"),
            format!("/api/1/composes/{id}/"),
        ] {
            let reply = app.get(&uri).await;
            assert_eq!(reply.status, 200, "{uri}");
            assert_eq!(reply.body["pungi_config_dump"], "release_name = \"x\"");
            assert_eq!(
                reply
                    .headers
                    .get("access-control-allow-origin")
                    .map(|v| v.as_bytes()),
                Some(&b"*"[..])
            );
        }
    }
);

on_both_stores!(missing_and_malformed_ids_are_404, test_config(), |app| {
    for uri in [
        "/api/1/composes/12345",
        "/api/1/composes/abc",
        "/api/1/composes/99999999999999999999",
        "/api/1/composes/-1",
        "/api/1/composes/0",
    ] {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, 404, "{uri}: {}", reply.text);
        assert_eq!(reply.body["error"], "Not Found");
        assert!(reply.body["message"].is_string());
    }
});

on_both_stores!(
    a_reusing_compose_points_at_the_reused_directory,
    test_config(),
    |app| {
        let first = app
            .create(json!({"source": {"type": "tag", "source": "t"}}))
            .await;
        let second = app
            .create(json!({"source": {"type": "tag", "source": "t"}}))
            .await;
        let (a, b) = (
            first["id"].as_i64().expect("id"),
            second["id"].as_i64().expect("id"),
        );
        app.set(b, &format!("reused_id = {a}"));
        let reply = app.get(&format!("/api/1/composes/{b}")).await;
        assert_eq!(
            reply.body["result_repofile"],
            format!("http://odcs.example.com/composes/odcs-{a}/compose/Temporary/odcs-{a}.repo")
        );
    }
);
