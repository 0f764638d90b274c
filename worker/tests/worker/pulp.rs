//! Pulp composes end to end through the worker pipeline: against a fake Pulp 2 (proven by
//! running the reference's own Pulp client against it) and against a real Pulp 3 (pulpcore and
//! pulp-rpm). Content sets and repository ids, absent and unpublished repositories with and
//! without their flags, `use_only_compatible_arch`, nothing found, Pulp down, wrong
//! credentials; dnf installs from the `.repo` file each compose writes, its repositories
//! served over HTTP on loopback.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::config::Config;
use odcs_common::db::models::Compose;
use odcs_common::db::testing::Store;
use odcs_worker::pipeline::JobOutcome;
use odcs_worker::pulp::{Pulp, PulpRepo};
use serde_json::{json, Value};

use crate::compose::dnf;
use crate::fake_pulp::{FakePulp2, Pulp2Repo};
use crate::koji::KojiWorld;
use crate::real_pulp::{real_pulp3, ADMIN_PASSWORD};
use crate::support::*;
use odcs_common::test_pki::TestPki;

const X86_SET: &str = "rhel-8-for-x86_64-appstream-rpms";
const ARM_SET: &str = "rhel-8-for-aarch64-appstream-rpms";
/// A fixture package dnf installs into an empty root (it requires nothing).
const MACROS: &str = "module-build-macros";

/// A worker configured for the Pulp at `url`.
fn pulp_world(store: Store, url: &str, api: u8) -> KojiWorld {
    pulp_world_as(store, url, api, "", "")
}

/// A worker logging in to the Pulp at `url` as `user` (empty: anonymous).
fn pulp_world_as(store: Store, url: &str, api: u8, user: &str, password: &str) -> KojiWorld {
    KojiWorld::with(store, |config, _| {
        pulp_config(config, url, api);
        config.pulp.username = user.into();
        config.pulp.password = password.into();
        config.policy.allowed_source_types.push("pulp".into());
    })
}

fn pulp_config(config: &mut Config, url: &str, api: u8) {
    config.pulp.server_url = url.to_owned();
    config.pulp.api = api;
    config.pulp.attempts = 2;
    config.pulp.retry_backoff_ms = 1;
}

fn pulp_body(source: &str, flags: &[&str]) -> Value {
    json!({"source": {"type": "pulp", "source": source}, "flags": flags})
}

/// A repository directory holding the fixture's RPMs, with repodata.
fn fixture_content(scratch: &Path, name: &str) -> PathBuf {
    let dir = scratch.join(name);
    link_rpms(&fixture_repo(), &dir);
    createrepo_c(&dir);
    dir
}

/// The compose's `.repo` file.
fn repofile(w: &KojiWorld, id: ComposeId) -> String {
    let path = w
        .world
        .compose_dir(id)
        .join(format!("compose/Temporary/odcs-{id}.repo"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Section names of a `.repo` file, in order.
fn sections(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(str::to_owned)
        .collect()
}

/// Installs `package` with dnf from the compose's `.repo` file alone; returns `rpm -qa` names.
fn dnf_install_from_repofile(w: &KojiWorld, id: ComposeId, package: &str) -> BTreeSet<String> {
    let work = w.world.scratch.path().join(format!("dnf-pulp-{id}"));
    let repos = work.join("repos.d");
    std::fs::create_dir_all(&repos).expect("repos.d");
    std::fs::write(repos.join("pulp.repo"), repofile(w, id)).expect("repo file");
    run(dnf(&repos, &work).arg("install").arg(package));
    installed(&work, "%{NAME}\\n")
}

/// A fake Pulp 2 with the Red Hat-style repositories the tests ask for: the x86_64 and aarch64
/// repositories of one product each publishing a content set (only x86_64 has content here),
/// an unpublished one, and one known only by its id.
fn seeded_pulp2(scratch: &Path) -> FakePulp2 {
    let pulp = FakePulp2::start();
    let content = fixture_content(scratch, "pulp2-content");
    let repo = |id: &str, set: Option<&str>, arch: &str, published: bool| Pulp2Repo {
        id: id.into(),
        content_set: set.map(str::to_owned),
        arch: arch.into(),
        signatures: "FD431D51,37017186".into(),
        published,
        relative_url: format!("content/dist/rhel8/8/{arch}/appstream/os"),
        content: (arch == "x86_64").then(|| content.clone()),
    };
    pulp.add(repo(
        "rhel-8-for-x86_64-appstream-rpms__8",
        Some(X86_SET),
        "x86_64",
        true,
    ));
    pulp.add(repo(
        "rhel-8-for-aarch64-appstream-rpms__8",
        Some(ARM_SET),
        "aarch64",
        true,
    ));
    pulp.add(repo(
        "rhel-8-for-x86_64-beta-rpms__8",
        Some("rhel-8-for-x86_64-beta-rpms"),
        "x86_64",
        false,
    ));
    pulp.add(repo("rhel-8-x86_64-direct", None, "x86_64", true));
    pulp
}

fn assert_done(c: &Compose, outcome: &JobOutcome) {
    assert_eq!(*outcome, JobOutcome::Done, "{:?}", c.state_reason);
    assert_eq!(c.state, ComposeState::Done);
}

#[test]
fn content_sets_and_ids_become_one_repo_file_dnf_installs_from() {
    let scratch = Scratch::new("pulp2");
    let pulp = seeded_pulp2(scratch.path());
    let w = pulp_world(Store::Postgres, &pulp.url, 2);

    let (c, outcome) = w.compose(pulp_body(
        &format!("{X86_SET} rhel-8-x86_64-direct rhel-8-for-x86_64-appstream-rpms__8"),
        &[],
    ));
    assert_done(&c, &outcome);
    let text = repofile(&w, c.id);
    // One section per repository, sorted by id; the repository asked for both by content set
    // and by id is there once.
    assert_eq!(
        sections(&text),
        [
            "rhel-8-for-x86_64-appstream-rpms__8",
            "rhel-8-x86_64-direct"
        ]
    );
    assert!(
        text.contains(&format!(
            "baseurl={}/content/dist/rhel8/8/x86_64/appstream/os\n",
            pulp.url
        )),
        "{text}"
    );
    assert!(!text.contains("skip_if_unavailable"), "{text}");
    assert_eq!(c.arches.as_deref(), Some("x86_64"));
    assert_eq!(c.sigkeys.as_deref(), Some("37017186 FD431D51"));
    assert_eq!(c.pungi_compose_id, None);
    // Nothing copied: the compose is the repo file alone.
    assert!(!w
        .world
        .compose_dir(c.id)
        .join("compose/Temporary/x86_64")
        .exists());
    assert!(dnf_install_from_repofile(&w, c.id, MACROS).contains(MACROS));
}

#[test]
fn compatible_arch_urls_use_basearch_and_may_be_unavailable() {
    let scratch = Scratch::new("pulp2");
    let pulp = seeded_pulp2(scratch.path());
    let w = pulp_world(Store::Sqlite, &pulp.url, 2);

    let (c, outcome) = w.compose(pulp_body(
        &format!("{X86_SET} {ARM_SET}"),
        &["use_only_compatible_arch"],
    ));
    assert_done(&c, &outcome);
    let text = repofile(&w, c.id);
    assert_eq!(
        text.matches(&format!(
            "baseurl={}/content/dist/rhel8/8/$basearch/appstream/os\n",
            pulp.url
        ))
        .count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches("skip_if_unavailable=1\n").count(), 2, "{text}");
    assert_eq!(c.arches.as_deref(), Some("aarch64 x86_64"));
    assert!(dnf_install_from_repofile(&w, c.id, MACROS).contains(MACROS));
}

#[test]
fn absent_sources_fail_naming_them_unless_ignored() {
    let scratch = Scratch::new("pulp2");
    let pulp = seeded_pulp2(scratch.path());
    let w = pulp_world(Store::Postgres, &pulp.url, 2);
    let source = format!("{X86_SET} no-such-content-set");

    let (c, outcome) = w.compose(pulp_body(&source, &[]));
    assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
    assert_eq!(
        c.state_reason.as_deref(),
        Some(
            "Failed to find all the source(s) ['rhel-8-for-x86_64-appstream-rpms', \
             'no-such-content-set'] in Pulp, found only ['rhel-8-for-x86_64-appstream-rpms']"
        )
    );

    let (c, outcome) = w.compose(pulp_body(&source, &["ignore_absent_pulp_repos"]));
    assert_done(&c, &outcome);
    assert_eq!(c.source, X86_SET, "the source says what the compose holds");
    assert_eq!(
        sections(&repofile(&w, c.id)),
        ["rhel-8-for-x86_64-appstream-rpms__8"]
    );
}

#[test]
fn unpublished_repositories_need_their_flag() {
    let scratch = Scratch::new("pulp2");
    let pulp = seeded_pulp2(scratch.path());
    let w = pulp_world(Store::Sqlite, &pulp.url, 2);

    let (c, outcome) = w.compose(pulp_body("rhel-8-for-x86_64-beta-rpms", &[]));
    assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
    assert!(
        c.state_reason
            .as_deref()
            .is_some_and(|r| r.contains("found only []")),
        "{:?}",
        c.state_reason
    );
    // Asked for by id, an unpublished repository is not found either.
    let (c, _) = w.compose(pulp_body("rhel-8-for-x86_64-beta-rpms__8", &[]));
    assert_eq!(c.state, ComposeState::Failed, "{:?}", c.state_reason);

    let (c, outcome) = w.compose(pulp_body(
        "rhel-8-for-x86_64-beta-rpms",
        &["include_unpublished_pulp_repos"],
    ));
    assert_done(&c, &outcome);
    assert_eq!(
        sections(&repofile(&w, c.id)),
        ["rhel-8-for-x86_64-beta-rpms__8"]
    );
}

#[test]
fn nothing_found_is_an_empty_repository() {
    let scratch = Scratch::new("pulp2");
    let pulp = seeded_pulp2(scratch.path());
    let w = pulp_world(Store::Postgres, &pulp.url, 2);

    let (c, outcome) = w.compose(pulp_body("gone-1 gone-2", &["ignore_absent_pulp_repos"]));
    assert_done(&c, &outcome);
    assert_eq!(c.source, "");
    let os = w
        .world
        .compose_dir(c.id)
        .join("compose/Temporary/x86_64/os");
    let primary = std::fs::read_dir(os.join("repodata"))
        .expect("an empty repository has repodata")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().contains("primary.xml"))
        .expect("primary");
    assert!(primary.metadata().expect("stat").len() > 0);
    let text = repofile(&w, c.id);
    assert!(
        text.contains("$basearch/os"),
        "the repo file points at it: {text}"
    );
}

#[test]
fn pulp_down_is_retried_then_fails_naming_the_server() {
    let scratch = Scratch::new("pulp2");
    let pulp = seeded_pulp2(scratch.path());
    let w = pulp_world(Store::Sqlite, &pulp.url, 2);

    pulp.down_for(1);
    let (c, outcome) = w.compose(pulp_body(X86_SET, &[]));
    assert_done(&c, &outcome);

    pulp.down_for(usize::MAX);
    let before = pulp.calls();
    let (c, outcome) = w.compose(pulp_body(X86_SET, &[]));
    assert_eq!(pulp.calls() - before, 2, "one call per pulp_attempts");
    assert!(matches!(outcome, JobOutcome::Requeued(_)), "{outcome:?}");
    let waiting = w.world.find(c.id);
    assert_eq!(waiting.state, ComposeState::Wait);
    let reason = waiting.state_reason.unwrap_or_default();
    assert!(
        reason.contains(&format!("Pulp {} is unreachable", pulp.url)) && reason.contains("503"),
        "{reason}"
    );
}

#[test]
fn wrong_credentials_fail_as_a_credentials_problem() {
    let scratch = Scratch::new("pulp2");
    let pulp = seeded_pulp2(scratch.path());
    pulp.require_login("odcs", "s3cret");
    let w = pulp_world(Store::Postgres, &pulp.url, 2);
    let (c, outcome) = w.compose(pulp_body(X86_SET, &[]));
    assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
    let reason = c.state_reason.unwrap_or_default();
    assert!(
        reason.contains("refused the worker's credentials (HTTP 401)")
            && reason.contains("pulp_username"),
        "{reason}"
    );

    let w = pulp_world_as(Store::Sqlite, &pulp.url, 2, "odcs", "s3cret");
    let (c, outcome) = w.compose(pulp_body(X86_SET, &[]));
    assert_done(&c, &outcome);
}

#[test]
fn client_certificates_log_in_over_tls_with_the_key_beside_or_inside() {
    let scratch = Scratch::new("pulp2-tls");
    let pki = TestPki::new(&scratch.path().join("pki"));
    let pulp = FakePulp2::start_tls(&pki);
    pulp.add(Pulp2Repo {
        id: "tls-repo".into(),
        content_set: Some(X86_SET.into()),
        arch: "x86_64".into(),
        signatures: String::new(),
        published: true,
        relative_url: "content/tls/x86_64/os".into(),
        content: None,
    });
    // The client PEM holds the certificate and the key; split it as httpd setups keep them.
    let pem = std::fs::read_to_string(&pki.client).expect("client pem");
    let key_at = pem.find("-----BEGIN").and_then(|first| {
        pem[first + 1..]
            .find("-----BEGIN")
            .map(|second| first + 1 + second)
    });
    let (first, second) = pem.split_at(key_at.expect("two PEM blocks"));
    let (cert, key) = if first.contains("PRIVATE KEY") {
        (second, first)
    } else {
        (first, second)
    };
    let cert_file = scratch.path().join("client.crt");
    let key_file = scratch.path().join("client.key");
    std::fs::write(&cert_file, cert).expect("cert");
    std::fs::write(&key_file, key).expect("key");

    let find = |cert: &Path, key: Option<&Path>| {
        let mut config = Config::default();
        pulp_config(&mut config, &pulp.url, 2);
        config.pulp.ssl_cert = cert.to_owned();
        config.pulp.ssl_key = key.map(Path::to_owned).unwrap_or_default();
        config.pulp.server_ca = pki.ca.clone();
        let client = Pulp::from_config(&config)
            .expect("client")
            .expect("configured");
        client.repos_by_content_set(&[X86_SET.to_owned()], false)
    };
    for (cert, key) in [
        (pki.client.as_path(), None),
        (cert_file.as_path(), Some(key_file.as_path())),
    ] {
        let found = find(cert, key).expect("logged in");
        assert_eq!(
            found[X86_SET][0].url,
            format!("{}/content/tls/x86_64/os", pulp.url)
        );
    }
    // Without a certificate the TLS handshake is refused: Pulp cannot be reached.
    let mut config = Config::default();
    pulp_config(&mut config, &pulp.url, 2);
    config.pulp.server_ca = pki.ca.clone();
    let anonymous = Pulp::from_config(&config)
        .expect("client")
        .expect("configured");
    let err = anonymous
        .repos_by_content_set(&[X86_SET.to_owned()], false)
        .expect_err("refused");
    assert!(err.to_string().contains(&pulp.url), "{err}");
}

/// Our client's answers in the reference client's shape.
fn as_reference(repo: &PulpRepo) -> Value {
    json!({
        "id": repo.id,
        "url": repo.url,
        "arches": repo.arch.iter().collect::<Vec<_>>(),
        "sigkeys": repo.sigkeys,
    })
}

#[test]
fn the_reference_pulp_client_reads_the_fake_as_ours_does() {
    let scratch = Scratch::new("pulp2");
    let pulp = seeded_pulp2(scratch.path());
    let mut config = Config::default();
    pulp_config(&mut config, &pulp.url, 2);
    let ours = Pulp::from_config(&config)
        .expect("client")
        .expect("configured");
    let cases = [
        (
            vec![X86_SET, ARM_SET, "no-such-set"],
            vec!["rhel-8-x86_64-direct", "gone"],
            false,
        ),
        (vec!["rhel-8-for-x86_64-beta-rpms"], vec![], false),
        (vec!["rhel-8-for-x86_64-beta-rpms", X86_SET], vec![], true),
    ];
    let mut expected = Vec::new();
    let mut input = Vec::new();
    for (sets, ids, unpublished) in &cases {
        let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        let by_set = ours
            .repos_by_content_set(&sets, *unpublished)
            .expect("search");
        let by_id = ours.repos_by_id(&ids, *unpublished).expect("get");
        expected.push(json!({
            "by_content_set": by_set
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(as_reference).collect::<Value>()))
                .collect::<serde_json::Map<_, _>>(),
            "by_id": by_id
                .iter()
                .map(|(k, v)| (k.clone(), as_reference(v)))
                .collect::<serde_json::Map<_, _>>(),
        }));
        input.push(json!({"content_sets": sets, "ids": ids, "include_unpublished": unpublished}));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/pulp_reference_check.py");
    let out = run(Command::new("/usr/bin/python3")
        .arg(script)
        .arg(&pulp.url)
        .arg(reference_server_module("pulp.py"))
        .arg(serde_json::to_string(&input).expect("json")));
    let theirs: Value = serde_json::from_str(&out).expect("the reference prints JSON");
    assert_eq!(theirs, Value::Array(expected));
    assert!(
        theirs[0]["by_content_set"][X86_SET][0]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/content/dist/rhel8/8/x86_64/appstream/os")),
        "the cases find something: {theirs}"
    );
}

/// Labels of a Pulp 3 distribution, as Pulp 2 had notes.
fn pulp3_labels(
    set: Option<&'static str>,
    arch: &'static str,
    published: bool,
) -> Vec<(&'static str, &'static str)> {
    let mut labels = vec![("arch", arch), ("signatures", "FD431D51")];
    if let Some(set) = set {
        labels.push(("content_set", set));
    }
    if published {
        labels.push(("include_in_download_service", "True"));
    }
    labels
}

/// The real Pulp 3 with its repositories published once for the test binary: x86_64 and
/// aarch64 distributions of one content set each (only x86_64 has content), an unpublished
/// one, and one without a content set. Returns the server root.
fn seeded_pulp3() -> &'static str {
    static SEEDED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SEEDED.get_or_init(|| {
        let pulp = real_pulp3();
        let rpms = [
            fixture_repo().join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm"),
            fixture_repo().join("module-build-macros-0.1-1.module_fd8ca23e.noarch.rpm"),
        ];
        let beta = "rhel-8-for-x86_64-beta-rpms";
        for (name, rpms, labels) in [
            (
                "rhel-8-for-x86_64-appstream-rpms__8",
                &rpms[..],
                pulp3_labels(Some(X86_SET), "x86_64", true),
            ),
            (
                "rhel-8-for-aarch64-appstream-rpms__8",
                &[],
                pulp3_labels(Some(ARM_SET), "aarch64", true),
            ),
            (
                "rhel-8-for-x86_64-beta-rpms__8",
                &rpms,
                pulp3_labels(Some(beta), "x86_64", false),
            ),
            (
                "rhel-8-x86_64-direct",
                &rpms,
                pulp3_labels(None, "x86_64", true),
            ),
        ] {
            pulp.publish(name, rpms, &labels);
        }
        pulp.url.clone()
    })
}

#[test]
fn pulp3_distributions_by_label_and_name_become_a_repo_file_dnf_installs_from() {
    let url = seeded_pulp3();
    let w = pulp_world_as(Store::Postgres, url, 3, "admin", ADMIN_PASSWORD);

    let (c, outcome) = w.compose(pulp_body(
        &format!("{X86_SET} {ARM_SET} rhel-8-x86_64-direct"),
        &[],
    ));
    assert_done(&c, &outcome);
    let text = repofile(&w, c.id);
    assert_eq!(
        sections(&text),
        [
            "rhel-8-for-aarch64-appstream-rpms__8",
            "rhel-8-for-x86_64-appstream-rpms__8",
            "rhel-8-x86_64-direct"
        ]
    );
    assert!(
        text.contains("/pulp/content/rhel-8-for-x86_64-appstream-rpms__8/\n"),
        "{text}"
    );
    assert_eq!(c.arches.as_deref(), Some("aarch64 x86_64"));
    assert_eq!(c.sigkeys.as_deref(), Some("FD431D51"));

    // Unpublished: absent without its flag, by label or by name.
    let (c, _) = w.compose(pulp_body(
        "rhel-8-for-x86_64-beta-rpms rhel-8-for-x86_64-beta-rpms__8",
        &[],
    ));
    assert_eq!(c.state, ComposeState::Failed, "{:?}", c.state_reason);
    assert!(
        c.state_reason
            .as_deref()
            .is_some_and(|r| r.contains("found only []")),
        "{:?}",
        c.state_reason
    );
    let (c, outcome) = w.compose(pulp_body(
        "rhel-8-for-x86_64-beta-rpms",
        &["include_unpublished_pulp_repos"],
    ));
    assert_done(&c, &outcome);
    assert_eq!(
        sections(&repofile(&w, c.id)),
        ["rhel-8-for-x86_64-beta-rpms__8"]
    );
    assert!(dnf_install_from_repofile(&w, c.id, MACROS).contains(MACROS));

    // Absent, ignored; and compatible arches: the aarch64 distribution's URL has no arch in
    // it, so it is kept as is, and may be unavailable.
    let (c, outcome) = w.compose(pulp_body(
        &format!("{X86_SET} {ARM_SET} gone"),
        &["ignore_absent_pulp_repos", "use_only_compatible_arch"],
    ));
    assert_done(&c, &outcome);
    assert_eq!(c.source, format!("{ARM_SET} {X86_SET}"));
    assert_eq!(
        repofile(&w, c.id)
            .matches("skip_if_unavailable=1\n")
            .count(),
        2
    );
    assert!(dnf_install_from_repofile(&w, c.id, MACROS).contains(MACROS));
}

#[test]
fn pulp3_refuses_wrong_credentials_and_the_compose_says_so() {
    let url = seeded_pulp3();
    let w = pulp_world_as(Store::Sqlite, url, 3, "admin", "not-the-password");
    let (c, outcome) = w.compose(pulp_body(X86_SET, &[]));
    assert!(matches!(outcome, JobOutcome::Failed(_)), "{outcome:?}");
    let reason = c.state_reason.unwrap_or_default();
    assert!(
        reason.contains("refused the worker's credentials (HTTP 401)"),
        "{reason}"
    );
}
