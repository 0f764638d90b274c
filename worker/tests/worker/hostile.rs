//! Hostile sources and requests: nothing outside a compose is read or served, no input grows a
//! worker without bound or takes it down, and reasons stay short and printable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use odcs_common::compose::ComposeState;
use odcs_common::db::testing::Store;
use odcs_worker::pipeline::JobOutcome;
use serde_json::json;

use crate::amqp::{spawn_with, terminate};
use crate::lifecycle::{both_stores, World};
use crate::support::*;

/// The failure reason of processing compose request `body`.
fn failure(world: &World, body: serde_json::Value) -> String {
    let compose = world.submit(body);
    match world.worker("w").process(compose.id).expect("processed") {
        JobOutcome::Failed(reason) => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn repo_body(path: &Path) -> serde_json::Value {
    json!({"source": {"type": "repo", "source": path.display().to_string()}, "flags": ["no_reuse"]})
}

/// A lookaside repository (under the roots) whose repomd.xml lists `primary` at `location`.
fn lookaside_listing(world: &World, name: &str, location: &str) -> PathBuf {
    let dir = world.scratch.path().join("roots").join(name);
    std::fs::create_dir_all(dir.join("repodata")).expect("dir");
    std::fs::write(
        dir.join("repodata/repomd.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1</revision>
<data type="primary"><location href="{location}"/></data>
<data type="filelists"><location href="repodata/filelists.xml"/></data>
</repomd>"#
        ),
    )
    .expect("repomd");
    std::fs::write(
        dir.join("repodata/filelists.xml"),
        r#"<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="0"/>"#,
    )
    .expect("filelists");
    dir
}

both_stores!(
    symlinked_packages_become_regular_files_in_the_compose,
    |world| {
        let links = world.scratch.path().join("roots/links");
        std::fs::create_dir_all(&links).expect("dir");
        for entry in std::fs::read_dir(&world.repo).expect("fixture") {
            let name = entry.expect("entry").file_name();
            if name.to_string_lossy().ends_with(".rpm") {
                std::os::unix::fs::symlink(Path::new("../repo").join(&name), links.join(&name))
                    .expect("relative symlink");
            }
        }
        let compose = world.submit(repo_body(&links));
        assert_eq!(
            world.worker("w").process(compose.id).expect("processed"),
            JobOutcome::Done
        );
        let os = world
            .compose_dir(compose.id)
            .join("compose/Temporary/x86_64/os");
        let ed = os.join("Packages/e/ed-1.14.1-2.module_fd8ca23e.x86_64.rpm");
        assert!(
            std::fs::symlink_metadata(&ed)
                .expect("placed")
                .file_type()
                .is_file(),
            "a regular file, not a symlink"
        );
        let name = run(Command::new("rpm")
            .args(["-qp", "--nosignature", "--queryformat", "%{NAME}"])
            .arg(&ed));
        assert_eq!(name, "ed", "rpm reads the placed package");

        // The source's file later replaced by a symlink: the compose still holds the package.
        let target = world.repo.join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm");
        std::fs::remove_file(links.join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm")).expect("rm");
        std::fs::remove_file(&target).expect("rm");
        std::os::unix::fs::symlink("/etc/passwd", &target).expect("swap");
        let bytes = std::fs::read(&ed).expect("still readable");
        assert_eq!(&bytes[..4], b"\xed\xab\xee\xdb", "still the RPM");
    }
);

both_stores!(metadata_symlinked_out_of_the_roots_is_refused, |world| {
    let repo = world.scratch.path().join("roots/meta");
    link_rpms(&world.repo, &repo);
    createrepo_c(&repo);
    let updateinfo = world.scratch.path().join("updateinfo.xml");
    std::fs::write(
        &updateinfo,
        r#"<?xml version="1.0" encoding="UTF-8"?><updates></updates>"#,
    )
    .expect("updateinfo");
    run(Command::new("modifyrepo_c")
        .arg("--mdtype=updateinfo")
        .arg("--no-compress")
        .arg(&updateinfo)
        .arg(repo.join("repodata")));
    let listed = std::fs::read_dir(repo.join("repodata"))
        .expect("repodata")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().contains("updateinfo"))
        .expect("updateinfo listed")
        .path();
    std::fs::remove_file(&listed).expect("rm");
    std::os::unix::fs::symlink("/etc/passwd", &listed).expect("symlink out");
    let reason = failure(&world, repo_body(&repo));
    assert!(reason.contains("outside the allowed roots"), "{reason}");
    assert!(
        !reason.contains("root:x:0:0"),
        "nothing of the file leaks: {reason}"
    );
});

both_stores!(
    paths_outside_the_roots_are_refused_without_saying_if_they_exist,
    |world| {
        let exists = failure(&world, repo_body(Path::new("/etc")));
        let missing = failure(&world, repo_body(Path::new("/no/such/dir")));
        assert!(exists.contains("outside the allowed roots"), "{exists}");
        assert_eq!(
            exists.replace("/etc", "X"),
            missing.replace("/no/such/dir", "X"),
            "the same answer"
        );
        assert!(
            !exists.contains(&world.scratch.path().display().to_string()),
            "the roots are not named: {exists}"
        );
    }
);

/// An address of this host other than loopback (the one it reaches the network with), if
/// it has one.
fn outward_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback())
}

/// Answers every connection on `listener` with a redirect to `location`.
fn redirect_everything(listener: std::net::TcpListener, location: String) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
            );
        }
    });
}

both_stores!(lookaside_urls_cannot_reach_local_services, |world| {
    // The default fetch_blocked_networks: this host and link-local addresses.
    let mut config = (*world.config).clone();
    config.workers.fetch_blocked_networks = odcs_common::config::Config::default()
        .workers
        .fetch_blocked_networks;
    let worker = odcs_worker::pipeline::Worker {
        config: std::sync::Arc::new(config.clone()),
        fetcher: std::sync::Arc::new(odcs_worker::services::fetcher(&config).expect("fetcher")),
        ..world.worker("w")
    };
    // A local service: a lookaside "repository" a request must not make the worker read.
    let local = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = local.local_addr().expect("addr").port();
    let mut urls = vec![
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ];
    // A server on this host's outward address that redirects to the local service.
    if let Some(ip) = outward_address() {
        let outward = std::net::TcpListener::bind((ip, 0)).expect("bind outward");
        let addr = outward.local_addr().expect("addr");
        redirect_everything(
            outward,
            format!("http://127.0.0.1:{port}/repodata/repomd.xml"),
        );
        urls.push(format!("http://{addr}/"));
    } else {
        eprintln!("this host has no outward address: the redirect case is not tried");
    }
    for url in urls {
        let compose = world.submit(json!({"source": {"type": "repo",
            "source": world.repo.display().to_string(), "packages": ["ed"]},
            "lookaside_repos": [url], "flags": ["no_reuse"]}));
        let JobOutcome::Failed(reason) = worker.process(compose.id).expect("processed") else {
            panic!("{url}: expected a failure");
        };
        assert!(reason.contains("fetch_blocked_networks"), "{url}: {reason}");
    }
});

both_stores!(lookaside_repositories_cannot_reach_out, |world| {
    let with_lookaside = |url: &str| {
        json!({"source": {"type": "repo", "source": world.repo.display().to_string(),
                          "packages": ["ed"]},
               "lookaside_repos": [url], "flags": ["no_reuse"]})
    };
    let reason = failure(&world, with_lookaside("file:///etc"));
    assert!(
        reason.contains("file URLs may only name files inside repo_source_roots"),
        "{reason}"
    );
    let missing = failure(&world, with_lookaside("file:///no/such/repo"));
    assert_eq!(
        reason.replace("file:///etc", "X"),
        missing.replace("file:///no/such/repo", "X")
    );
    for location in [
        "file:///etc/passwd",
        "/etc/passwd",
        "../../../etc/passwd",
        "http://elsewhere.example/primary.xml",
    ] {
        let dir = lookaside_listing(&world, "pointing-out", location);
        let reason = failure(&world, with_lookaside(&format!("file://{}", dir.display())));
        assert!(
            reason.contains("points outside the repository"),
            "{location}: {reason}"
        );
        assert!(!reason.contains("root:x:0:0"), "{reason}");
    }
});

/// Big-endian u32 at `at`.
fn be32(bytes: &[u8], at: usize) -> usize {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or_default()) as usize
}

/// Where the main header of RPM file `rpm` starts: after the 96-byte lead and the signature
/// header, padded to 8 bytes.
fn header_start(rpm: &[u8]) -> usize {
    let (entries, data) = (be32(rpm, 96 + 8), be32(rpm, 96 + 12));
    96 + (16 + 16 * entries + data).div_ceil(8) * 8
}

/// Found by fuzzing (bench/fuzz, rpm_header): `rpm` with its INT32 changelog-times entry (tag
/// 1080) claiming four billion values, which the rpm crate allocates 16 GiB for before reading;
/// where that allocation fails, the whole process aborts.
fn huge_value_count(rpm: &[u8]) -> Vec<u8> {
    let header = header_start(rpm);
    let at = (0..be32(rpm, header + 8))
        .map(|i| header + 16 + 16 * i)
        .find(|at| be32(rpm, *at) == 1080)
        .expect("the package has changelog times");
    let mut bytes = rpm.to_vec();
    bytes[at + 12..at + 16].copy_from_slice(&4_294_967_105u32.to_be_bytes());
    bytes
}

#[test]
fn a_header_claiming_gigabytes_is_refused_not_allocated() {
    let scratch = Scratch::new("huge-values");
    let original = std::fs::read(fixture_repo().join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm"))
        .expect("fixture rpm");
    std::fs::write(scratch.path().join("bad.rpm"), huge_value_count(&original)).expect("write");
    // Address space as a modest worker host has: the 16 GiB allocation cannot succeed.
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$1\"")
        .arg(env!("CARGO_BIN_EXE_odcs-createrepo"))
        .arg(scratch.path())
        .output()
        .expect("odcs-createrepo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad.rpm is not a valid RPM package")
            && stderr.contains("claiming 4294967105 values"),
        "{stderr}"
    );
}

both_stores!(malformed_packages_fail_the_compose_naming_them, |world| {
    let original = std::fs::read(world.repo.join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm"))
        .expect("fixture rpm");
    let sig_entries = be32(&original, 96 + 8);
    let header = header_start(&original);
    // A signature entry the reader uses (the header+payload size, tag 1000) claiming a huge
    // count of values.
    let size_entry = (0..sig_entries)
        .map(|i| 96 + 16 + 16 * i)
        .find(|at| be32(&original, *at) == 1000)
        .expect("the fixture has a size signature");
    let mut huge_count = original.clone();
    huge_count[size_entry + 12..size_entry + 16].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let mut bad_offset = original.clone();
    bad_offset[header + 16 + 8..header + 16 + 12].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    let huge_values = huge_value_count(&original);
    let mut noise = vec![0u8; 4096];
    for (i, b) in noise.iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    let cases: [(&str, Vec<u8>); 6] = [
        ("empty", Vec::new()),
        ("truncated", original[..original.len() / 3].to_vec()),
        ("huge-count", huge_count),
        ("bad-offset", bad_offset),
        ("huge-values", huge_values),
        ("noise", noise),
    ];
    for (name, bytes) in cases {
        let dir = world.scratch.path().join("roots").join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(format!("{name}.rpm")), bytes).expect("write");
        let compose = world.submit(repo_body(&dir));
        let outcome = world.worker("w").process(compose.id).expect("processed");
        let JobOutcome::Failed(reason) = outcome else {
            panic!("{name}: expected a failure, got {outcome:?}");
        };
        assert!(reason.contains(&format!("{name}.rpm")), "{name}: {reason}");
        assert!(
            !reason
                .chars()
                .any(|c| c.is_control() || c == char::REPLACEMENT_CHARACTER),
            "{name}: printable: {reason:?}"
        );
    }
    // The worker goes on: a good compose after them is done.
    let good = world.submit_repo();
    assert_eq!(
        world.worker("w").process(good.id).expect("processed"),
        JobOutcome::Done
    );
});

both_stores!(a_reason_stays_short_however_much_went_wrong, |world| {
    let names: Vec<String> = (0..90_000)
        .map(|i| format!("missing-package-{i}"))
        .collect();
    let compose = world.submit(json!({"source": {"type": "repo",
        "source": world.repo.display().to_string(), "packages": names}, "flags": ["no_reuse"]}));
    let JobOutcome::Failed(reason) = world.worker("w").process(compose.id).expect("processed")
    else {
        panic!("expected a failure");
    };
    assert!(reason.len() <= 4096, "{} bytes", reason.len());
    assert!(reason.contains("and 89970 more"), "{reason}");
    assert!(world
        .find(compose.id)
        .state_reason
        .is_some_and(|r| r.len() <= 4096));
});

/// The peak resident memory of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_decompression_bomb_costs_a_worker_no_more_than_the_limit() {
    let mut world = World::new(Store::Postgres);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    world.config = std::sync::Arc::new({
        let mut config = (*world.config).clone();
        config.messaging.amqp_url = std::env::var("ODCS_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        config.messaging.default_queue = format!("odcs-test-{tag}");
        config.messaging.queue_routes = Default::default();
        config
    });
    // 4 GiB of zeros in a few hundred KB of zstd, listed as a lookaside repository's primary.
    let dir = lookaside_listing(&world, "bomb", "repodata/primary.xml.zst");
    let file = std::fs::File::create(dir.join("repodata/primary.xml.zst")).expect("bomb");
    let mut encoder = zstd::stream::write::Encoder::new(file, 19).expect("encoder");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..4096 {
        encoder.write_all(&zeros).expect("write");
    }
    encoder.finish().expect("finish");
    let compose = world.submit(json!({"source": {"type": "repo",
        "source": world.repo.display().to_string(), "packages": ["ed"]},
        "lookaside_repos": [format!("file://{}", dir.display())], "flags": ["no_reuse"]}));
    let worker = spawn_with(
        &world,
        &["consume"],
        &[
            ("ODCS_WORKER_CONCURRENCY", "1"),
            ("ODCS_MAX_METADATA_BYTES", "67108864"),
        ],
    );
    world.dispatch(compose.id);
    world.wait_for_state(
        compose.id,
        ComposeState::Failed,
        Some(ComposeState::Done),
        Duration::from_secs(120),
        "the compose did not fail",
    );
    let peak = peak_rss_kib(worker.id());
    let reason = world.find(compose.id).state_reason.unwrap_or_default();
    terminate(worker);
    assert!(reason.contains("max_metadata_bytes"), "{reason}");
    assert!(
        peak > 0 && peak < 512 * 1024,
        "the worker peaked at {peak} KiB for a 64 MiB limit"
    );
}
