//! The files that describe a compose: the `.repo` file, and productmd's composeinfo.json and
//! rpms.json under `metadata/`.

use std::collections::BTreeMap;

use odcs_common::compose::ComposeType;
use serde_json::{json, Value};

use super::layout::{Trees, VARIANT};
use crate::package::PackageSummary;

/// The compose id Pungi would give this compose: `odcs-{id}-1-{date}{type}.{respin}`.
pub fn pungi_compose_id(name: &str, date: &str, compose_type: ComposeType) -> String {
    format!("{name}-1-{date}{}.0", compose_type.id_suffix())
}

/// One `.repo` section, as the reference writes them.
fn repo_section(name: &str, url: &str, enabled: bool) -> String {
    format!(
        "[{name}]\nname=ODCS repository for compose {name}\nbaseurl={url}\ntype=rpm-md\n\
         skip_if_unavailable=False\ngpgcheck=0\nrepo_gpgcheck=0\nenabled={}\nenabled_metadata=1\n",
        u8::from(enabled)
    )
}

/// The `.repo` file: the main repository, and disabled -debuginfo and -source ones.
pub fn repo_file(name: &str, repo_url: &str) -> String {
    let base = repo_url.trim_end_matches('/');
    let mut out = repo_section(name, &format!("{base}/$basearch/os"), true);
    out.push('\n');
    out.push_str(&repo_section(
        &format!("{name}-debuginfo"),
        &format!("{base}/$basearch/debug/tree"),
        false,
    ));
    out.push('\n');
    out.push_str(&repo_section(
        &format!("{name}-source"),
        &format!("{base}/source/tree"),
        false,
    ));
    out
}

/// What the metadata files need to know about the compose.
pub struct ComposeDescription<'a> {
    /// `odcs-{id}`.
    pub name: &'a str,
    /// The Pungi compose id.
    pub compose_id: &'a str,
    /// `YYYYMMDD`.
    pub date: &'a str,
    /// test, nightly, ci or production.
    pub compose_type: ComposeType,
    /// Optional label.
    pub label: Option<&'a str>,
    /// The arches built.
    pub arches: &'a [String],
    /// Whether the arches have ISO images (`Temporary/{arch}/iso`).
    pub isos: bool,
}

/// A productmd file (format 1.2) of `kind` (`rpms`, `modules`, `images`) whose payload lists
/// `per_arch` under the compose's one variant.
pub fn variant_document(d: &ComposeDescription<'_>, kind: &str, per_arch: Value) -> Value {
    json!({
        "header": {"type": format!("productmd.{kind}"), "version": "1.2"},
        "payload": {
            "compose": compose_header(d),
            kind: {VARIANT: per_arch},
        }
    })
}

/// The `compose` part of every productmd file's payload.
fn compose_header(d: &ComposeDescription<'_>) -> Value {
    let mut compose = json!({
        "id": d.compose_id,
        "date": d.date,
        "respin": 0,
        "type": d.compose_type.name(),
    });
    if let Some(label) = d.label {
        compose["label"] = json!(label);
    }
    compose
}

/// productmd composeinfo.json.
pub fn composeinfo(d: &ComposeDescription<'_>) -> Value {
    let per_arch = |f: &dyn Fn(&str) -> String| -> Value {
        Value::Object(
            d.arches
                .iter()
                .map(|arch| (arch.clone(), json!(f(arch))))
                .collect(),
        )
    };
    let mut paths = json!({
        "os_tree": per_arch(&|a| Trees::os_rel(a)),
        "packages": per_arch(&|a| format!("{}/Packages", Trees::os_rel(a))),
        "repository": per_arch(&|a| Trees::os_rel(a)),
        "debug_tree": per_arch(&|a| Trees::debug_rel(a)),
        "debug_packages": per_arch(&|a| format!("{}/Packages", Trees::debug_rel(a))),
        "debug_repository": per_arch(&|a| Trees::debug_rel(a)),
        "source_tree": per_arch(&|_| Trees::source_rel()),
        "source_packages": per_arch(&|_| format!("{}/Packages", Trees::source_rel())),
        "source_repository": per_arch(&|_| Trees::source_rel()),
    });
    if d.isos {
        paths["isos"] = per_arch(&|a| super::iso::iso_rel(a));
    }
    json!({
        "header": {"type": "productmd.composeinfo", "version": "1.2"},
        "payload": {
            "compose": compose_header(d),
            "release": {
                "name": d.name,
                "short": d.name,
                "version": "1",
                "type": "ga",
                "is_layered": false,
                "internal": false,
            },
            "variants": {
                VARIANT: {
                    "id": VARIANT,
                    "uid": VARIANT,
                    "name": VARIANT,
                    "type": "variant",
                    "arches": d.arches,
                    "paths": paths,
                }
            }
        }
    })
}

/// A package as placed in a compose.
pub struct PlacedPackage<'a> {
    /// The package.
    pub summary: &'a PackageSummary,
    /// Its path relative to `compose/`.
    pub path: String,
    /// The arch tree it was placed in (`None` for source packages).
    pub arch: Option<&'a str>,
}

/// The NEVRA key of the source package a binary was built from (the binary's epoch, as
/// productmd uses it).
fn source_nevra(pkg: &PackageSummary) -> String {
    if pkg.is_source() {
        return pkg.nevra();
    }
    let nvr = pkg
        .sourcerpm
        .strip_suffix(".src.rpm")
        .or_else(|| pkg.sourcerpm.strip_suffix(".nosrc.rpm"))
        .unwrap_or(&pkg.sourcerpm);
    let mut parts = nvr.rsplitn(3, '-');
    let (release, version, name) = (parts.next(), parts.next(), parts.next());
    match (name, version, release) {
        (Some(n), Some(v), Some(r)) => format!("{n}-{}:{v}-{r}.src", pkg.epoch),
        _ => format!(
            "{}-{}:{}-{}.src",
            pkg.name, pkg.epoch, pkg.version, pkg.release
        ),
    }
}

/// productmd rpms.json: per arch, per source package, every binary, debug and source RPM.
pub fn rpms(d: &ComposeDescription<'_>, placed: &[PlacedPackage<'_>]) -> Value {
    let sources: BTreeMap<String, &PlacedPackage<'_>> = placed
        .iter()
        .filter(|p| p.summary.is_source())
        .map(|p| (p.summary.nevra(), p))
        .collect();
    let mut arches: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>> = BTreeMap::new();
    for arch in d.arches {
        arches.entry(arch.clone()).or_default();
    }
    let entry = |p: &PlacedPackage<'_>, category: &str| json!({"path": p.path, "sigkey": p.summary.sigkey, "category": category});
    for p in placed.iter().filter(|p| !p.summary.is_source()) {
        let Some(arch) = p.arch else { continue };
        let srpm = source_nevra(p.summary);
        let group = arches
            .entry(arch.to_owned())
            .or_default()
            .entry(srpm.clone())
            .or_default();
        let category = if p.summary.is_debug() {
            "debug"
        } else {
            "binary"
        };
        group.insert(p.summary.nevra(), entry(p, category));
        if let Some(source) = sources.get(&srpm) {
            group.insert(srpm, entry(source, "source"));
        }
    }
    variant_document(d, "rpms", json!(arches))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str, arch: &str, sourcerpm: &str) -> PackageSummary {
        PackageSummary {
            name: name.into(),
            epoch: 0,
            version: "1.14.1".into(),
            release: "2".into(),
            arch: arch.into(),
            sourcerpm: sourcerpm.into(),
            sigkey: None,
            checksum: "x".into(),
            size: 1,
        }
    }

    #[test]
    fn compose_ids_follow_productmd() {
        assert_eq!(
            pungi_compose_id("odcs-5", "20261121", ComposeType::Test),
            "odcs-5-1-20261121.t.0"
        );
        assert_eq!(
            pungi_compose_id("odcs-5", "20261121", ComposeType::Production),
            "odcs-5-1-20261121.0"
        );
    }

    #[test]
    fn repo_file_has_main_debuginfo_and_source_sections() {
        let text = repo_file("odcs-5", "http://h/odcs-5/compose/Temporary");
        assert!(text.starts_with("[odcs-5]\nname=ODCS repository for compose odcs-5\nbaseurl=http://h/odcs-5/compose/Temporary/$basearch/os\n"));
        assert!(text.contains("[odcs-5-debuginfo]"));
        assert!(text.contains("baseurl=http://h/odcs-5/compose/Temporary/source/tree\n"));
        assert_eq!(text.matches("enabled=0").count(), 2);
    }

    #[test]
    fn rpms_json_groups_by_source_package() {
        let bin = summary("ed", "x86_64", "ed-1.14.1-2.src.rpm");
        let src = summary("ed", "src", "");
        let dbg = summary("ed-debuginfo", "x86_64", "ed-1.14.1-2.src.rpm");
        let arches = vec!["x86_64".to_owned()];
        let d = ComposeDescription {
            name: "odcs-1",
            compose_id: "odcs-1-1-20261121.t.0",
            date: "20261121",
            compose_type: ComposeType::Test,
            label: None,
            arches: &arches,
            isos: false,
        };
        let placed = [
            PlacedPackage {
                summary: &bin,
                path: "Temporary/x86_64/os/Packages/e/ed.rpm".into(),
                arch: Some("x86_64"),
            },
            PlacedPackage {
                summary: &src,
                path: "Temporary/source/tree/Packages/e/ed.src.rpm".into(),
                arch: None,
            },
            PlacedPackage {
                summary: &dbg,
                path: "Temporary/x86_64/debug/tree/Packages/e/ed-debuginfo.rpm".into(),
                arch: Some("x86_64"),
            },
        ];
        let value = rpms(&d, &placed);
        let group = &value["payload"]["rpms"]["Temporary"]["x86_64"]["ed-0:1.14.1-2.src"];
        assert_eq!(group["ed-0:1.14.1-2.x86_64"]["category"], "binary");
        assert_eq!(group["ed-debuginfo-0:1.14.1-2.x86_64"]["category"], "debug");
        assert_eq!(group["ed-0:1.14.1-2.src"]["category"], "source");
    }
}

/// A module build in one arch's repository, as `modules.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRecord {
    /// The arch.
    pub arch: String,
    /// `NAME:STREAM:VERSION:CONTEXT`.
    pub nsvc: String,
    /// The Koji tag its RPMs come from.
    pub koji_tag: String,
    /// Its RPMs on this arch (`NAME-EPOCH:VERSION-RELEASE.ARCH`).
    pub rpms: Vec<String>,
}

/// productmd modules.json: per arch, per module build, its metadata, the `modules.yaml` of the
/// arch's repository (`modulemd_paths`: arch → path relative to `compose/`) and its RPMs.
pub fn modules(
    d: &ComposeDescription<'_>,
    records: &[ModuleRecord],
    modulemd_paths: &BTreeMap<String, String>,
) -> Value {
    let mut arches: BTreeMap<&str, BTreeMap<&str, Value>> = BTreeMap::new();
    for record in records {
        let mut parts = record.nsvc.splitn(4, ':');
        let mut next = || parts.next().unwrap_or_default();
        let (name, stream, version, context) = (next(), next(), next(), next());
        let mut modulemd_path = serde_json::Map::new();
        if let Some(path) = modulemd_paths.get(&record.arch) {
            modulemd_path.insert("binary".into(), json!(path));
        }
        arches.entry(&record.arch).or_default().insert(
            &record.nsvc,
            json!({
                "metadata": {
                    "uid": record.nsvc,
                    "name": name,
                    "stream": stream,
                    "version": version,
                    "context": context,
                    "koji_tag": record.koji_tag,
                },
                "modulemd_path": modulemd_path,
                "rpms": record.rpms,
            }),
        );
    }
    variant_document(d, "modules", json!(arches))
}
