//! Bad input of every kind: JSON errors with the right status, never a 500, nothing stored.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::json;

use crate::on_both_stores;
use crate::support::test_config;

on_both_stores!(malformed_bodies_are_400, test_config(), |app| {
    for payload in [
        "",
        "   ",
        "{",
        "not json",
        "[1]",
        "5",
        "\"text\"",
        "null",
        "{}",
        "{\"source\": ",
    ] {
        let reply = app
            .send(
                TestRequest::post()
                    .uri("/api/1/composes/")
                    .set_payload(payload),
            )
            .await;
        assert_eq!(reply.status, 400, "{payload:?}: {}", reply.text);
        assert_eq!(reply.body["status"], 400);
        assert_eq!(reply.body["error"], "Bad Request");
        assert!(reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(app.count().await, 0);
});

on_both_stores!(
    oversized_bodies_are_413,
    {
        let mut config = test_config();
        config.server.max_body_bytes = 1024;
        config
    },
    |app| {
        let big = json!({"source": {"type": "tag", "source": "t", "packages": vec!["pkg"; 1000]}});
        let reply = app.post("/api/1/composes/", big.clone()).await;
        assert_eq!(reply.status, 413, "{}", reply.text);
        assert_eq!(reply.body["error"], "Payload Too Large");
        // Without a Content-Length the limit still holds while streaming.
        let chunked = TestRequest::post()
            .uri("/api/1/composes/")
            .set_payload(big.to_string());
        let reply = app.send(chunked).await;
        assert_eq!(reply.status, 413);
        assert_eq!(app.count().await, 0);
    }
);

on_both_stores!(
    unknown_routes_and_methods_answer_json,
    test_config(),
    |app| {
        for uri in [
            "/api/2/composes/",
            "/api/1/nothing",
            "/api/1/composes/1/extra",
        ] {
            let reply = app.get(uri).await;
            assert_eq!(reply.status, 404, "{uri}");
            assert_eq!(reply.body["error"], "Not Found", "{uri}");
        }
        let cases = [
            (Method::PUT, "/api/1/composes/", "GET, POST"),
            (Method::DELETE, "/api/1/composes/", "GET, POST"),
            (Method::POST, "/api/1/composes/1", "GET, PATCH, DELETE"),
            (Method::PUT, "/api/1/composes/1", "GET, PATCH, DELETE"),
            (Method::POST, "/api/1/about/", "GET"),
            (Method::DELETE, "/api/1/metrics/", "GET"),
        ];
        for (method, uri, allowed) in cases {
            let reply = app.request(method.clone(), uri, None).await;
            assert_eq!(reply.status, 405, "{method} {uri}");
            assert_eq!(reply.body["error"], "Method Not Allowed");
            assert_eq!(
                reply.headers.get("allow").and_then(|v| v.to_str().ok()),
                Some(allowed)
            );
        }
    }
);

on_both_stores!(content_type_is_not_required, test_config(), |app| {
    let req = TestRequest::post()
        .uri("/api/1/composes")
        .insert_header(("Content-Type", "text/plain"))
        .set_payload(json!({"source": {"type": "tag", "source": "t"}}).to_string());
    assert_eq!(app.send(req).await.status, 200);
});
