//! Property test: over generated repositories (versioned, file and rich dependencies,
//! conflicts, missing capabilities), our gather agrees with libsolv resolving the same install
//! job into an empty root: the same outcome, no more packages than libsolv picks, and a result
//! libsolv itself confirms is consistent and closed under dependencies.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use odcs_worker::gather::metadata::{read_filelists, read_primary};
use odcs_worker::gather::pool::{Origin, PoolBuilder};
use odcs_worker::gather::{gather, GatherRequest};

use crate::support::*;

/// splitmix64: a small deterministic generator, so every failure names a reproducible seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

struct Generated {
    primary: String,
    filelists: String,
    names: Vec<String>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A dependency entry; `text` is `name` or `name OP version`.
fn entry(text: &str) -> String {
    let parts: Vec<&str> = text.split(' ').collect();
    match parts.as_slice() {
        [name, op, version] if !name.starts_with('(') => {
            let flags = match *op {
                ">=" => "GE",
                "<" => "LT",
                "=" => "EQ",
                _ => unreachable!("generated operators"),
            };
            format!("<rpm:entry name=\"{name}\" flags=\"{flags}\" epoch=\"0\" ver=\"{version}\"/>")
        }
        _ => format!("<rpm:entry name=\"{}\"/>", escape(text)),
    }
}

/// A repository of `count` packages drawn from `rng`.
fn repository(rng: &mut Rng, count: usize) -> Generated {
    let caps = count / 5;
    let mut packages: Vec<(String, String, &str)> = Vec::new();
    for i in 0..count {
        let arch = if rng.chance(30) { "noarch" } else { "x86_64" };
        packages.push((format!("p{i}"), format!("1.{}", rng.below(4)), arch));
        if rng.chance(20) {
            packages.push((format!("p{i}"), format!("1.{}", 4 + rng.below(3)), arch));
        }
    }
    let mut providers: Vec<Vec<usize>> = vec![Vec::new(); caps];
    for cap in &mut providers {
        for _ in 0..=rng.below(3) {
            cap.push(rng.below(packages.len()));
        }
    }
    let name = |rng: &mut Rng| format!("p{}", rng.below(count));
    let simple = |rng: &mut Rng| -> String {
        match rng.below(100) {
            0..=44 => name(rng),
            45..=59 => {
                let op = if rng.chance(70) { ">=" } else { "<" };
                format!("{} {op} 1.{}", name(rng), rng.below(6))
            }
            60..=84 => format!("cap{}", rng.below(caps)),
            85..=96 => format!("/usr/share/{}/file", name(rng)),
            _ => format!("nothere{}", rng.below(5)),
        }
    };
    let mut primary = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    let mut filelists = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\">\n",
    );
    for (index, (pkg, version, arch)) in packages.iter().enumerate() {
        let pkgid = format!("{index:064x}");
        let mut provides = format!(
            "<rpm:entry name=\"{pkg}\" flags=\"EQ\" epoch=\"0\" ver=\"{version}\" rel=\"1\"/>"
        );
        for (c, who) in providers.iter().enumerate() {
            if who.contains(&index) {
                provides.push_str(&entry(&format!("cap{c}")));
            }
        }
        let mut requires = String::new();
        for _ in 0..rng.below(4) {
            let dep = if rng.chance(12) {
                let (a, b) = (simple(rng), simple(rng));
                match rng.below(5) {
                    0 => format!("({a} or {b})"),
                    1 => format!("({a} and {b})"),
                    2 => format!("({a} if {b})"),
                    3 => format!("({a} unless {b})"),
                    _ => format!("({a} if {b} else {})", simple(rng)),
                }
            } else {
                simple(rng)
            };
            if !dep.starts_with(&format!("{pkg} ")) && dep != *pkg {
                requires.push_str(&entry(&dep));
            }
        }
        let conflicts = if rng.chance(4) {
            entry(&name(rng))
        } else {
            String::new()
        };
        let _ = writeln!(
            primary,
            "<package type=\"rpm\"><name>{pkg}</name><arch>{arch}</arch>\
             <version epoch=\"0\" ver=\"{version}\" rel=\"1\"/>\
             <checksum type=\"sha256\" pkgid=\"YES\">{pkgid}</checksum>\
             <location href=\"{pkg}-{version}-1.{arch}.rpm\"/><format>\
             <rpm:provides>{provides}</rpm:provides><rpm:requires>{requires}</rpm:requires>\
             <rpm:conflicts>{conflicts}</rpm:conflicts></format></package>"
        );
        let _ = writeln!(
            filelists,
            "<package pkgid=\"{pkgid}\" name=\"{pkg}\" arch=\"{arch}\">\
             <version epoch=\"0\" ver=\"{version}\" rel=\"1\"/>\
             <file>/usr/share/{pkg}/file</file><file type=\"dir\">/usr/share/{pkg}</file></package>"
        );
    }
    primary.push_str("</metadata>\n");
    filelists.push_str("</filelists>\n");
    Generated {
        primary,
        filelists,
        names: (0..count).map(|i| format!("p{i}")).collect(),
    }
}

#[derive(serde::Deserialize, Debug)]
struct Verdict {
    solvable: bool,
    picked: Vec<String>,
    problems: Vec<String>,
    ours_closed: bool,
    closure: Vec<String>,
}

fn check_seed(seed: u64, dir: &Path) {
    let mut rng = Rng(seed);
    let count = 150 + rng.below(200);
    let repo = repository(&mut rng, count);
    let mut builder = PoolBuilder::default();
    read_primary(repo.primary.as_bytes(), |r| {
        builder.add(r, Origin::PackageSet(0));
    })
    .expect("our primary parses");
    let wanted = builder.wanted_files();
    read_filelists(
        repo.filelists.as_bytes(),
        |p| wanted.contains(p),
        |id, path| builder.add_file(Origin::PackageSet(0), id, path),
    )
    .expect("our filelists parse");
    let pool = builder.build();

    let mut jobs = Vec::new();
    for _ in 0..12 {
        let install: Vec<String> = (0..=rng.below(4))
            .map(|_| repo.names[rng.below(repo.names.len())].clone())
            .collect();
        let gathered = gather(
            &pool,
            &GatherRequest {
                arches: vec!["x86_64".into()],
                packages: Some(install.clone()),
                ..GatherRequest::default()
            },
        );
        // Our package-set indexes are all 0 here; identify the chosen packages by solving
        // through the pool directly.
        let ours = chosen_nevras(&pool, &install);
        jobs.push((install, gathered, ours));
    }
    std::fs::write(dir.join("primary.xml"), &repo.primary).expect("primary");
    std::fs::write(dir.join("filelists.xml"), &repo.filelists).expect("filelists");
    let job_json: Vec<serde_json::Value> = jobs
        .iter()
        .map(|(install, _, ours)| serde_json::json!({"install": install, "ours": ours}))
        .collect();
    std::fs::write(
        dir.join("jobs.json"),
        serde_json::to_string(&job_json).expect("json"),
    )
    .expect("jobs");
    let output = run(Command::new("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/worker/libsolv_check.py"))
        .arg(dir));
    let verdicts: Vec<Verdict> = serde_json::from_str(&output).expect("libsolv output");
    for ((install, gathered, ours), verdict) in jobs.iter().zip(verdicts) {
        let we_solve = gathered.broken.is_empty();
        assert_eq!(
            we_solve, verdict.solvable,
            "seed {seed}, install {install:?}: we say broken {:?}, libsolv says {:?}",
            gathered.broken, verdict.problems
        );
        if we_solve {
            assert!(
                verdict.ours_closed,
                "seed {seed}, install {install:?}: our {ours:?} is not closed for libsolv: {:?}",
                verdict.closure
            );
            assert!(
                ours.len() <= verdict.picked.len(),
                "seed {seed}, install {install:?}: we pick {} packages {ours:?}, libsolv {} {:?}",
                ours.len(),
                verdict.picked.len(),
                verdict.picked
            );
        }
    }
}

/// The NEVRAs gather chooses for `install` (x86_64, with dependencies).
fn chosen_nevras(pool: &odcs_worker::gather::pool::Pool, install: &[String]) -> Vec<String> {
    let chosen = odcs_worker::gather::chosen_packages(
        pool,
        &GatherRequest {
            arches: vec!["x86_64".into()],
            packages: Some(install.to_vec()),
            ..GatherRequest::default()
        },
        "x86_64",
    );
    let mut out: Vec<String> = chosen
        .packages
        .iter()
        .map(|id| pool.get(*id).nevra())
        .collect();
    out.sort();
    out
}

#[test]
fn gather_agrees_with_libsolv_on_generated_repositories() {
    let seeds: u64 = std::env::var("ODCS_GATHER_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    for seed in 0..seeds {
        let scratch = Scratch::new("libsolv");
        check_seed(seed, scratch.path());
    }
}
