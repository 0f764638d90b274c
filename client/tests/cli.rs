//! The `odcs` command against a real `odcs-server` on loopback: every sub-command, `--json`,
//! exit codes, waiting on done and failed composes, timeouts, waiting on RabbitMQ messages,
//! profiles, and the same requests made with the reference Python CLI.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command as Cmd;
use odcs_common::test_pki::TestPki;
use serde_json::Value;

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A binary built beside `odcs` (odcs-server, odcs-worker).
fn sibling(name: &str) -> PathBuf {
    let odcs = assert_cmd::cargo::cargo_bin("odcs");
    let path = odcs.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p odcs-server -p odcs-worker)",
        path.display()
    );
    path
}

/// Waits until an odcs-server listens on `port`.
fn await_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "odcs-server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running server (standalone with in-process workers, or queueing to RabbitMQ) and its
/// scratch directory.
struct Server {
    dir: tempfile::TempDir,
    url: String,
    env: Vec<(String, String)>,
    children: Vec<Child>,
    queue: Option<String>,
    topic_prefix: String,
}

impl Server {
    fn start(standalone: bool) -> Server {
        Server::start_on(standalone, None)
    }

    /// A server over the database at `database_url` (a fresh SQLite file without one).
    fn start_on(standalone: bool, database_url: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("scratch");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/");
        let roots = dir.path().join("roots");
        let fixture = std::env::var_os("ODCS_TEST_FIXTURE_REPO").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/odcs-test-repo"),
            std::path::PathBuf::from,
        );
        let repo = roots.join("repo");
        std::fs::create_dir_all(repo.join("repodata")).expect("repo");
        for entry in std::fs::read_dir(&fixture).expect("fixture").flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), repo.join(entry.file_name())).expect("copy rpm");
            }
        }
        for entry in std::fs::read_dir(fixture.join("repodata"))
            .expect("repodata")
            .flatten()
        {
            std::fs::copy(entry.path(), repo.join("repodata").join(entry.file_name()))
                .expect("copy");
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let topic_prefix = format!("clitest-{id}.");
        let database_url = database_url.map_or_else(
            || format!("sqlite://{}", dir.path().join("odcs.db").display()),
            str::to_owned,
        );
        let mut env = vec![
            ("ODCS_DATABASE_URL".to_owned(), database_url),
            ("ODCS_LISTEN".into(), format!("127.0.0.1:{port}")),
            ("ODCS_HTTP_WORKERS".into(), "2".into()),
            (
                "ODCS_TARGET_DIR".into(),
                dir.path().join("composes").display().to_string(),
            ),
            ("ODCS_TARGET_DIR_URL".into(), format!("{url}composes")),
            ("ODCS_REPO_SOURCE_ROOTS".into(), roots.display().to_string()),
            (
                "ODCS_PACKAGE_CACHE_DIR".into(),
                dir.path().join("cache").display().to_string(),
            ),
            (
                "ODCS_ALLOWED_SOURCE_TYPES".into(),
                "tag,module,build,repo,pulp,raw_config".into(),
            ),
            (
                "ODCS_RAW_CONFIG_URLS".into(),
                r#"{"fedora": {"url": "https://git.example.com/pungi.git", "config_filename": "fedora.conf"}}"#.into(),
            ),
            ("ODCS_MESSAGING_TOPIC_PREFIX".into(), topic_prefix.clone()),
        ];
        let mut queue = None;
        if !standalone {
            let name = format!("odcs-clitest-{id}");
            env.push(("ODCS_AMQP_URL".into(), AMQP_URL.into()));
            env.push(("ODCS_DEFAULT_QUEUE".into(), name.clone()));
            env.push(("ODCS_QUEUE_ROUTES".into(), "{}".into()));
            queue = Some(name);
        }
        let mut server = Server {
            dir,
            url,
            env,
            children: Vec::new(),
            queue,
            topic_prefix,
        };
        server.spawn(&sibling("odcs-server"), &[], "server.log");
        await_port(port);
        server
    }

    /// Another API process beside the first, over the same database and broker; its URL.
    fn spawn_api(&mut self) -> String {
        let port = free_port();
        let listen = [("ODCS_LISTEN".to_owned(), format!("127.0.0.1:{port}"))];
        self.spawn_with(&sibling("odcs-server"), &[], "server-2.log", &listen);
        await_port(port);
        format!("http://127.0.0.1:{port}/")
    }

    fn spawn(&mut self, binary: &Path, args: &[&str], log: &str) {
        self.spawn_with(binary, args, log, &[]);
    }

    /// Spawns `binary` with the server's environment, `extra` overriding it.
    fn spawn_with(&mut self, binary: &Path, args: &[&str], log: &str, extra: &[(String, String)]) {
        let log = std::fs::File::create(self.dir.path().join(log)).expect("log");
        let child = Command::new(binary)
            .args(args)
            .envs(self.env.iter().cloned())
            .envs(extra.iter().cloned())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn");
        self.children.push(child);
    }

    fn repo(&self) -> String {
        self.dir.path().join("roots/repo").display().to_string()
    }

    /// `odcs --server URL ARGS...`, with no configuration file of the user's.
    fn odcs(&self, args: &[&str]) -> Cmd {
        let mut cmd = Cmd::cargo_bin("odcs").expect("odcs is built");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .arg("--server")
            .arg(&self.url)
            .args(args);
        cmd
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(queue) = &self.queue {
            let _ = Command::new("rabbitmqctl")
                .args(["-q", "delete_queue", queue])
                .output();
        }
    }
}

/// Running a command and insisting on how it ends; its output.
trait Run {
    /// Exit status 0.
    fn succeeds(&mut self) -> std::process::Output;
    /// Exit status `code`.
    fn fails_with(&mut self, code: i32) -> std::process::Output;
}

impl Run for Cmd {
    fn succeeds(&mut self) -> std::process::Output {
        self.assert().success().get_output().clone()
    }

    fn fails_with(&mut self, code: i32) -> std::process::Output {
        self.assert().code(code).get_output().clone()
    }
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(output)))
}

fn text(output: &[u8]) -> String {
    String::from_utf8_lossy(output).into_owned()
}

#[test]
fn create_waits_for_done_and_every_subcommand_answers() {
    let server = Server::start(true);
    let out = server
        .odcs(&["create-repo", &server.repo(), "--arch", "x86_64"])
        .succeeds();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Compose 1 is done"), "{stdout}");
    assert!(stdout.contains("repofile: http"), "{stdout}");

    let out = server.odcs(&["get", "1", "--json"]).succeeds();
    let compose = json(&out.stdout);
    assert_eq!(compose["state_name"], "done");
    // The in-process workers' own metrics are in the server's.
    let metrics = reqwest::blocking::get(format!("{}api/1/metrics/", server.url))
        .and_then(|r| r.text())
        .expect("metrics");
    for line in [
        r#"odcs_worker_compose_duration_seconds_count{outcome="done",source_type="repo"} 1"#,
        r#"celery_workers_totals 1"#,
        r#"celery_queue_length{queue_name="in-process"} 0"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in\n{metrics}"
        );
    }
    assert_eq!(compose["source_type"], 3);
    assert!(
        text(&out.stdout).starts_with("{\n    \""),
        "indented by four like the reference"
    );

    let out = server
        .odcs(&["--json", "create-repo", &server.repo(), "ed"])
        .succeeds();
    assert_eq!(json(&out.stdout)["packages"], "ed");

    let out = server
        .odcs(&[
            "--no-wait",
            "--json",
            "create-repo",
            &server.repo(),
            "--flag",
            "no_reuse",
        ])
        .succeeds();
    let pending = json(&out.stdout);
    assert!(["wait", "generating", "done"]
        .contains(&pending["state_name"].as_str().unwrap_or_default()));
    let id = pending["id"].as_i64().expect("id").to_string();
    server.odcs(&["wait", &id, "--quiet"]).assert().success();

    let out = server
        .odcs(&["list", "--state", "done", "--json"])
        .succeeds();
    let page = json(&out.stdout);
    assert!(
        page["meta"]["total"].as_i64().unwrap_or_default() >= 2,
        "{page}"
    );
    let out = server.odcs(&["list", "--per-page", "1"]).succeeds();
    assert!(
        text(&out.stdout).contains("page 1 of"),
        "{}",
        text(&out.stdout)
    );

    let out = server
        .odcs(&["renew", "1", "--seconds-to-live", "600", "--json"])
        .succeeds();
    assert_eq!(json(&out.stdout)["id"], 1);

    let out = server.odcs(&["about"]).succeeds();
    assert!(json(&out.stdout).get("version").is_some());

    let out = server.odcs(&["delete", "1"]).succeeds();
    assert!(!text(&out.stdout).trim().is_empty());
    let out = server.odcs(&["get", "1", "--json"]).succeeds();
    // A done compose is expired at once; the beat removes it later.
    let state = json(&out.stdout)["state_name"].clone();
    assert!(state == "done" || state == "removed", "{state}");
}

#[test]
fn failures_exit_non_zero_with_one_line() {
    let server = Server::start(true);
    let out = server.odcs(&["create-repo", "/etc"]).fails_with(1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("odcs: compose 1 failed:") && stderr.contains("outside the allowed roots"),
        "{stderr}"
    );

    // Waiting on a compose that already failed reports it the same way.
    let out = server.odcs(&["wait", "1"]).fails_with(1);
    assert!(
        text(&out.stderr).contains("odcs: compose 1 failed:"),
        "{}",
        text(&out.stderr)
    );

    let out = server.odcs(&["get", "999"]).fails_with(4);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("odcs: 404"), "{stderr}");

    let out = server
        .odcs(&["create-repo", &server.repo(), "--flag", "bogus"])
        .fails_with(4);
    assert!(text(&out.stderr).contains("bogus"), "{}", text(&out.stderr));

    let out = server.odcs(&["get", "abc"]).fails_with(2);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("odcs: invalid value 'abc'"), "{stderr}");
    server.odcs(&["frobnicate"]).assert().code(2);

    let out = Cmd::cargo_bin("odcs")
        .expect("odcs")
        .env_clear()
        .env("HOME", server.dir.path())
        .args(["--server", "http://127.0.0.1:1/", "get", "1"])
        .fails_with(4);
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("odcs: cannot reach http://127.0.0.1:1/"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = Cmd::cargo_bin("odcs")
        .expect("odcs")
        .env_clear()
        .env("HOME", server.dir.path())
        .args(["get", "1"])
        .fails_with(2);
    assert!(
        text(&out.stderr).contains("no server"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn watch_prints_the_compose_log() {
    let server = Server::start(true);
    let out = server
        .odcs(&["--watch", "create-repo", &server.repo()])
        .succeeds();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Compose odcs-1 started"), "{stderr}");
}

#[test]
fn profiles_choose_the_server_and_unknown_ones_are_refused() {
    let server = Server::start(true);
    let config = server.dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "default_profile = \"local\"\n[profiles.local]\nserver = \"{}\"\n",
            server.url
        ),
    )
    .expect("config");
    let odcs = || {
        let mut cmd = Cmd::cargo_bin("odcs").expect("odcs");
        cmd.env_clear()
            .env("HOME", server.dir.path())
            .env("ODCS_CLIENT_CONFIG", &config);
        cmd
    };
    odcs().args(["about"]).assert().success();
    odcs()
        .args(["--profile", "local", "about"])
        .assert()
        .success();
    let out = odcs().args(["--profile", "prod", "about"]).fails_with(2);
    assert!(
        text(&out.stderr).contains("no profile \"prod\""),
        "{}",
        text(&out.stderr)
    );
    // The environment names the server too.
    Cmd::cargo_bin("odcs")
        .expect("odcs")
        .env_clear()
        .env("HOME", server.dir.path())
        .env("ODCS_SERVER", &server.url)
        .args(["about"])
        .assert()
        .success();
}

#[test]
fn completions_are_generated() {
    let out = Cmd::cargo_bin("odcs")
        .expect("odcs")
        .args(["completions", "bash"])
        .succeeds();
    let script = text(&out.stdout);
    assert!(
        script.contains("create-tag") && script.contains("--sigkey"),
        "{script}"
    );
}

#[test]
fn waiting_times_out_and_wakes_on_state_change_messages() {
    let mut server = Server::start(false);
    let out = server
        .odcs(&["--json", "--no-wait", "create-repo", &server.repo()])
        .succeeds();
    let id = json(&out.stdout)["id"].as_i64().expect("id").to_string();
    // Nobody consumes the queue yet: the compose stays waiting.
    let out = server.odcs(&["wait", &id, "--timeout", "2"]).fails_with(3);
    assert!(
        text(&out.stderr).contains("did not finish within 2 seconds"),
        "{}",
        text(&out.stderr)
    );

    let config = server.dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.bus]\nserver = \"{}\"\namqp_url = \"{AMQP_URL}\"\namqp_topic = \"{}odcs.state.change\"\n",
            server.url, server.topic_prefix
        ),
    )
    .expect("config");
    let waiter = Command::new(assert_cmd::cargo::cargo_bin("odcs"))
        .env_clear()
        .env("HOME", server.dir.path())
        .env("ODCS_CLIENT_CONFIG", &config)
        .args([
            "--profile",
            "bus",
            "--wait-via",
            "bus",
            "-v",
            "--timeout",
            "120",
            "wait",
            &id,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("odcs wait");
    std::thread::sleep(Duration::from_secs(1));
    let worker = sibling("odcs-worker");
    server.spawn(&worker, &["consume"], "worker.log");
    server.spawn(&worker, &["relay"], "relay.log");
    let out = waiter.wait_with_output().expect("waited");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting on state-change messages"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("odcs: message: compose {id} is")),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("is done"),
        "{}",
        text(&out.stdout)
    );
}

/// How many `GET /api/1/composes/{id}` requests the server at `url` has answered.
fn compose_reads(url: &str) -> u64 {
    let metrics = reqwest::blocking::get(format!("{url}api/1/metrics/"))
        .and_then(|r| r.text())
        .expect("metrics");
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("odcs_http_requests_total{")
                && line.contains(r#"method="GET""#)
                && line.contains(r#"route="/api/1/composes/{id}""#)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn wait_wakes_on_the_events_of_another_api_process() {
    let db = odcs_common::db::testing::TestDb::new(odcs_common::db::testing::Store::Postgres);
    let mut server = Server::start_on(false, Some(&db.url));
    let other = server.spawn_api();
    let out = server
        .odcs(&["--json", "--no-wait", "create-repo", &server.repo()])
        .succeeds();
    let id = json(&out.stdout)["id"].as_i64().expect("id").to_string();

    // The waiter listens to the second API process; the compose changes through workers
    // that only the database connects to it.
    let mut waiter = Command::new(assert_cmd::cargo::cargo_bin("odcs"))
        .env_clear()
        .env("HOME", server.dir.path())
        .args(["--server", &other, "-v", "--timeout", "120", "wait", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("odcs wait");
    let mut stderr = std::io::BufReader::new(waiter.stderr.take().expect("stderr"));
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let read = std::io::BufRead::read_line(&mut stderr, &mut line).expect("stderr");
        assert!(read > 0, "odcs wait ended before listening: {lines:?}");
        lines.push(line.trim_end().to_owned());
        if line.contains("waiting on server events from") {
            break;
        }
    }
    let reads_before = compose_reads(&other);
    server.spawn(&sibling("odcs-worker"), &["consume"], "worker.log");
    let rest = std::io::read_to_string(stderr).expect("stderr");
    lines.extend(rest.lines().map(str::to_owned));
    let out = waiter.wait_with_output().expect("waited");
    assert!(out.status.success(), "{lines:#?}");
    assert!(
        text(&out.stdout).contains("is done"),
        "{}",
        text(&out.stdout)
    );
    let heard: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix(&format!("odcs: message: compose {id} is ")))
        .collect();
    assert_eq!(heard, ["wait", "generating", "done"], "{lines:#?}");
    // Woken by the done event, not by polling: the one read of the compose is the final one,
    // made after the event arrived.
    assert_eq!(compose_reads(&other) - reads_before, 1, "{lines:#?}");
}

#[test]
fn a_terminal_gets_a_spinner_and_a_pipe_gets_plain_lines() {
    let server = Server::start(false);
    let odcs = assert_cmd::cargo::cargo_bin("odcs");
    // Nobody consumes the queue: the compose waits until the timeout.
    let line = format!(
        "{} --server {} --timeout 3 create-repo {}",
        odcs.display(),
        server.url,
        server.repo()
    );
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", server.dir.path())
        .env("TERM", "xterm")
        .output()
        .expect("script runs");
    let screen = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{screen}");
    assert!(screen.contains("compose 1: wait ("), "{screen}");
    assert!(
        screen.contains("\u{1b}[2K") || screen.contains('\r'),
        "the spinner redraws its line: {screen:?}"
    );

    let out = server.odcs(&["--timeout", "2", "wait", "1"]).fails_with(3);
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("compose 1: wait (0s)\n"), "{stderr}");
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
}

/// The reference CLI (`odcs` from PyPI `odcs[client]`).
fn reference_cli() -> PathBuf {
    if let Ok(p) = std::env::var("ODCS_REFERENCE_CLI") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    Path::new(&home).join(".cache/odcs-pyenv/bin/odcs")
}

#[test]
fn the_reference_cli_and_ours_make_the_same_composes() {
    let reference = reference_cli();
    assert!(
        reference.exists(),
        "{} is missing: run .ci/test once or set ODCS_REFERENCE_CLI",
        reference.display()
    );
    let server = Server::start(false);
    // The reference CLI is anonymous only for servers named localhost.
    let local = server.url.replace("127.0.0.1", "localhost");
    let scenarios: [&[&str]; 7] = [
        &[
            "--redhat", "create", "tag", "f42", "bash", "--sigkey", "none", "--arch", "x86_64",
            "--result", "iso",
        ],
        &[
            "create-module",
            "testmodule:master",
            "nodejs:20",
            "--base-module-br-name",
            "platform",
            "--base-module-br-stream",
            "f40",
            "--sigkey",
            "none",
        ],
        &[
            "create-pulp",
            "cs-1",
            "cs-2",
            "--flag",
            "ignore_absent_pulp_repos",
        ],
        &[
            "create-raw-config",
            "fedora",
            "main",
            "--label",
            "Alpha-1.0",
            "--compose-type",
            "production",
            "--koji-event",
            "7",
        ],
        &[
            "create-tag",
            "f40",
            "bash",
            "ed",
            "--sigkey",
            "none",
            "--sigkey",
            "FD431D51",
            "--flag",
            "no_deps",
            "--arch",
            "x86_64",
            "--lookaside-repo",
            "http://repo.example.com/x86_64/",
            "--koji-event",
            "5",
            "--build",
            "ed-1-1",
        ],
        &[
            "create-build",
            "ed-1.14.1-2",
            "module-build-macros-0.1-1",
            "--sigkey",
            "none",
            "--arch",
            "x86_64",
        ],
        &[
            "create-tag",
            "f41",
            "--flag",
            "check_deps",
            "--target-dir",
            "default",
        ],
    ];
    let volatile = [
        "id",
        "time_submitted",
        "time_to_expire",
        "toplevel_url",
        "result_repo",
        "result_repofile",
        "time_started",
        "time_done",
        "time_removed",
    ];
    for args in scenarios {
        let theirs = Command::new(&reference)
            .env("HOME", server.dir.path())
            .arg("--server")
            .arg(&local)
            .arg("--no-wait")
            .args(args)
            .output()
            .expect("reference CLI runs");
        assert!(
            theirs.status.success(),
            "reference CLI failed: {}",
            text(&theirs.stderr)
        );
        let ours = server
            .odcs(&[&["--no-wait", "--json"], args].concat())
            .succeeds();
        let mut theirs = json(&theirs.stdout);
        let mut ours = json(&ours.stdout);
        for key in volatile {
            theirs.as_object_mut().expect("object").remove(key);
            ours.as_object_mut().expect("object").remove(key);
        }
        assert_eq!(ours, theirs, "{args:?}");
    }
}

#[test]
fn a_create_run_again_with_its_idempotency_key_gets_the_same_compose() {
    let server = Server::start(true);
    let repo = server.repo();
    let create = |extra: &[&str]| -> i64 {
        let mut args = vec!["--json", "--no-wait"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["create-repo", &repo, "--arch", "x86_64"]);
        let out = server.odcs(&args).succeeds();
        json(&out.stdout)["id"].as_i64().expect("id")
    };
    let first = create(&["--idempotency-key", "job-42-attempt"]);
    let again = create(&["--idempotency-key", "job-42-attempt"]);
    assert_eq!(again, first, "the retried job gets its compose back");
    // Each invocation without the option is a request of its own.
    let (a, b) = (create(&[]), create(&[]));
    assert!(a != b && a != first && b != first, "{first} {a} {b}");

    // The same key with another request is refused, in one line.
    let out = server
        .odcs(&[
            "--no-wait",
            "--idempotency-key",
            "job-42-attempt",
            "create-repo",
            &repo,
            "--arch",
            "aarch64",
        ])
        .fails_with(4);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("odcs: 422 Unprocessable Entity:"),
        "{stderr}"
    );

    // Without the option the CLI still sends a key of its own, a UUID.
    let (url, request) = capture_one_request();
    let _ = Cmd::cargo_bin("odcs")
        .expect("odcs")
        .env_clear()
        .env("HOME", server.dir.path())
        .args(["--server", &url, "--no-wait", "create-repo", &repo])
        .output();
    let head = request
        .join()
        .expect("request captured")
        .to_ascii_lowercase();
    assert!(head.starts_with("post /api/1/composes/ "), "{head}");
    let key = head
        .lines()
        .find_map(|line| line.strip_prefix("idempotency-key: "))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no idempotency-key in {head}"));
    assert!(uuid::Uuid::parse_str(key).is_ok(), "{key}");
}

/// Answers one HTTP request with `{"version": "x"}`; returns the request's head.
fn capture_one_request() -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().expect("addr").port()
    );
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("a request");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let body = r#"{"version": "x"}"#;
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        head
    });
    (url, handle)
}

#[test]
fn tokens_are_sent_as_bearer_from_the_option_a_file_or_a_profile() {
    let dir = tempfile::tempdir().expect("scratch");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "from-a-file\n").expect("token file");
    let config = dir.path().join("client.toml");
    let cases: [(&[&str], &str); 3] = [
        (&["--token", "from-the-option"], "from-the-option"),
        (
            &["--token", token_file.to_str().expect("utf-8")],
            "from-a-file",
        ),
        (&["--profile", "p"], "from-the-profile"),
    ];
    for (args, token) in cases {
        let (url, request) = capture_one_request();
        std::fs::write(
            &config,
            format!("[profiles.p]\nserver = \"{url}\"\ntoken = \"from-the-profile\"\n"),
        )
        .expect("config");
        Cmd::cargo_bin("odcs")
            .expect("odcs")
            .env_clear()
            .env("HOME", dir.path())
            .env("ODCS_CLIENT_CONFIG", &config)
            .args(["--server", &url])
            .args(args)
            .arg("about")
            .assert()
            .success();
        let head = request
            .join()
            .expect("request captured")
            .to_ascii_lowercase();
        assert!(head.starts_with("get /api/1/about/ "), "{head}");
        assert!(
            head.contains(&format!("authorization: bearer {token}")),
            "{head}"
        );
    }
}

#[test]
fn client_certificates_and_private_cas_are_used_over_tls() {
    let dir = tempfile::tempdir().expect("scratch");
    let pki = TestPki::new(dir.path());
    let (ca, server_cert, server_key, client) =
        (pki.ca, pki.server_cert, pki.server_key, pki.client);
    let port = free_port();
    // openssl's test server, requiring a client certificate from the CA; it answers HTML, so
    // a completed handshake shows as an unreadable answer, a refused one as unreachable.
    let mut tls_server = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &port.to_string(),
            "-Verify",
            "1",
        ])
        .arg("-CAfile")
        .arg(&ca)
        .arg("-cert")
        .arg(&server_cert)
        .arg("-key")
        .arg(&server_key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("https://127.0.0.1:{port}/");
    let odcs = |extra: &[&str]| {
        let mut cmd = Cmd::cargo_bin("odcs").expect("odcs");
        cmd.env_clear()
            .env("HOME", dir.path())
            .args(["--server", &url])
            .args(extra)
            .arg("about");
        cmd
    };
    let ca = ca.to_str().expect("utf-8");
    let client = client.to_str().expect("utf-8");
    let with_cert = text(
        &odcs(&["--ca-cert", ca, "--cert", client])
            .fails_with(4)
            .stderr,
    );
    let without_cert = text(&odcs(&["--ca-cert", ca]).fails_with(4).stderr);
    let untrusted = text(&odcs(&["--cert", client]).fails_with(4).stderr);
    let _ = tls_server.kill();
    let _ = tls_server.wait();
    assert!(
        with_cert.starts_with("odcs: unexpected answer from https://127.0.0.1"),
        "{with_cert}"
    );
    assert!(
        without_cert.starts_with("odcs: cannot reach"),
        "{without_cert}"
    );
    assert!(
        untrusted.starts_with("odcs: cannot reach") && untrusted.contains("certificate"),
        "{untrusted}"
    );
}
