//! Every state change writes its message in the same transaction: to the outbox for the relay
//! to publish, or, standalone (no bus, as these tests run), straight into the state history.

use actix_web::http::Method;
use odcs_common::db::models::OutboxMessage;
use serde_json::{json, Value};

use crate::on_both_stores;
use crate::support::test_config;

fn bodies(app: &crate::support::TestApp) -> Vec<(String, Value)> {
    let mut conn = app.conn();
    let messages = OutboxMessage::after(&mut conn, 0, 100).expect("history");
    assert!(
        messages.iter().all(|m| m.published_at.is_some()),
        "standalone, nothing waits to be published"
    );
    messages
        .into_iter()
        .map(|m| (m.topic, serde_json::from_str(&m.body).expect("json body")))
        .collect()
}

on_both_stores!(
    creating_and_cancelling_write_state_change_messages,
    {
        let mut config = test_config();
        config.messaging.topic_prefix = "org.example.test.".into();
        config
    },
    |app| {
        let created = app
            .create(json!({"source": {"type": "tag", "source": "t"}}))
            .await;
        let id = created["id"].as_i64().expect("id");
        let messages = bodies(&app);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].0, "org.example.test.odcs.state.change");
        assert_eq!(messages[0].1["event"], "state-changed");
        assert_eq!(messages[0].1["compose"], created);

        let reply = app
            .request(Method::DELETE, &format!("/api/1/composes/{id}"), None)
            .await;
        assert_eq!(reply.status, 202);
        let messages = bodies(&app);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].1["compose"]["state_name"], "failed");
        assert_eq!(
            messages[1].1["compose"]["state_reason"],
            "Canceled by unknown"
        );

        let invalid = app
            .post("/api/1/composes/", json!({"source": {"type": "nope"}}))
            .await;
        assert_eq!(invalid.status, 400);
        assert_eq!(bodies(&app).len(), 2, "refused requests write nothing");
    }
);
