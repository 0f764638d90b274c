//! The dashboard's pages as HTML (the browser tests are server/tests/dashboard).

use serde_json::json;

use crate::on_both_stores;
use crate::support::test_config;

on_both_stores!(pages_escape_what_users_wrote, test_config(), |app| {
    // Requests are checked for such characters; reasons come from what workers met (file
    // names, server answers).
    let compose = app
        .create(json!({"source": {"type": "tag", "source": "f40"}}))
        .await;
    let id = compose["id"].as_i64().expect("id");
    app.set(id, "state_reason = '<img src=x onerror=alert(1)>'");
    let detail = app.get(&format!("/dashboard/composes/{id}")).await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert!(!detail.text.contains("<img"), "{}", detail.text);
    assert!(
        detail.text.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        detail.text
    );
    assert!(
        detail.text.contains(r#"<tr data-event-id="#),
        "{}",
        detail.text
    );

    let list = app.get("/?owner=%3Cb%3E").await;
    assert_eq!(list.status, 200);
    assert!(list.text.contains(r#"value="&lt;b&gt;""#), "{}", list.text);
});

on_both_stores!(
    the_list_is_filtered_and_paged_on_the_server,
    test_config(),
    |app| {
        for source in ["f40", "f41", "f41"] {
            app.create(json!({"source": {"type": "tag", "source": source}}))
                .await;
        }
        let list = app.get("/?source=f41").await;
        assert_eq!(list.status, 200);
        assert_eq!(
            list.text.matches("<tr data-id=").count(),
            2,
            "{}",
            list.text
        );
        assert!(
            list.text.contains(r#"<span data-field="total">2</span>"#),
            "{}",
            list.text
        );
        // The newest first.
        let first = list.text.find(r#"<tr data-id="3""#).expect("compose 3");
        let second = list.text.find(r#"<tr data-id="2""#).expect("compose 2");
        assert!(first < second);
        assert_eq!(app.get("/?state=sleeping").await.status, 400);
        // The page's stream starts where the page was read, from a cursor the stream takes.
        let (_, rest) = list.text.split_once(r#"data-cursor=""#).expect("a cursor");
        let cursor = rest.split('"').next().expect("cursor value");
        assert!(
            odcs_server::events::cursor::Cursor::parse(cursor).is_ok(),
            "{cursor}"
        );
    }
);

on_both_stores!(unknown_composes_and_assets_are_404, test_config(), |app| {
    assert_eq!(app.get("/dashboard/composes/99").await.status, 404);
    assert_eq!(app.get("/dashboard/composes/abc").await.status, 404);
    assert_eq!(app.get("/dashboard/assets/secret.txt").await.status, 404);
    let script = app.get("/dashboard/assets/dashboard.js").await;
    assert_eq!(script.status, 200);
    assert!(script.text.contains("EventSource"));
});
