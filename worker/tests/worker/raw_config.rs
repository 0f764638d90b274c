//! `raw_config` composes end to end: Pungi configurations in real git repositories (served by
//! `git daemon`, and a private one over HTTP with basic authentication), run through the
//! worker pipeline by the Pungi stand-in (`pungi_stand_in.py`, with real kobo, productmd and
//! createrepo_c), against PostgreSQL. `pungi_reference_check.py` runs the reference's own Pungi
//! code against the same stand-in and repository, and its configuration, arguments and compose
//! id must be ours.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::prelude::*;
use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::config::{Config, GitCredentials, PostScript, RawConfigSource};
use odcs_common::db::lifecycle::{self, ComposeChanges, Transition};
use odcs_common::db::models::Compose;
use odcs_common::db::schema::composes;
use odcs_common::db::testing::Store;
use odcs_common::time::now;
use odcs_worker::beat::sweep;
use odcs_worker::koji::Koji;
use odcs_worker::pipeline::{JobOutcome, Worker};
use serde_json::{json, Value};

use crate::compose::dnf;
use crate::lifecycle::World;
use crate::support::{fixture_repo, reference_python, run, Scratch};

/// Where the test git server serves repositories from, and its port.
struct GitServer {
    base: PathBuf,
    port: u16,
}

/// One `git daemon` for the whole test binary; it stops when the binary exits (its guard
/// shell waits on a pipe only this process holds).
fn git_daemon() -> &'static GitServer {
    static SERVER: OnceLock<GitServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("odcs-git-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&base).expect("git base");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let script = format!(
            "git daemon --reuseaddr --export-all --base-path={0} --listen=127.0.0.1 --port={port} {0} & \
             pid=$!; read _; kill $pid",
            base.display()
        );
        let mut guard = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .spawn()
            .expect("git daemon");
        // The pipe's write end lives as long as this process.
        std::mem::forget(guard.stdin.take());
        std::mem::forget(guard);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        GitServer { base, port }
    })
}

/// A configuration repository (a work tree the daemon serves).
struct ConfigRepo {
    dir: PathBuf,
    name: String,
}

impl ConfigRepo {
    fn new(files: &[(&str, &str)]) -> ConfigRepo {
        let name = format!("cfg-{}", uuid::Uuid::new_v4().simple());
        let dir = git_daemon().base.join(&name);
        run(Command::new("git")
            .args(["init", "-q", "-b", "main"])
            .arg(&dir));
        let repo = ConfigRepo { dir, name };
        repo.commit(files);
        repo
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/{}", git_daemon().port, self.name)
    }

    fn git(&self) -> Command {
        let mut git = Command::new("git");
        git.current_dir(&self.dir).args([
            "-c",
            "user.name=Release Engineer",
            "-c",
            "user.email=re@example.com",
        ]);
        git
    }

    /// Writes `files`, commits them to `main` and returns the commit id.
    fn commit(&self, files: &[(&str, &str)]) -> String {
        for (name, text) in files {
            let path = self.dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(path, text).expect("write");
        }
        run(self.git().args(["add", "-A"]));
        run(self.git().args(["commit", "-q", "-m", "configuration"]));
        run(self.git().arg("update-server-info"));
        run(self.git().args(["rev-parse", "HEAD"]))
            .trim()
            .to_owned()
    }
}

fn pungi_conf(version: &str) -> String {
    format!(
        "from common import *\nrelease_name = \"ODCS Test\"\nrelease_short = \"OT\"\n\
         release_version = \"{version}\"\nvariants = [\"Server\"]\n\
         odcs_test_rpms = \"{}\"\n",
        fixture_repo().canonicalize().expect("fixture").display()
    )
}

const COMMON_CONF: &str = "koji_profile = 'odcs'\ntree_arches = ['x86_64']\n";

/// A world whose `raw_config_urls` has `cfg`, a repository of the ODCS Test release, with the
/// Pungi stand-ins installed.
struct RawWorld {
    world: World,
    repo: ConfigRepo,
    first: String,
    bin: Scratch,
}

impl RawWorld {
    fn new() -> RawWorld {
        let world = World::new(Store::Postgres);
        let repo = ConfigRepo::new(&[
            ("pungi.conf", &pungi_conf("1")),
            ("common.conf", COMMON_CONF),
        ]);
        let first = run(repo.git().args(["rev-parse", "HEAD"]))
            .trim()
            .to_owned();
        let bin = Scratch::new("pungi-bin");
        let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/pungi_stand_in.py");
        for tool in ["pungi-koji", "pungi-config-validate"] {
            let path = bin.path().join(tool);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\nexec {} {} {tool} \"$@\"\n",
                    reference_python().display(),
                    stand_in.display()
                ),
            )
            .expect("stand-in");
            run(Command::new("chmod").arg("755").arg(&path));
        }
        let mut raw = RawWorld {
            world,
            repo,
            first,
            bin,
        };
        let url = raw.repo.url();
        let bin_dir = raw.bin.path().to_owned();
        raw.configure(|config| {
            config
                .policy
                .raw_config_urls
                .insert("cfg".into(), RawConfigSource::new(&url, "pungi.conf"));
            config.pungi.pungi_koji = bin_dir.join("pungi-koji").display().to_string();
            config.pungi.raw_config_git_cache_dir = config.storage.package_cache_dir.join("git");
            std::fs::create_dir_all(&config.storage.target_dir).expect("target dir");
        });
        raw
    }

    fn configure(&mut self, change: impl FnOnce(&mut Config)) {
        let mut config = (*self.world.config).clone();
        change(&mut config);
        self.world.config = Arc::new(config);
    }

    fn entry(&mut self, change: impl FnOnce(&mut RawConfigSource)) {
        self.configure(|config| {
            change(config.policy.raw_config_urls.get_mut("cfg").expect("cfg"));
        });
    }

    fn tool(&self, name: &str) -> String {
        self.bin.path().join(name).display().to_string()
    }

    /// Submits a raw_config request with `extra` fields and generates it.
    fn compose(&self, source: &str, extra: Value) -> (Compose, JobOutcome) {
        let mut body = json!({"source": {"type": "raw_config", "source": source}});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let stored = self.world.submit(body);
        let outcome = self.worker().process(stored.id).expect("processed");
        (self.world.find(stored.id), outcome)
    }

    /// A worker with this world's configuration, Koji included when a hub is configured.
    fn worker(&self) -> Worker {
        Worker {
            koji: Koji::from_config(&self.world.config)
                .expect("koji")
                .map(Arc::new),
            ..self.world.worker("w")
        }
    }

    fn top(&self, id: ComposeId) -> PathBuf {
        self.world.config.storage.target_dir.join(id.dir_name())
    }

    /// What the stand-in recorded of its run.
    fn stand_in(&self, id: ComposeId) -> Value {
        let path = self.top(id).join("logs/global/stand-in.json");
        serde_json::from_str(&std::fs::read_to_string(&path).expect("stand-in.json")).expect("json")
    }
}

fn today() -> String {
    chrono::Local::now().format("%Y%m%d").to_string()
}

fn argv(recorded: &Value) -> Vec<String> {
    recorded["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .map(|a| a.as_str().expect("arg").to_owned())
        .collect()
}

#[test]
fn every_compose_type_runs_pungi_with_the_reference_arguments() {
    let raw = RawWorld::new();
    let cases = [
        ("test", ".t", json!({}), vec![]),
        ("ci", ".ci", json!({}), vec![]),
        ("nightly", ".n", json!({}), vec![]),
        (
            "production",
            "",
            json!({"label": "RC-1.0", "respin_of": "OT-1-20260101.0",
                   "parent_pungi_compose_ids": ["P-1-20260101.0", "Q-2-20260101.0"]}),
            vec![
                "--label=RC-1.0",
                "--respin-of=OT-1-20260101.0",
                "--parent-compose-id=P-1-20260101.0",
                "--parent-compose-id=Q-2-20260101.0",
            ],
        ),
        (
            "development",
            ".d",
            json!({"flags": ["no_label"]}),
            vec!["--no-label"],
        ),
    ];
    for (kind, suffix, extra, expected_args) in cases {
        let mut extra = extra;
        extra["compose_type"] = json!(kind);
        let (compose, outcome) = raw.compose(&format!("cfg#{}", raw.first), extra);
        assert_eq!(
            outcome,
            JobOutcome::Done,
            "{kind}: {:?}",
            compose.state_reason
        );
        let id = format!("OT-1-{}{suffix}.0", today());
        assert_eq!(
            compose.pungi_compose_id.as_deref(),
            Some(id.as_str()),
            "{kind}"
        );

        let recorded = raw.stand_in(compose.id);
        let args = argv(&recorded);
        assert!(args.contains(&format!("--{kind}")), "{kind}: {args:?}");
        for arg in &expected_args {
            assert!(args.contains(&arg.to_string()), "{kind}: {args:?}");
        }
        assert!(args.contains(&"--no-latest-link".to_owned()));
        assert!(
            !args.iter().any(|a| a == "--koji-event"),
            "no hub, no event"
        );
        let links = raw.world.config.storage.target_dir.join(kind);
        let old = args
            .iter()
            .position(|a| a == "--old-composes")
            .expect("old composes");
        assert_eq!(Path::new(&args[old + 1]), links);
        // What we evaluated is what kobo (Pungi's parser) reads from the same files.
        assert_eq!(recorded["config"], recorded["kobo"], "{kind}");
        assert_eq!(recorded["config"]["koji_profile"], "odcs");
        assert_eq!(recorded["env_source"], "cfg");

        // The compose tree is in place, its id file and metadata as Pungi left them.
        let top = raw.top(compose.id);
        assert_eq!(
            std::fs::read_to_string(top.join("COMPOSE_ID")).expect("id"),
            id
        );
        assert!(top.join("compose/metadata/composeinfo.json").is_file());
        assert!(top.join("pungi-stdout.log").is_file());
        assert_eq!(
            std::fs::read_link(links.join(&id)).expect("id link"),
            Path::new("..").join(compose.id.dir_name())
        );
        assert_eq!(
            std::fs::read_link(links.join("latest-OT-1")).expect("latest link"),
            Path::new("..").join(compose.id.dir_name())
        );
        let dumped = matches!(kind, "production" | "development");
        assert_eq!(compose.pungi_config_dump.is_some(), dumped, "{kind}");
        if kind == "production" {
            assert!(links.join("latest-OT-1-RC-1.0").exists());
            let dump: Value =
                serde_json::from_str(compose.pungi_config_dump.as_deref().expect("dump"))
                    .expect("json");
            assert_eq!(dump["release_short"], "OT");
        }
    }

    // dnf reads the repository Pungi made.
    let (compose, _) = raw.compose(&format!("cfg#{}", raw.first), json!({}));
    let work = Scratch::new("raw-dnf");
    let repos = work.path().join("repos");
    std::fs::create_dir_all(&repos).expect("repos");
    std::fs::write(
        repos.join("compose.repo"),
        format!(
            "[compose]\nname=compose\nbaseurl=file://{}\nenabled=1\n",
            raw.top(compose.id)
                .join("compose/Server/x86_64/os")
                .display()
        ),
    )
    .expect("repo file");
    let names = run(dnf(&repos, work.path()).args(["repoquery", "--qf", "%{name}"]));
    assert!(names.lines().any(|n| n == "ed"), "{names}");
    assert_eq!(
        compose.pungi_compose_id,
        Some(format!("OT-1-{}.t.1", today()))
    );
}

#[test]
fn a_pinned_commit_wins_over_the_requested_one_and_branches_follow_their_tip() {
    let mut raw = RawWorld::new();
    let second = raw.repo.commit(&[("pungi.conf", &pungi_conf("2"))]);
    let (compose, outcome) = raw.compose("cfg#main", json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    assert_eq!(raw.stand_in(compose.id)["config"]["release_version"], "2");
    assert!(
        std::fs::read_to_string(raw.top(compose.id).join("pungi-stderr.log"))
            .expect("log")
            .contains(&format!("(commit {second})"))
    );

    let first = raw.first.clone();
    raw.entry(|entry| entry.commit = Some(first));
    let (compose, outcome) = raw.compose("cfg#main", json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    assert_eq!(raw.stand_in(compose.id)["config"]["release_version"], "1");

    let (compose, outcome) = {
        raw.entry(|entry| entry.commit = None);
        raw.compose("cfg#no-such-branch", json!({}))
    };
    assert!(matches!(outcome, JobOutcome::Failed(_)));
    assert!(
        compose
            .state_reason
            .as_deref()
            .unwrap_or_default()
            .contains("no-such-branch"),
        "{:?}",
        compose.state_reason
    );
}

#[test]
fn the_wrapper_is_rendered_with_the_compose_and_imports_the_configuration() {
    let mut raw = RawWorld::new();
    let wrapper = raw.bin.path().join("wrapper.conf");
    std::fs::write(
        &wrapper,
        "from raw_config import *\n\
         odcs_wrapper_owner = \"{{ compose.owner }}\"\n\
         {% if compose.builds %}odcs_wrapper_builds = [{% for b in compose.builds.split() %}\"{{ b }}\", {% endfor %}]{% endif %}\n\
         koji_profile = \"odcs_stg\"\n",
    )
    .expect("wrapper");
    raw.configure(|config| config.pungi.raw_config_wrapper_conf_path = wrapper.clone());
    let (compose, outcome) = raw.compose(
        &format!("cfg#{}", raw.first),
        json!({"source": {"type": "raw_config", "source": format!("cfg#{}", raw.first),
                          "builds": ["foo-1-1", "bar-2-1"]}}),
    );
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    let recorded = raw.stand_in(compose.id);
    let config = &recorded["config"];
    assert_eq!(config["odcs_wrapper_owner"], "tester");
    assert_eq!(config["odcs_wrapper_builds"], json!(["foo-1-1", "bar-2-1"]));
    assert_eq!(config["koji_profile"], "odcs_stg", "the wrapper overrides");
    assert_eq!(
        config["release_short"], "OT",
        "the configuration is imported"
    );
    assert_eq!(recorded["config"], recorded["kobo"]);
}

#[test]
fn validation_and_pungi_failures_fail_the_compose_with_their_reasons() {
    let mut raw = RawWorld::new();
    let validate = raw.tool("pungi-config-validate");
    raw.configure(|config| config.pungi.pungi_config_validate = validate);
    let bad = raw.repo.commit(&[(
        "pungi.conf",
        &format!("{}bogus_option = 1\n", pungi_conf("1")),
    )]);
    let (compose, outcome) = raw.compose(&format!("cfg#{bad}"), json!({}));
    assert!(matches!(outcome, JobOutcome::Failed(_)));
    let reason = compose.state_reason.unwrap_or_default();
    assert!(
        reason.contains("not valid")
            && reason.contains("Unrecognized config option: bogus_option."),
        "{reason}"
    );

    // A schema override teaching the validator the option lets it through.
    let schema = raw.bin.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"properties": {"bogus_option": {"type": "number"}}}"#,
    )
    .expect("schema");
    raw.entry(|entry| entry.schema_override = Some(schema.clone()));
    let (compose, outcome) = raw.compose(&format!("cfg#{bad}"), json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);

    let failing = raw.repo.commit(&[(
        "pungi.conf",
        &format!(
            "{}odcs_test_fail = \"the Koji tag is empty\"\n",
            pungi_conf("1")
        ),
    )]);
    raw.configure(|config| config.pungi.pungi_config_validate = String::new());
    let (compose, outcome) = raw.compose(&format!("cfg#{failing}"), json!({}));
    assert!(matches!(outcome, JobOutcome::Failed(_)));
    let reason = compose.state_reason.unwrap_or_default();
    assert!(reason.contains("exit status: 1"), "{reason}");
    assert!(
        reason.contains("Compose run failed: the Koji tag is empty"),
        "{reason}"
    );
    assert!(!reason.contains("Extended traceback"), "{reason}");
    // Its logs stay with the compose for users to read.
    assert!(raw
        .top(compose.id)
        .join("logs/global/pungi.global.log")
        .is_file());
    assert!(
        std::fs::read_to_string(raw.top(compose.id).join("pungi-stderr.log"))
            .expect("stderr")
            .contains("failing as configured")
    );

    let broken = raw
        .repo
        .commit(&[("pungi.conf", "release_name = undefined_name\n")]);
    let (compose, _) = raw.compose(&format!("cfg#{broken}"), json!({}));
    let reason = compose.state_reason.unwrap_or_default();
    assert!(
        reason.contains("pungi.conf, line 1: undefined variable"),
        "{reason}"
    );
}

/// The pids the stand-in wrote (itself and its child), once it wrote them.
fn wait_for_pids(file: &Path) -> Vec<i32> {
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(file) {
            if text.ends_with('\n') {
                return text
                    .split_whitespace()
                    .map(|p| p.parse().expect("pid"))
                    .collect();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the stand-in never started");
}

fn gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| stat.contains(") Z "))
}

#[test]
fn timeouts_and_cancelled_composes_leave_no_process_behind() {
    let mut raw = RawWorld::new();
    let pid_file = raw.bin.path().join("pids");
    let sleepy = raw.repo.commit(&[(
        "pungi.conf",
        &format!(
            "{}odcs_test_sleep = 600\nodcs_test_pid_file = \"{}\"\n",
            pungi_conf("1"),
            pid_file.display()
        ),
    )]);
    raw.entry(|entry| entry.pungi_timeout = Some(2));
    let (compose, outcome) = raw.compose(&format!("cfg#{sleepy}"), json!({}));
    assert!(matches!(outcome, JobOutcome::Failed(_)));
    assert_eq!(
        compose.state_reason.as_deref(),
        Some("Compose has taken more time than allowed by configuration (2 seconds)")
    );
    for pid in wait_for_pids(&pid_file) {
        assert!(gone(pid), "process {pid} outlived the timeout");
    }

    // Cancelled while running: the compose leaves `generating` under the worker.
    std::fs::remove_file(&pid_file).expect("pids");
    raw.entry(|entry| entry.pungi_timeout = None);
    raw.configure(|config| config.workers.lease_seconds = 3);
    let stored = raw
        .world
        .submit(json!({"source": {"type": "raw_config", "source": format!("cfg#{sleepy}")}}));
    let worker = raw.worker();
    let running = std::thread::spawn(move || worker.process(stored.id).expect("processed"));
    let pids = wait_for_pids(&pid_file);
    let cancelled = lifecycle::transition(
        &mut raw.world.pool.get().expect("conn"),
        stored.id,
        &Transition {
            from: &[ComposeState::Generating],
            to: ComposeState::Failed,
            reason: Some("Canceled by admin".into()),
            held_by: None,
            expired_before: None,
            changes: ComposeChanges::default(),
        },
        &raw.world.config,
        now(),
    )
    .expect("cancel");
    assert!(cancelled.is_some());
    assert_eq!(running.join().expect("worker"), JobOutcome::Skipped);
    for pid in pids {
        assert!(gone(pid), "process {pid} outlived the cancelled compose");
    }
    assert_eq!(
        raw.world.find(stored.id).state_reason.as_deref(),
        Some("Canceled by admin")
    );
}

#[test]
fn latest_links_survive_expiry_and_renewals_run_the_stored_dump() {
    let raw = RawWorld::new();
    let source = format!("cfg#{}", raw.first);
    let (first, _) = raw.compose(&source, json!({"compose_type": "production"}));
    let (second, outcome) = raw.compose(&source, json!({"compose_type": "production"}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", second.state_reason);
    assert_eq!(first.pungi_compose_id, Some(format!("OT-1-{}.0", today())));
    assert_eq!(second.pungi_compose_id, Some(format!("OT-1-{}.1", today())));
    let links = raw.world.config.storage.target_dir.join("production");
    assert_eq!(
        std::fs::read_link(links.join("latest-OT-1")).expect("latest"),
        Path::new("..").join(second.id.dir_name())
    );

    let set = |id: ComposeId, changes: ComposeChanges| {
        diesel::update(composes::table.find(id))
            .set(changes)
            .execute(&mut **raw.world.pool.get().expect("conn"))
            .expect("update");
    };
    let expire = |id: ComposeId| {
        let past = now() - chrono::TimeDelta::days(1);
        set(
            id,
            ComposeChanges {
                time_to_expire: Some(past),
                ..ComposeChanges::default()
            },
        );
    };
    expire(first.id);
    expire(second.id);
    let swept = sweep(
        &mut raw.world.pool.get().expect("conn"),
        &raw.world.config,
        now(),
    )
    .expect("sweep");
    assert_eq!(swept.removed, vec![first.id], "the latest compose is kept");
    assert!(!raw.top(first.id).exists());
    assert!(
        std::fs::symlink_metadata(links.join(first.pungi_compose_id.as_deref().expect("id")))
            .is_err()
    );
    assert!(raw.top(second.id).exists());
    assert_eq!(raw.world.find(second.id).state, ComposeState::Done);

    // A renewal of the production compose (a copy with its dump, as the frontend makes it)
    // runs the dump, not what the repository holds now.
    raw.repo.commit(&[("pungi.conf", &pungi_conf("9"))]);
    let renewed = raw.world.submit(
        json!({"source": {"type": "raw_config", "source": "cfg#main"},
                                          "compose_type": "production"}),
    );
    set(
        renewed.id,
        ComposeChanges {
            pungi_config_dump: Some(second.pungi_config_dump.clone()),
            ..ComposeChanges::default()
        },
    );
    let outcome = raw.worker().process(renewed.id).expect("processed");
    let renewed = raw.world.find(renewed.id);
    assert_eq!(outcome, JobOutcome::Done, "{:?}", renewed.state_reason);
    let config = &raw.stand_in(renewed.id)["config"];
    assert_eq!(
        config["release_version"], "1",
        "the dump, not the repository's 9"
    );
    assert!(
        std::fs::read_to_string(raw.top(renewed.id).join("pungi-stderr.log"))
            .expect("log")
            .contains("Running the configuration dump stored with the compose")
    );
}

/// A dumb-HTTP git server for the repositories under `root`, answering only requests with
/// basic credentials `user:password`.
fn private_http_server(root: PathBuf, user: &str, password: &str) -> u16 {
    use base64::Engine;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut stream = stream;
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("Authorization: ") {
                        authorized = value.trim() == expected;
                    }
                }
                let path = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .to_owned();
                let file = root.join(path.trim_start_matches('/'));
                let response = if !authorized {
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
                } else if path.contains("..") || !file.is_file() {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                } else {
                    let mut body = Vec::new();
                    std::fs::File::open(&file)
                        .and_then(|mut f| f.read_to_end(&mut body))
                        .expect("read");
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    out.extend(body);
                    out
                };
                let _ = stream.write_all(&response);
            });
        }
    });
    port
}

#[test]
fn private_repositories_are_read_with_their_credentials() {
    let mut raw = RawWorld::new();
    let port = private_http_server(git_daemon().base.clone(), "release", "s3cret");
    let url = format!("http://127.0.0.1:{port}/{}/.git", raw.repo.name);
    raw.entry(|entry| entry.url = url.clone());
    let (compose, outcome) = raw.compose(&format!("cfg#{}", raw.first), json!({}));
    assert!(matches!(outcome, JobOutcome::Failed(_)), "no credentials");
    let reason = compose.state_reason.unwrap_or_default();
    assert!(reason.contains("git"), "{reason}");
    assert!(!reason.contains("s3cret"));

    raw.configure(|config| {
        config.pungi.raw_config_credentials.insert(
            "cfg".into(),
            [(
                "^http://127\\.0\\.0\\.1".to_owned(),
                GitCredentials {
                    username: "release".into(),
                    password: "s3cret".into(),
                },
            )]
            .into(),
        );
    });
    let (compose, outcome) = raw.compose(&format!("cfg#{}", raw.first), json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    assert_eq!(raw.stand_in(compose.id)["config"]["release_short"], "OT");
}

#[test]
fn the_post_script_runs_in_the_compose_directory() {
    let mut raw = RawWorld::new();
    let script = raw.bin.path().join("post.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat COMPOSE_ID > post-script-saw\necho done\n",
    )
    .expect("script");
    run(Command::new("chmod").arg("755").arg(&script));
    raw.entry(|entry| entry.post_script = Some(PostScript::Program(script.display().to_string())));
    let (compose, outcome) = raw.compose(&format!("cfg#{}", raw.first), json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    let top = raw.top(compose.id);
    assert_eq!(
        std::fs::read_to_string(top.join("post-script-saw"))
            .expect("saw")
            .trim(),
        compose.pungi_compose_id.as_deref().expect("id")
    );
    assert_eq!(
        std::fs::read_to_string(top.join("post-script-stdout.log")).expect("log"),
        "done\n"
    );
}

#[test]
fn hostile_configurations_cannot_make_the_worker_read_other_files() {
    let raw = RawWorld::new();
    let outside = raw.repo.commit(&[(
        "pungi.conf",
        &format!(
            "from ../../../../../../etc/passwd import *\n{}",
            pungi_conf("1")
        ),
    )]);
    let (compose, _) = raw.compose(&format!("cfg#{outside}"), json!({}));
    let reason = compose.state_reason.unwrap_or_default();
    assert!(
        reason.contains("outside the configuration's directory"),
        "{reason}"
    );
    assert_eq!(compose.state, ComposeState::Failed);

    std::os::unix::fs::symlink("/etc/hostname", raw.repo.dir.join("common.conf.link"))
        .expect("link");
    std::fs::remove_file(raw.repo.dir.join("common.conf")).expect("rm");
    std::fs::rename(
        raw.repo.dir.join("common.conf.link"),
        raw.repo.dir.join("common.conf"),
    )
    .expect("mv");
    let linked = raw.repo.commit(&[]);
    let (compose, _) = raw.compose(&format!("cfg#{linked}"), json!({}));
    let reason = compose.state_reason.unwrap_or_default();
    assert!(reason.contains("outside the repository"), "{reason}");
}

#[test]
fn the_koji_event_is_the_requests_or_the_hubs_newest() {
    let mut raw = RawWorld::new();
    let hub = crate::koji_hub::FakeKoji::start(&raw.world.scratch.path().join("koji"));
    hub.add_tag("f41", "x86_64", &[]);
    let url = hub.url.clone();
    raw.configure(|config| config.koji.hub_url = url);
    let source = format!("cfg#{}", raw.first);

    let (compose, outcome) = raw.compose(&source, json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    let newest = hub.last_event();
    assert_eq!(compose.koji_event, Some(newest));
    let args = argv(&raw.stand_in(compose.id));
    let at = args
        .iter()
        .position(|a| a == "--koji-event")
        .expect("event");
    assert_eq!(args[at + 1], newest.to_string());

    let (compose, outcome) = raw.compose(
        &source,
        json!({"source": {"type": "raw_config", "source": source, "koji_event": 7}}),
    );
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    assert_eq!(compose.koji_event, Some(7));
    let args = argv(&raw.stand_in(compose.id));
    let at = args
        .iter()
        .position(|a| a == "--koji-event")
        .expect("event");
    assert_eq!(args[at + 1], "7");
}

#[test]
fn configured_arguments_are_given_and_may_name_the_compose_type() {
    let mut raw = RawWorld::new();
    raw.configure(|config| {
        config.pungi.pungi_koji_args = vec!["--nightly".into()];
        config
            .pungi
            .raw_config_pungi_koji_args
            .insert("other".into(), vec!["--quiet".into()]);
    });
    let source = format!("cfg#{}", raw.first);
    let (compose, outcome) = raw.compose(&source, json!({"compose_type": "nightly"}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    let args = argv(&raw.stand_in(compose.id));
    assert_eq!(
        args.iter().filter(|a| *a == "--nightly").count(),
        1,
        "a type the arguments name is not added again: {args:?}"
    );
    assert!(!args.contains(&"--quiet".to_owned()), "{args:?}");

    raw.configure(|config| {
        config
            .pungi
            .raw_config_pungi_koji_args
            .insert("cfg".into(), vec!["--quiet".into()]);
    });
    let (compose, outcome) = raw.compose(&source, json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    let args = argv(&raw.stand_in(compose.id));
    assert!(args.contains(&"--quiet".to_owned()), "{args:?}");
    assert!(args.contains(&"--test".to_owned()), "{args:?}");
    assert!(
        !args.contains(&"--nightly".to_owned()),
        "instead of pungi_koji_args: {args:?}"
    );
}

/// `args` with the paths that differ between two runs (their scratch directories) cut to
/// what they name.
fn comparable(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg.starts_with("--config=") {
            out.push(format!(
                "--config={}",
                arg.rsplit('/').next().unwrap_or_default()
            ));
        } else if arg.starts_with("--compose-dir=") {
            out.push("--compose-dir".into());
        } else if arg == "--old-composes" {
            out.push(arg.clone());
            let dir = iter.next().expect("old composes dir");
            out.push(dir.rsplit('/').next().unwrap_or_default().to_owned());
        } else {
            out.push(arg.clone());
        }
    }
    out
}

#[test]
fn the_reference_gives_the_stand_in_what_we_give_it() {
    let mut raw = RawWorld::new();
    // A configuration not named pungi.conf, so the reference's copy of the repository does
    // not overwrite its wrapper.
    run(raw.repo.git().args(["mv", "pungi.conf", "odcs-test.conf"]));
    let commit = raw.repo.commit(&[]);
    raw.entry(|entry| entry.config_filename = "odcs-test.conf".into());
    let wrapper = raw.bin.path().join("wrapper.conf");
    std::fs::write(
        &wrapper,
        "from raw_config import *\nodcs_wrapper_owner = \"{{ compose.owner }}\"\n\
         koji_profile = \"{{ compose['compose_type'] }}\"\n",
    )
    .expect("wrapper");
    let server_dir = crate::support::reference_server_module("pungi.py")
        .parent()
        .expect("server dir")
        .to_owned();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/pungi_reference_check.py");
    for (kind, wrapped) in [("production", false), ("nightly", true)] {
        raw.configure(|config| {
            config.pungi.raw_config_wrapper_conf_path = if wrapped {
                wrapper.clone()
            } else {
                PathBuf::new()
            };
        });
        let (compose, outcome) = raw.compose(
            &format!("cfg#{commit}"),
            json!({"compose_type": kind, "label": "RC-1.0"}),
        );
        assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
        let ours = raw.stand_in(compose.id);
        if wrapped {
            assert_eq!(
                ours["config"]["koji_profile"], "nightly",
                "the wrapper applied"
            );
        }

        let reference = Scratch::new("pungi-reference");
        let view = odcs_common::db::view::compose_json(&compose, &raw.world.config, false);
        let case = json!({
            "url": raw.repo.url(),
            "config_filename": "odcs-test.conf",
            "commit": commit,
            "wrapper": wrapped.then(|| wrapper.display().to_string()),
            "pungi_koji": raw.tool("pungi-koji"),
            "target_dir": reference.path(),
            "compose_dir": reference.path().join(compose.id.dir_name()),
            "compose": view,
        });
        let out = run(Command::new(reference_python())
            .arg(&script)
            .arg(&server_dir)
            .arg(case.to_string())
            .current_dir(reference.path()));
        let theirs: Value =
            serde_json::from_str(out.lines().last().expect("output")).expect("json");
        assert_eq!(
            theirs["config"], ours["config"],
            "{kind}: the configuration Pungi gets"
        );
        assert_eq!(
            comparable(&argv(&theirs)),
            comparable(&argv(&ours)),
            "{kind}: the arguments"
        );
        assert_eq!(
            theirs["pungi_compose_id"]
                .as_str()
                .map(|id| id.rsplit_once('.').map(|p| p.0)),
            Some(
                compose
                    .pungi_compose_id
                    .as_deref()
                    .and_then(|id| id.rsplit_once('.').map(|p| p.0))
            ),
            "{kind}: the compose id, but for the respin"
        );
        assert_eq!(theirs["env_source"], "cfg");
    }
}

#[test]
fn configurations_in_a_subdirectory_are_found_by_path_or_file_name() {
    let mut raw = RawWorld::new();
    let commit = raw.repo.commit(&[
        ("product/main.conf", &pungi_conf("5")),
        ("product/common.conf", COMMON_CONF),
    ]);
    raw.entry(|entry| {
        entry.config_filename = "main.conf".into();
        entry.path = Some("product".into());
    });
    let (compose, outcome) = raw.compose(&format!("cfg#{commit}"), json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    let recorded = raw.stand_in(compose.id);
    assert_eq!(recorded["config"]["release_version"], "5");
    assert!(recorded["cwd"]
        .as_str()
        .unwrap_or_default()
        .ends_with("/product"));

    raw.entry(|entry| {
        entry.config_filename = "product/main.conf".into();
        entry.path = None;
    });
    let (compose, outcome) = raw.compose(&format!("cfg#{commit}"), json!({}));
    assert_eq!(outcome, JobOutcome::Done, "{:?}", compose.state_reason);
    assert_eq!(raw.stand_in(compose.id)["config"]["release_version"], "5");
    // Both composes read the one cached clone of the repository.
    let cache = raw.world.config.pungi.raw_config_git_cache_dir.clone();
    let clones = std::fs::read_dir(&cache)
        .expect("cache")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".git"))
        .count();
    assert_eq!(clones, 1);
}
