use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::compose::ComposeFlags;
use crate::spec::{ModuleRef, TagSource};

fn config() -> Config {
    let mut config = Config::default();
    config.policy.raw_config_urls.insert(
        "pungi_cfg".into(),
        crate::config::RawConfigSource {
            seconds_to_live: Some(100),
            max_seconds_to_live: Some(200),
            ..crate::config::RawConfigSource::new("https://git.example.com/cfg.git", "pungi.conf")
        },
    );
    config
        .storage
        .extra_target_dirs
        .insert("private".into(), PathBuf::from("/srv/private"));
    config.policy.sigkeys = vec!["DEFAULTKEY".into()];
    config
}

fn parse(body: Value) -> Result<ComposeSpec, String> {
    ComposeRequest::from_json(&body)
        .and_then(|r| r.resolve(&config()))
        .map_err(|e| e.0)
}

fn tag(spec: &ComposeSpec) -> &TagSource {
    match &spec.source {
        ComposeSource::Tag(t) => t,
        other => panic!("not a tag: {other:?}"),
    }
}

#[test]
fn a_minimal_tag_request_gets_every_default() {
    let spec = parse(json!({"source": {"type": "tag", "source": "f40-build"}})).expect("valid");
    assert_eq!(spec.source_type(), SourceType::Tag);
    assert_eq!(tag(&spec).tags, ["f40-build"]);
    assert_eq!(spec.seconds_to_live, 86400);
    assert_eq!(spec.sigkeys.as_slice(), ["DEFAULTKEY"]);
    assert_eq!(spec.arches, ["x86_64"]);
    assert_eq!(spec.options.results.names(), ["repository"]);
    assert_eq!(spec.compose_type, ComposeType::Test);
    assert_eq!(spec.target_dir, PathBuf::from("odcs-data/composes"));
    assert!(spec.options.multilib_method.is_empty());
    assert!(!spec.options.packages.is_given());
}

#[test]
fn list_sources_are_deduplicated_keeping_order() {
    let spec = parse(json!({"source": {"type": "pulp", "source": "b a b  a c"}})).expect("valid");
    assert_eq!(spec.source.text(), "b a c");
}

#[test]
fn options_are_resolved() {
    let spec = parse(json!({
        "source": {"type": "tag", "source": "t", "packages": ["a", "b"], "sigkeys": ["", "K"],
                   "koji_event": 123, "builds": ["x-1-1"]},
        "flags": ["no_deps", "check_deps"], "results": ["iso"], "arches": ["x86_64", "aarch64"],
        "multilib_arches": ["x86_64"], "multilib_method": ["runtime", "devel"],
        "lookaside_repos": ["http://x/repo"], "seconds_to_live": 999999, "label": "RC-1.0",
        "compose_type": "production", "target_dir": "private"
    }))
    .expect("valid");
    assert_eq!(spec.options.packages.as_slice(), ["a", "b"]);
    assert_eq!(spec.sigkeys.to_stored(), " K");
    assert_eq!(tag(&spec).koji_event, Some(123));
    assert_eq!(tag(&spec).builds.as_slice(), ["x-1-1"]);
    assert_eq!(spec.options.flags.bits(), 9);
    assert_eq!(spec.options.results.bits(), 3);
    assert_eq!(spec.options.multilib_method.bits(), 3);
    assert_eq!(spec.seconds_to_live, 72 * 3600, "clamped to the max");
    assert_eq!(spec.target_dir, PathBuf::from("/srv/private"));
    assert_eq!(spec.options.lookaside_repos, ["http://x/repo"]);
    assert_eq!(spec.compose_type, ComposeType::Production);
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let cases = [
        (json!({}), "No JSON POST data submitted"),
        (json!([1]), "must be a JSON object"),
        (json!({"source": "x"}), "Invalid source configuration"),
        (json!({"source": {"source": "x"}}), "Missing type"),
        (
            json!({"source": {"type": "nope", "source": "x"}}),
            "Unknown source type \"nope\"",
        ),
        (json!({"source": {"type": "tag"}}), "No source provided"),
        (
            json!({"source": {"type": "tag", "source": "x", "packages": "a"}}),
            "packages should be a list",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "label": 5}),
            "label should be a string",
        ),
        (
            json!({"source": {"type": "tag", "source": "x", "koji_event": "1"}}),
            "koji_event should be an integer",
        ),
        (
            json!({"source": {"type": "tag", "source": "x;rm"}}),
            "Only alphanumerical",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "flags": ["bogus"]}),
            "Unknown flag \"bogus\"",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "results": ["dvd"]}),
            "Unknown result \"dvd\"",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "multilib_method": ["x"]}),
            "Unknown multilib method \"x\"",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "arches": ["x86-64"]}),
            "Unknown arch",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "arches": "x86_64"}),
            "arches should be a list",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "target_dir": "nope"}),
            "Unknown \"target_dir\" \"nope\"",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "seconds_to_live": -5}),
            "must not be negative",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "extra": {"a": 1}}),
            "Only 'source' key",
        ),
        (
            json!({"source": {"type": "module", "source": "ed"}}),
            "Module definition must be",
        ),
        (
            json!({"source": {"type": "module", "source": "platform:f40"}}),
            "base modules",
        ),
        (
            json!({"source": {"type": "raw_config", "source": "pungi_cfg"}}),
            "source_name#commit_hash",
        ),
        (
            json!({"source": {"type": "raw_config", "source": "a#1 b#2"}}),
            "Only single source",
        ),
        (
            json!({"source": {"type": "raw_config", "source": "other#abc"}}),
            "does not exist in server configuration",
        ),
        (
            json!({"source": {"type": "tag", "source": "x", "module_defaults_url": "u"}}),
            "must be used together",
        ),
        (
            json!({"source": {"type": "tag", "source": "x", "label": null}}),
            "label should be a string",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "note": null}),
            "note must not be null",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "note": "hi"}),
            "Unknown key \"note\"",
        ),
        (
            json!({"source": {"type": "tag", "source": "x", "colour": "red"}}),
            "Unknown key \"colour\" in source",
        ),
        (
            json!({"source": {"type": "repo", "source": "/srv/r", "builds": ["a-1-1"]}}),
            "builds cannot be used with source type \"repo\"",
        ),
        (
            json!({"source": {"type": "module", "source": "ed:1", "packages": ["ed"]}}),
            "Exact packages cannot be set for MODULE source type.",
        ),
        (
            json!({"source": {"type": "pungi_compose", "source": "http://h/c/S", "sigkeys": ["K"]}}),
            "sigkeys cannot be used with source type \"pungi_compose\"",
        ),
        (
            json!({"source": {"type": "repo", "source": "/a /b"}}),
            "Only single source",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "flags": ["use_only_compatible_arch"]}),
            "use_only_compatible_arch cannot be used with source type \"tag\"",
        ),
        (
            json!({"source": {"type": "pulp", "source": "cs"}, "lookaside_repos": ["http://h/r"]}),
            "lookaside_repos cannot be used with source type \"pulp\"",
        ),
        (
            json!({"source": {"type": "pulp", "source": "cs"}, "multilib_arches": ["i686"]}),
            "multilib_arches cannot be used with source type \"pulp\"",
        ),
        (
            json!({"source": {"type": "pulp", "source": "cs"}, "flags": ["check_deps"]}),
            "check_deps cannot be used with source type \"pulp\"",
        ),
        (
            json!({"source": {"type": "pulp", "source": "cs", "packages": ["ed"]}}),
            "packages cannot be used with source type \"pulp\"",
        ),
        (
            json!({"source": {"type": "tag", "source": "x"}, "compose_type": "weekly"}),
            "Unknown compose_type \"weekly\"",
        ),
    ];
    for (body, expected) in cases {
        let err = parse(body.clone()).expect_err(&format!("{body} must be refused"));
        assert!(err.contains(expected), "{body}: {err:?} lacks {expected:?}");
    }
}

#[test]
fn source_keys_beside_the_source_count_as_the_source_s() {
    let spec = parse(json!({"source": {"type": "repo", "source": "/srv/r"}, "packages": ["ed"]}))
        .expect("valid");
    assert_eq!(spec.options.packages.as_slice(), ["ed"]);
    let err = parse(
        json!({"source": {"type": "repo", "source": "/srv/r", "packages": ["a"]},
                           "packages": ["b"]}),
    )
    .expect_err("twice");
    assert!(err.contains("packages is given both"), "{err}");
}

#[test]
fn raw_config_lifetimes_come_from_their_key() {
    let spec =
        parse(json!({"source": {"type": "raw_config", "source": "pungi_cfg#abc"}})).expect("valid");
    assert_eq!(spec.seconds_to_live, 100);
    let spec = parse(
        json!({"source": {"type": "raw_config", "source": "pungi_cfg#abc"},
                            "seconds-to-live": 5000}),
    )
    .expect("valid");
    assert_eq!(spec.seconds_to_live, 200);
}

#[test]
fn build_and_scratch_module_composes_need_no_source() {
    parse(json!({"source": {"type": "build", "builds": ["a-1-1"]}})).expect("build");
    parse(json!({"source": {"type": "build", "source": "", "builds": ["a-1-1"]}})).expect("build");
}

#[test]
fn options_this_server_cannot_serve_are_refused_by_name() {
    let refused = |body: Value, option: &str| {
        let err = parse(body).expect_err("refused");
        assert!(err.to_string().starts_with(option), "{err}");
    };
    refused(
        json!({"source": {"type": "module", "scratch_modules": ["m:s:1:c"]}}),
        "scratch_modules is not supported",
    );
    refused(
        json!({"source": {"type": "tag", "source": "f40", "scratch_modules": ["m:s:1:c"]}}),
        "scratch_modules is not supported",
    );
    refused(
        json!({"source": {"type": "build", "builds": ["a-1-1"], "scratch_build_tasks": ["1"]}}),
        "scratch_build_tasks is not supported",
    );
    refused(
        json!({"source": {"type": "module", "source": "m:s", "modular_koji_tags": ["t"],
                          "base_module_br_name": "platform"}}),
        "base_module_br_name",
    );
    refused(
        json!({"source": {"type": "module", "source": "m:s", "modular_koji_tags": ["t"]},
               "flags": ["include_done_modules"]}),
        "include_done_modules",
    );
    parse(json!({"source": {"type": "module", "source": "m:s", "modular_koji_tags": ["t"]}}))
        .expect("modules from Koji tags");
    for result in ["boot.iso", "ostree"] {
        refused(
            json!({"source": {"type": "tag", "source": "f40"}, "results": [result]}),
            &format!("{result} is not a result this server produces"),
        );
    }
    let iso = parse(json!({"source": {"type": "tag", "source": "f40"}, "results": ["iso"]}))
        .expect("iso images are made");
    assert!(iso.options.results.contains(ComposeResult::Iso));
}

#[test]
fn package_names_skip_the_character_check() {
    let spec = parse(
        json!({"source": {"type": "tag", "source": "x", "packages": ["gcc-c++", "perl(Foo::Bar)"]}}),
    )
    .expect("valid");
    assert_eq!(
        spec.options.packages.as_slice(),
        ["gcc-c++", "perl(Foo::Bar)"]
    );
}

#[test]
fn requests_survive_the_round_trip_through_json() {
    let mut request = ComposeRequest::new(ComposeSource::Module(crate::spec::ModuleSource {
        modules: vec!["nodejs:20".parse::<ModuleRef>().expect("nsvc")],
        modular: Default::default(),
        base_module: crate::spec::BaseModuleBounds {
            stream: Some("f40".into()),
            ..Default::default()
        },
    }));
    request.sigkeys = Some(vec![String::new()]);
    request.options.flags = ComposeFlags::EMPTY.with(ComposeFlag::NoDeps);
    request.seconds_to_live = Some(60);
    request.compose_type = Some(ComposeType::Nightly);
    let body = request.to_json();
    assert_eq!(body["source"]["source"], "nodejs:20");
    assert_eq!(body["flags"], json!(["no_deps"]));
    assert!(
        body.get("results").is_none(),
        "the repository result is implied"
    );
    assert_eq!(ComposeRequest::from_json(&body).expect("parses"), request);
}

#[test]
fn renewals_read_their_optional_body_and_change_a_copy() {
    assert_eq!(
        RenewRequest::from_json(None).expect("empty"),
        RenewRequest::default()
    );
    let body = json!({"sigkeys": ["A"], "label": "L", "source": {"builds": ["b-1-1"]},
                      "seconds_to_live": 10});
    let renew = RenewRequest::from_json(Some(&body)).expect("valid");
    assert_eq!(renew.seconds_to_live, Some(10));
    let old = parse(json!({"source": {"type": "tag", "source": "x"}})).expect("valid");
    assert!(renew.changes(&old));
    let copy = renew
        .apply(old.clone(), &config())
        .expect("tag composes have builds");
    assert_eq!(tag(&copy).builds.as_slice(), ["b-1-1"]);
    assert_eq!(copy.options.label.as_deref(), Some("L"));
    assert!(!RenewRequest::default().changes(&old));

    let repo = parse(json!({"source": {"type": "repo", "source": "/srv/r"}})).expect("valid");
    assert!(
        renew.apply(repo, &config()).is_err(),
        "repo composes have no builds"
    );
    assert!(RenewRequest::from_json(Some(&json!(5))).is_err());
    assert!(RenewRequest::from_json(Some(&json!({"colour": "red"}))).is_err());
}

#[test]
fn raw_config_requests_set_only_what_pungi_is_told() {
    let raw = |extra: Value| {
        let mut body = json!({"source": {"type": "raw_config", "source": "pungi_cfg#abc"}});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            for (k, v) in extra {
                if k == "source" {
                    body["source"]
                        .as_object_mut()
                        .expect("source")
                        .extend(v.as_object().expect("object").clone());
                } else {
                    body.insert(k, v);
                }
            }
        }
        body
    };
    let spec = parse(raw(json!({"compose_type": "production", "label": "RC-1.0",
                                "flags": ["no_label", "no_reuse"],
                                "parent_pungi_compose_ids": ["P-1-20260101.0"],
                                "respin_of": "OT-1-20260101.0",
                                "source": {"koji_event": 5}})))
    .expect("what Pungi is told");
    assert_eq!(spec.options.respin_of.as_deref(), Some("OT-1-20260101.0"));
    for (extra, field) in [
        (json!({"arches": ["x86_64"]}), "arches"),
        (json!({"source": {"sigkeys": ["A"]}}), "sigkeys"),
        (json!({"source": {"builds": ["a-1-1"]}}), "builds"),
        (json!({"source": {"modules": ["m:s"]}}), "modules"),
        (json!({"lookaside_repos": ["http://x/"]}), "lookaside_repos"),
        (json!({"flags": ["no_deps"]}), "no_deps"),
        (json!({"results": ["iso"]}), "iso"),
    ] {
        let err = parse(raw(extra.clone())).expect_err(&format!("{extra} refused"));
        assert!(
            err.starts_with(&format!(
                "{field} cannot be used with source type \"raw_config\""
            )),
            "{err}"
        );
    }
    // A wrapper receives the compose's JSON, so it may pass them on.
    let mut config = config();
    config.pungi.raw_config_wrapper_conf_path = PathBuf::from("/etc/odcs/raw_config_wrapper.conf");
    ComposeRequest::from_json(&raw(
        json!({"source": {"builds": ["a-1-1"]}, "arches": ["x86_64"]}),
    ))
    .and_then(|r| r.resolve(&config))
    .expect("a wrapper passes them on");

    for field in ["parent_pungi_compose_ids", "respin_of"] {
        let value = if field == "respin_of" {
            json!("X-1")
        } else {
            json!(["X-1"])
        };
        let err = parse(json!({"source": {"type": "tag", "source": "t"}, field: value}))
            .expect_err("only raw_config");
        assert_eq!(
            err,
            format!("{field} cannot be used with source type \"tag\"")
        );
    }
}
