//! Koji composes end to end through the worker pipeline against the fake hub: `tag` with
//! inheritance, event pinning, no_inheritance, extra builds, packages and sigkeys; `build`;
//! `pungi_compose`; unknown tags and builds; the hub down then up; reuse while a tag is
//! unchanged; the download cache. Results are installed with dnf. The fake hub itself is
//! checked against the reference `koji` Python client.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::config::Config;
use odcs_common::db::models::Compose;
use odcs_common::db::testing::Store;
use odcs_worker::koji::Koji;
use odcs_worker::pipeline::{JobOutcome, Worker};
use odcs_worker::repodata::PackageCache;
use odcs_worker::source::raw_config::RawConfigServices;
use serde_json::{json, Value};

use crate::compose::dnf;
use crate::gather::{make_rpm, rpmsign, signing_key, Rpm};
use crate::koji_hub::FakeKoji;
use crate::lifecycle::World;
use crate::support::*;
use odcs_common::test_pki::TestPki;

/// A compose store, a fake hub and a worker configured for it.
pub struct KojiWorld {
    pub world: World,
    pub hub: FakeKoji,
    pub config: Arc<Config>,
    rpms: PathBuf,
}

impl KojiWorld {
    fn new(store: Store) -> KojiWorld {
        Self::with(store, |_, _| {})
    }

    pub fn with(store: Store, adjust: impl FnOnce(&mut Config, &FakeKoji)) -> KojiWorld {
        let world = World::new(store);
        let hub = FakeKoji::start(&world.scratch.path().join("koji"));
        let mut config = (*world.config).clone();
        config.koji.hub_url = hub.url.clone();
        config.koji.topurl = hub.topurl.clone();
        config.koji.retry_backoff_ms = 10;
        config.koji.attempts = 3;
        config.policy.allowed_source_types =
            vec!["tag".into(), "build".into(), "pungi_compose".into()];
        adjust(&mut config, &hub);
        let rpms = world.scratch.path().join("built");
        KojiWorld {
            world,
            hub,
            config: Arc::new(config),
            rpms,
        }
    }

    pub fn worker(&self) -> Worker {
        Worker {
            id: "koji-worker".into(),
            config: self.config.clone(),
            pool: self.world.pool.clone(),
            cache: Arc::new(
                PackageCache::open(&self.config.storage.package_cache_dir).expect("cache"),
            ),
            fetcher: Arc::new(odcs_worker::services::fetcher(&self.config).expect("fetcher")),
            koji: Koji::from_config(&self.config).expect("koji").map(Arc::new),
            mbs: odcs_worker::modules::mbs::Mbs::from_config(&self.config)
                .expect("mbs")
                .map(Arc::new),
            pulp: odcs_worker::pulp::Pulp::from_config(&self.config)
                .expect("pulp")
                .map(Arc::new),
            raw_config: Arc::new(RawConfigServices::new(&self.config)),
            deployment: Default::default(),
        }
    }

    /// Builds one package and imports it as a build; returns its NVR.
    pub fn build(&self, spec: Rpm<'_>) -> String {
        let dir = self.rpms.join(format!("{}-{}", spec.name, spec.version));
        let file = make_rpm(&dir, &spec);
        self.hub.import_build(&[file])
    }

    /// Stores and processes a compose request; returns the compose afterwards.
    pub fn compose(&self, body: Value) -> (Compose, JobOutcome) {
        let stored = self.submit(body);
        let outcome = self.worker().process(stored.id).expect("processed");
        (self.world.find(stored.id), outcome)
    }

    pub fn submit(&self, body: Value) -> Compose {
        let request = odcs_common::request::ComposeRequest::from_json(&body)
            .and_then(|r| r.resolve(&self.config))
            .expect("valid");
        let new = odcs_common::db::models::NewCompose::from_spec(
            &request,
            "tester",
            odcs_common::time::now(),
        );
        odcs_common::db::lifecycle::create(
            &mut self.world.pool.get().expect("conn"),
            &new,
            &self.config,
            odcs_common::time::now(),
        )
        .expect("stored")
    }

    pub fn os_dir(&self, id: ComposeId) -> PathBuf {
        self.world
            .compose_dir(id)
            .join("compose/Temporary/x86_64/os")
    }

    /// File names of the compose's x86_64 os tree.
    pub fn os_packages(&self, id: ComposeId) -> BTreeSet<String> {
        let dir = self.os_dir(id).join("Packages");
        walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// A dnf work directory whose only repository is compose `id`'s x86_64 tree: (the
    /// repos.d directory, the work directory).
    pub fn compose_only_repos(&self, id: ComposeId) -> (PathBuf, PathBuf) {
        let work = self.world.scratch.path().join(format!("dnf-{id}"));
        let repos = work.join("repos.d");
        std::fs::create_dir_all(&repos).expect("repos.d");
        std::fs::write(
            repos.join("compose.repo"),
            format!(
                "[compose]\nname=compose\nbaseurl=file://{}\ngpgcheck=0\n",
                self.os_dir(id).display()
            ),
        )
        .expect("repo file");
        (repos, work)
    }

    /// Installs `packages` from the compose alone with dnf; returns `rpm -qa` names.
    pub fn dnf_install(&self, id: ComposeId, packages: &str) -> BTreeSet<String> {
        let (repos, work) = self.compose_only_repos(id);
        run(dnf(&repos, &work)
            .arg("install")
            .args(packages.split_whitespace()));
        installed(&work, "%{NAME}-%{VERSION}\\n")
    }
}

/// Runs a test against PostgreSQL and against SQLite.
macro_rules! both_stores {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            use super::*;

            #[test]
            fn postgres() {
                let $store = Store::Postgres;
                $body
            }

            #[test]
            fn sqlite() {
                let $store = Store::Sqlite;
                $body
            }
        }
    };
}

fn rpm<'a>(name: &'a str, version: &'a str, requires: &'a [&'a str]) -> Rpm<'a> {
    Rpm {
        name,
        version,
        arch: "x86_64",
        requires,
        ..Rpm::default()
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn tag_body(tag: &str, extra: Value) -> Value {
    let mut source = json!({"type": "tag", "source": tag});
    if let Value::Object(more) = extra {
        for (k, v) in more {
            source[k] = v;
        }
    }
    json!({"source": source, "flags": ["no_reuse"]})
}

/// base (parent tag) ← app (child tag). Returns (world, event after the first set of
/// builds).
fn inherited_world(store: Store) -> (KojiWorld, i64) {
    let w = KojiWorld::new(store);
    w.hub.add_tag("base", "x86_64", &[]);
    w.hub.add_tag("app", "x86_64", &[("base", 10)]);
    let lib1 = w.build(rpm("libthing", "1", &[]));
    let tool = w.build(rpm("tool", "1", &[]));
    let app = w.build(rpm("app", "1", &["libthing"]));
    w.hub.tag_build("base", &lib1);
    w.hub.tag_build("base", &tool);
    let event = w.hub.tag_build("app", &app);
    let lib2 = w.build(rpm("libthing", "2", &[]));
    w.hub.tag_build("base", &lib2);
    (w, event)
}

both_stores!(tag_compose_inherits_and_pins_the_event, |store| {
    let (w, event) = inherited_world(store);

    let (latest, outcome) = w.compose(tag_body("app", json!({})));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", latest.state_reason);
    assert_eq!(latest.koji_event, Some(w.hub.last_event()));
    assert_eq!(
        w.os_packages(latest.id),
        set(&[
            "app-1-1.x86_64.rpm",
            "libthing-2-1.x86_64.rpm",
            "tool-1-1.x86_64.rpm"
        ])
    );
    assert!(w.dnf_install(latest.id, "app").contains("libthing-2"));

    let (pinned, outcome) = w.compose(tag_body("app", json!({"koji_event": event})));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", pinned.state_reason);
    assert_eq!(pinned.koji_event, Some(event));
    assert!(w.os_packages(pinned.id).contains("libthing-1-1.x86_64.rpm"));
    assert!(w.dnf_install(pinned.id, "app").contains("libthing-1"));

    let mut body = tag_body("app", json!({}));
    body["flags"] = json!(["no_reuse", "no_inheritance"]);
    let (own, outcome) = w.compose(body);
    assert_eq!(outcome, JobOutcome::Done, "{:?}", own.state_reason);
    assert_eq!(w.os_packages(own.id), set(&["app-1-1.x86_64.rpm"]));
    assert!(
        own.state_reason
            .as_deref()
            .is_some_and(|r| r.contains("app-1-1.x86_64 requires libthing")),
        "the broken dependency is reported: {:?}",
        own.state_reason
    );
});

both_stores!(extra_builds_and_packages_select_from_the_tag, |store| {
    let (w, _) = inherited_world(store);
    let lib3 = w.build(rpm("libthing", "3", &[]));
    let (compose, outcome) = w.compose(tag_body(
        "app",
        json!({"builds": [lib3], "packages": ["app"]}),
    ));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    assert_eq!(
        w.os_packages(compose.id),
        set(&["app-1-1.x86_64.rpm", "libthing-3-1.x86_64.rpm"]),
        "the extra build replaces the tagged one; tool is not needed"
    );
    assert!(w.dnf_install(compose.id, "app").contains("libthing-3"));
});

both_stores!(unknown_tags_and_builds_fail_naming_them, |store| {
    let (w, _) = inherited_world(store);
    let (c, outcome) = w.compose(tag_body("nope", json!({})));
    assert_eq!(c.state, ComposeState::Failed);
    assert!(matches!(outcome, JobOutcome::Failed(_)));
    assert_eq!(c.state_reason.as_deref(), Some("Unknown Koji tag nope."));

    let (c, _) =
        w.compose(json!({"source": {"type": "build", "builds": ["app-1-1", "ghost-1-1"]}}));
    assert_eq!(c.state, ComposeState::Failed);
    assert_eq!(
        c.state_reason.as_deref(),
        Some("Unknown Koji builds: ghost-1-1")
    );

    w.hub.fail_build("tool-1-1");
    let (c, _) = w.compose(json!({"source": {"type": "build", "builds": ["tool-1-1"]}}));
    assert!(
        c.state_reason
            .as_deref()
            .is_some_and(|r| r.contains("not complete: tool-1-1")),
        "{:?}",
        c.state_reason
    );
});

both_stores!(build_composes_hold_only_the_listed_builds, |store| {
    let (w, _) = inherited_world(store);
    let (c, outcome) = w.compose(json!({"source": {"type": "build",
        "builds": ["app-1-1", "libthing-1-1"]}}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", c.state_reason);
    assert_eq!(
        w.os_packages(c.id),
        set(&["app-1-1.x86_64.rpm", "libthing-1-1.x86_64.rpm"])
    );
    assert_eq!(c.koji_event, None);
    assert!(w.dnf_install(c.id, "app").contains("libthing-1"));
});

both_stores!(a_done_compose_is_reused_until_the_tag_changes, |store| {
    let (w, _) = inherited_world(store);
    let body = || json!({"source": {"type": "tag", "source": "app"}});
    let (first, outcome) = w.compose(body());
    assert_eq!(outcome, JobOutcome::Done, "{:?}", first.state_reason);

    let started = Instant::now();
    let (second, outcome) = w.compose(body());
    let reuse_time = started.elapsed();
    assert_eq!(outcome, JobOutcome::Reused(first.id));
    assert_eq!(second.state, ComposeState::Done);
    assert_eq!(second.reused_id, Some(first.id));
    assert_eq!(
        second.koji_event, first.koji_event,
        "pinned at the reused event"
    );
    eprintln!("reused in {reuse_time:?}");

    // A change in the parent tag is a change of the child.
    let tool2 = w.build(rpm("tool", "2", &[]));
    w.hub.tag_build("base", &tool2);
    let (third, outcome) = w.compose(body());
    assert_eq!(outcome, JobOutcome::Done, "{:?}", third.state_reason);
    assert_eq!(third.reused_id, None);
    assert!(third.koji_event > first.koji_event);
    assert!(w.os_packages(third.id).contains("tool-2-1.x86_64.rpm"));

    // Untagging is a change too: the previous build is the latest again.
    w.hub.untag_build("base", &tool2);
    let (fourth, outcome) = w.compose(body());
    assert_eq!(outcome, JobOutcome::Done, "{:?}", fourth.state_reason);
    assert_eq!(fourth.reused_id, None);
    assert!(w.os_packages(fourth.id).contains("tool-1-1.x86_64.rpm"));
});

both_stores!(
    the_hub_down_then_up_is_retried_and_down_fails_naming_it,
    |store| {
        let (w, _) = inherited_world(store);
        w.hub.go_down_for(2);
        let (c, outcome) = w.compose(tag_body("app", json!({})));
        assert_eq!(outcome, JobOutcome::Done, "{:?}", c.state_reason);

        // A hub down through every retry is a transient failure: the compose goes back to
        // the queue until max_attempts generations failed, then fails naming the hub.
        w.hub.go_down_for(1000);
        let (c, mut outcome) = w.compose(tag_body("app", json!({})));
        let max = w.config.workers.max_attempts;
        for attempt in 1..max {
            assert!(matches!(outcome, JobOutcome::Requeued(_)), "{outcome:?}");
            let waiting = w.world.find(c.id);
            assert_eq!(waiting.state, ComposeState::Wait);
            assert_eq!(waiting.attempts, attempt);
            assert!(
                waiting
                    .state_reason
                    .as_deref()
                    .is_some_and(|r| r.contains("to be tried again") && r.contains(&w.hub.url)),
                "{:?}",
                waiting.state_reason
            );
            outcome = w.worker().process(c.id).expect("processed");
        }
        assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
        let c = w.world.find(c.id);
        let reason = c.state_reason.unwrap_or_default();
        assert!(
            reason.contains(&w.hub.url)
                && reason.contains("unreachable")
                && reason.contains("503")
                && reason.contains(&format!("gave up after {max} attempts")),
            "{reason}"
        );
    }
);

both_stores!(sigkeys_take_signed_copies_or_fail_naming_the_rpm, |store| {
    let w = KojiWorld::new(store);
    w.hub.add_tag("signed", "x86_64", &[]);
    let app = w.build(rpm("app", "1", &["libthing"]));
    let lib = w.build(rpm("libthing", "1", &[]));
    w.hub.tag_build("signed", &app);
    w.hub.tag_build("signed", &lib);
    let (home, key) = signing_key(&w.world.scratch);
    for (name, nvr) in [("app", &app), ("libthing", &lib)] {
        let copy = w
            .world
            .scratch
            .path()
            .join(format!("signed/{nvr}.x86_64.rpm"));
        std::fs::create_dir_all(copy.parent().expect("dir")).expect("dir");
        std::fs::copy(w.rpms.join(format!("{name}-1/{nvr}.x86_64.rpm")), &copy).expect("copy");
        rpmsign(&home, &copy);
        if name == "app" {
            w.hub.add_signed_copy(&copy, &key);
        }
    }
    // libthing has no signed copy: named with the keys it has.
    let (c, _) = w.compose(tag_body("signed", json!({"sigkeys": [key.to_uppercase()]})));
    let reason = c.state_reason.unwrap_or_default();
    assert!(
        reason.contains("libthing-1-1.x86_64 (signed with no key)") && reason.contains(&key),
        "{reason}"
    );
    assert!(!reason.contains("app-1-1"), "{reason}");

    // The signed copy first, unsigned allowed for the rest.
    let (c, outcome) = w.compose(tag_body("signed", json!({"sigkeys": [key, ""]})));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", c.state_reason);
    let placed = w.os_dir(c.id).join("Packages/a/app-1-1.x86_64.rpm");
    let identity = odcs_worker::package::read_identity(&placed).expect("header");
    assert_eq!(identity.sigkey.as_deref(), Some(key.as_str()));
    assert!(w
        .hub
        .take_downloads()
        .iter()
        .any(|d| d.contains(&format!("data/signed/{key}/x86_64/app-1-1.x86_64.rpm"))));
});

both_stores!(
    downloads_are_cached_verified_and_topdir_files_used_in_place,
    |store| {
        let (w, _) = inherited_world(store);
        let package_bytes = r#"odcs_worker_downloaded_bytes_total{kind="package"}"#;
        let rpm_hits = r#"odcs_worker_cache_lookups_total{cache="koji_rpms",result="hit"}"#;
        let metric = crate::support::worker_metric;
        let before = metric(package_bytes);
        let (c, outcome) = w.compose(tag_body("app", json!({})));
        assert_eq!(outcome, JobOutcome::Done, "{:?}", c.state_reason);
        assert_eq!(w.hub.take_downloads().len(), 3);
        // Three RPMs of a few hundred bytes each at least (other tests may add theirs).
        assert!(metric(package_bytes) - before >= 3.0 * 200.0);
        let hits_before = metric(rpm_hits);
        let (c, outcome) = w.compose(tag_body("app", json!({})));
        assert_eq!(outcome, JobOutcome::Done, "{:?}", c.state_reason);
        assert!(
            w.hub.take_downloads().is_empty(),
            "cached packages are not downloaded again"
        );
        assert!(
            metric(rpm_hits) - hits_before >= 3.0,
            "the three came from the cache"
        );

        let bad = w.build(rpm("broken", "1", &[]));
        w.hub.tag_build("base", &bad);
        w.hub
            .corrupt("packages/broken/1/1/x86_64/broken-1-1.x86_64.rpm");
        let (c, _) = w.compose(tag_body("app", json!({})));
        let reason = c.state_reason.unwrap_or_default();
        assert!(
            reason.contains("broken-1-1.x86_64") && reason.contains("does not match Koji's record"),
            "{reason}"
        );
        // A file gone from storage is named with where it was looked for.
        let gone = w.build(rpm("gone", "1", &[]));
        w.hub.tag_build("base", &gone);
        w.hub.untag_build("base", &bad);
        std::fs::remove_file(
            w.hub
                .topdir
                .join("packages/gone/1/1/x86_64/gone-1-1.x86_64.rpm"),
        )
        .expect("remove from storage");
        let (c, _) = w.compose(tag_body("app", json!({})));
        let reason = c.state_reason.unwrap_or_default();
        assert!(
            reason.contains("gone-1-1.x86_64 is missing from Koji storage")
                && reason.contains("/kojifiles/packages/gone/1/1/x86_64/gone-1-1.x86_64.rpm"),
            "{reason}"
        );
        w.hub.untag_build("base", &gone);
        // A download of the right size whose payload differs is caught by its digest.
        let tampered = w.build(rpm("tampered", "1", &[]));
        w.hub.tag_build("base", &tampered);
        w.hub
            .tamper("packages/tampered/1/1/x86_64/tampered-1-1.x86_64.rpm");
        let (c, _) = w.compose(tag_body("app", json!({})));
        let reason = c.state_reason.unwrap_or_default();
        assert!(
            reason.contains("tampered-1-1.x86_64")
                && reason.contains("header and payload MD5")
                && reason.contains("Koji recorded"),
            "{reason}"
        );
        w.hub.untag_build("base", &tampered);
        let leftovers: Vec<_> =
            walkdir::WalkDir::new(w.config.storage.package_cache_dir.join("koji-packages"))
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().contains("broken"))
                .collect();
        assert!(leftovers.is_empty(), "no partial file stays: {leftovers:?}");

        // Mounted storage: used in place, nothing downloaded.
        let mut config = (*w.config).clone();
        config.koji.topdir = w.hub.topdir.clone();
        config.koji.topurl = String::new();
        config.storage.package_cache_dir = w.world.scratch.path().join("other-cache");
        let worker = Worker {
            koji: Koji::from_config(&config).expect("koji").map(Arc::new),
            config: Arc::new(config),
            ..w.worker()
        };
        w.hub.take_downloads();
        let stored = w.submit(tag_body("app", json!({"packages": ["app"]})));
        assert_eq!(
            worker.process(stored.id).expect("processed"),
            JobOutcome::Done
        );
        assert!(w.hub.take_downloads().is_empty());
    }
);

both_stores!(pungi_compose_takes_the_same_rpms_from_koji, |store| {
    let (w, _) = inherited_world(store);
    // file:// URLs are read only inside repo_source_roots.
    let variant = w.world.scratch.path().join("roots/external/compose/Server");
    std::fs::create_dir_all(variant.parent().expect("dir").join("metadata")).expect("dir");
    let rpms = json!({
        "header": {"type": "productmd.rpms", "version": "1.2"},
        "payload": {"compose": {"id": "Ext-1"}, "rpms": {"Server": {"x86_64": {
            "app-0:1-1.src": {"app-0:1-1.x86_64": {"category": "binary", "path": "Server/x86_64/os/Packages/a/app-1-1.x86_64.rpm", "sigkey": null}},
            "libthing-0:1-1.src": {"libthing-0:1-1.x86_64": {"category": "binary", "path": "Server/x86_64/os/Packages/l/libthing-1-1.x86_64.rpm", "sigkey": null}}
        }}}}
    });
    std::fs::write(
        variant.parent().expect("dir").join("metadata/rpms.json"),
        rpms.to_string(),
    )
    .expect("rpms.json");
    let (c, outcome) = w.compose(json!({"source": {"type": "pungi_compose",
        "source": format!("file://{}", variant.display())}}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", c.state_reason);
    assert_eq!(
        w.os_packages(c.id),
        set(&["app-1-1.x86_64.rpm", "libthing-1-1.x86_64.rpm"])
    );
    assert!(w.dnf_install(c.id, "app").contains("libthing-1"));
    // The compose records what the external compose held, as the reference does.
    assert_eq!(c.arches.as_deref(), Some("x86_64"));
    assert_eq!(c.builds.as_deref(), Some("app-1-1 libthing-1-1"));
    assert_eq!(c.packages.as_deref(), Some("app libthing"));
    assert_eq!(c.sigkeys.as_deref(), Some(" "));

    let (c, _) = w.compose(json!({"source": {"type": "pungi_compose",
        "source": format!("file://{}/Workstation", variant.parent().expect("dir").display())}}));
    assert!(
        c.state_reason
            .as_deref()
            .is_some_and(|r| r.contains("no payload -> rpms -> Workstation section")),
        "{:?}",
        c.state_reason
    );
});

#[test]
fn client_certificate_login_over_tls_sends_session_headers() {
    let scratch = Scratch::new("koji-tls");
    let pki = TestPki::new(&scratch.path().join("pki"));
    let hub = FakeKoji::start_tls(&scratch.path().join("koji"), &pki);
    hub.add_tag("t", "x86_64", &[]);
    let config = |cert: &Path| {
        let mut config = Config::default();
        config.koji.hub_url = hub.url.clone();
        config.koji.topurl = hub.topurl.clone();
        config.koji.client_cert = cert.to_owned();
        config.koji.server_ca = pki.ca.clone();
        config.koji.attempts = 1;
        config.storage.package_cache_dir = scratch.path().join("cache");
        config
    };
    let koji = Koji::from_config(&config(&pki.client))
        .expect("koji")
        .expect("configured");
    assert_eq!(
        koji.hub.tag("t").expect("call").map(|t| t.name),
        Some("t".into())
    );
    assert_eq!(koji.hub.last_event().expect("call").id, hub.last_event());
    assert_eq!(hub.take_calls()[0], "sslLogin");
    let headers = hub.session_headers();
    assert!(
        headers.contains(&"Koji-Session-Id: 4242".to_owned()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"Koji-Session-Callnum: 2".to_owned()),
        "{headers:?}"
    );

    // An expired session is replaced by a new login, and the call goes through.
    hub.expire_sessions();
    hub.take_calls();
    assert_eq!(koji.hub.last_event().expect("call").id, hub.last_event());
    assert_eq!(
        hub.take_calls(),
        ["sslLogin", "getLastEvent"],
        "the refused call is sent again after a new login"
    );
    assert!(
        hub.session_headers()
            .contains(&"Koji-Session-Id: 4243".to_owned()),
        "the new session is used"
    );

    // Calls from many threads share the session; the hub sees their numbers in order.
    let koji = Arc::new(koji);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let koji = koji.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| koji.hub.tag("t").map(|_| ()))
                    .collect::<Result<Vec<_>, _>>()
            })
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .expect("thread")
            .expect("no call is refused as out of sequence");
    }

    // Without a client certificate the hub refuses the handshake; the error names the hub.
    let anonymous = Koji::from_config(&config(Path::new("")))
        .expect("koji")
        .expect("configured");
    let err = anonymous.hub.tag("t").expect_err("refused");
    assert!(err.to_string().contains(&hub.url), "{err}");
}

#[test]
fn the_fake_hub_answers_the_reference_koji_client() {
    let python = reference_python();
    let (w, event) = inherited_world(Store::Sqlite);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/koji_client_check.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&w.hub.url)
        .arg(event.to_string())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the koji client disagrees with the fake hub:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `.rpm` below `dir`, sorted.
fn rpm_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rpm"))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// Package files grouped into Koji builds: the arches of one name-version-release together.
fn by_nvr(files: &[PathBuf]) -> std::collections::BTreeMap<String, Vec<PathBuf>> {
    let mut builds: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for file in files {
        let (name, version, release, ..) = crate::koji_hub::rpm_nvra(file);
        builds
            .entry(format!("{name}-{version}-{release}"))
            .or_default()
            .push(file.clone());
    }
    builds
}

/// Submits `body` and processes it; returns the compose and the wall time from submission to
/// the recorded outcome.
pub fn timed(w: &KojiWorld, worker: &Worker, body: Value) -> (Compose, Duration) {
    let started = Instant::now();
    let stored = w.submit(body);
    worker.process(stored.id).expect("processed");
    let elapsed = started.elapsed();
    (w.world.find(stored.id), elapsed)
}

/// The Koji benchmark (bench/koji/run.sh): a 2,000-build tag on the fake hub, packages
/// served over HTTP. Prints a Markdown table row per measurement.
#[test]
#[ignore = "benchmark: run through bench/koji/run.sh"]
fn benchmark() {
    let corpus = PathBuf::from(
        std::env::var("ODCS_BENCH_CORPUS").unwrap_or_else(|_| "/var/tmp/corpus-2000".into()),
    );
    let packages = rpm_files(&corpus.join("os/Packages"));
    let replacements = rpm_files(&corpus.join("replacements"));
    assert!(
        packages.len() >= 2000,
        "run bench/koji/run.sh to build the corpus"
    );
    assert_eq!(replacements.len(), 20, "the corpus needs 20 replacements");
    let w = KojiWorld::with(Store::Postgres, |config, _| {
        config.policy.arches = vec!["x86_64".into()];
    });
    w.hub.add_tag("bench", "x86_64", &[]);
    let builds = by_nvr(&packages);
    for files in builds.values() {
        let nvr = w.hub.import_build(files);
        w.hub.tag_build("bench", &nvr);
    }
    let worker = w.worker();
    let body = || {
        json!({"source": {"type": "tag", "source": "bench", "sigkeys": [""]},
                         "arches": ["x86_64", "i686"]})
    };
    let (cold, cold_time) = timed(&w, &worker, body());
    assert_eq!(cold.state, ComposeState::Done, "{:?}", cold.state_reason);
    let downloaded = w.hub.take_downloads().len();

    for files in by_nvr(&replacements).values() {
        let nvr = w.hub.import_build(files);
        w.hub.tag_build("bench", &nvr);
    }
    let (warm, warm_time) = timed(&w, &worker, body());
    assert_eq!(warm.state, ComposeState::Done, "{:?}", warm.state_reason);
    assert_eq!(warm.reused_id, None);
    let redownloaded = w.hub.take_downloads().len();

    let (reused, reuse_time) = timed(&w, &worker, body());
    assert_eq!(reused.reused_id, Some(warm.id));

    // The same packages as a `repo` compose: first run warms the metadata cache, the second
    // (20 packages replaced) is our incremental repodata time.
    let repo = w.world.scratch.path().join("roots/bench");
    std::fs::create_dir_all(&repo).expect("repo dir");
    let link_all = |files: &[PathBuf]| {
        for f in files {
            let dest = repo.join(f.file_name().expect("name"));
            let _ = std::fs::remove_file(&dest);
            std::fs::hard_link(f, &dest).expect("link");
        }
    };
    link_all(&packages);
    let repo_body = || {
        json!({"source": {"type": "repo", "source": repo.display().to_string(),
                              "sigkeys": [""]}, "arches": ["x86_64", "i686"], "flags": ["no_reuse"]})
    };
    let (first_repo, _) = timed(&w, &worker, repo_body());
    assert_eq!(
        first_repo.state,
        ComposeState::Done,
        "{:?}",
        first_repo.state_reason
    );
    for f in &replacements {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        let stem = name.rsplitn(3, '-').nth(2).unwrap_or_default().to_owned();
        for old in rpm_files(&repo) {
            let old_name = old
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            if old_name.rsplitn(3, '-').nth(2) == Some(stem.as_str()) {
                std::fs::remove_file(&old).expect("replace");
            }
        }
    }
    link_all(&replacements);
    let (repo_warm, repo_time) = timed(&w, &worker, repo_body());
    assert_eq!(
        repo_warm.state,
        ComposeState::Done,
        "{:?}",
        repo_warm.state_reason
    );

    println!("| {} builds, {} RPMs | | |", builds.len(), packages.len());
    println!("| what | wall | notes |");
    println!("|---|---|---|");
    println!(
        "| cold tag compose | {:.2} s | {downloaded} files downloaded over HTTP, metadata cache cold |",
        cold_time.as_secs_f64()
    );
    println!(
        "| recompose after 20 builds changed (warm cache) | {:.2} s | {redownloaded} files downloaded |",
        warm_time.as_secs_f64()
    );
    println!(
        "| `repo` compose of the same packages, 20 replaced (warm cache) | {:.2} s | incremental repodata baseline; ratio {:.2}× |",
        repo_time.as_secs_f64(),
        warm_time.as_secs_f64() / repo_time.as_secs_f64()
    );
    println!(
        "| reused compose, submission to done | {:.0} ms | tag unchanged since the warm compose's event |",
        reuse_time.as_secs_f64() * 1000.0
    );
}

#[test]
fn a_worker_with_an_unreadable_koji_certificate_does_not_start() {
    let w = KojiWorld::with(Store::Sqlite, |config, _| {
        config.koji.client_cert = PathBuf::from("/nonexistent/odcs-client.pem");
    });
    let cache = Arc::new(PackageCache::open(&w.config.storage.package_cache_dir).expect("cache"));
    let err = odcs_worker::services::worker_factory(w.config.clone(), w.world.pool.clone(), cache)
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("/nonexistent/odcs-client.pem"),
        "{err}"
    );
}

#[test]
fn a_koji_profile_from_a_koji_conf_file_finds_the_hub() {
    let scratch = Scratch::new("koji-conf");
    let conf = scratch.path().join("koji.conf");
    let w = KojiWorld::with(Store::Sqlite, |config, hub| {
        std::fs::write(
            &conf,
            format!(
                "[odcs-test]\nserver = {}\ntopurl = {}\nweburl = https://koji.example/koji\n\
                 authtype = noauth\ntimeout = 45\n",
                hub.url, hub.topurl
            ),
        )
        .expect("koji.conf");
        config.koji.hub_url = String::new();
        config.koji.topurl = String::new();
        config.koji.profile = "odcs-test".into();
        config.koji.config = conf.clone();
        let etc = scratch.path().join("etc");
        config
            .koji
            .apply_profile(&odcs_common::config::koji_profile::ProfileSources { etc, home: None })
            .expect("profile");
    });
    assert_eq!(w.config.koji.hub_url, w.hub.url);
    assert_eq!(w.config.koji.timeout_seconds, 45);

    // Koji's own reader sees the same hub and storage in the same file.
    let out = run(Command::new(reference_python()).args([
        "-c",
        "import sys, koji\n\
         c = koji.read_config('odcs-test', user_config=sys.argv[1])\n\
         print(c['server']); print(c['topurl']); print(c['timeout'])",
        &conf.to_string_lossy(),
    ]));
    let said: Vec<&str> = out.lines().collect();
    assert_eq!(
        said,
        [w.hub.url.as_str(), w.hub.topurl.as_str(), "45"],
        "{out}"
    );

    w.hub.add_tag("f-profile", "x86_64", &[]);
    let nvr = w.build(rpm("viaprofile", "1", &[]));
    w.hub.tag_build("f-profile", &nvr);
    let (compose, outcome) = w.compose(tag_body("f-profile", json!({})));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    assert_eq!(
        w.os_packages(compose.id),
        set(&["viaprofile-1-1.x86_64.rpm"])
    );
}
