//! Test helpers: fixtures, scratch directories, packages built with rpmbuild, real tools.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python with the reference's tools (`odcs`, `koji`, productmd) that `.ci/test`
/// installs, or `ODCS_KOJI_PYTHON`.
pub fn reference_python() -> PathBuf {
    let python = std::env::var_os("ODCS_KOJI_PYTHON").map_or_else(
        || {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/odcs-pyenv/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "{} is missing: run .ci/test once, or set ODCS_KOJI_PYTHON to a python with odcs, koji \
         and productmd",
        python.display()
    );
    python
}

/// The path of the reference server's module `file` (e.g. `pulp.py`) in the reference Python's
/// `odcs` package.
pub fn reference_server_module(file: &str) -> PathBuf {
    let out = Command::new(reference_python())
        .args([
            "-c",
            "import importlib.util, os, sys; \
             print(os.path.join(importlib.util.find_spec('odcs').submodule_search_locations[0], \
             'server', sys.argv[1]))",
            file,
        ])
        .output()
        .expect("the reference Python runs");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        path.is_file(),
        "the reference's {file} is missing: {}",
        path.display()
    );
    path
}

/// What `rpm -qa --qf FORMAT` lists in the dnf installroot of `work` (`work/root`).
pub fn installed(work: &Path, format: &str) -> std::collections::BTreeSet<String> {
    run(Command::new("rpm")
        .arg("--root")
        .arg(work.join("root"))
        .arg("-qa")
        .arg("--qf")
        .arg(format))
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The real Fedora RPMs (with repodata and modules.yaml) in `shared/fixtures`.
pub fn fixture_repo() -> PathBuf {
    std::env::var_os("ODCS_TEST_FIXTURE_REPO").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/odcs-test-repo"),
        PathBuf::from,
    )
}

/// A directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("odcs-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the RPM files (not repodata) of `from` into `to` by hard links.
pub fn link_rpms(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".rpm") {
            std::fs::hard_link(entry.path(), to.join(&name)).expect("link");
        }
    }
}

/// Copies a whole directory tree (files hard-linked).
pub fn link_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let dest = to.join(entry.path().strip_prefix(from).expect("prefix"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("dir");
        } else {
            std::fs::hard_link(entry.path(), &dest).expect("link");
        }
    }
}

/// Runs a command, failing the test with its output unless it succeeds; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A package for rpmbuild to make.
pub struct Spec<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    /// Raw spec lines (Requires:, Provides:, ...).
    pub deps: &'a [&'a str],
    /// Files under /usr/share/{name}/.
    pub files: &'a [&'a str],
}

/// Builds `spec` with rpmbuild into `out_dir`; returns the RPM's path.
pub fn build_rpm(spec: &Spec<'_>, out_dir: &Path) -> PathBuf {
    let work = Scratch::new("rpmbuild");
    let files: String = spec
        .files
        .iter()
        .map(|f| format!("echo {f} > %{{buildroot}}/usr/share/{}/{f}\n", spec.name))
        .collect();
    let listed: String = spec
        .files
        .iter()
        .map(|f| format!("/usr/share/{}/{f}\n", spec.name))
        .collect();
    let text = format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name} for tests & <checks>\n\
         License: MIT\nBuildArch: {arch}\n{deps}\n%description\nTest package {name}.\n\
         %install\nmkdir -p %{{buildroot}}/usr/share/{name} %{{buildroot}}/etc/{name}\n{files}\
         touch %{{buildroot}}/etc/{name}/ghost.conf\n\
         %files\n%dir /usr/share/{name}\n%ghost /etc/{name}/ghost.conf\n%dir /etc/{name}\n{listed}\
         %changelog\n* Tue Jan 02 2024 Tester <t@example.com> - {version}-1\n- second\n\
         * Tue Jan 02 2024 Tester <t@example.com> - {version}-0\n- same day\n\
         * Mon Jan 01 2024 Tester <t@example.com>  - 0.1-1\n- first\n",
        name = spec.name,
        version = spec.version,
        arch = spec.arch,
        deps = spec.deps.join("\n"),
    );
    let spec_path = work.path().join(format!("{}.spec", spec.name));
    std::fs::write(&spec_path, text).expect("spec");
    run(Command::new("rpmbuild")
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", work.path().display()))
        .arg("--define")
        .arg("_build_id_links none")
        .arg(&spec_path));
    let built = walkdir::WalkDir::new(work.path().join("RPMS"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".rpm"))
        .expect("rpmbuild made a package");
    std::fs::create_dir_all(out_dir).expect("out dir");
    let dest = out_dir.join(built.file_name());
    std::fs::copy(built.path(), &dest).expect("copy rpm");
    dest
}

/// Compares two repositories with createrepo_c's parser (see compare_repodata.py).
pub fn assert_same_meaning(ours: &Path, theirs: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/compare_repodata.py");
    run(Command::new("/usr/bin/python3")
        .arg(script)
        .arg(ours)
        .arg(theirs));
}

/// Runs createrepo_c on `dir`.
pub fn createrepo_c(dir: &Path) {
    run(Command::new("createrepo_c")
        .arg("--no-database")
        .arg("--quiet")
        .arg(dir));
}

/// A `repo` compose request: the repository `repo` (under `scratch/roots`), built into
/// `target` for `arches`, every other option empty.
pub fn repo_spec(repo: &Path, target: &Path, arches: &[&str]) -> odcs_common::spec::ComposeSpec {
    use odcs_common::compose::{ComposeResult, ComposeResults, ComposeType};
    use odcs_common::spec::{ComposeOptions, ComposeSource, ComposeSpec, RepoSource, Sigkeys};
    ComposeSpec {
        source: ComposeSource::Repo(RepoSource {
            path: repo.display().to_string(),
            revision: None,
        }),
        options: ComposeOptions {
            results: ComposeResults::EMPTY.with(ComposeResult::Repository),
            ..ComposeOptions::default()
        },
        sigkeys: Sigkeys::default(),
        arches: arches.iter().map(|a| (*a).to_owned()).collect(),
        seconds_to_live: 3600,
        compose_type: ComposeType::Test,
        target_dir: target.to_owned(),
    }
}

/// Generates compose `id` of `spec` without Koji, as a worker would: repositories under
/// `scratch/roots`, the package cache in `scratch/cache`, the compose (and its log) under the
/// spec's target directory.
pub fn generate_local(
    scratch: &Path,
    id: i32,
    spec: &odcs_common::spec::ComposeSpec,
) -> Result<odcs_worker::generate::Generated, odcs_worker::generate::GenerateError> {
    generate_local_with(scratch, id, spec, &[])
}

/// [`generate_local`] on a worker whose `boot_iso_command` is `boot_iso_command`.
pub fn generate_local_with(
    scratch: &Path,
    id: i32,
    spec: &odcs_common::spec::ComposeSpec,
    boot_iso_command: &[String],
) -> Result<odcs_worker::generate::Generated, odcs_worker::generate::GenerateError> {
    use odcs_worker::generate::{self, Engine, Target};
    let cache = odcs_worker::repodata::PackageCache::open(&scratch.join("cache")).expect("cache");
    let roots = [scratch.join("roots")];
    // Lookaside repositories of these tests live beside the roots, in the scratch directory.
    let fetcher = odcs_worker::fetch::Fetcher::new(odcs_worker::fetch::FetchPolicy {
        timeout: std::time::Duration::from_secs(30),
        attempts: 2,
        file_roots: vec![scratch.to_owned()],
        max_bytes: 1 << 30,
        blocked_networks: Vec::new(),
    })
    .expect("fetcher");
    let cancel = odcs_worker::cancel::Cancel::never();
    let engine = Engine {
        sources: odcs_worker::source::SourceContext {
            repo_roots: &roots,
            max_metadata_bytes: 1 << 30,
            fetcher: &fetcher,
            koji: None,
            mbs: None,
            pulp: None,
            base_module_names: &[],
            raw_config: None,
            record: None,
        },
        cache: &cache,
        compression: odcs_worker::repodata::Compression::Gzip,
        cancel: &cancel,
        boot_iso_command,
    };
    let id = odcs_common::compose::ComposeId(id);
    let log = odcs_worker::compose::ComposeLog::open(
        &spec
            .target_dir
            .join(id.dir_name())
            .join(odcs_worker::compose::layout::LOG_FILE),
    )
    .expect("log");
    let prepared = generate::prepare(spec, &engine)?;
    let layout = odcs_worker::compose::layout::ComposeLayout::new(&spec.target_dir, id);
    let target = Target {
        id,
        repo_url: String::new(),
        built_at: chrono::Utc::now(),
        staging: layout.staging_dir("test"),
    };
    let generated = generate::generate(spec, prepared, &target, &engine, &log)?;
    odcs_worker::compose::publish(&layout, &target.staging, generated.staged)?;
    Ok(generated)
}

/// The value of the worker metric series `series` (name and labels as the text exposition
/// writes them), 0 when it has none yet. The metrics are the process's: tests running beside
/// each other add to them, so compare before and after.
pub fn worker_metric(series: &str) -> f64 {
    odcs_worker::metrics::render()
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .find_map(|value| value.parse().ok())
        .unwrap_or(0.0)
}
