//! Module lookup through MBS: our resolution against the real MBS frontend (`real_mbs.rs`),
//! and the reference ODCS's own lookup code against the same server, which must agree (our
//! resolution resolves as the reference does).

use std::path::Path;
use std::process::Command;

use odcs_common::config::Config;
use odcs_common::spec::BaseModuleBounds;
use odcs_worker::modules::mbs::{resolve, Mbs, MbsError, ModuleQuery};
use serde_json::{json, Value};

use crate::real_mbs::{modulemd, BaseModule, MbsBuild, RealMbs};
use crate::support::reference_server_module;

const READY: u8 = 5;
const DONE: u8 = 3;

fn platform(stream: &str, stream_version: u64) -> Vec<BaseModule> {
    vec![BaseModule {
        name: "platform".into(),
        stream: stream.into(),
        stream_version,
    }]
}

fn build(
    name: &str,
    stream: &str,
    version: u64,
    context: &str,
    state: u8,
    requires: &[(&str, &str)],
    base: (&str, u64),
) -> MbsBuild {
    let rpm = format!("{name}-0:1.0-1.module_{context}.x86_64");
    MbsBuild {
        name: name.into(),
        stream: stream.into(),
        version,
        context: context.into(),
        state,
        modulemd: modulemd(name, stream, version, context, base.0, requires, &[&rpm]),
        base: platform(base.0, base.1),
        koji_tag: format!("module-{name}-{stream}-{version}-{context}"),
    }
}

/// An MBS with the builds every case below reads, shared by this file's tests (they only read).
pub fn seeded_mbs() -> &'static RealMbs {
    static MBS: std::sync::OnceLock<RealMbs> = std::sync::OnceLock::new();
    MBS.get_or_init(seed)
}

fn seed() -> RealMbs {
    let mbs = RealMbs::start();
    let f39 = ("f39", 390000);
    for b in [
        build(
            "nodejs",
            "20",
            3900001,
            "aaaa0001",
            READY,
            &[("npm", "10")],
            f39,
        ),
        build(
            "nodejs",
            "20",
            3900002,
            "aaaa0002",
            READY,
            &[("npm", "10")],
            f39,
        ),
        build(
            "nodejs",
            "20",
            3900002,
            "bbbb0002",
            READY,
            &[("npm", "10")],
            f39,
        ),
        build("nodejs", "18", 3900005, "cccc0005", READY, &[], f39),
        build("npm", "10", 3900003, "dddd0003", READY, &[], f39),
        build(
            "npm",
            "10",
            3800009,
            "dddd0009",
            READY,
            &[],
            ("f38", 380000),
        ),
        build(
            "app",
            "1",
            3900007,
            "eeee0007",
            READY,
            &[("nodejs", "18")],
            f39,
        ),
        build("fresh", "1", 3900008, "ffff0008", DONE, &[], f39),
        build("old", "1", 3800001, "00000381", READY, &[], ("f38", 380000)),
        build("old", "1", 3900001, "00000391", READY, &[], f39),
    ] {
        mbs.add(b);
    }
    mbs
}

fn client(mbs: &RealMbs) -> Mbs {
    let mut config = Config::default();
    config.mbs.url = mbs.url.clone();
    config.mbs.attempts = 2;
    config.mbs.retry_backoff_ms = 10;
    Mbs::from_config(&config)
        .expect("client")
        .expect("configured")
}

/// A case as both our resolution and the reference's take it.
struct Case {
    modules: &'static [&'static str],
    include_done: bool,
    expand: bool,
    bounds: BaseModuleBounds,
}

impl Case {
    fn new(modules: &'static [&'static str]) -> Case {
        Case {
            modules,
            include_done: false,
            expand: true,
            bounds: BaseModuleBounds::default(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "modules": self.modules,
            "include_done": self.include_done,
            "expand": self.expand,
            "base_module_br_name": self.bounds.name,
            "base_module_br_stream": self.bounds.stream,
            "base_module_br_stream_version_lte": self.bounds.stream_version_lte,
            "base_module_br_stream_version_gte": self.bounds.stream_version_gte,
        })
    }

    fn ours(&self, mbs: &Mbs) -> Result<Vec<String>, MbsError> {
        let requested: Vec<String> = self.modules.iter().map(|m| (*m).to_owned()).collect();
        let base = ["platform".to_owned(), "bootstrap".to_owned()];
        let mut nsvcs: Vec<String> = resolve(
            mbs,
            &ModuleQuery {
                requested: &requested,
                include_done: self.include_done,
                with_dependencies: self.expand,
                bounds: self.bounds.clone(),
                base_module_names: &base,
            },
        )?
        .iter()
        .map(|m| m.nsvc())
        .collect();
        nsvcs.sort();
        Ok(nsvcs)
    }
}

/// What a case should resolve to: NSVCs, or a failure naming this.
type Expected = Result<&'static [&'static str], &'static str>;

fn cases() -> Vec<(&'static str, Case, Expected)> {
    vec![
        (
            "a stream: every context of its newest version, and what it requires",
            Case::new(&["nodejs:20"]),
            Ok(&[
                "nodejs:20:3900002:aaaa0002",
                "nodejs:20:3900002:bbbb0002",
                "npm:10:3900003:dddd0003",
            ]),
        ),
        (
            "no_deps",
            Case {
                expand: false,
                ..Case::new(&["nodejs:20"])
            },
            Ok(&["nodejs:20:3900002:aaaa0002", "nodejs:20:3900002:bbbb0002"]),
        ),
        (
            "a full NSVC, an older version",
            Case::new(&["nodejs:20:3900001:aaaa0001"]),
            Ok(&["nodejs:20:3900001:aaaa0001", "npm:10:3900003:dddd0003"]),
        ),
        (
            "a done build needs include_done",
            Case::new(&["fresh:1"]),
            Err("fresh:1"),
        ),
        (
            "include_done",
            Case {
                include_done: true,
                ..Case::new(&["fresh:1"])
            },
            Ok(&["fresh:1:3900008:ffff0008"]),
        ),
        (
            "a full NSVC of a done build",
            Case::new(&["fresh:1:3900008:ffff0008"]),
            Ok(&["fresh:1:3900008:ffff0008"]),
        ),
        (
            "a -devel module is its module's build, requiring it",
            Case {
                expand: false,
                ..Case::new(&["nodejs-devel:20"])
            },
            Ok(&[
                "nodejs-devel:20:3900002:aaaa0002",
                "nodejs-devel:20:3900002:bbbb0002",
            ]),
        ),
        (
            "an unknown module",
            Case::new(&["nosuch:1"]),
            Err("nosuch:1"),
        ),
        (
            "base module bounds",
            Case {
                bounds: BaseModuleBounds {
                    name: Some("platform".into()),
                    stream: Some("f38".into()),
                    stream_version_lte: Some(385000),
                    stream_version_gte: None,
                },
                ..Case::new(&["old:1"])
            },
            Ok(&["old:1:3800001:00000381"]),
        ),
    ]
}

#[test]
fn modules_resolve_through_mbs() {
    let real = seeded_mbs();
    let mbs = client(real);
    for (what, case, expected) in cases() {
        match (case.ours(&mbs), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{what}"),
            (Err(e), Err(named)) => {
                let text = e.to_string();
                assert!(text.contains(named), "{what}: {text}");
                assert!(matches!(e, MbsError::NotFound { .. }), "{what}: {e:?}");
            }
            (got, want) => panic!("{what}: got {got:?}, expected {want:?}"),
        }
    }
}

#[test]
fn two_streams_of_one_module_are_refused() {
    let real = seeded_mbs();
    let mbs = client(real);
    // app:1 requires nodejs:18; nodejs:20 is requested too.
    let err = Case::new(&["nodejs:20", "app:1"])
        .ours(&mbs)
        .expect_err("conflict");
    let text = err.to_string();
    assert!(
        text.contains("module nodejs") && text.contains("18") && text.contains("20"),
        "{text}"
    );
    // Without dependencies there is no conflict.
    let ok = Case {
        expand: false,
        ..Case::new(&["nodejs:20", "app:1"])
    }
    .ours(&mbs)
    .expect("no conflict");
    assert_eq!(ok.len(), 3);
}

#[test]
fn an_unreachable_mbs_is_transient_and_named() {
    let mut config = Config::default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    config.mbs.url = format!("http://127.0.0.1:{port}/module-build-service");
    config.mbs.attempts = 2;
    config.mbs.retry_backoff_ms = 1;
    let mbs = Mbs::from_config(&config)
        .expect("client")
        .expect("configured");
    let err = Case::new(&["nodejs:20"]).ours(&mbs).expect_err("down");
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains(&config.mbs.url), "{err}");
}

#[test]
fn the_reference_lookup_agrees_with_ours_on_the_real_mbs() {
    let real = seeded_mbs();
    let mbs = client(real);
    let cases = cases();
    let input: Vec<Value> = cases.iter().map(|(_, c, _)| c.json()).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/mbs_reference_check.py");
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&real.url)
        .arg(reference_server_module("mbs.py"))
        .arg(serde_json::to_string(&input).expect("json"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json answers");
    for ((what, case, _), answer) in cases.iter().zip(answers) {
        match case.ours(&mbs) {
            Ok(ours) => assert_eq!(
                answer["nsvcs"],
                json!(ours),
                "{what}: the reference resolved {answer}"
            ),
            Err(e) => assert!(
                answer.get("error").is_some(),
                "{what}: we refused ({e}), the reference resolved {answer}"
            ),
        }
    }
}
