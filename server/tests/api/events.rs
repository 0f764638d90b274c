//! `GET /api/1/composes/{id}/events` and `GET /api/1/events`: Server-Sent Events of state
//! changes, read off the wire as a browser's EventSource would.

use std::pin::Pin;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::test::{self, TestRequest};
use actix_web::App;
use diesel::prelude::*;
use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::db::lifecycle::{self, Transition};
use odcs_common::db::schema::messages;
use odcs_common::db::DbConnection;
use odcs_common::time::now;
use serde_json::{json, Value};

use crate::on_both_stores;
use crate::support::{test_config, TestApp};

/// One event as the standard's parser sees it.
#[derive(Debug)]
struct Event {
    id: Option<String>,
    data: Value,
}

impl Event {
    fn state(&self) -> &str {
        self.data["compose"]["state_name"].as_str().unwrap_or("?")
    }

    fn compose(&self) -> i64 {
        self.data["compose"]["id"].as_i64().unwrap_or(0)
    }
}

/// An open event stream.
struct Stream {
    status: u16,
    content_type: String,
    body: BoxBody,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, uri: &str, last_event_id: Option<&str>) -> Stream {
        let service =
            test::init_service(App::new().configure(odcs_server::configure_app(app.state.clone())))
                .await;
        let mut req = TestRequest::get().uri(uri);
        if let Some(id) = last_event_id {
            req = req.insert_header(("Last-Event-ID", id));
        }
        let response = test::call_service(&service, req.to_request()).await;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Stream {
            status: response.status().as_u16(),
            content_type,
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    /// The next event, `None` when the server ended the stream; fails the test after 10 s.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut data) = (None, Vec::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id: ") {
                        id = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push(value);
                    }
                }
                if data.is_empty() {
                    continue; // the retry line, or a keepalive comment
                }
                let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
                return Some(Event { id, data });
            }
            let body = &mut self.body;
            let chunk = tokio::time::timeout(
                Duration::from_secs(10),
                std::future::poll_fn(|cx| Pin::new(&mut *body).poll_next(cx)),
            )
            .await
            .expect("an event within 10 s");
            match chunk {
                Some(Ok(bytes)) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
                Some(Err(e)) => panic!("stream broke: {e}"),
                None => return None,
            }
        }
    }

    async fn expect(&mut self) -> Event {
        self.next()
            .await
            .expect("an event, not the end of the stream")
    }
}

/// Moves compose `id` from `from` to `to`, as a worker does.
fn transition(app: &TestApp, id: i64, from: ComposeState, to: ComposeState) {
    let mut conn = app.conn();
    let moved = lifecycle::transition(
        &mut conn,
        ComposeId(i32::try_from(id).expect("id")),
        &Transition {
            from: &[from],
            to,
            reason: None,
            held_by: None,
            expired_before: None,
            changes: Default::default(),
        },
        &app.state.config,
        now(),
    )
    .expect("transition");
    assert!(moved.is_some(), "compose {id} was not in {from:?}");
}

async fn create(app: &TestApp, source: &str) -> i64 {
    app.create(json!({"source": {"type": "tag", "source": source}}))
        .await["id"]
        .as_i64()
        .expect("id")
}

on_both_stores!(
    a_compose_stream_replays_its_history_follows_it_and_resumes_after_a_reconnect,
    test_config(),
    |app| {
        use ComposeState::*;
        let id = create(&app, "f40").await;
        let uri = format!("/api/1/composes/{id}/events");
        let mut stream = Stream::open(&app, &uri, None).await;
        assert_eq!(stream.status, 200);
        assert_eq!(stream.content_type, "text/event-stream");
        let created = stream.expect().await;
        assert_eq!((created.state(), created.compose()), ("wait", id));

        transition(&app, id, Wait, Generating);
        let generating = stream.expect().await;
        assert_eq!(generating.state(), "generating");
        // The connection drops; the compose finishes meanwhile.
        drop(stream);
        transition(&app, id, Generating, Done);

        let mut resumed = Stream::open(&app, &uri, generating.id.as_deref()).await;
        let done = resumed.expect().await;
        assert_eq!(done.state(), "done");
        assert!(resumed.next().await.is_none(), "the stream ends after done");

        // Nothing follows done: 204 tells an EventSource to stop reconnecting.
        let after_done = Stream::open(&app, &uri, done.id.as_deref()).await;
        assert_eq!(after_done.status, 204);

        // From the start, the whole history in order, with increasing ids.
        let mut replay = Stream::open(&app, &uri, None).await;
        let mut seen = Vec::new();
        while let Some(event) = replay.next().await {
            seen.push((event.id.clone().expect("id"), event.state().to_owned()));
        }
        let states: Vec<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(states, ["wait", "generating", "done"]);
        let ids: Vec<i64> = seen
            .iter()
            .map(|(i, _)| i.parse().expect("number"))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(created.id.as_deref(), Some(seen[0].0.as_str()));
    }
);

on_both_stores!(
    the_all_composes_stream_filters_and_a_reconnect_misses_nothing,
    test_config(),
    |app| {
        use ComposeState::*;
        let first = create(&app, "f40").await;
        let second = create(&app, "f41").await;
        let mut everything = Stream::open(&app, "/api/1/events", None).await;
        let mut generating = Stream::open(&app, "/api/1/events?state=generating", None).await;
        assert_eq!(generating.status, 200);

        // A new compose shows on the unfiltered stream.
        let third = create(&app, "f42").await;
        let created = everything.expect().await;
        assert_eq!((created.compose(), created.state()), (third, "wait"));

        transition(&app, first, Wait, Generating);
        let event = generating.expect().await;
        assert_eq!((event.compose(), event.state()), (first, "generating"));
        let cursor = event.id.clone().expect("id");
        assert!(cursor.contains(':'), "{cursor}");
        drop(generating);

        // While the client is away: one change it filters out, one it wants.
        transition(&app, first, Generating, Done);
        transition(&app, second, Wait, Generating);
        let mut resumed = Stream::open(&app, "/api/1/events?state=generating", Some(&cursor)).await;
        let missed = resumed.expect().await;
        assert_eq!((missed.compose(), missed.state()), (second, "generating"));
        // A first connection (an EventSource cannot send headers) gives the cursor as a
        // parameter.
        let mut from_page = Stream::open(
            &app,
            &format!("/api/1/events?state=generating&last_event_id={cursor}"),
            None,
        )
        .await;
        assert_eq!(from_page.expect().await.compose(), second);
        transition(&app, third, Wait, Generating);
        let live = resumed.expect().await;
        assert_eq!((live.compose(), live.state()), (third, "generating"));

        // The unfiltered stream saw every change, in order.
        let rest: Vec<(i64, String)> = [
            everything.expect().await,
            everything.expect().await,
            everything.expect().await,
            everything.expect().await,
        ]
        .iter()
        .map(|e| (e.compose(), e.state().to_owned()))
        .collect();
        assert_eq!(
            rest,
            [
                (first, "generating".to_owned()),
                (first, "done".to_owned()),
                (second, "generating".to_owned()),
                (third, "generating".to_owned()),
            ]
        );
    }
);

on_both_stores!(
    a_pruned_history_is_stood_in_for_by_the_compose_as_it_is,
    test_config(),
    |app| {
        let id = create(&app, "f40").await;
        transition(&app, id, ComposeState::Wait, ComposeState::Failed);
        let mut conn = app.conn();
        let conn: &mut DbConnection = &mut conn;
        diesel::delete(messages::table)
            .execute(conn)
            .expect("prune");
        let mut stream = Stream::open(&app, &format!("/api/1/composes/{id}/events"), None).await;
        let snapshot = stream.expect().await;
        assert_eq!(snapshot.state(), "failed");
        assert_eq!(
            snapshot.id, None,
            "a snapshot is no message to resume after"
        );
        assert!(stream.next().await.is_none());
    }
);

on_both_stores!(
    requests_the_streams_cannot_serve_are_refused_with_a_reason,
    test_config(),
    |app| {
        let id = create(&app, "f40").await;
        let reply = app
            .send(
                TestRequest::get()
                    .uri(&format!("/api/1/composes/{id}/events"))
                    .insert_header(("Last-Event-ID", "yesterday")),
            )
            .await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert!(reply.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Last-Event-ID"));

        let reply = app.get("/api/1/events?per_page=5").await;
        assert_eq!(reply.status, 400);
        assert!(reply.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("per_page"));
        let reply = app.get("/api/1/events?state=sleeping").await;
        assert_eq!(reply.status, 400);

        assert_eq!(app.get("/api/1/composes/99999/events").await.status, 404);
        assert_eq!(app.get("/api/1/composes/abc/events").await.status, 404);
        let reply = app
            .request(actix_web::http::Method::POST, "/api/1/events", None)
            .await;
        assert_eq!(reply.status, 405);
    }
);
