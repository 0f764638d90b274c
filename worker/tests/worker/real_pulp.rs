//! A real Pulp 3 for tests: `real_pulp.py` runs PyPI's `pulpcore` and `pulp-rpm` (API server,
//! content app, task worker) on loopback over a fresh database in the local PostgreSQL, and
//! publishes the repositories a test adds through Pulp's own REST API. One instance serves the
//! whole test binary (starting Pulp migrates a database); it stops when the binary exits.
//! `.ci/test` installs it into a virtualenv (`ODCS_PULP_PYTHON`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::json;

/// The admin user's password.
pub const ADMIN_PASSWORD: &str = "admin";

/// A running Pulp 3.
pub struct RealPulp3 {
    /// The server root (`pulp_server_url`).
    pub url: String,
    channel: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    /// The launcher; it stops Pulp when its input closes, as the test binary exits.
    _launcher: Child,
}

/// The Python with pulpcore and pulp-rpm that `.ci/test` installs.
fn pulp_python() -> PathBuf {
    let python = std::env::var_os("ODCS_PULP_PYTHON").map_or_else(
        || {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/odcs-pulpenv/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "{} is missing: run .ci/test once, or set ODCS_PULP_PYTHON to a python with pulpcore \
         and pulp-rpm",
        python.display()
    );
    python
}

/// The test binary's Pulp 3, started on first use.
pub fn real_pulp3() -> &'static RealPulp3 {
    static PULP: OnceLock<RealPulp3> = OnceLock::new();
    PULP.get_or_init(RealPulp3::start)
}

impl RealPulp3 {
    fn start() -> RealPulp3 {
        let work = std::env::temp_dir().join(format!("odcs-pulp3-{}", std::process::id()));
        std::fs::create_dir_all(&work).expect("Pulp work directory");
        let pg = std::env::var("ODCS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let pg = url::Url::parse(&pg).expect("ODCS_TEST_POSTGRES_URL is a URL");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/real_pulp.py");
        let mut child = Command::new(pulp_python())
            .arg(script)
            .arg(&work)
            .arg(pg.host_str().unwrap_or("127.0.0.1"))
            .arg(pg.port().unwrap_or(5432).to_string())
            .arg(if pg.username().is_empty() {
                "postgres"
            } else {
                pg.username()
            })
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("Pulp starts");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let url = read_line(&mut stdout, &work)
            .strip_prefix("ready ")
            .map(str::to_owned)
            .expect("Pulp says it is ready");
        RealPulp3 {
            url,
            channel: Mutex::new((stdin, stdout)),
            _launcher: child,
        }
    }

    /// Creates an RPM repository named `name` holding `rpms`, publishes it and distributes it
    /// under its name with `labels`; returns the distribution's `base_url`.
    pub fn publish(&self, name: &str, rpms: &[PathBuf], labels: &[(&str, &str)]) -> String {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let line = json!({"name": name, "rpms": rpms, "labels": labels});
        let mut channel = self.channel.lock().unwrap_or_else(|e| e.into_inner());
        let (stdin, stdout) = &mut *channel;
        writeln!(stdin, "{line}").expect("Pulp reads repositories");
        stdin.flush().expect("flush");
        read_line(stdout, Path::new("(see the output above)"))
            .strip_prefix("added ")
            .map(str::to_owned)
            .expect("Pulp published the repository")
    }
}

fn read_line(from: &mut BufReader<ChildStdout>, work: &Path) -> String {
    let mut line = String::new();
    from.read_line(&mut line).expect("Pulp output");
    assert!(
        !line.is_empty(),
        "Pulp exited; its log is {}/pulp.log",
        work.display()
    );
    line.trim().to_owned()
}
