//! Gathering through whole composes: requested packages with their dependencies, lookaside
//! repositories, check_deps, no_deps, sigkeys (rpmsign) and multilib, checked with dnf.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use odcs_common::compose::{ComposeFlag, MultilibMethods};
use odcs_common::spec::{ComposeSpec, Sigkeys, WordList};
use odcs_worker::generate::{GenerateError, Generated};

use crate::compose::dnf;
use crate::support::*;

/// The request options these tests vary.
#[derive(Debug, Clone, Default)]
struct GatherOptions {
    /// Accepted signing keys in order of preference (`""`: unsigned); `None`: any package.
    sigkeys: Option<Vec<String>>,
    no_deps: bool,
    check_deps: bool,
    lookaside_repos: Vec<String>,
    multilib_arches: Vec<String>,
    /// runtime 1, devel 2, all 4.
    multilib_method: i32,
}

impl GatherOptions {
    /// Sets these options on `spec`.
    fn apply(self, spec: &mut ComposeSpec) {
        spec.sigkeys = Sigkeys::new(self.sigkeys.unwrap_or_default());
        let options = &mut spec.options;
        if self.no_deps {
            options.flags = options.flags.with(ComposeFlag::NoDeps);
        }
        if self.check_deps {
            options.flags = options.flags.with(ComposeFlag::CheckDeps);
        }
        options.lookaside_repos = self.lookaside_repos;
        options.multilib_arches = self.multilib_arches;
        options.multilib_method = MultilibMethods::from_bits(self.multilib_method);
    }
}

/// A package for the rpm crate's builder to make.
#[derive(Default, Clone, Copy)]
pub struct Rpm<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub requires: &'a [&'a str],
    pub provides: &'a [&'a str],
    pub conflicts: &'a [&'a str],
    /// Files the package ships (absolute paths).
    pub files: &'a [&'a str],
}

/// `name`, `name op evr` or a rich `( ... )` expression as an rpm-crate dependency.
fn dependency(text: &str) -> rpm::Dependency {
    if text.starts_with('(') {
        return rpm::Dependency::any(text);
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    match parts.as_slice() {
        [name] => rpm::Dependency::any(*name),
        [name, ">=", v] => rpm::Dependency::greater_eq(*name, *v),
        [name, ">", v] => rpm::Dependency::greater(*name, *v),
        [name, "<=", v] => rpm::Dependency::less_eq(*name, *v),
        [name, "<", v] => rpm::Dependency::less(*name, *v),
        [name, "=", v] => rpm::Dependency::eq(*name, *v),
        _ => panic!("bad dependency {text:?}"),
    }
}

/// Builds `spec` into `dir`; returns the file.
pub fn make_rpm(dir: &Path, spec: &Rpm<'_>) -> PathBuf {
    let arch = if spec.arch.is_empty() {
        "noarch"
    } else {
        spec.arch
    };
    let version = if spec.version.is_empty() {
        "1"
    } else {
        spec.version
    };
    let mut builder = rpm::PackageBuilder::new(spec.name, version, "MIT", arch, "gather test");
    builder.release("1");
    builder.description(format!("{} for gather tests", spec.name));
    for r in spec.requires {
        builder.requires(dependency(r));
    }
    for p in spec.provides {
        builder.provides(dependency(p));
    }
    for c in spec.conflicts {
        builder.conflicts(dependency(c));
    }
    for f in spec.files {
        builder
            .with_file_contents(f.as_bytes().to_vec(), rpm::FileOptions::new(*f))
            .expect("file");
    }
    let package = builder.build().expect("package builds");
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join(format!("{}-{version}-1.{arch}.rpm", spec.name));
    package.write_file(&path).expect("write rpm");
    path
}

struct World {
    scratch: Scratch,
    repo: PathBuf,
    target: PathBuf,
}

impl World {
    fn new(tag: &str, packages: &[Rpm<'_>]) -> World {
        let scratch = Scratch::new(tag);
        let repo = scratch.path().join("roots/repo");
        for p in packages {
            make_rpm(&repo, p);
        }
        let target = scratch.path().join("target");
        World {
            scratch,
            repo,
            target,
        }
    }

    /// A separate repository (with createrepo_c metadata) under the scratch directory.
    fn lookaside(&self, packages: &[Rpm<'_>]) -> PathBuf {
        let dir = self.scratch.path().join("lookaside");
        for p in packages {
            make_rpm(&dir, p);
        }
        createrepo_c(&dir);
        dir
    }

    fn generate(
        &self,
        id: i32,
        packages: Option<&[&str]>,
        gather: GatherOptions,
    ) -> Result<Generated, GenerateError> {
        let mut spec = repo_spec(&self.repo, &self.target, &["x86_64"]);
        spec.options.packages =
            WordList::from_option(packages.map(|p| p.iter().map(|s| (*s).to_owned()).collect()));
        gather.apply(&mut spec);
        generate_local(self.scratch.path(), id, &spec)
    }

    fn os_dir(&self, id: i32) -> PathBuf {
        self.target
            .join(format!("odcs-{id}/compose/Temporary/x86_64/os"))
    }

    /// File names of the packages in compose `id`'s x86_64 os tree.
    fn os_packages(&self, id: i32) -> BTreeSet<String> {
        walkdir::WalkDir::new(self.os_dir(id).join("Packages"))
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".rpm"))
            .collect()
    }
}

fn names(files: &[&str]) -> BTreeSet<String> {
    files.iter().map(|f| (*f).to_owned()).collect()
}

/// Writes a .repo file for each `(id, dir)` into a fresh directory; returns it.
fn repo_files(work: &Path, repos: &[(&str, &Path)]) -> PathBuf {
    let dir = work.join("repos.d");
    std::fs::create_dir_all(&dir).expect("repos.d");
    for (id, path) in repos {
        std::fs::write(
            dir.join(format!("{id}.repo")),
            format!(
                "[{id}]\nname={id}\nbaseurl=file://{}\ngpgcheck=0\n",
                path.display()
            ),
        )
        .expect("repo file");
    }
    dir
}

/// Installs `package` (space-separated names) with dnf into an empty root from `repos` only; returns `rpm -qa` there.
fn dnf_install(work: &Path, repos: &[(&str, &Path)], package: &str) -> BTreeSet<String> {
    let repo_dir = repo_files(work, repos);
    run(dnf(&repo_dir, work)
        .arg("--setopt=install_weak_deps=False")
        .arg("install")
        .args(package.split_whitespace()));
    installed(work, "%{NAME}\\n")
}

const APP: Rpm<'static> = Rpm {
    name: "app",
    version: "1",
    arch: "x86_64",
    requires: &[
        "libthing >= 1.2",
        "/usr/share/data/file",
        "(helper-a or helper-b)",
        "(plugin if extra)",
        "cap-x",
    ],
    provides: &[],
    conflicts: &[],
    files: &["/usr/bin/app"],
};

fn app_world(tag: &str) -> World {
    World::new(
        tag,
        &[
            APP,
            Rpm {
                name: "libthing",
                version: "1.0",
                arch: "x86_64",
                ..Rpm::default()
            },
            Rpm {
                name: "libthing",
                version: "1.3",
                arch: "x86_64",
                ..Rpm::default()
            },
            Rpm {
                name: "data",
                files: &["/usr/share/data/file"],
                ..Rpm::default()
            },
            Rpm {
                name: "helper-a",
                ..Rpm::default()
            },
            Rpm {
                name: "helper-b",
                ..Rpm::default()
            },
            Rpm {
                name: "plugin",
                ..Rpm::default()
            },
            Rpm {
                name: "extra",
                ..Rpm::default()
            },
            // Both provide cap-x; x-one conflicts with app, so only x-two will do.
            Rpm {
                name: "x-one",
                provides: &["cap-x"],
                conflicts: &["app"],
                ..Rpm::default()
            },
            Rpm {
                name: "x-two",
                provides: &["cap-x"],
                ..Rpm::default()
            },
            Rpm {
                name: "unrelated",
                ..Rpm::default()
            },
        ],
    )
}

#[test]
fn requested_packages_come_with_exactly_their_dependencies() {
    let world = app_world("gather-deps");
    let generated = world
        .generate(1, Some(&["app"]), GatherOptions::default())
        .expect("compose");
    assert!(generated.broken.is_empty(), "{:?}", generated.broken);
    let found = world.os_packages(1);
    assert!(found.contains("app-1-1.x86_64.rpm"));
    assert!(
        found.contains("libthing-1.3-1.x86_64.rpm"),
        "the newest libthing"
    );
    assert!(!found.contains("libthing-1.0-1.x86_64.rpm"));
    assert!(
        found.contains("data-1-1.noarch.rpm"),
        "the file requirement"
    );
    assert!(
        found.contains("x-two-1-1.noarch.rpm"),
        "the provider without a conflict"
    );
    let helpers = ["helper-a-1-1.noarch.rpm", "helper-b-1-1.noarch.rpm"];
    assert_eq!(
        helpers.iter().filter(|h| found.contains(**h)).count(),
        1,
        "one side of the `or`: {found:?}"
    );
    for absent in ["plugin", "extra", "x-one", "unrelated"] {
        assert!(
            !found.iter().any(|f| f.starts_with(&format!("{absent}-1"))),
            "{absent} is not needed: {found:?}"
        );
    }
    assert_eq!(found.len(), 5);

    let work = Scratch::new("gather-dnf");
    let installed = dnf_install(work.path(), &[("compose", &world.os_dir(1))], "app");
    assert!(
        installed.contains("app") && installed.contains("libthing"),
        "{installed:?}"
    );
}

#[test]
fn a_condition_that_holds_pulls_in_its_consequence() {
    let world = app_world("gather-if");
    world
        .generate(1, Some(&["app", "extra"]), GatherOptions::default())
        .expect("compose");
    let found = world.os_packages(1);
    assert!(found.contains("plugin-1-1.noarch.rpm"), "{found:?}");
    let work = Scratch::new("gather-if-dnf");
    let installed = dnf_install(work.path(), &[("compose", &world.os_dir(1))], "app extra");
    assert!(installed.contains("plugin"), "{installed:?}");
}

#[test]
fn lookaside_packages_satisfy_dependencies_but_stay_out() {
    let world = World::new(
        "gather-lookaside",
        &[Rpm {
            name: "tool",
            arch: "x86_64",
            requires: &["libbase.so.1()(64bit)"],
            ..Rpm::default()
        }],
    );
    let lookaside = world.lookaside(&[Rpm {
        name: "base-libs",
        arch: "x86_64",
        provides: &["libbase.so.1()(64bit)"],
        ..Rpm::default()
    }]);
    let options = GatherOptions {
        lookaside_repos: vec![format!("file://{}", lookaside.display())],
        check_deps: true,
        ..GatherOptions::default()
    };
    world
        .generate(1, Some(&["tool"]), options)
        .expect("satisfied by the lookaside");
    assert_eq!(world.os_packages(1), names(&["tool-1-1.x86_64.rpm"]));
    let work = Scratch::new("gather-lookaside-dnf");
    let installed = dnf_install(
        work.path(),
        &[("compose", &world.os_dir(1)), ("lookaside", &lookaside)],
        "tool",
    );
    assert!(installed.contains("base-libs"), "{installed:?}");

    // Without the lookaside the same request is broken; check_deps names the dependency.
    let err = world
        .generate(
            2,
            Some(&["tool"]),
            GatherOptions {
                check_deps: true,
                ..GatherOptions::default()
            },
        )
        .expect_err("broken");
    assert!(
        err.to_string()
            .contains("tool-1-1.x86_64 requires libbase.so.1()(64bit)"),
        "{err}"
    );
    // Without check_deps the compose succeeds and records what is broken.
    let generated = world
        .generate(3, Some(&["tool"]), GatherOptions::default())
        .expect("tolerated");
    assert_eq!(
        generated.broken,
        ["tool-1-1.x86_64 requires libbase.so.1()(64bit)"]
    );
    // An unreachable lookaside fails the compose naming it.
    let err = world
        .generate(
            4,
            Some(&["tool"]),
            GatherOptions {
                lookaside_repos: vec!["file:///nonexistent/lookaside".into()],
                ..GatherOptions::default()
            },
        )
        .expect_err("no such repository");
    assert!(err.to_string().contains("/nonexistent/lookaside"), "{err}");
}

#[test]
fn no_deps_takes_only_the_listed_packages() {
    let world = app_world("gather-nodeps");
    world
        .generate(
            1,
            Some(&["app", "unrelated"]),
            GatherOptions {
                no_deps: true,
                ..GatherOptions::default()
            },
        )
        .expect("compose");
    assert_eq!(
        world.os_packages(1),
        names(&["app-1-1.x86_64.rpm", "unrelated-1-1.noarch.rpm"])
    );
}

#[test]
fn unresolvable_requests_fail_with_check_deps_and_are_reported_without() {
    let world = World::new(
        "gather-conflict",
        &[
            Rpm {
                name: "left",
                conflicts: &["right"],
                ..Rpm::default()
            },
            Rpm {
                name: "right",
                ..Rpm::default()
            },
        ],
    );
    let err = world
        .generate(
            1,
            Some(&["left", "right"]),
            GatherOptions {
                check_deps: true,
                ..GatherOptions::default()
            },
        )
        .expect_err("conflict");
    assert!(err.to_string().contains("right"), "{err}");
    let generated = world
        .generate(2, Some(&["left", "right"]), GatherOptions::default())
        .expect("tolerated");
    assert!(!generated.broken.is_empty());
    assert_eq!(
        world.os_packages(2),
        names(&["left-1-1.noarch.rpm", "right-1-1.noarch.rpm"]),
        "requested packages are present even when they cannot be installed together"
    );
}

/// A throwaway GnuPG key; returns (GNUPGHOME, short key id in lower case).
pub fn signing_key(scratch: &Scratch) -> (PathBuf, String) {
    let home = scratch.path().join("gnupg");
    std::fs::create_dir_all(&home).expect("gnupg home");
    run(Command::new("chmod").arg("700").arg(&home));
    run(Command::new("gpg")
        .env("GNUPGHOME", &home)
        .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
        .args([
            "--quick-gen-key",
            "ODCS Test <odcs@example.com>",
            "rsa2048",
            "sign",
            "never",
        ]));
    let listing = run(Command::new("gpg").env("GNUPGHOME", &home).args([
        "--batch",
        "--with-colons",
        "--list-keys",
    ]));
    let fingerprint = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|rest| rest.split(':').find(|f| !f.is_empty()))
        .expect("fingerprint")
        .to_ascii_lowercase();
    let short = fingerprint[fingerprint.len() - 8..].to_owned();
    (home, short)
}

pub fn rpmsign(home: &Path, rpm: &Path) {
    run(Command::new("rpmsign")
        .env("GNUPGHOME", home)
        .arg("--define")
        .arg("__gpg /usr/bin/gpg")
        .arg("--define")
        .arg("_gpg_name ODCS Test")
        .arg("--define")
        .arg(format!("_gpg_path {}", home.display()))
        .arg("--addsign")
        .arg(rpm));
}

#[test]
fn sigkeys_accept_only_packages_signed_by_listed_keys() {
    let world = World::new(
        "gather-sigkeys",
        &[
            Rpm {
                name: "signed",
                requires: &["also-signed"],
                ..Rpm::default()
            },
            Rpm {
                name: "also-signed",
                ..Rpm::default()
            },
        ],
    );
    let (home, key) = signing_key(&world.scratch);
    for name in ["signed-1-1.noarch.rpm", "also-signed-1-1.noarch.rpm"] {
        rpmsign(&home, &world.repo.join(name));
    }
    let with_keys = |keys: &[&str]| GatherOptions {
        sigkeys: Some(keys.iter().map(|k| (*k).to_owned()).collect()),
        ..GatherOptions::default()
    };
    world
        .generate(
            1,
            Some(&["signed"]),
            with_keys(&["deadbeef", &key.to_uppercase()]),
        )
        .expect("signed with an accepted key");
    assert_eq!(world.os_packages(1).len(), 2);

    let err = world
        .generate(2, Some(&["signed"]), with_keys(&["deadbeef"]))
        .expect_err("wrong key");
    let text = err.to_string();
    assert!(
        text.contains("signed-0:1-1.noarch") && text.contains(&key),
        "{text}"
    );
    assert!(
        text.contains("deadbeef"),
        "the accepted keys are named: {text}"
    );

    // "" accepts unsigned packages only.
    make_rpm(
        &world.repo,
        &Rpm {
            name: "plain",
            ..Rpm::default()
        },
    );
    let err = world
        .generate(3, Some(&["plain"]), with_keys(&[""]))
        .expect_err("the signed packages are not accepted");
    assert!(err.to_string().contains("signed-0:1-1.noarch"), "{err}");
    world
        .generate(4, Some(&["plain", "signed"]), with_keys(&[&key, ""]))
        .expect("signed and unsigned both accepted");
}

#[test]
fn multilib_methods_add_compatible_arch_packages() {
    // As real packages do, the devel package requires the library of its own arch (%{?_isa}).
    let isa = |arch: &str| {
        if arch == "i686" {
            "libmulti(x86-32)"
        } else {
            "libmulti(x86-64)"
        }
    };
    let lib_provides_64: &[&str] = &["libmulti.so.1()(64bit)", "libmulti(x86-64)"];
    let lib_provides_32: &[&str] = &["libmulti.so.1", "libmulti(x86-32)"];
    let lib = |arch: &'static str| Rpm {
        name: "libmulti",
        arch,
        provides: if arch == "i686" {
            lib_provides_32
        } else {
            lib_provides_64
        },
        ..Rpm::default()
    };
    let devel_requires_64 = [isa("x86_64")];
    let devel_requires_32 = [isa("i686")];
    let devel = |arch: &'static str| Rpm {
        name: "libmulti-devel",
        arch,
        requires: if arch == "i686" {
            &devel_requires_32
        } else {
            &devel_requires_64
        },
        ..Rpm::default()
    };
    let world = World::new(
        "gather-multilib",
        &[
            lib("x86_64"),
            lib("i686"),
            devel("x86_64"),
            devel("i686"),
            Rpm {
                name: "tool",
                arch: "x86_64",
                requires: &["libmulti"],
                ..Rpm::default()
            },
            Rpm {
                name: "tool",
                arch: "i686",
                requires: &["libmulti"],
                ..Rpm::default()
            },
        ],
    );
    let multilib = |bits: i32| GatherOptions {
        multilib_arches: vec!["x86_64".into()],
        multilib_method: bits,
        ..GatherOptions::default()
    };
    world
        .generate(
            1,
            Some(&["tool", "libmulti-devel"]),
            GatherOptions::default(),
        )
        .expect("no multilib");
    assert!(!world.os_packages(1).iter().any(|p| p.contains("i686")));

    world
        .generate(2, Some(&["tool", "libmulti-devel"]), multilib(1))
        .expect("runtime");
    let found = world.os_packages(2);
    assert!(found.contains("libmulti-1-1.i686.rpm"), "{found:?}");
    assert!(!found.contains("libmulti-devel-1-1.i686.rpm"), "{found:?}");
    assert!(!found.contains("tool-1-1.i686.rpm"), "{found:?}");

    world
        .generate(3, Some(&["tool", "libmulti-devel"]), multilib(2))
        .expect("devel");
    let found = world.os_packages(3);
    assert!(found.contains("libmulti-devel-1-1.i686.rpm"), "{found:?}");
    assert!(
        found.contains("libmulti-1-1.i686.rpm"),
        "its dependency: {found:?}"
    );
    assert!(!found.contains("tool-1-1.i686.rpm"), "{found:?}");

    world
        .generate(4, Some(&["tool"]), multilib(4))
        .expect("all");
    assert!(world.os_packages(4).contains("tool-1-1.i686.rpm"));

    // The whole package set with runtime multilib: i686 libraries only.
    world.generate(5, None, multilib(1)).expect("whole set");
    let found = world.os_packages(5);
    assert!(found.contains("libmulti-1-1.i686.rpm"), "{found:?}");
    assert!(!found.contains("tool-1-1.i686.rpm"), "{found:?}");
}
