//! The real Module Build Service frontend for tests: `real_mbs.py` runs PyPI's
//! `module-build-service` (its Flask app, its models, its `GET /module-builds/` filtering and
//! paging) on loopback over SQLite, and stores the module builds a test adds through MBS's own
//! models. `.ci/test` installs it into a virtualenv (`ODCS_MBS_PYTHON`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde_json::json;

use crate::support::Scratch;

/// A base module a build was built against.
#[derive(Debug, Clone)]
pub struct BaseModule {
    pub name: String,
    pub stream: String,
    pub stream_version: u64,
}

/// One module build MBS knows.
#[derive(Debug, Clone)]
pub struct MbsBuild {
    pub name: String,
    pub stream: String,
    pub version: u64,
    pub context: String,
    /// 3 done, 5 ready (MBS's numbers).
    pub state: u8,
    pub modulemd: String,
    pub base: Vec<BaseModule>,
    pub koji_tag: String,
}

/// A running MBS frontend.
pub struct RealMbs {
    /// The API root (`mbs_url`).
    pub url: String,
    /// The server's input (one build per line) and its acknowledgements.
    channel: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    child: Mutex<Child>,
    _db: Scratch,
}

impl Drop for RealMbs {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The Python with `module-build-service` that `.ci/test` installs.
pub fn mbs_python() -> PathBuf {
    let python = std::env::var_os("ODCS_MBS_PYTHON").map_or_else(
        || {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/odcs-mbsenv/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "{} is missing: run .ci/test once, or set ODCS_MBS_PYTHON to a python with \
         module-build-service",
        python.display()
    );
    python
}

impl RealMbs {
    /// Starts MBS with no module builds.
    pub fn start() -> RealMbs {
        let db = Scratch::new("mbs");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/real_mbs.py");
        let mut child = Command::new(mbs_python())
            .arg(script)
            .arg(db.path())
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("MBS starts");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let port = read_line(&mut stdout)
            .strip_prefix("ready ")
            .map(str::to_owned)
            .expect("MBS says it is ready");
        RealMbs {
            url: format!("http://127.0.0.1:{port}/module-build-service"),
            channel: Mutex::new((stdin, stdout)),
            child: Mutex::new(child),
            _db: db,
        }
    }

    /// Stores `build` in MBS's database, returning once MBS has it.
    pub fn add(&self, build: MbsBuild) {
        let line = json!({
            "name": build.name, "stream": build.stream, "version": build.version,
            "context": build.context, "state": build.state, "modulemd": build.modulemd,
            "koji_tag": build.koji_tag,
            "base": build.base.iter().map(|b| json!({
                "name": b.name, "stream": b.stream, "stream_version": b.stream_version,
            })).collect::<Vec<_>>(),
        });
        let mut channel = self.channel.lock().unwrap_or_else(|e| e.into_inner());
        let (stdin, stdout) = &mut *channel;
        writeln!(stdin, "{line}").expect("MBS reads builds");
        stdin.flush().expect("flush");
        let answer = read_line(stdout);
        assert!(
            answer.starts_with("added "),
            "MBS did not store the build: {answer}"
        );
    }
}

fn read_line(from: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    from.read_line(&mut line).expect("MBS output");
    assert!(
        !line.is_empty(),
        "MBS exited (run real_mbs.py by hand to see why)"
    );
    line.trim().to_owned()
}

/// A modulemd v2 document (valid for libmodulemd) of one build.
pub fn modulemd(
    name: &str,
    stream: &str,
    version: u64,
    context: &str,
    platform: &str,
    requires: &[(&str, &str)],
    rpms: &[&str],
) -> String {
    let mut text = format!(
        "---\ndocument: modulemd\nversion: 2\ndata:\n  name: {name}\n  stream: \"{stream}\"\n  \
         version: {version}\n  context: {context}\n  summary: The {name} module\n  \
         description: The {name} module, stream {stream}.\n  license:\n    module: [MIT]\n  \
         dependencies:\n  - buildrequires:\n      platform: [{platform}]\n    requires:\n      \
         platform: [{platform}]\n"
    );
    for (module, stream) in requires {
        text.push_str(&format!("      {module}: [\"{stream}\"]\n"));
    }
    text.push_str("  profiles:\n    default:\n      rpms: [");
    let names: Vec<String> = rpms
        .iter()
        .map(|nevra| nevra.rsplitn(3, '-').nth(2).unwrap_or(nevra).to_owned())
        .collect();
    text.push_str(&names.join(", "));
    text.push_str("]\n  artifacts:\n    rpms:\n");
    for rpm in rpms {
        text.push_str(&format!("    - {rpm}\n"));
    }
    text.push_str("...\n");
    text
}
