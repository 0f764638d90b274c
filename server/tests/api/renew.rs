//! PATCH /api/1/composes/{id}

use actix_web::http::Method;
use serde_json::json;

use crate::on_both_stores;
use crate::support::{test_config, TestApp};

async fn patch(app: &TestApp, id: i64, body: Option<serde_json::Value>) -> crate::support::Reply {
    app.request(Method::PATCH, &format!("/api/1/composes/{id}"), body)
        .await
}

async fn make(app: &TestApp) -> i64 {
    app.create(json!({"source": {"type": "tag", "source": "t", "sigkeys": ["A"]}, "label": "L1"}))
        .await["id"]
        .as_i64()
        .expect("id")
}

on_both_stores!(
    renewing_a_done_compose_extends_it_and_its_family,
    test_config(),
    |app| {
        let reused = make(&app).await;
        let compose = make(&app).await;
        let reusing = make(&app).await;
        let past = "'2000-01-01 00:00:00'";
        app.set(reused, &format!("state = 2, time_to_expire = {past}"));
        app.set(
            compose,
            &format!("state = 2, reused_id = {reused}, time_to_expire = {past}"),
        );
        app.set(
            reusing,
            &format!("state = 2, reused_id = {compose}, time_to_expire = {past}"),
        );
        let reply = patch(&app, compose, Some(json!({"seconds_to_live": 7200}))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["id"], compose, "extended in place");
        for id in [reused, compose, reusing] {
            let shown = app.get(&format!("/api/1/composes/{id}")).await.body;
            assert!(
                shown["time_to_expire"].as_str().expect("time") > "2026",
                "{id}: {shown}"
            );
        }
        assert_eq!(app.count().await, 3, "no copy");
    }
);

on_both_stores!(renewing_without_a_body_works, test_config(), |app| {
    let id = make(&app).await;
    app.set(id, "state = 2");
    let reply = patch(&app, id, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["id"], id);
});

on_both_stores!(
    removed_and_failed_composes_are_copied,
    test_config(),
    |app| {
        for state in [3, 4] {
            let id = make(&app).await;
            app.set(
                id,
                &format!(
                    "state = {state}, pungi_compose_id = 'Odcs-1-1', koji_event = 99, \
                     pungi_config_dump = '{{\"release_short\": \"Odcs\"}}'"
                ),
            );
            let reply = patch(&app, id, Some(json!({"seconds-to-live": 60}))).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            let copy = reply.body;
            assert_ne!(copy["id"], id);
            assert_eq!(copy["state_name"], "wait");
            assert_eq!(copy["source"], "t");
            assert_eq!(copy["sigkeys"], "A");
            assert_eq!(copy["label"], "L1");
            assert_eq!(copy["koji_event"], 99);
            assert_eq!(copy["respin_of"], "Odcs-1-1");
            // The copy runs the configuration the old compose was built with.
            let full = app.get(&format!("/api/1/composes/{}", copy["id"])).await;
            assert_eq!(
                full.body["pungi_config_dump"],
                "{\"release_short\": \"Odcs\"}"
            );
        }
    }
);

on_both_stores!(
    changing_label_sigkeys_builds_or_modules_makes_a_copy,
    test_config(),
    |app| {
        let id = make(&app).await;
        app.set(id, "state = 2");
        let bodies = [
            json!({"label": "L2"}),
            json!({"sigkeys": ["B"]}),
            json!({"source": {"builds": ["ed-1-1"]}}),
            json!({"source": {"modules": ["ed:1:2:c"]}}),
        ];
        for body in bodies {
            let reply = patch(&app, id, Some(body.clone())).await;
            assert_eq!(reply.status, 200, "{body}: {}", reply.text);
            assert_ne!(reply.body["id"], id, "{body}");
            assert_eq!(reply.body["state_name"], "wait");
        }
        let copy = patch(&app, id, Some(json!({"source": {"builds": ["ed-1-1"]}})))
            .await
            .body;
        assert_eq!(copy["builds"], "ed-1-1");
        let same_label = patch(&app, id, Some(json!({"label": "L1"}))).await.body;
        assert_eq!(same_label["id"], id, "an unchanged label only extends");
    }
);

on_both_stores!(
    pending_or_missing_composes_cannot_be_renewed,
    test_config(),
    |app| {
        let waiting = make(&app).await;
        let generating = make(&app).await;
        app.set(generating, "state = 1");
        for id in [waiting, generating, 4242] {
            let reply = patch(&app, id, None).await;
            assert_eq!(reply.status, 404, "{id}");
            assert_eq!(
                reply.body["message"],
                format!("No compose with id {id} found")
            );
        }
        let done = make(&app).await;
        app.set(done, "state = 2");
        let reply = patch(&app, done, Some(json!({"seconds_to_live": -3}))).await;
        assert_eq!(reply.status, 400);
        let reply = patch(&app, done, Some(json!(["x"]))).await;
        assert_eq!(reply.status, 400);
    }
);

on_both_stores!(
    a_copy_is_dispatched_at_once_like_a_new_compose,
    test_config(),
    |app| {
        use odcs_common::compose::ComposeId;
        use odcs_common::db::models::Compose;
        use odcs_common::dispatch::Dispatcher;
        use std::time::Duration;

        let Dispatcher::Local(queue) = app.state.dispatcher.as_ref() else {
            panic!("tests run standalone");
        };
        let id = make(&app).await;
        app.set(id, "state = 3");
        while queue.next(Duration::ZERO).is_some() {}
        let copy = patch(&app, id, None).await.body;
        let copy_id = ComposeId(copy["id"].as_i64().expect("id") as i32);
        // Dispatch runs beside the answer, on this test's runtime: let it run. The original's
        // own job may arrive first.
        let mut dispatched = false;
        for _ in 0..100 {
            if std::iter::from_fn(|| queue.next(Duration::ZERO)).any(|j| j.compose_id == copy_id) {
                dispatched = true;
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            dispatched,
            "the copy's job is queued without waiting for the beat"
        );
        let mut recorded = false;
        for _ in 0..100 {
            let stored = Compose::find(&mut app.conn(), copy_id)
                .expect("query")
                .expect("stored");
            if stored.dispatched_at.is_some() {
                recorded = true;
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(recorded, "the dispatch is recorded");
    }
);
