//! /api/1/about/, /api/1/metrics/ and /api/1/openapi.json

use serde_json::json;

use crate::on_both_stores;
use crate::support::test_config;

on_both_stores!(
    about_describes_the_instance,
    {
        let mut config = test_config();
        config.policy.sigkeys = vec!["FD431D51".into()];
        config
    },
    |app| {
        for uri in ["/api/1/about/", "/api/1/about"] {
            let reply = app.get(uri).await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.body["auth_backend"], "noauth");
            assert_eq!(reply.body["sigkeys"], json!(["FD431D51"]));
            assert_eq!(
                reply.body["allowed_clients"],
                json!({"groups": {}, "users": {}})
            );
            assert_eq!(reply.body["raw_config_urls"], json!({}));
            assert_eq!(reply.body["version"], env!("CARGO_PKG_VERSION"));
        }
    }
);

on_both_stores!(metrics_count_composes_and_requests, test_config(), |app| {
    app.create(json!({"source": {"type": "tag", "source": "t"}}))
        .await;
    app.create(json!({"source": {"type": "repo", "source": "/r"}}))
        .await;
    app.get("/api/1/composes/").await;
    let reply = app.get("/api/1/metrics/").await;
    assert_eq!(reply.status, 200);
    let text = reply.text;
    assert!(
        text.contains("composes_total{source_type=\"tag\",state=\"wait\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("composes_total{source_type=\"repo\",state=\"wait\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("composes_total{source_type=\"tag\",state=\"done\"} 0"),
        "{text}"
    );
    assert!(
        text.contains(
            "odcs_http_requests_total{method=\"POST\",route=\"/api/1/composes/\",status=\"200\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("odcs_http_request_duration_seconds_bucket"),
        "{text}"
    );
});

on_both_stores!(
    metrics_count_raw_config_composes_by_source,
    {
        let mut config = test_config();
        config.policy.raw_config_urls.insert(
            "cfg".into(),
            odcs_common::config::RawConfigSource::new("https://git.example.com/c.git", "p.conf"),
        );
        config
    },
    |app| {
        let mut ids = Vec::new();
        for source in ["cfg#main"; 6].into_iter().chain(["cfg#abc", "cfg#def"]) {
            let created = app
                .create(json!({"source": {"type": "raw_config", "source": source}}))
                .await;
            ids.push(created["id"].as_i64().expect("id"));
        }
        app.set(ids[0], "state = 2");
        app.set(ids[1], "state = 3");
        let text = app.get("/api/1/metrics/").await.text;
        for line in [
            "raw_config_composes_count_total{source=\"cfg#main\"} 6",
            "raw_config_composes_count_total{source=\"cfg#other_commits_or_branches\"} 2",
            "raw_config_composes{source=\"cfg#main\",state=\"wait\"} 4",
            "raw_config_composes{source=\"cfg#main\",state=\"done\"} 1",
            "raw_config_composes{source=\"cfg#abc\",state=\"wait\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains("raw_config_composes{source=\"cfg#main\",state=\"removed\"}"));
        // Counted once however often it is scraped.
        let again = app.get("/api/1/metrics/").await.text;
        assert!(again.contains("raw_config_composes_count_total{source=\"cfg#main\"} 6"));
    }
);

on_both_stores!(openapi_describes_every_route, test_config(), |app| {
    let reply = app.get("/api/1/openapi.json").await;
    assert_eq!(reply.status, 200);
    assert!(reply.body["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = &reply.body["paths"];
    for (path, method) in [
        ("/api/1/composes/", "get"),
        ("/api/1/composes/", "post"),
        ("/api/1/composes/{id}", "get"),
        ("/api/1/composes/{id}", "patch"),
        ("/api/1/composes/{id}", "delete"),
        ("/api/1/about/", "get"),
        ("/api/1/metrics/", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} missing");
    }
    assert!(reply.body["components"]["schemas"]["ComposeJson"].is_object());
});
