//! POST /api/1/composes/

use serde_json::json;

use crate::on_both_stores;
use crate::support::test_config;

fn is_api_time(value: &serde_json::Value) -> bool {
    value.as_str().is_some_and(|s| {
        chrono::NaiveDateTime::parse_from_str(s, odcs_common::api::TIME_FORMAT).is_ok()
    })
}

on_both_stores!(tag_compose_is_stored_in_wait, test_config(), |app| {
    let created = app
        .create(
            json!({"source": {"type": "tag", "source": "f40-build", "packages": ["ed"]},
                        "flags": ["no_deps"], "arches": ["x86_64", "aarch64"]}),
        )
        .await;
    assert_eq!(created["state"], 0);
    assert_eq!(created["state_name"], "wait");
    assert_eq!(created["owner"], "unknown");
    assert_eq!(created["source_type"], 1);
    assert_eq!(created["source"], "f40-build");
    assert_eq!(created["packages"], "ed");
    assert_eq!(created["flags"], json!(["no_deps"]));
    assert_eq!(created["results"], json!(["repository"]));
    assert_eq!(created["arches"], "x86_64 aarch64");
    assert_eq!(created["compose_type"], "test");
    assert_eq!(created["target_dir"], "default");
    assert!(is_api_time(&created["time_submitted"]));
    assert!(is_api_time(&created["time_to_expire"]));
    assert!(created["time_done"].is_null());
    assert!(
        created.get("pungi_config_dump").is_none(),
        "only the detail view has it"
    );
    let id = created["id"].as_i64().expect("id");
    assert_eq!(
        created["result_repofile"],
        format!("http://odcs.example.com/composes/odcs-{id}/compose/Temporary/odcs-{id}.repo")
    );
    assert_eq!(
        created["toplevel_url"],
        format!("http://odcs.example.com/composes/odcs-{id}")
    );
    let fetched = app.get(&format!("/api/1/composes/{id}")).await;
    assert_eq!(fetched.status, 200);
    let mut expected = created.clone();
    expected["pungi_config_dump"] = serde_json::Value::Null;
    assert_eq!(fetched.body, expected);
});

on_both_stores!(
    every_source_type_is_accepted,
    {
        let mut config = test_config();
        config.policy.raw_config_urls.insert(
            "my_config".into(),
            serde_json::from_value(
                json!({"url": "https://git.example.com/c.git", "config_filename": "p.conf"}),
            )
            .expect("raw config"),
        );
        config
    },
    |app| {
        let bodies = [
            (json!({"source": {"type": "tag", "source": "t"}}), 1),
            (
                json!({"source": {"type": "module", "source": "ed:1 ed:1:2 ed:1:2:abc"}}),
                2,
            ),
            (
                json!({"source": {"type": "repo", "source": "/srv/repo"}}),
                3,
            ),
            (
                json!({"source": {"type": "pulp", "source": "rhel-8-baseos"}}),
                4,
            ),
            (
                json!({"source": {"type": "raw_config", "source": "my_config#master"}}),
                5,
            ),
            (
                json!({"source": {"type": "build", "builds": ["ed-1.14-1"]}}),
                6,
            ),
            (
                json!({"source": {"type": "pungi_compose", "source": "http://x/compose/Server/x86_64/os"}}),
                7,
            ),
        ];
        for (body, code) in bodies {
            let created = app.create(body).await;
            assert_eq!(created["source_type"], code);
        }
        let raw = app.get("/api/1/composes/?source_type=raw_config").await;
        assert_eq!(
            raw.body["items"][0]["result_repo"], "",
            "raw config composes have no repo URL"
        );
        assert_ne!(raw.body["items"][0]["toplevel_url"], "");
    }
);

on_both_stores!(
    defaults_come_from_configuration,
    {
        let mut config = test_config();
        config.policy.sigkeys = vec!["FD431D51".into(), "".into()];
        config.policy.arches = vec!["x86_64".into(), "ppc64le".into()];
        config.policy.seconds_to_live = 600;
        config.policy.max_seconds_to_live = 3600;
        config
    },
    |app| {
        let created = app
            .create(json!({"source": {"type": "tag", "source": "t"}}))
            .await;
        assert_eq!(created["sigkeys"], "FD431D51 ");
        assert_eq!(created["arches"], "x86_64 ppc64le");
        let lifetime = |c: &serde_json::Value| {
            let t = |k: &str| {
                chrono::NaiveDateTime::parse_from_str(
                    c[k].as_str().expect("time"),
                    odcs_common::api::TIME_FORMAT,
                )
                .expect("time")
            };
            (t("time_to_expire") - t("time_submitted")).num_seconds()
        };
        assert_eq!(lifetime(&created), 600);
        let long = app
            .create(json!({"source": {"type": "tag", "source": "t"}, "seconds_to_live": 999999}))
            .await;
        assert_eq!(lifetime(&long), 3600, "clamped to max_seconds_to_live");
        let legacy = app
            .create(json!({"source": {"type": "tag", "source": "t"}, "seconds-to-live": 120}))
            .await;
        assert_eq!(lifetime(&legacy), 120, "the reference client's old key");
    }
);

on_both_stores!(
    extra_target_dirs_are_named_and_unpublished,
    {
        let mut config = test_config();
        config
            .storage
            .extra_target_dirs
            .insert("private".into(), "/srv/private".into());
        config
    },
    |app| {
        let created = app
            .create(json!({"source": {"type": "tag", "source": "t"}, "target_dir": "private"}))
            .await;
        assert_eq!(created["target_dir"], "private");
        assert_eq!(created["result_repofile"], "");
        assert_eq!(created["toplevel_url"], "");
    }
);

on_both_stores!(
    invalid_requests_are_refused_and_store_nothing,
    test_config(),
    |app| {
        let cases = [
            (
                json!({"source": {"type": "bogus", "source": "x"}}),
                "Unknown source type \"bogus\"",
            ),
            (json!({"source": {"type": "tag"}}), "No source provided"),
            (
                json!({"source": {"type": "tag", "source": "x"}, "flags": ["nope"]}),
                "Unknown flag \"nope\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "results": ["dvd"]}),
                "Unknown result",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "multilib_method": ["some"]}),
                "Unknown multilib method",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "seconds_to_live": -1}),
                "must not be negative",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "seconds_to_live": "1"}),
                "should be an integer",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "target_dir": "elsewhere"}),
                "Unknown \"target_dir\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "x", "sigkeys": "ABC"}}),
                "sigkeys should be a list",
            ),
            (
                json!({"source": {"type": "tag", "source": "x`id`"}}),
                "Only alphanumerical",
            ),
            (
                json!({"source": {"type": "module", "source": "platform:f40"}}),
                "base modules",
            ),
            (
                json!({"source": {"type": "module", "source": "justname"}}),
                "Module definition",
            ),
            (
                json!({"source": {"type": "raw_config", "source": "unknown#abc"}}),
                "does not exist",
            ),
            (
                json!({"source": {"type": "tag", "source": "x", "module_defaults_commit": "abc"}}),
                "must be used together",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "arches": ["x86-64"]}),
                "Unknown arch",
            ),
            (json!({"source": ["tag"]}), "Invalid source configuration"),
            (
                json!({"source": {"type": "tag", "source": "x"}, "results": ["boot.iso"]}),
                "boot.iso is not a result this server produces",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "results": ["iso", "ostree"]}),
                "ostree is not a result this server produces",
            ),
            (
                json!({"source": {"type": "pulp", "source": "cs"}, "results": ["iso"]}),
                "iso cannot be used with source type \"pulp\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "x"}, "extra": {"nested": true}}),
                "Only 'source' key",
            ),
        ];
        for (body, message) in cases {
            let reply = app.post("/api/1/composes/", body.clone()).await;
            assert_eq!(reply.status, 400, "{body}: {}", reply.text);
            assert_eq!(reply.body["status"], 400);
            assert_eq!(reply.body["error"], "Bad Request");
            let text = reply.body["message"].as_str().expect("message");
            assert!(text.contains(message), "{body}: {text:?} lacks {message:?}");
        }
        assert_eq!(app.count().await, 0);
    }
);

on_both_stores!(
    boot_iso_is_accepted_where_a_command_makes_it,
    {
        let mut config = test_config();
        config.pungi.boot_iso_command = vec!["make-boot".into(), "{output}".into()];
        config
    },
    |app| {
        let created = app
            .create(json!({"source": {"type": "tag", "source": "x"}, "results": ["boot.iso"]}))
            .await;
        assert_eq!(created["results"], json!(["repository", "boot.iso"]));
        let about = app.get("/api/1/about/").await;
        assert_eq!(
            about.body["results"],
            json!(["repository", "iso", "boot.iso"])
        );
    }
);

on_both_stores!(duplicate_sources_are_stored_once, test_config(), |app| {
    let created = app
        .create(json!({"source": {"type": "tag", "source": "b a b a"}}))
        .await;
    assert_eq!(created["source"], "b a");
});

on_both_stores!(
    concurrent_creates_are_stored_together_each_answered_with_its_own,
    test_config(),
    |app| {
        // Requests arriving together share one transaction (see create_batch); each must
        // still get back its own compose, and each compose its own first message.
        let sources: Vec<String> = (0..40).map(|i| format!("tag-{i}")).collect();
        let creates = sources
            .iter()
            .map(|source| app.create(json!({"source": {"type": "tag", "source": source}})));
        let created = futures_util::future::join_all(creates).await;
        let mut ids = Vec::new();
        for (source, compose) in sources.iter().zip(&created) {
            assert_eq!(compose["source"], source.as_str());
            let id = compose["id"].as_i64().expect("id");
            let stored = app.get(&format!("/api/1/composes/{id}")).await;
            assert_eq!(
                stored.body["source"],
                source.as_str(),
                "answered with its own row"
            );
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), sources.len(), "one compose each");
        assert_eq!(app.count().await, 40);
        let messages = odcs_common::db::models::OutboxMessage::after(&mut app.conn(), 0, 1000)
            .expect("history");
        assert_eq!(messages.len(), 40, "one first message each");
    }
);
