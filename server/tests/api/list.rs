//! GET /api/1/composes/

use serde_json::{json, Value};

use crate::on_both_stores;
use crate::support::{test_config, TestApp};

async fn ids(app: &TestApp, uri: &str) -> Vec<i64> {
    let reply = app.get(uri).await;
    assert_eq!(reply.status, 200, "{uri}: {}", reply.text);
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_i64().expect("id"))
        .collect()
}

async fn seed(app: &TestApp) -> Vec<i64> {
    let bodies = [
        json!({"source": {"type": "tag", "source": "f40"}, "label": "RC-1"}),
        json!({"source": {"type": "repo", "source": "/srv/a"}, "compose_type": "nightly"}),
        json!({"source": {"type": "tag", "source": "f41"}}),
        json!({"source": {"type": "module", "source": "ed:1"}}),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        ids.push(app.create(body).await["id"].as_i64().expect("id"));
    }
    ids
}

on_both_stores!(lists_newest_first_with_filters, test_config(), |app| {
    let made = seed(&app).await;
    app.set(
        made[1],
        "state = 2, owner = 'alice', koji_task_id = 77, pungi_compose_id = 'Fedora-40-1'",
    );
    assert_eq!(
        ids(&app, "/api/1/composes/").await,
        vec![made[3], made[2], made[1], made[0]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes").await.len(),
        4,
        "no trailing slash"
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?source_type=1").await,
        vec![made[2], made[0]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?source_type=tag").await,
        vec![made[2], made[0]]
    );
    assert_eq!(ids(&app, "/api/1/composes/?state=2").await, vec![made[1]]);
    assert_eq!(
        ids(&app, "/api/1/composes/?state=done").await,
        vec![made[1]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?owner=alice").await,
        vec![made[1]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?source=f40").await,
        vec![made[0]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?koji_task_id=77").await,
        vec![made[1]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?pungi_compose_id=Fedora-40-1").await,
        vec![made[1]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?compose_type=nightly").await,
        vec![made[1]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?label=RC-1").await,
        vec![made[0]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?owner=").await.len(),
        4,
        "empty filters are ignored"
    );
    assert!(ids(&app, "/api/1/composes/?owner=nobody").await.is_empty());
});

on_both_stores!(orders_by_every_key, test_config(), |app| {
    let made = seed(&app).await;
    assert_eq!(ids(&app, "/api/1/composes/?order_by=id").await, made);
    assert_eq!(
        ids(&app, "/api/1/composes/?order_by=source_type").await,
        vec![made[0], made[2], made[3], made[1]]
    );
    assert_eq!(
        ids(&app, "/api/1/composes/?order_by=-source_type").await,
        vec![made[1], made[3], made[2], made[0]]
    );
    for key in [
        "owner",
        "koji_event",
        "state",
        "time_to_expire",
        "time_submitted",
        "time_done",
        "time_removed",
    ] {
        assert_eq!(
            ids(&app, &format!("/api/1/composes/?order_by=-{key}"))
                .await
                .len(),
            4,
            "{key}"
        );
    }
    // The reference's own spelling sorts too; an unknown key gets the reference's message.
    assert_eq!(
        ids(&app, "/api/1/composes/?order_by=source_Type")
            .await
            .len(),
        4
    );
    let reply = app.get("/api/1/composes/?order_by=nonsense").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["message"],
        "An invalid order_by key was suplied, allowed keys are: ['id', 'owner', \
         'source_Type', 'koji_event', 'state', 'time_to_expire', 'time_submitted', \
         'time_done', 'time_removed']"
    );
});

on_both_stores!(
    pages_carry_absolute_links_keeping_filters,
    test_config(),
    |app| {
        for _ in 0..5 {
            app.create(json!({"source": {"type": "tag", "source": "t"}}))
                .await;
        }
        let reply = app
            .get("/api/1/composes/?source_type=1&per_page=2&page=2&order_by=id")
            .await;
        assert_eq!(reply.status, 200);
        let meta = &reply.body["meta"];
        assert_eq!(meta["page"], 2);
        assert_eq!(meta["pages"], 3);
        assert_eq!(meta["per_page"], 2);
        assert_eq!(meta["total"], 5);
        let link = |page: i64| {
            Value::from(format!(
            "http://localhost:8080/api/1/composes/?page={page}&per_page=2&source_type=1&order_by=id"
        ))
        };
        assert_eq!(meta["first"], link(1));
        assert_eq!(meta["last"], link(3));
        assert_eq!(meta["prev"], link(1));
        assert_eq!(meta["next"], link(3));
        assert_eq!(reply.body["items"].as_array().map(Vec::len), Some(2));

        let last = app.get("/api/1/composes/?per_page=2&page=3").await;
        assert!(last.body["meta"]["next"].is_null());
        let beyond = app.get("/api/1/composes/?per_page=2&page=9").await;
        assert_eq!(beyond.status, 200);
        assert_eq!(beyond.body["items"], json!([]));
        let first = app.get("/api/1/composes/?per_page=2").await;
        assert!(first.body["meta"]["prev"].is_null());
    }
);

on_both_stores!(bad_list_parameters_are_400, test_config(), |app| {
    for query in ["state=abc", "source_type=x", "per_page=0", "koji_task_id=x"] {
        let reply = app.get(&format!("/api/1/composes/?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.text);
        assert_eq!(reply.body["error"], "Bad Request");
    }
    // As the reference: a state no compose can have lists nothing.
    let reply = app.get("/api/1/composes/?state=17").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["meta"]["total"], 0);
    // As the reference: a page that is not a number is the first, a size the default.
    let reply = app.get("/api/1/composes/?page=one&per_page=ten").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["meta"]["page"], 1);
    assert_eq!(reply.body["meta"]["per_page"], 10);
});
