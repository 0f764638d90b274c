//! Module composes end to end through the worker pipeline: modules found through the real MBS
//! (or in `modular_koji_tags`), their RPMs from content tags of the fake Koji hub, defaults from
//! a real git repository. Every result is read by the real tools: libmodulemd loads each
//! `modules.yaml`, productmd loads `modules.json`, dnf enables the modules and installs from the
//! compose alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::db::models::Compose;
use odcs_common::db::testing::Store;
use odcs_worker::pipeline::JobOutcome;
use serde_json::{json, Value};

use crate::compose::dnf;
use crate::gather::{make_rpm, Rpm};
use crate::koji::KojiWorld;
use crate::koji_hub::ModuleBuild;
use crate::real_mbs::{modulemd, BaseModule, MbsBuild, RealMbs};
use crate::support::*;

const READY: u8 = 5;
const DONE: u8 = 3;
const F39: (&str, u64) = ("f39", 390000);
const F38: (&str, u64) = ("f38", 380000);

/// One module build to publish: in Koji (its RPMs, content tag and content-generator build)
/// and, unless `koji_only`, in MBS.
struct Module<'a> {
    name: &'a str,
    stream: &'a str,
    version: u64,
    context: &'a str,
    state: u8,
    /// Modules it needs at run time (`name`, `stream`).
    requires: &'a [(&'a str, &'a str)],
    /// Its RPMs: (name, version, RPM requirements).
    rpms: &'a [(&'a str, &'a str, &'a [&'a str])],
    platform: (&'a str, u64),
    /// A build Koji has but MBS does not (a `-devel` module).
    koji_only: bool,
}

impl Default for Module<'_> {
    fn default() -> Self {
        Module {
            name: "",
            stream: "",
            version: 0,
            context: "",
            state: READY,
            requires: &[],
            rpms: &[],
            platform: F39,
            koji_only: false,
        }
    }
}

impl Module<'_> {
    /// Its modulemd, listing its RPMs as artifacts.
    fn modulemd(&self) -> String {
        let artifacts: Vec<String> = self
            .rpms
            .iter()
            .map(|(name, version, _)| format!("{name}-0:{version}-1.x86_64"))
            .collect();
        let artifacts: Vec<&str> = artifacts.iter().map(String::as_str).collect();
        modulemd(
            self.name,
            self.stream,
            self.version,
            self.context,
            self.platform.0,
            self.requires,
            &artifacts,
        )
    }

    /// What MBS holds about it.
    fn mbs_build(&self) -> MbsBuild {
        MbsBuild {
            name: self.name.into(),
            stream: self.stream.into(),
            version: self.version,
            context: self.context.into(),
            state: self.state,
            modulemd: self.modulemd(),
            base: vec![BaseModule {
                name: "platform".into(),
                stream: self.platform.0.into(),
                stream_version: self.platform.1,
            }],
            koji_tag: self.content_tag(),
        }
    }

    fn content_tag(&self) -> String {
        format!(
            "module-{}-{}-{}-{}",
            self.name.trim_end_matches("-devel"),
            self.stream,
            self.version,
            self.context
        )
    }
}

/// A store, the fake hub, the real MBS, and a worker configured for both.
struct ModuleWorld {
    koji: KojiWorld,
    /// This world's own MBS; `None` when it reads the shared catalogue's.
    own_mbs: Option<RealMbs>,
    built: PathBuf,
}

/// The usual catalogue: nodejs (two streams, two versions of 20, a -devel build), npm, an app
/// needing nodejs:18, a module only done, one built against two platforms.
fn catalogue() -> Vec<Module<'static>> {
    vec![
        Module {
            name: "npm",
            stream: "10",
            version: 3900003,
            context: "dddd0003",
            rpms: &[("npm", "10.0", &[])],
            ..Module::default()
        },
        Module {
            name: "nodejs",
            stream: "20",
            version: 3900001,
            context: "aaaa0001",
            requires: &[("npm", "10")],
            rpms: &[("nodejs", "19.9", &["npm"])],
            ..Module::default()
        },
        Module {
            name: "nodejs",
            stream: "20",
            version: 3900002,
            context: "bbbb0002",
            requires: &[("npm", "10")],
            rpms: &[("nodejs", "20.0", &["npm"])],
            ..Module::default()
        },
        Module {
            name: "nodejs-devel",
            stream: "20",
            version: 3900002,
            context: "bbbb0002",
            requires: &[("nodejs", "20")],
            rpms: &[("nodejs-devel", "20.0", &["nodejs"])],
            koji_only: true,
            ..Module::default()
        },
        Module {
            name: "nodejs",
            stream: "18",
            version: 3900005,
            context: "cccc0005",
            rpms: &[("nodejs", "18.0", &[])],
            ..Module::default()
        },
        Module {
            name: "app",
            stream: "1",
            version: 3900007,
            context: "eeee0007",
            requires: &[("nodejs", "18")],
            rpms: &[("app", "1.0", &["nodejs"])],
            ..Module::default()
        },
        Module {
            name: "fresh",
            stream: "1",
            version: 3900008,
            context: "ffff0008",
            state: DONE,
            rpms: &[("fresh", "1.0", &[])],
            ..Module::default()
        },
        Module {
            name: "old",
            stream: "1",
            version: 3800001,
            context: "00000381",
            rpms: &[("old", "1.0", &[])],
            platform: F38,
            ..Module::default()
        },
        Module {
            name: "old",
            stream: "1",
            version: 3900001,
            context: "00000391",
            rpms: &[("old", "2.0", &[])],
            ..Module::default()
        },
    ]
}

/// An MBS holding the catalogue, shared by the tests that only read it.
fn catalogue_mbs() -> &'static RealMbs {
    static MBS: std::sync::OnceLock<RealMbs> = std::sync::OnceLock::new();
    MBS.get_or_init(|| {
        let mbs = RealMbs::start();
        for m in catalogue().iter().filter(|m| !m.koji_only) {
            mbs.add(m.mbs_build());
        }
        mbs
    })
}

impl ModuleWorld {
    /// A world with an MBS of its own, empty.
    fn new(store: Store) -> ModuleWorld {
        Self::with_mbs(store, Some(RealMbs::start()), "")
    }

    fn with_mbs(store: Store, own_mbs: Option<RealMbs>, shared_url: &str) -> ModuleWorld {
        let url = own_mbs
            .as_ref()
            .map_or(shared_url.to_owned(), |m| m.url.clone());
        let koji = KojiWorld::with(store, |config, _| {
            config.mbs.url = url;
            config.mbs.retry_backoff_ms = 10;
            config.policy.allowed_source_types = vec!["tag".into(), "module".into()];
        });
        let built = koji.world.scratch.path().join("module-rpms");
        ModuleWorld {
            koji,
            own_mbs,
            built,
        }
    }

    /// The catalogue in Koji, read through the shared MBS.
    fn seeded(store: Store) -> ModuleWorld {
        let w = Self::with_mbs(store, None, &catalogue_mbs().url);
        for m in catalogue() {
            w.publish_in_koji(&m);
        }
        w
    }

    /// The catalogue in Koji and in an MBS of the world's own, for tests that add builds.
    fn seeded_alone(store: Store) -> ModuleWorld {
        let w = ModuleWorld::new(store);
        for m in catalogue() {
            w.publish(&m);
        }
        w
    }

    /// Publishes `m` as MBS and Koji hold a finished module build, in this world's own MBS.
    fn publish(&self, m: &Module<'_>) {
        self.publish_in_koji(m);
        if !m.koji_only {
            let mbs = self.own_mbs.as_ref().expect("a world with its own MBS");
            mbs.add(m.mbs_build());
        }
    }

    /// Publishes `m` as Koji holds a finished module build: its RPMs tagged into its content
    /// tag and its content-generator build.
    fn publish_in_koji(&self, m: &Module<'_>) {
        let hub = &self.koji.hub;
        let tag = m.content_tag();
        if !hub.has_tag(&tag) {
            hub.add_tag(&tag, "x86_64", &[]);
        }
        for (name, version, requires) in m.rpms {
            let dir = self.built.join(format!("{name}-{version}"));
            let file = make_rpm(
                &dir,
                &Rpm {
                    name,
                    version,
                    arch: "x86_64",
                    requires,
                    ..Rpm::default()
                },
            );
            let nvr = hub.import_build(&[file]);
            hub.tag_build(&tag, &nvr);
        }
        let document = m.modulemd();
        hub.import_module_build(
            &ModuleBuild {
                name: m.name,
                stream: m.stream,
                version: m.version,
                context: m.context,
                modulemd: &document,
                content_tag: &tag,
            },
            &[("x86_64", document.clone())],
        );
    }

    fn compose(&self, source: Value, flags: &[&str]) -> (Compose, JobOutcome) {
        self.koji.compose(json!({"source": source, "flags": flags}))
    }

    fn module_compose(&self, modules: &str, flags: &[&str]) -> (Compose, JobOutcome) {
        let mut all = vec!["no_reuse"];
        all.extend_from_slice(flags);
        self.compose(json!({"type": "module", "source": modules}), &all)
    }

    fn os_dir(&self, id: ComposeId) -> PathBuf {
        self.koji.os_dir(id)
    }

    fn packages(&self, id: ComposeId) -> BTreeSet<String> {
        self.koji.os_packages(id)
    }

    /// What libmodulemd reads in the compose's x86_64 repository.
    fn modulemd(&self, id: ComposeId) -> Value {
        let out = run(Command::new("/usr/bin/python3")
            .arg(check_script())
            .arg("modulemd")
            .arg(self.os_dir(id)));
        serde_json::from_str(&out).expect("modulemd check prints JSON")
    }

    /// What productmd reads in the compose's `metadata/modules.json`.
    fn productmd(&self, id: ComposeId) -> Value {
        let out = run(Command::new(reference_python())
            .arg(check_script())
            .arg("productmd")
            .arg(self.koji.world.compose_dir(id).join("compose")));
        serde_json::from_str(&out).expect("productmd check prints JSON")
    }

    /// An installroot using the compose as its only repository, for dnf.
    fn installroot(&self, id: ComposeId) -> Installroot {
        let (repos, work) = self.koji.compose_only_repos(id);
        Installroot { repos, work }
    }
}

/// dnf against one installroot, the compose its only repository, on the modules' platform.
struct Installroot {
    repos: PathBuf,
    work: PathBuf,
}

impl Installroot {
    fn dnf(&self, args: &str) -> std::process::Output {
        dnf(&self.repos, &self.work)
            .arg("--setopt=module_platform_id=platform:f39")
            .args(args.split_whitespace())
            .output()
            .expect("dnf runs")
    }

    /// Runs dnf, failing the test unless it succeeds; returns its output.
    fn ok(&self, args: &str) -> String {
        let out = self.dnf(args);
        assert!(
            out.status.success(),
            "dnf {args} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `NAME-VERSION` of every installed package.
    fn installed(&self) -> BTreeSet<String> {
        run(Command::new("rpm")
            .arg("--root")
            .arg(self.work.join("root"))
            .arg("-qa")
            .arg("--qf")
            .arg("%{NAME}-%{VERSION}\\n"))
        .lines()
        .map(str::to_owned)
        .collect()
    }
}

fn check_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/modular_check.py")
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn nsvcs(modulemd: &Value) -> BTreeSet<String> {
    modulemd["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .map(|m| m["nsvc"].as_str().expect("nsvc").to_owned())
        .collect()
}

fn assert_failed(compose: &Compose, outcome: &JobOutcome, needles: &[&str]) {
    assert_eq!(compose.state, ComposeState::Failed, "{outcome:?}");
    let reason = compose.state_reason.clone().unwrap_or_default();
    for needle in needles {
        assert!(reason.contains(needle), "{needle:?} not in {reason:?}");
    }
}

/// A module with a run-time dependency: the newest version of the stream and the module it
/// needs, recorded as the compose's source; dnf sees modular packages only once the stream is
/// enabled, and then installs them.
fn module_with_dependencies(store: Store) {
    let w = ModuleWorld::seeded(store);
    let (compose, outcome) = w.module_compose("nodejs:20", &[]);
    assert_eq!(compose.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(
        compose.source,
        "nodejs:20:3900002:bbbb0002 npm:10:3900003:dddd0003"
    );
    assert_eq!(
        w.packages(compose.id),
        set(&["nodejs-20.0-1.x86_64.rpm", "npm-10.0-1.x86_64.rpm"])
    );

    let read = w.modulemd(compose.id);
    assert_eq!(
        nsvcs(&read),
        set(&["nodejs:20:3900002:bbbb0002", "npm:10:3900003:dddd0003"])
    );
    let nodejs = &read["modules"][0];
    assert_eq!(nodejs["artifacts"], json!(["nodejs-0:20.0-1.x86_64"]));
    assert_eq!(nodejs["requires"], json!(["npm:10", "platform:f39"]));

    let metadata = w.productmd(compose.id);
    let x86 = &metadata["arches"]["x86_64"];
    assert_eq!(
        x86["nodejs:20:3900002:bbbb0002"]["koji_tag"],
        "module-nodejs-20-3900002-bbbb0002"
    );
    assert_eq!(
        x86["npm:10:3900003:dddd0003"]["rpms"],
        json!(["npm-0:10.0-1.x86_64"])
    );

    let root = w.installroot(compose.id);
    let hidden = root.dnf("install nodejs");
    assert!(
        !hidden.status.success(),
        "modular packages must stay hidden until their stream is enabled"
    );
    let listed = root.ok("module list");
    assert!(
        listed.contains("nodejs") && listed.contains("npm"),
        "{listed}"
    );
    root.ok("module enable nodejs:20");
    root.ok("install nodejs");
    let installed = root.installed();
    assert!(
        installed.contains("nodejs-20.0") && installed.contains("npm-10.0"),
        "{installed:?}"
    );
}

#[test]
fn a_module_with_dependencies_is_enabled_and_installed_by_dnf_postgres() {
    module_with_dependencies(Store::Postgres);
}

#[test]
fn a_module_with_dependencies_is_enabled_and_installed_by_dnf_sqlite() {
    module_with_dependencies(Store::Sqlite);
}

#[test]
fn no_deps_leaves_out_the_modules_a_module_needs() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let (compose, outcome) = w.module_compose("nodejs:20", &["no_deps"]);
    assert_eq!(compose.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(compose.source, "nodejs:20:3900002:bbbb0002");
    assert_eq!(w.packages(compose.id), set(&["nodejs-20.0-1.x86_64.rpm"]));
    assert_eq!(
        nsvcs(&w.modulemd(compose.id)),
        set(&["nodejs:20:3900002:bbbb0002"])
    );
}

#[test]
fn a_full_nsvc_takes_that_build_even_when_newer_ones_exist() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let (compose, outcome) = w.module_compose("nodejs:20:3900001:aaaa0001", &[]);
    assert_eq!(compose.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(
        compose.source,
        "nodejs:20:3900001:aaaa0001 npm:10:3900003:dddd0003"
    );
    assert!(w.packages(compose.id).contains("nodejs-19.9-1.x86_64.rpm"));
}

#[test]
fn done_modules_are_taken_only_with_include_done_modules() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let (refused, outcome) = w.module_compose("fresh:1", &[]);
    assert_failed(&refused, &outcome, &["fresh:1"]);

    let (compose, outcome) = w.module_compose("fresh:1", &["include_done_modules"]);
    assert_eq!(compose.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(compose.source, "fresh:1:3900008:ffff0008");
    assert_eq!(w.packages(compose.id), set(&["fresh-1.0-1.x86_64.rpm"]));
}

#[test]
fn a_devel_module_comes_with_its_module() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let (compose, outcome) = w.module_compose("nodejs-devel:20", &[]);
    assert_eq!(compose.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(
        compose.source,
        "nodejs-devel:20:3900002:bbbb0002 nodejs:20:3900002:bbbb0002 npm:10:3900003:dddd0003"
    );
    assert_eq!(
        w.packages(compose.id),
        set(&[
            "nodejs-20.0-1.x86_64.rpm",
            "nodejs-devel-20.0-1.x86_64.rpm",
            "npm-10.0-1.x86_64.rpm"
        ])
    );
    let read = w.modulemd(compose.id);
    let devel = read["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["nsvc"] == "nodejs-devel:20:3900002:bbbb0002")
        .expect("the -devel module is in modules.yaml")
        .clone();
    assert!(
        devel["requires"]
            .as_array()
            .expect("requires")
            .contains(&json!("nodejs:20")),
        "{devel}"
    );
    let root = w.installroot(compose.id);
    root.ok("module enable nodejs-devel:20");
    root.ok("install nodejs-devel");
    assert!(root.installed().contains("nodejs-20.0"));
}

#[test]
fn two_streams_of_one_module_are_refused_with_the_reason() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let (compose, outcome) = w.module_compose("nodejs:20 app:1", &[]);
    assert_failed(&compose, &outcome, &["nodejs", "18", "20"]);
}

#[test]
fn unknown_modules_fail_naming_them() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let (compose, outcome) = w.module_compose("ghost:1 npm:10", &[]);
    assert_failed(&compose, &outcome, &["ghost:1"]);
    let (compose, outcome) = w.module_compose("ghost:1 npm:10 phantom:7", &[]);
    assert_failed(&compose, &outcome, &["ghost:1", "phantom:7"]);
}

#[test]
fn base_module_bounds_choose_the_build_made_for_that_platform() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let (newest, outcome) = w.module_compose("old:1", &[]);
    assert_eq!(newest.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(newest.source, "old:1:3900001:00000391");

    let (bounded, outcome) = w.compose(
        json!({
            "type": "module",
            "source": "old:1",
            "base_module_br_name": "platform",
            "base_module_br_stream_version_lte": 389999,
        }),
        &["no_reuse"],
    );
    assert_eq!(bounded.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(bounded.source, "old:1:3800001:00000381");
    assert_eq!(w.packages(bounded.id), set(&["old-1.0-1.x86_64.rpm"]));
}

#[test]
fn an_identical_request_reuses_the_compose_while_it_resolves_to_the_same_builds() {
    let w = ModuleWorld::seeded_alone(Store::Sqlite);
    let (first, outcome) = w.compose(json!({"type": "module", "source": "npm:10"}), &[]);
    assert_eq!(first.state, ComposeState::Done, "{outcome:?}");
    let (second, _) = w.compose(json!({"type": "module", "source": "npm:10"}), &[]);
    assert_eq!(second.state, ComposeState::Done);
    assert_eq!(second.reused_id, Some(first.id));
    assert_eq!(second.source, first.source);

    w.publish(&Module {
        name: "npm",
        stream: "10",
        version: 3900010,
        context: "dddd0010",
        rpms: &[("npm", "10.1", &[])],
        ..Module::default()
    });
    let (third, outcome) = w.compose(json!({"type": "module", "source": "npm:10"}), &[]);
    assert_eq!(third.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(third.reused_id, None);
    assert_eq!(third.source, "npm:10:3900010:dddd0010");
    assert_eq!(w.packages(third.id), set(&["npm-10.1-1.x86_64.rpm"]));
}

/// A git repository of module defaults inside the repo source roots; returns its file URL.
fn defaults_repository(w: &ModuleWorld) -> String {
    let repo = w.koji.world.scratch.path().join("roots/module-defaults");
    std::fs::create_dir_all(&repo).expect("defaults repo");
    std::fs::write(
        repo.join("nodejs.yaml"),
        "---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: nodejs\n  \
         stream: \"20\"\n  profiles:\n    \"20\": [default]\n...\n",
    )
    .expect("defaults file");
    std::fs::write(
        repo.join("unrelated.yaml"),
        "---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: unrelated\n  \
         stream: \"1\"\n...\n",
    )
    .expect("defaults file");
    let git = |args: &[&str]| {
        run(Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "defaults"]);
    format!("file://{}", repo.display())
}

#[test]
fn a_tag_compose_mixes_in_modules_of_modular_koji_tags_with_their_defaults() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let hub = &w.koji.hub;
    hub.add_tag("f39-build", "x86_64", &[]);
    hub.add_tag("f39-modular-base", "x86_64", &[]);
    hub.add_tag("f39-modular", "x86_64", &[("f39-modular-base", 10)]);
    let tool = w.koji.build(Rpm {
        name: "tool",
        version: "1",
        arch: "x86_64",
        ..Rpm::default()
    });
    hub.tag_build("f39-build", &tool);
    hub.tag_build("f39-modular-base", "npm-10-3900003.dddd0003");
    hub.tag_build("f39-modular", "nodejs-20-3900001.aaaa0001");
    hub.tag_build("f39-modular", "nodejs-20-3900002.bbbb0002");
    let url = defaults_repository(&w);

    let (compose, outcome) = w.compose(
        json!({
            "type": "tag",
            "source": "f39-build",
            "modular_koji_tags": ["f39-modular"],
            "module_defaults_url": url,
            "module_defaults_commit": "main",
        }),
        &["no_reuse"],
    );
    assert_eq!(compose.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(
        w.packages(compose.id),
        set(&[
            "nodejs-20.0-1.x86_64.rpm",
            "npm-10.0-1.x86_64.rpm",
            "tool-1-1.x86_64.rpm"
        ])
    );
    let read = w.modulemd(compose.id);
    assert_eq!(
        nsvcs(&read),
        set(&["nodejs:20:3900002:bbbb0002", "npm:10:3900003:dddd0003"])
    );
    assert_eq!(read["defaults"], json!({"nodejs": "20"}));

    // The default stream is enabled without asking; the tag's own package installs beside.
    let root = w.installroot(compose.id);
    root.ok("install nodejs tool");
    let installed = root.installed();
    assert!(
        installed.contains("nodejs-20.0") && installed.contains("tool-1"),
        "{installed:?}"
    );
}

#[test]
fn a_module_compose_finds_modules_in_modular_koji_tags_without_mbs() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let hub = &w.koji.hub;
    hub.add_tag("f39-modular", "x86_64", &[]);
    for nvr in [
        "npm-10-3900003.dddd0003",
        "nodejs-18-3900005.cccc0005",
        "app-1-3900007.eeee0007",
    ] {
        hub.tag_build("f39-modular", nvr);
    }
    let (compose, outcome) = w.compose(
        json!({"type": "module", "source": "app:1", "modular_koji_tags": ["f39-modular"]}),
        &["no_reuse"],
    );
    assert_eq!(compose.state, ComposeState::Done, "{outcome:?}");
    assert_eq!(
        compose.source,
        "app:1:3900007:eeee0007 nodejs:18:3900005:cccc0005"
    );
    let root = w.installroot(compose.id);
    root.ok("module enable app:1");
    root.ok("install app");
    assert!(root.installed().contains("nodejs-18.0"));

    let (missing, outcome) = w.compose(
        json!({"type": "module", "source": "nodejs:20 npm:10 ghost:1", "modular_koji_tags": ["f39-modular"]}),
        &["no_reuse"],
    );
    assert_failed(&missing, &outcome, &["nodejs:20", "ghost:1", "f39-modular"]);
}

#[test]
fn the_fake_hub_answers_module_calls_as_the_koji_client_expects() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    w.koji.hub.add_tag("f39-modular", "x86_64", &[]);
    w.koji
        .hub
        .tag_build("f39-modular", "nodejs-20-3900002.bbbb0002");
    let out = run(Command::new(reference_python())
        .arg(check_script())
        .arg("koji")
        .arg(&w.koji.hub.url)
        .arg("f39-modular")
        .arg("nodejs-20-3900002.bbbb0002"));
    let seen: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(seen["tagged"], json!(["nodejs-20-3900002.bbbb0002"]));
    assert_eq!(seen["module"], "nodejs");
}

/// The module benchmark (bench/modules/run.sh): 10 modules of 50 RPMs each on the fakes, a
/// module compose of all ten against a `tag` compose of the same 500 RPMs, both with warm
/// caches, alternated. Prints a Markdown table row per measurement.
#[test]
#[ignore = "benchmark: run through bench/modules/run.sh"]
fn benchmark() {
    const MODULES: usize = 10;
    const RPMS: usize = 50;
    const ROUNDS: usize = 5;
    let w = ModuleWorld::new(Store::Postgres);
    w.koji.hub.add_tag("bench-flat", "x86_64", &[]);
    let mut requested = Vec::new();
    for m in 0..MODULES {
        let name = format!("mod{m:02}");
        let rpms: Vec<(String, String)> = (0..RPMS)
            .map(|r| (format!("{name}-pkg{r:02}"), "1.0".to_owned()))
            .collect();
        let rpms: Vec<(&str, &str, &[&str])> = rpms
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str(), &[][..]))
            .collect();
        w.publish(&Module {
            name: &name,
            stream: "1",
            version: 3900000 + m as u64,
            context: "bench000",
            rpms: &rpms,
            ..Module::default()
        });
        for (rpm, ..) in &rpms {
            w.koji.hub.tag_build("bench-flat", &format!("{rpm}-1.0-1"));
        }
        requested.push(format!("{name}:1"));
    }
    let module_body = json!({"source": {"type": "module", "source": requested.join(" ")},
                             "flags": ["no_reuse", "no_deps"]});
    let tag_body = json!({"source": {"type": "tag", "source": "bench-flat"},
                          "flags": ["no_reuse"]});
    let worker = w.koji.worker();
    // One of each first: downloads and the metadata cache are warm from here on.
    for body in [&module_body, &tag_body] {
        let (c, _) = crate::koji::timed(&w.koji, &worker, body.clone());
        assert_eq!(c.state, ComposeState::Done, "{:?}", c.state_reason);
        assert_eq!(w.packages(c.id).len(), MODULES * RPMS);
    }
    let mut module_times = Vec::new();
    let mut tag_times = Vec::new();
    for _ in 0..ROUNDS {
        let (c, t) = crate::koji::timed(&w.koji, &worker, module_body.clone());
        assert_eq!(c.state, ComposeState::Done, "{:?}", c.state_reason);
        module_times.push(t);
        let (c, t) = crate::koji::timed(&w.koji, &worker, tag_body.clone());
        assert_eq!(c.state, ComposeState::Done, "{:?}", c.state_reason);
        tag_times.push(t);
    }
    // The part of the module compose that is MBS answering: the same lookups, alone.
    let client = odcs_worker::modules::mbs::Mbs::from_config(&w.koji.config)
        .expect("client")
        .expect("configured");
    let base = ["platform".to_owned()];
    let mut lookup_times: Vec<std::time::Duration> = (0..ROUNDS)
        .map(|_| {
            let started = std::time::Instant::now();
            let found = odcs_worker::modules::mbs::resolve(
                &client,
                &odcs_worker::modules::mbs::ModuleQuery {
                    requested: &requested,
                    base_module_names: &base,
                    ..Default::default()
                },
            )
            .expect("resolves");
            assert_eq!(found.len(), MODULES);
            started.elapsed()
        })
        .collect();
    lookup_times.sort();
    module_times.sort();
    tag_times.sort();
    let (module, tag) = (module_times[ROUNDS / 2], tag_times[ROUNDS / 2]);
    let lookups = lookup_times[ROUNDS / 2];
    let ms = |d: std::time::Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| module compose, {MODULES} modules × {RPMS} RPMs (median of {ROUNDS}) | {} | min {} max {} |",
        ms(module),
        ms(module_times[0]),
        ms(module_times[ROUNDS - 1])
    );
    println!(
        "| tag compose of the same {} RPMs (median of {ROUNDS}) | {} | min {} max {} |",
        MODULES * RPMS,
        ms(tag),
        ms(tag_times[0]),
        ms(tag_times[ROUNDS - 1])
    );
    println!(
        "| of which MBS answering the {MODULES} lookups (median of {ROUNDS}) | {} | min {} max {} |",
        ms(lookups),
        ms(lookup_times[0]),
        ms(lookup_times[ROUNDS - 1])
    );
    println!(
        "| ratio module / tag | {:.2}× | target ≤ 1.5× |",
        module.as_secs_f64() / tag.as_secs_f64()
    );
    println!(
        "| ratio (module − MBS lookups) / tag | {:.2}× | the worker's own share |",
        (module - lookups.min(module)).as_secs_f64() / tag.as_secs_f64()
    );
}

#[test]
fn module_rpms_are_taken_only_as_copies_signed_with_the_requested_keys() {
    let w = ModuleWorld::seeded(Store::Sqlite);
    let (compose, outcome) = w.compose(
        json!({"type": "module", "source": "npm:10", "sigkeys": ["deadbeef"]}),
        &["no_reuse"],
    );
    assert_failed(&compose, &outcome, &["npm-10.0-1.x86_64", "deadbeef"]);
}
