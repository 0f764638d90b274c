//! Dependencies as repodata lists them, with createrepo_c's filtering rules, so our metadata
//! means what createrepo_c's means for the same package.

use rpm::DependencyFlags;

/// Which list a dependency belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyKind {
    /// `Provides:`
    Provides,
    /// `Requires:` (with `pre`)
    Requires,
    /// `Conflicts:`
    Conflicts,
    /// `Obsoletes:`
    Obsoletes,
    /// `Recommends:`
    Recommends,
    /// `Suggests:`
    Suggests,
    /// `Supplements:`
    Supplements,
    /// `Enhances:`
    Enhances,
}

/// One dependency entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// The capability, file or rich expression.
    pub name: String,
    /// `LT`, `GT`, `EQ`, `LE` or `GE`; `None` without a version.
    pub flags: Option<&'static str>,
    /// Epoch (`"0"` when the version has none); `None` without a version.
    pub epoch: Option<String>,
    /// Version; `None` without a version.
    pub version: Option<String>,
    /// Release, if the version has one.
    pub release: Option<String>,
    /// Requires only: needed before install scripts run.
    pub pre: bool,
}

/// The comparison a dependency's sense bits express, as repodata spells it.
pub fn flag_name(sense: u32) -> Option<&'static str> {
    match sense & 0xf {
        2 => Some("LT"),
        4 => Some("GT"),
        8 => Some("EQ"),
        10 => Some("LE"),
        12 => Some("GE"),
        _ => None,
    }
}

/// Splits `[epoch:]version[-release]`; `None` when the epoch is not a number (createrepo_c
/// drops such dependencies).
pub fn split_evr(evr: &str) -> Option<(String, String, Option<String>)> {
    let (epoch, rest) = match evr.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                if epoch.is_empty() {
                    ("0", rest)
                } else {
                    return None;
                }
            } else {
                (epoch, rest)
            }
        }
        None => ("0", evr),
    };
    let (version, release) = match rest.rsplit_once('-') {
        Some((version, release)) => (version, Some(release.to_owned()).filter(|r| !r.is_empty())),
        None => (rest, None),
    };
    Some((epoch.to_owned(), version.to_owned(), release))
}

impl Dependency {
    /// A dependency from header values; `None` when createrepo_c would drop it.
    pub fn from_header(name: &str, sense: u32, evr: &str) -> Option<Dependency> {
        let (epoch, version, release) = if evr.is_empty() {
            (None, None, None)
        } else {
            let (e, v, r) = split_evr(evr)?;
            (Some(e), Some(v), r)
        };
        Some(Dependency {
            name: name.to_owned(),
            flags: flag_name(sense),
            epoch,
            version,
            release,
            pre: false,
        })
    }
}

/// RPMSENSE bits that make a requirement `pre`.
const PRE_BITS: u32 = DependencyFlags::PREREQ.bits()
    | DependencyFlags::SCRIPT_PRE.bits()
    | DependencyFlags::SCRIPT_POST.bits();

/// Old-style weak requirement (`Requires(missingok)`), listed as a recommendation.
const MISSINGOK: u32 = 1 << 19;

/// Raw header triples (name, sense flags, version) of one dependency tag.
pub type RawDeps<'a> = Vec<(&'a str, u32, &'a str)>;

/// The requires and the extra recommends of a package, filtered as createrepo_c does: no
/// `rpmlib(...)`, no files the package ships that would be listed in primary, nothing the
/// package provides itself (same name, flags and version), no consecutive duplicates, only the
/// highest `libc.so.6(GLIBC_*)`, placed last; `missingok` requires become recommends.
pub fn filter_requires(
    raw: &RawDeps<'_>,
    provides: &RawDeps<'_>,
    is_own_primary_file: impl Fn(&str) -> bool,
) -> (Vec<Dependency>, Vec<Dependency>) {
    let provided: std::collections::HashSet<(&str, Option<&str>, &str)> = provides
        .iter()
        .map(|(name, sense, evr)| (*name, flag_name(*sense), *evr))
        .collect();
    let mut seen: std::collections::HashMap<&str, (Option<&str>, &str, bool)> =
        std::collections::HashMap::new();
    let mut requires = Vec::new();
    let mut recommends = Vec::new();
    let mut libc: Option<Dependency> = None;
    for &(name, sense, evr) in raw {
        if name.starts_with("rpmlib(") {
            continue;
        }
        if name.starts_with('/') && is_own_primary_file(name) {
            continue;
        }
        let flags = flag_name(sense);
        if provided.contains(&(name, flags, evr)) {
            continue;
        }
        let pre = sense & PRE_BITS != 0;
        if seen.get(name) == Some(&(flags, evr, pre)) {
            continue;
        }
        let Some(mut dep) = Dependency::from_header(name, sense, evr) else {
            continue;
        };
        if sense & MISSINGOK != 0 {
            recommends.push(dep);
            continue;
        }
        dep.pre = pre;
        if name.starts_with("libc.so.6") {
            let higher = libc
                .as_ref()
                .is_none_or(|best| compare_libc(&best.name, name) == std::cmp::Ordering::Less);
            if higher {
                libc = Some(dep);
            }
            continue;
        }
        seen.insert(name, (flags, evr, pre));
        requires.push(dep);
    }
    requires.extend(libc);
    (requires, recommends)
}

/// Orders `libc.so.6(GLIBC_x.y)` names by their GLIBC version, as createrepo_c compares them.
fn compare_libc(a: &str, b: &str) -> std::cmp::Ordering {
    fn version(name: &str) -> Vec<u64> {
        name.split_once("GLIBC_")
            .map(|(_, rest)| {
                rest.split(|c: char| !c.is_ascii_digit() && c != '.')
                    .next()
                    .unwrap_or("")
                    .split('.')
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
    version(a).cmp(&version(b))
}

/// Whether createrepo_c lists `path` in primary.xml (and so skips requires on it).
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_split_like_createrepo_c() {
        assert_eq!(
            split_evr("1:2.3-4.fc40"),
            Some(("1".into(), "2.3".into(), Some("4.fc40".into())))
        );
        assert_eq!(split_evr("2.3"), Some(("0".into(), "2.3".into(), None)));
        assert_eq!(split_evr("x:1"), None);
    }

    #[test]
    fn requires_are_filtered_like_createrepo_c() {
        let provides: RawDeps = vec![("foo", 8, "1.0-1"), ("libfoo.so.1()(64bit)", 0, "")];
        let raw: RawDeps = vec![
            ("rpmlib(CompressedFileNames)", 16777226, "3.0.4-1"),
            ("/bin/sh", 1 << 9, ""),
            ("/bin/sh", 0, ""),
            ("/bin/sh", 0, ""),
            ("foo", 8, "1.0-1"),
            ("libc.so.6(GLIBC_2.2.5)(64bit)", 0, ""),
            ("libc.so.6(GLIBC_2.14)(64bit)", 0, ""),
            ("libc.so.6(GLIBC_2.3)(64bit)", 0, ""),
            ("/usr/bin/foo", 0, ""),
            ("/usr/share/foo", 0, ""),
            ("bar", 12 | (1 << 19), "2"),
            ("baz", 12, "1:2-3"),
        ];
        let own = |p: &str| p == "/usr/bin/foo" || p == "/usr/share/foo";
        let (requires, recommends) =
            filter_requires(&raw, &provides, |p| own(p) && is_primary_file(p));
        let names: Vec<(&str, bool)> = requires.iter().map(|d| (d.name.as_str(), d.pre)).collect();
        assert_eq!(
            names,
            [
                ("/bin/sh", true),
                ("/bin/sh", false),
                ("/usr/share/foo", false),
                ("baz", false),
                ("libc.so.6(GLIBC_2.14)(64bit)", false)
            ]
        );
        assert_eq!(recommends.len(), 1);
        assert_eq!(recommends[0].name, "bar");
        let baz = &requires[3];
        assert_eq!(baz.flags, Some("GE"));
        assert_eq!(baz.epoch.as_deref(), Some("1"));
        assert_eq!(baz.release.as_deref(), Some("3"));
    }

    #[test]
    fn primary_files_match_createrepo_c() {
        assert!(is_primary_file("/etc/passwd"));
        assert!(is_primary_file("/opt/x/sbin/y"));
        assert!(is_primary_file("/usr/lib/sendmail"));
        assert!(!is_primary_file("/usr/share/doc/x"));
    }
}
