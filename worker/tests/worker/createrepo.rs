//! Repodata: meaning equal to createrepo_c's, deterministic, incremental.

use std::path::Path;

use odcs_worker::repodata::{
    write_repodata, Compression, ExtraMetadata, FileHashing, PackageCache, RepodataOptions,
};
use odcs_worker::scan::find_packages;

use crate::support::*;

fn ours(
    dir: &Path,
    compression: Compression,
    cache: Option<&PackageCache>,
) -> odcs_worker::repodata::Repodata {
    ours_hashing(dir, compression, cache, FileHashing::Fastest)
}

fn ours_hashing(
    dir: &Path,
    compression: Compression,
    cache: Option<&PackageCache>,
    hashing: FileHashing,
) -> odcs_worker::repodata::Repodata {
    let inputs = find_packages(dir).expect("scan");
    let extra = ExtraMetadata::from_repository(dir).expect("extra");
    write_repodata(
        dir,
        &inputs,
        &extra,
        RepodataOptions {
            compression,
            revision: 1_700_000_000,
            cache,
            hashing,
        },
    )
    .expect("repodata")
}

/// Test packages covering what the fixture lacks: file and versioned requires, rich
/// dependencies, weak dependencies, ghosts, directories, same-day changelogs.
fn build_test_packages(dir: &Path) {
    build_rpm(
        &Spec {
            name: "odcs-lib",
            version: "2.1",
            arch: "noarch",
            deps: &[
                "Provides: odcs-capability = 3",
                "Conflicts: odcs-old < 1",
                "Obsoletes: odcs-ancient <= 0.5",
            ],
            files: &["lib.txt"],
        },
        dir,
    );
    build_rpm(
        &Spec {
            name: "odcs-app",
            version: "1.0",
            arch: "noarch",
            deps: &[
                "Requires: odcs-lib >= 2.0",
                "Requires: /usr/share/odcs-lib/lib.txt",
                "Requires: (odcs-lib or odcs-capability)",
                "Requires(pre): /bin/sh",
                "Recommends: odcs-extra",
                "Suggests: odcs-docs",
                "Supplements: (odcs-lib and odcs-app)",
                "Enhances: odcs-lib",
            ],
            files: &["app.txt", "more.txt"],
        },
        dir,
    );
}

#[test]
fn fixture_repodata_means_what_createrepo_c_writes() {
    let scratch = Scratch::new("cmp");
    let (mine, theirs) = (scratch.path().join("ours"), scratch.path().join("theirs"));
    link_rpms(&fixture_repo(), &mine);
    build_test_packages(&mine);
    link_rpms(&mine, &theirs);
    let written = ours(&mine, Compression::Gzip, None);
    assert_eq!(written.listed, 7);
    createrepo_c(&theirs);
    assert_same_meaning(&mine, &theirs);
}

#[test]
fn benchmark_corpus_means_what_createrepo_c_writes() {
    // The corpus (shared/bench/make_corpus.py) is built by .ci/test; without it the fixture
    // test above still runs.
    let Some(corpus) = std::env::var_os("ODCS_TEST_CORPUS") else {
        eprintln!("ODCS_TEST_CORPUS not set; skipping the corpus comparison");
        return;
    };
    let scratch = Scratch::new("corpus");
    let (mine, theirs) = (scratch.path().join("ours"), scratch.path().join("theirs"));
    link_tree(&Path::new(&corpus).join("os"), &mine);
    link_tree(&Path::new(&corpus).join("os"), &theirs);
    let written = ours(&mine, Compression::Gzip, None);
    assert!(written.listed >= 100);
    createrepo_c(&theirs);
    assert_same_meaning(&mine, &theirs);
}

#[test]
fn zstd_repodata_is_read_by_dnf() {
    // createrepo_c 0.17 cannot read zstd; dnf (libsolv) can, and sees what gzip shows it.
    let scratch = Scratch::new("zst");
    let query = |compression: Compression, tag: &str| {
        let dir = scratch.path().join(tag);
        link_rpms(&fixture_repo(), &dir);
        let written = ours(&dir, compression, None);
        assert!(written
            .records
            .iter()
            .all(|r| r.location.ends_with(compression.suffix())));
        let repos = scratch.path().join(format!("{tag}-repos"));
        std::fs::create_dir_all(&repos).expect("dir");
        std::fs::write(
            repos.join("test.repo"),
            format!(
                "[{tag}]\nname={tag}\nbaseurl=file://{}\ngpgcheck=0\n",
                dir.display()
            ),
        )
        .expect("repo file");
        run(std::process::Command::new("dnf")
            .arg("-q")
            .arg("--disableplugin=local")
            .arg(format!("--setopt=reposdir={}", repos.display()))
            .arg(format!(
                "--setopt=cachedir={}",
                scratch.path().join(format!("{tag}-cache")).display()
            ))
            .arg("--releasever=1")
            .arg("repoquery")
            .arg("--qf")
            .arg("%{name}-%{evr}.%{arch} %{requires}"))
    };
    let zstd = query(Compression::Zstd, "zst");
    let gzip = query(Compression::Gzip, "gz");
    assert!(
        zstd.contains("ed-1.14.1-2.module_fd8ca23e.x86_64"),
        "{zstd}"
    );
    assert_eq!(zstd, gzip);
}

fn repodata_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("repodata"))
        .expect("repodata")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn same_inputs_give_byte_identical_repodata() {
    let scratch = Scratch::new("det");
    let dir = scratch.path().join("repo");
    link_rpms(&fixture_repo(), &dir);
    ours(&dir, Compression::Gzip, None);
    let first = repodata_bytes(&dir);
    let cache = PackageCache::open(&scratch.path().join("cache")).expect("cache");
    ours(&dir, Compression::Gzip, Some(&cache));
    assert_eq!(repodata_bytes(&dir), first, "a cold cache changes nothing");
    ours(&dir, Compression::Gzip, Some(&cache));
    assert_eq!(repodata_bytes(&dir), first, "a warm cache changes nothing");
}

#[test]
fn hashing_files_in_lockstep_writes_the_same_repodata() {
    // More packages than lanes (eight), of many sizes.
    let scratch = Scratch::new("lanes");
    let dir = scratch.path().join("repo");
    let packages = scratch.path().join("packages");
    link_rpms(&fixture_repo(), &packages);
    build_test_packages(&packages);
    for copy in ["a", "b", "c"] {
        link_rpms(&packages, &dir.join(copy));
    }
    let one_at_a_time = ours_hashing(&dir, Compression::Gzip, None, FileHashing::OneAtATime);
    assert_eq!(one_at_a_time.listed, 21);
    let expected = repodata_bytes(&dir);
    let lockstep = ours_hashing(&dir, Compression::Gzip, None, FileHashing::Lockstep);
    assert_eq!(lockstep, one_at_a_time);
    assert!(
        repodata_bytes(&dir) == expected,
        "lockstep changed the repodata"
    );

    // With a cache, only what it lacks is hashed ahead; what it holds comes back unchanged.
    let cache = PackageCache::open(&scratch.path().join("cache")).expect("cache");
    let cold = ours_hashing(&dir, Compression::Gzip, Some(&cache), FileHashing::Lockstep);
    assert_eq!(cold.read, cold.listed);
    let victim = dir.join("b/module-build-macros-0.1-1.module_fd8ca23e.noarch.rpm");
    let copy = scratch.path().join("copy.rpm");
    std::fs::copy(&victim, &copy).expect("copy");
    std::fs::rename(&copy, &victim).expect("replace");
    let warm = ours_hashing(&dir, Compression::Gzip, Some(&cache), FileHashing::Lockstep);
    assert_eq!(warm.read, 1);
    let incremental = repodata_bytes(&dir);
    ours_hashing(&dir, Compression::Gzip, None, FileHashing::OneAtATime);
    assert!(
        repodata_bytes(&dir) == incremental,
        "lockstep with a warm cache changed the repodata"
    );
}

#[test]
fn a_warm_cache_reads_only_new_packages() {
    let scratch = Scratch::new("incr");
    let dir = scratch.path().join("repo");
    link_rpms(&fixture_repo(), &dir);
    let cache = PackageCache::open(&scratch.path().join("cache")).expect("cache");
    assert_eq!(ours(&dir, Compression::Gzip, Some(&cache)).read, 5);
    assert_eq!(ours(&dir, Compression::Gzip, Some(&cache)).read, 0);
    build_test_packages(&dir);
    let third = ours(&dir, Compression::Gzip, Some(&cache));
    assert_eq!((third.listed, third.read), (7, 2));
    // Replacing a file (new inode, new mtime) is a new package even under the same name.
    let victim = dir.join("module-build-macros-0.1-1.module_fd8ca23e.noarch.rpm");
    let copy = scratch.path().join("copy.rpm");
    std::fs::copy(&victim, &copy).expect("copy");
    std::fs::rename(&copy, &victim).expect("replace");
    assert_eq!(ours(&dir, Compression::Gzip, Some(&cache)).read, 1);
    // The cache's output still means what createrepo_c writes.
    let theirs = scratch.path().join("theirs");
    link_rpms(&dir, &theirs);
    createrepo_c(&theirs);
    assert_same_meaning(&dir, &theirs);
}

#[test]
fn an_incremental_run_takes_unchanged_blocks_whole_and_writes_the_same_bytes() {
    let scratch = Scratch::new("blocks");
    let dir = scratch.path().join("repo");
    let packages = scratch.path().join("packages");
    link_rpms(&fixture_repo(), &packages);
    build_test_packages(&packages);
    // 420 packages: some fifty chained blocks.
    for copy in 0..60 {
        link_rpms(&packages, &dir.join(format!("c{copy:02}")));
    }
    let cache = PackageCache::open(&scratch.path().join("cache")).expect("cache");
    let cold = ours(&dir, Compression::Gzip, Some(&cache));
    assert_eq!((cold.read, cold.blocks_cached), (420, 0));
    assert!(cold.blocks >= 4, "{} blocks", cold.blocks);
    let warm = ours(&dir, Compression::Gzip, Some(&cache));
    assert_eq!((warm.read, warm.blocks_cached), (0, cold.blocks));
    assert_eq!(warm.listed, 420, "cached blocks count their packages");

    let warm_written = repodata_bytes(&dir);

    // A block whose XML file is gone (or cut short) is assembled again from its packages.
    let block_files: Vec<std::path::PathBuf> = std::fs::read_dir(scratch.path().join("cache"))
        .expect("cache dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("blocks-"))
        .flat_map(|d| {
            std::fs::read_dir(d.path())
                .expect("blocks")
                .filter_map(Result::ok)
        })
        .map(|e| e.path())
        .collect();
    // Every file is a live block: nothing has been replaced yet.
    assert_eq!(block_files.len(), cold.blocks, "{block_files:?}");
    std::fs::remove_file(&block_files[0]).expect("remove");
    let truncated = std::fs::OpenOptions::new()
        .write(true)
        .open(&block_files[1])
        .expect("open");
    truncated.set_len(10).expect("truncate");
    let repaired = ours(&dir, Compression::Gzip, Some(&cache));
    assert_eq!(
        (repaired.read, repaired.blocks_cached),
        (0, cold.blocks - 2)
    );
    assert!(
        repodata_bytes(&dir) == warm_written,
        "reassembled blocks changed the repodata"
    );
    let again = ours(&dir, Compression::Gzip, Some(&cache));
    assert_eq!(
        again.blocks_cached, cold.blocks,
        "the files were written again"
    );

    let victim = dir.join("c30/module-build-macros-0.1-1.module_fd8ca23e.noarch.rpm");
    let copy = scratch.path().join("copy.rpm");
    std::fs::copy(&victim, &copy).expect("copy");
    std::fs::rename(&copy, &victim).expect("replace");
    let incremental = ours(&dir, Compression::Gzip, Some(&cache));
    assert_eq!(
        incremental.read, 1,
        "the rest of its block comes from package entries"
    );
    // Its block alone: it is not among the last packages of its block, which are all the
    // block after is compressed against.
    assert_eq!(incremental.blocks_cached, cold.blocks - 1);
    assert_eq!(incremental.listed, cold.listed);
    let written = repodata_bytes(&dir);
    let uncached = ours(&dir, Compression::Gzip, None);
    assert_eq!(uncached.blocks_cached, 0);
    assert!(
        repodata_bytes(&dir) == written,
        "blocks from the cache changed the repodata"
    );

    let theirs = scratch.path().join("theirs");
    link_tree(&dir, &theirs);
    std::fs::remove_dir_all(theirs.join("repodata")).expect("no repodata");
    createrepo_c(&theirs);
    assert_same_meaning(&dir, &theirs);
}

#[test]
fn modules_metadata_is_carried_over() {
    let scratch = Scratch::new("mod");
    let dir = scratch.path().join("repo");
    link_tree(&fixture_repo(), &dir);
    let written = ours(&dir, Compression::Gzip, None);
    let modules = written
        .records
        .iter()
        .find(|r| r.kind == "modules")
        .expect("modules record");
    let text =
        odcs_worker::repodata::compress::read_decompressed(&dir.join(&modules.location), 1 << 30)
            .expect("modules file");
    let original = std::fs::read_dir(fixture_repo().join("repodata"))
        .expect("fixture repodata")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with("modules.yaml.gz"))
        .expect("fixture modules");
    assert_eq!(
        text,
        odcs_worker::repodata::compress::read_decompressed(&original.path(), 1 << 30)
            .expect("read")
    );
}

#[test]
fn a_long_listing_is_written_in_order_and_a_bad_package_late_in_it_fails_the_run() {
    // 1,000 packages: more batches than are prepared ahead of the writer, so later ones are
    // started by the task that writes the earlier ones.
    let scratch = Scratch::new("long");
    let dir = scratch.path().join("repo");
    for copy in 0..200 {
        link_rpms(&fixture_repo(), &dir.join(format!("c{copy:03}")));
    }
    let written = ours(&dir, Compression::Gzip, None);
    assert_eq!(written.listed, 1000);
    let primary = std::fs::read_dir(dir.join("repodata"))
        .expect("repodata")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-primary.xml.gz"))
        .expect("primary");
    let primary = odcs_worker::repodata::compress::read_decompressed(&primary, 1 << 30)
        .expect("read primary");
    let listed: Vec<&str> = std::str::from_utf8(&primary)
        .expect("UTF-8")
        .split("<location href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let scanned = find_packages(&dir).expect("scan");
    let expected: Vec<&str> = scanned.iter().map(|p| p.href.as_str()).collect();
    assert!(listed == expected, "packages listed out of order");
    let theirs = scratch.path().join("theirs");
    link_tree(&dir, &theirs);
    std::fs::remove_dir_all(theirs.join("repodata")).expect("no repodata");
    createrepo_c(&theirs);
    assert_same_meaning(&dir, &theirs);

    std::fs::write(dir.join("c180/text.rpm"), b"this is not an rpm").expect("write");
    let inputs = find_packages(&dir).expect("scan");
    let err = write_repodata(&dir, &inputs, &[], RepodataOptions::default())
        .expect_err("a bad package must fail");
    assert!(err.to_string().contains("c180/text.rpm"), "{err}");
    assert!(
        dir.join("repodata").exists(),
        "the repodata written before stays"
    );
    assert!(
        !dir.join(".repodata.tmp").exists(),
        "nothing half-written stays behind"
    );
}

#[test]
fn bad_package_files_are_named() {
    let scratch = Scratch::new("bad");
    for (name, bytes) in [
        ("empty.rpm", Vec::new()),
        ("text.rpm", b"this is not an rpm".to_vec()),
        ("truncated.rpm", {
            let real = std::fs::read(fixture_repo().join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm"))
                .expect("read");
            real[..3000].to_vec()
        }),
    ] {
        let dir = scratch.path().join(name);
        link_rpms(&fixture_repo(), &dir);
        std::fs::write(dir.join(name), bytes).expect("write");
        let inputs = find_packages(&dir).expect("scan");
        let err = write_repodata(&dir, &inputs, &[], RepodataOptions::default())
            .expect_err("a bad package must fail");
        assert!(err.to_string().contains(name), "{err}");
        assert!(
            !dir.join("repodata").exists(),
            "no repodata for a failed run"
        );
    }
}
