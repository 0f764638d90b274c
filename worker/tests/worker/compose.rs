//! Whole composes from a `repo` source: the reference layout, read by dnf.

use std::path::{Path, PathBuf};
use std::process::Command;

use odcs_common::spec::{ComposeSpec, WordList};
use odcs_worker::generate::{GenerateError, Generated};

use crate::support::*;

struct Setup {
    scratch: Scratch,
    source: PathBuf,
    target: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let scratch = Scratch::new("compose");
        let source = scratch.path().join("roots/repo");
        link_tree(&fixture_repo(), &source);
        let target = scratch.path().join("target");
        Setup {
            scratch,
            source,
            target,
        }
    }

    fn request(&self, id: i32, arches: &[&str], packages: Option<&[&str]>) -> (i32, ComposeSpec) {
        let mut spec = repo_spec(&self.source, &self.target, arches);
        spec.options.packages =
            WordList::from_option(packages.map(|p| p.iter().map(|s| (*s).to_owned()).collect()));
        (id, spec)
    }

    fn generate(&self, (id, spec): &(i32, ComposeSpec)) -> Result<Generated, GenerateError> {
        generate_local(self.scratch.path(), *id, spec)
    }

    fn compose_dir(&self, id: i32) -> PathBuf {
        self.target.join(format!("odcs-{id}/compose"))
    }
}

/// dnf configured with nothing but the compose's .repo file, offline, in `installroot`.
pub fn dnf(repo_dir: &Path, work: &Path) -> Command {
    let conf = work.join("dnf.conf");
    std::fs::write(&conf, "[main]\ngpgcheck=0\ninstall_weak_deps=0\n").expect("dnf.conf");
    let mut cmd = Command::new("dnf");
    cmd.arg("-q")
        .arg("-y")
        .arg(format!("--config={}", conf.display()))
        .arg(format!("--setopt=reposdir={}", repo_dir.display()))
        .arg(format!(
            "--setopt=cachedir={}",
            work.join("cache").display()
        ))
        .arg(format!("--installroot={}", work.join("root").display()))
        .arg("--releasever=1")
        .arg("--setopt=ignorearch=true")
        // The `local` plugin (dnf-plugins-core) copies installed packages into a host-wide repo
        // whatever the installroot; keep tests hermetic.
        .arg("--disableplugin=local");
    cmd
}

#[test]
fn repo_compose_has_the_reference_layout() {
    let setup = Setup::new();
    let generated = setup
        .generate(&setup.request(1, &["x86_64", "aarch64"], None))
        .expect("compose");
    let compose_id = generated
        .pungi_compose_id
        .clone()
        .expect("a Pungi compose id");
    assert!(compose_id.starts_with("odcs-1-1-"));
    assert!(compose_id.ends_with(".t.0"));
    let compose = setup.compose_dir(1);
    for path in [
        "Temporary/x86_64/os/Packages/e/ed-1.14.1-2.module_fd8ca23e.x86_64.rpm",
        "Temporary/x86_64/os/Packages/m/module-build-macros-0.1-1.module_fd8ca23e.noarch.rpm",
        "Temporary/aarch64/os/Packages/m/module-build-macros-0.1-1.module_fd8ca23e.noarch.rpm",
        "Temporary/x86_64/debug/tree/Packages/e/ed-debuginfo-1.14.1-2.module_fd8ca23e.x86_64.rpm",
        "Temporary/source/tree/Packages/e/ed-1.14.1-2.module_fd8ca23e.src.rpm",
        "Temporary/x86_64/os/repodata/repomd.xml",
        "Temporary/aarch64/debug/tree/repodata/repomd.xml",
        "Temporary/source/tree/repodata/repomd.xml",
        "Temporary/odcs-1.repo",
        "metadata/composeinfo.json",
        "metadata/rpms.json",
    ] {
        assert!(compose.join(path).exists(), "{path} missing");
    }
    assert!(
        !compose.join("Temporary/aarch64/os/Packages/e").exists(),
        "x86_64 packages stay out of aarch64"
    );
    assert!(!setup.target.join("odcs-1/.compose.tmp").exists());
    let rpms: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(compose.join("metadata/rpms.json")).expect("rpms.json"),
    )
    .expect("json");
    let ed = &rpms["payload"]["rpms"]["Temporary"]["x86_64"]["ed-0:1.14.1-2.module_fd8ca23e.src"];
    assert_eq!(
        ed["ed-0:1.14.1-2.module_fd8ca23e.x86_64"]["category"],
        "binary"
    );
    assert_eq!(
        ed["ed-0:1.14.1-2.module_fd8ca23e.src"]["category"],
        "source"
    );
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(compose.join("metadata/composeinfo.json")).expect("composeinfo"),
    )
    .expect("json");
    assert_eq!(info["payload"]["compose"]["id"], compose_id.as_str());
    let log = std::fs::read_to_string(setup.target.join("odcs-1/pungi-stderr.log")).expect("log");
    assert!(log.contains("is complete"), "{log}");
    // koji_event is the source repodata revision, as in the reference.
    let repomd =
        std::fs::read_to_string(fixture_repo().join("repodata/repomd.xml")).expect("repomd");
    let revision: i64 = repomd
        .split("<revision>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .and_then(|r| r.trim().parse().ok())
        .expect("fixture revision");
    assert_eq!(generated.koji_event, Some(revision));
}

#[test]
fn dnf_downloads_ed_from_the_compose() {
    let setup = Setup::new();
    setup
        .generate(&setup.request(2, &["x86_64"], None))
        .expect("compose");
    let work = Scratch::new("dnf");
    let repo_dir = setup.compose_dir(2).join("Temporary");
    let dest = work.path().join("download");
    run(dnf(&repo_dir, work.path())
        .arg("download")
        .arg(format!("--destdir={}", dest.display()))
        .arg("ed"));
    assert!(dest.join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm").exists());
    let names = run(dnf(&repo_dir, work.path())
        .arg("repoquery")
        .arg("--qf")
        .arg("%{name}.%{arch}"));
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["ed.x86_64", "module-build-macros.noarch"]);
    // modules.yaml survives into the os repository (the fixture's modulemd is too old for
    // libmodulemd to accept, so its content is compared instead of asking dnf).
    let repomd = std::fs::read_to_string(
        setup
            .compose_dir(2)
            .join("Temporary/x86_64/os/repodata/repomd.xml"),
    )
    .expect("repomd");
    let location = repomd
        .split("<data type=\"modules\">")
        .nth(1)
        .and_then(|rest| rest.split("<location href=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("modules record");
    let carried = odcs_worker::repodata::compress::read_decompressed(
        &setup
            .compose_dir(2)
            .join("Temporary/x86_64/os")
            .join(location),
        1 << 30,
    )
    .expect("modules file");
    assert!(String::from_utf8_lossy(&carried).contains("name: testmodule"));
}

#[test]
fn dnf_installs_self_contained_packages_from_the_compose() {
    let setup = Setup::new();
    build_rpm(
        &Spec {
            name: "odcs-base",
            version: "2.0",
            arch: "noarch",
            deps: &["Provides: odcs-capability = 3"],
            files: &["base.txt"],
        },
        &setup.source,
    );
    build_rpm(
        &Spec {
            name: "odcs-tool",
            version: "1.0",
            arch: "noarch",
            deps: &[
                "Requires: odcs-base >= 2.0",
                "Requires: /usr/share/odcs-base/base.txt",
                "Requires: (odcs-base or odcs-capability)",
            ],
            files: &["tool.txt"],
        },
        &setup.source,
    );
    setup
        .generate(&setup.request(3, &["x86_64"], Some(&["odcs-tool", "odcs-base"])))
        .expect("compose");
    let work = Scratch::new("dnf-install");
    let repo_dir = setup.compose_dir(3).join("Temporary");
    run(dnf(&repo_dir, work.path()).arg("install").arg("odcs-tool"));
    assert!(work
        .path()
        .join("root/usr/share/odcs-tool/tool.txt")
        .exists());
    assert!(work
        .path()
        .join("root/usr/share/odcs-base/base.txt")
        .exists());
}

#[test]
fn an_iso_compose_holds_the_repository_dnf_installs_from() {
    use odcs_common::compose::ComposeResult;
    let setup = Setup::new();
    build_rpm(
        &Spec {
            name: "odcs-disc",
            version: "1.0",
            arch: "noarch",
            deps: &[],
            files: &["disc.txt"],
        },
        &setup.source,
    );
    let (id, mut spec) = setup.request(6, &["x86_64", "aarch64"], None);
    spec.options.results = spec.options.results.with(ComposeResult::Iso);
    let generated = setup.generate(&(id, spec)).expect("compose");
    let compose_id = generated.pungi_compose_id.expect("compose id");
    let compose = setup.compose_dir(6);
    let iso_dir = compose.join("Temporary/x86_64/iso");
    let name = format!("{compose_id}-Temporary-x86_64-dvd1.iso");
    let image = iso_dir.join(&name);
    assert!(image.is_file(), "{} missing", image.display());
    assert!(compose
        .join(format!(
            "Temporary/aarch64/iso/{compose_id}-Temporary-aarch64-dvd1.iso"
        ))
        .is_file());

    // The checksum file says what sha256sum says.
    let sum = run(Command::new("sha256sum").arg(&image));
    let digest = sum.split_whitespace().next().expect("digest").to_owned();
    let checksum = std::fs::read_to_string(iso_dir.join("CHECKSUM")).expect("CHECKSUM");
    assert!(
        checksum.contains(&format!("SHA256 ({name}) = {digest}")),
        "{checksum}"
    );

    // xorriso lists the packages and repodata on the disc, with the volume id.
    let listing = run(Command::new("xorriso").args([
        "-indev",
        &image.to_string_lossy(),
        "-find",
        "/",
        "-type",
        "f",
    ]));
    for wanted in [
        "/Packages/o/odcs-disc-1.0-1.noarch.rpm",
        "/Packages/e/ed-1.14.1-2.module_fd8ca23e.x86_64.rpm",
        "/repodata/repomd.xml",
    ] {
        assert!(
            listing.contains(wanted),
            "{wanted} not on the disc:\n{listing}"
        );
    }
    assert!(!listing.contains("aarch64.rpm"), "{listing}");

    // productmd reads images.json and composeinfo.json and finds the images where they are.
    let checked = run(Command::new(reference_python()).args([
        "-c",
        "import sys, os, productmd.images, productmd.composeinfo\n\
         images = productmd.images.Images(); images.load(os.path.join(sys.argv[1], 'metadata/images.json'))\n\
         info = productmd.composeinfo.ComposeInfo(); info.load(os.path.join(sys.argv[1], 'metadata/composeinfo.json'))\n\
         for arch, found in sorted(images.images['Temporary'].items()):\n\
         \x20   (image,) = found\n\
         \x20   assert os.path.getsize(os.path.join(sys.argv[1], image.path)) == image.size\n\
         \x20   assert image.format == 'iso' and image.type == 'dvd' and not image.bootable\n\
         \x20   print(arch, image.volume_id, image.checksums['sha256'], info.variants['Temporary'].paths.isos[arch])\n",
        &compose.to_string_lossy(),
    ]));
    assert!(
        checked.contains(&format!(
            "x86_64 odcs-6-1 Temporary.x86_64 {digest} Temporary/x86_64/iso"
        )),
        "{checked}"
    );
    assert!(
        checked.contains("aarch64 odcs-6-1 Temporary.aarch64"),
        "{checked}"
    );

    // dnf installs from the repository on the disc (its files taken out with xorriso).
    let work = Scratch::new("dnf-iso");
    let disc = work.path().join("disc");
    run(Command::new("xorriso").args([
        "-osirrox",
        "on",
        "-indev",
        &image.to_string_lossy(),
        "-extract",
        "/",
        &disc.to_string_lossy(),
    ]));
    let repos = work.path().join("repos");
    std::fs::create_dir_all(&repos).expect("repos");
    std::fs::write(
        repos.join("disc.repo"),
        format!(
            "[disc]\nname=disc\nbaseurl=file://{}\ngpgcheck=0\n",
            disc.display()
        ),
    )
    .expect("disc.repo");
    run(dnf(&repos, work.path()).arg("install").arg("odcs-disc"));
    assert!(work
        .path()
        .join("root/usr/share/odcs-disc/disc.txt")
        .exists());

    let log = std::fs::read_to_string(setup.target.join("odcs-6/pungi-stderr.log")).expect("log");
    assert!(
        log.contains(&format!("Wrote Temporary/x86_64/iso/{name}")),
        "{log}"
    );
}

#[test]
fn a_boot_iso_compose_runs_the_configured_command_per_arch() {
    use odcs_common::compose::ComposeResult;
    let setup = Setup::new();
    let (id, mut spec) = setup.request(7, &["x86_64"], None);
    spec.options.results = spec.options.results.with(ComposeResult::BootIso);

    // Without a command the compose fails, saying so.
    let err = setup.generate(&(id, spec.clone())).expect_err("no command");
    assert!(err.to_string().contains("no boot_iso_command"), "{err}");

    // A stand-in for lorax: an image of the repository's metadata, named as asked.
    let command: Vec<String> = [
        "sh",
        "-c",
        "xorriso -as mkisofs -quiet -volid \"$1\" -output \"$2\" \"$3/repodata\"",
        "make-boot",
        "{volid}",
        "{output}",
        "{repo}",
    ]
    .map(String::from)
    .to_vec();
    generate_local_with(setup.scratch.path(), id, &spec, &command).expect("compose");
    let compose = setup.compose_dir(7);
    let image = compose.join("Temporary/x86_64/os/images/boot.iso");
    assert!(image.is_file());
    let info = run(Command::new("xorriso").args(["-indev", &image.to_string_lossy(), "-pvd_info"]));
    assert!(info.contains("odcs-7-1 Temporary.x86_64"), "{info}");
    let checked = run(Command::new(reference_python()).args([
        "-c",
        "import sys, os, productmd.images\n\
         images = productmd.images.Images(); images.load(os.path.join(sys.argv[1], 'metadata/images.json'))\n\
         (image,) = images.images['Temporary']['x86_64']\n\
         print(image.type, image.bootable, image.path)\n",
        &compose.to_string_lossy(),
    ]));
    assert_eq!(
        checked.trim(),
        "boot True Temporary/x86_64/os/images/boot.iso",
        "{checked}"
    );
}

#[test]
fn requested_packages_narrow_the_compose() {
    let setup = Setup::new();
    setup
        .generate(&setup.request(4, &["x86_64"], Some(&["ed"])))
        .expect("compose");
    let compose = setup.compose_dir(4);
    assert!(compose
        .join("Temporary/x86_64/os/Packages/e/ed-1.14.1-2.module_fd8ca23e.x86_64.rpm")
        .exists());
    assert!(!compose.join("Temporary/x86_64/os/Packages/m").exists());
    assert!(compose.join("Temporary/x86_64/debug/tree/Packages/e/ed-debuginfo-1.14.1-2.module_fd8ca23e.x86_64.rpm").exists());
    assert!(compose
        .join("Temporary/source/tree/Packages/e/ed-1.14.1-2.module_fd8ca23e.src.rpm")
        .exists());
    assert!(!compose.join("Temporary/source/tree/Packages/m").exists());

    let err = setup
        .generate(&setup.request(5, &["x86_64"], Some(&["ed", "vim", "emacs"])))
        .expect_err("missing packages");
    assert_eq!(
        err.to_string(),
        "The following requested packages are not present in the generated compose: emacs vim"
    );
}

#[test]
fn a_corrupt_package_fails_the_compose_and_leaves_no_compose() {
    let setup = Setup::new();
    std::fs::write(setup.source.join("broken-1.0-1.noarch.rpm"), b"garbage").expect("write");
    let err = setup
        .generate(&setup.request(6, &["x86_64"], None))
        .expect_err("corrupt package");
    assert!(err.to_string().contains("broken-1.0-1.noarch.rpm"), "{err}");
    let top = setup.target.join("odcs-6");
    assert!(!top.join("compose").exists());
    assert!(!top.join(".compose.tmp").exists());
}
