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
            assert_eq!(reply.body["results"], json!(["repository", "iso"]));
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

/// Waits until the metrics say `line`, or fails after 10 s (jobs are handed over in the
/// background).
async fn await_metric(app: &crate::support::TestApp, line: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = app.get("/api/1/metrics/").await.text;
        if text.lines().any(|l| l == line) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {line:?} in\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

on_both_stores!(
    metrics_count_workers_and_queues_as_the_reference_does,
    {
        let mut config = test_config();
        config.workers.expected_backend_number = 3;
        config
    },
    |app| {
        use odcs_common::db::models::WorkerHeartbeat;
        use odcs_common::db::DbConnection;
        let now = odcs_common::time::now();
        let beat = |name: &str, queues: &str, seen_seconds_ago: i64| WorkerHeartbeat {
            name: name.into(),
            queues: queues.into(),
            concurrency: 2,
            started_at: now - chrono::TimeDelta::hours(1),
            seen_at: now - chrono::TimeDelta::seconds(seen_seconds_ago),
        };
        {
            let mut conn = app.conn();
            let conn: &mut DbConnection = &mut conn;
            beat("host-a-1", "in-process", 5)
                .record(conn)
                .expect("beat");
            beat("host-b-2", "in-process,other", 300)
                .record(conn)
                .expect("beat");
            // A second beat of the same process updates its row.
            beat("host-a-1", "in-process", 1)
                .record(conn)
                .expect("beat");
        }
        // Standalone's in-process queue, with nobody consuming it here.
        app.create(json!({"source": {"type": "tag", "source": "t"}}))
            .await;
        app.create(json!({"source": {"type": "tag", "source": "t"}}))
            .await;
        let text = await_metric(&app, "celery_queue_length{queue_name=\"in-process\"} 2").await;
        for line in [
            "celery_workers_expected 3",
            "celery_workers_totals 1",
            "celery_workers{worker_name=\"host-a-1\"} 1",
            "celery_workers{worker_name=\"host-b-2\"} 0",
            "celery_queue_worker{queue_name=\"in-process\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
);

#[actix_web::test]
async fn metrics_ask_the_broker_how_many_jobs_wait() {
    let queue = format!("odcs-metrics-test-{}", uuid::Uuid::new_v4().simple());
    let mut config = test_config();
    config.messaging.amqp_url = std::env::var("ODCS_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    config.messaging.default_queue = queue.clone();
    config.messaging.queue_routes.clear();
    let app = crate::support::TestApp::new(crate::support::Store::Postgres, config);
    for _ in 0..3 {
        app.create(json!({"source": {"type": "tag", "source": "t"}}))
            .await;
    }
    await_metric(
        &app,
        &format!("celery_queue_length{{queue_name=\"{queue}\"}} 3"),
    )
    .await;
    let text = app.get("/api/1/metrics/").await.text;
    assert!(
        text.lines()
            .any(|l| l == format!("celery_queue_worker{{queue_name=\"{queue}\"}} 0")),
        "{text}"
    );
    let _ = std::process::Command::new("rabbitmqctl")
        .args(["-q", "delete_queue", &queue])
        .output();
}
