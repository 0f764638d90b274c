//! Behind a reverse proxy, as the reference: a sub-path named in `X-Script-Name` comes off the
//! request path and goes back into page links; CORS on successful reads only; HTML pages at
//! `/` and `/api/1/`.

use actix_web::test::TestRequest;
use serde_json::json;

use crate::on_both_stores;
use crate::support::test_config;

on_both_stores!(
    a_proxy_sub_path_is_served_and_linked,
    test_config(),
    |app| {
        for _ in 0..2 {
            app.create(json!({"source": {"type": "tag", "source": "t"}}))
                .await;
        }
        let reply = app
            .send(
                TestRequest::get()
                    .uri("/odcs/api/1/composes/?per_page=1")
                    .insert_header(("X-Script-Name", "/odcs")),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.body["meta"]["next"],
            "http://localhost:8080/odcs/api/1/composes/?page=2&per_page=1"
        );
        let reply = app
            .send(
                TestRequest::get()
                    .uri("/odcs/api/1/composes/1")
                    .insert_header(("X-Script-Name", "/odcs/")),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["id"], 1);
    }
);

on_both_stores!(cors_is_for_successful_reads, test_config(), |app| {
    let cors = |reply: &crate::support::Reply| {
        reply
            .headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        cors(&app.get("/api/1/composes/").await).as_deref(),
        Some("*")
    );
    assert_eq!(cors(&app.get("/api/1/about/").await).as_deref(), Some("*"));
    assert_eq!(cors(&app.get("/api/1/composes/9").await), None, "404");
    let created = app
        .send(
            TestRequest::post()
                .uri("/api/1/composes/")
                .set_payload(json!({"source": {"type": "tag", "source": "t"}}).to_string()),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(cors(&created), None, "writes");
});

on_both_stores!(people_land_on_html_pages, test_config(), |app| {
    for uri in ["/", "/api/1/"] {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, 200, "{uri}");
        let kind = reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(kind.starts_with("text/html"), "{uri}: {kind}");
        assert!(reply.text.contains("<h1>"), "{uri}");
    }
});
