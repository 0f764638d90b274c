//! The packages a gather chooses from, indexed by name, provided capability and file.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::capability::{Capability, Range};
use super::metadata::PackageRecord;
use super::rich::{clauses, Atom};

/// Where a package in the pool comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The compose's package set; the index is the caller's.
    PackageSet(usize),
    /// A lookaside repository (by position in the request); never put into the compose.
    Lookaside(usize),
}

/// One package in the pool.
#[derive(Debug, Clone)]
pub struct PoolPackage {
    /// Its identity and dependencies.
    pub record: PackageRecord,
    /// Where it comes from.
    pub origin: Origin,
}

impl PoolPackage {
    /// `name-[epoch:]version-release.arch`, as rpm and dnf print packages.
    pub fn nevra(&self) -> String {
        let r = &self.record;
        if r.epoch == 0 {
            format!("{}-{}-{}.{}", r.name, r.version, r.release, r.arch)
        } else {
            format!(
                "{}-{}:{}-{}.{}",
                r.name, r.epoch, r.version, r.release, r.arch
            )
        }
    }

    /// Its own version as a range (`= epoch:version-release`).
    pub fn evr_range(&self) -> Range {
        Range::exactly(
            self.record.epoch,
            &self.record.version,
            &self.record.release,
        )
    }
}

/// Index of a package in its pool.
pub type PackageId = u32;

/// Packages with the indexes dependency resolution needs.
#[derive(Debug, Default)]
pub struct Pool {
    packages: Vec<PoolPackage>,
    by_name: HashMap<String, Vec<PackageId>>,
    provides: HashMap<String, Vec<(PackageId, Option<Range>)>>,
    files: HashMap<String, Vec<PackageId>>,
    /// Each package's requirements with their providers, looked up on first use.
    requirements: Vec<OnceLock<Vec<Requirement>>>,
}

/// One clause of a package's requirements with the providers of its atoms looked up: the
/// form the gather stage checks closures and alternatives with, computed once per package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// Providers of each atom any of which satisfies the clause, in the clause's order.
    pub any: Vec<Vec<PackageId>>,
    /// Providers of each condition atom whose absence satisfies the clause.
    pub unless: Vec<Vec<PackageId>>,
}

impl Requirement {
    /// Whether the clause holds when exactly the `installed` packages are installed.
    pub fn holds(&self, installed: &dyn Fn(PackageId) -> bool) -> bool {
        self.any.iter().any(|p| p.iter().copied().any(installed))
            || self
                .unless
                .iter()
                .any(|p| !p.iter().copied().any(installed))
    }
}

/// Collects packages, then builds a [`Pool`].
#[derive(Debug, Default)]
pub struct PoolBuilder {
    packages: Vec<PoolPackage>,
    files: Vec<(PackageId, String)>,
    by_pkgid: HashMap<(usize, String), PackageId>,
}

/// The paths named by file requirements and conflicts of `record` (inside rich ones too).
pub fn file_dependencies(record: &PackageRecord) -> impl Iterator<Item = &str> {
    record
        .requires
        .iter()
        .chain(&record.conflicts)
        .flat_map(|cap| {
            cap.name
                .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
                .filter(|t| t.starts_with('/'))
        })
}

impl PoolBuilder {
    /// Adds a binary package (source packages are not installable and are skipped); returns
    /// its id. `source` tells packages of different repositories apart for [`Self::add_file`].
    pub fn add(&mut self, mut record: PackageRecord, origin: Origin) -> Option<PackageId> {
        if record.arch == "src" || record.arch == "nosrc" {
            return None;
        }
        let id = self.packages.len() as PackageId;
        let own = Capability {
            name: record.name.clone(),
            range: Some(Range::exactly(
                record.epoch,
                &record.version,
                &record.release,
            )),
        };
        if !record.provides.contains(&own) {
            record.provides.push(own);
        }
        for file in std::mem::take(&mut record.files) {
            self.files.push((id, file));
        }
        let repo = match origin {
            Origin::PackageSet(_) => 0,
            Origin::Lookaside(n) => n + 1,
        };
        self.by_pkgid.insert((repo, record.pkgid.clone()), id);
        self.packages.push(PoolPackage { record, origin });
        Some(id)
    }

    /// How many packages were added.
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    /// Whether no package was added.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Every path any package added so far requires or conflicts with.
    pub fn wanted_files(&self) -> HashSet<String> {
        self.packages
            .iter()
            .flat_map(|p| file_dependencies(&p.record))
            .map(str::to_owned)
            .collect()
    }

    /// Records that the package with `pkgid` in repository `origin` ships `path`.
    pub fn add_file(&mut self, origin: Origin, pkgid: &str, path: String) {
        let repo = match origin {
            Origin::PackageSet(_) => 0,
            Origin::Lookaside(n) => n + 1,
        };
        if let Some(id) = self.by_pkgid.get(&(repo, pkgid.to_owned())) {
            self.files.push((*id, path));
        }
    }

    /// The pool, indexed.
    pub fn build(self) -> Pool {
        let mut pool = Pool::default();
        for (id, p) in self.packages.iter().enumerate() {
            let id = id as PackageId;
            pool.by_name
                .entry(p.record.name.clone())
                .or_default()
                .push(id);
            for cap in &p.record.provides {
                pool.provides
                    .entry(cap.name.clone())
                    .or_default()
                    .push((id, cap.range.clone()));
            }
        }
        for (id, path) in self.files {
            let owners = pool.files.entry(path).or_default();
            if !owners.contains(&id) {
                owners.push(id);
            }
        }
        pool.requirements = self.packages.iter().map(|_| OnceLock::new()).collect();
        pool.packages = self.packages;
        pool
    }
}

impl Pool {
    /// Every package.
    pub fn packages(&self) -> &[PoolPackage] {
        &self.packages
    }

    /// The package with `id`.
    pub fn get(&self, id: PackageId) -> &PoolPackage {
        &self.packages[id as usize]
    }

    /// Packages named `name`.
    pub fn named(&self, name: &str) -> &[PackageId] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// Packages providing `cap` (by provides, or by shipping the file it names), sorted.
    pub fn what_provides(&self, cap: &Capability) -> Vec<PackageId> {
        let mut out: Vec<PackageId> = self
            .provides
            .get(&cap.name)
            .into_iter()
            .flatten()
            .filter(|(_, have)| match (have, &cap.range) {
                (_, None) | (None, _) => true,
                (Some(have), Some(want)) => have.overlaps(want),
            })
            .map(|(id, _)| *id)
            .collect();
        if cap.is_file() {
            out.extend(self.files.get(&cap.name).into_iter().flatten());
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Packages satisfying `atom`: providing its capability and every `with`, none of its
    /// `without`.
    pub fn atom_providers(&self, atom: &Atom) -> Vec<PackageId> {
        let mut out = self.what_provides(&atom.capability);
        for with in &atom.with {
            let also = self.what_provides(with);
            out.retain(|id| also.binary_search(id).is_ok());
        }
        for without in &atom.without {
            let not = self.what_provides(without);
            out.retain(|id| not.binary_search(id).is_err());
        }
        out
    }

    /// The requirements of `id` that parse, as clauses with their providers (cached).
    /// Requirements that do not parse are left out: nothing can satisfy them, and callers
    /// report them from the record.
    pub fn requirements(&self, id: PackageId) -> &[Requirement] {
        self.requirements[id as usize].get_or_init(|| {
            let providers = |atoms: &[Atom]| -> Vec<Vec<PackageId>> {
                atoms.iter().map(|a| self.atom_providers(a)).collect()
            };
            self.get(id)
                .record
                .requires
                .iter()
                .filter_map(|cap| clauses(cap).ok())
                .flatten()
                .map(|clause| Requirement {
                    any: providers(&clause.any),
                    unless: providers(&clause.unless),
                })
                .collect()
        })
    }

    /// Packages whose name and version an obsoletes `cap` matches.
    pub fn obsoleted_by(&self, cap: &Capability) -> Vec<PackageId> {
        self.named(&cap.name)
            .iter()
            .copied()
            .filter(|id| match &cap.range {
                None => true,
                Some(range) => self.get(*id).evr_range().overlaps(range),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gather::capability::Op;

    fn record(name: &str, version: &str) -> PackageRecord {
        PackageRecord {
            name: name.into(),
            version: version.into(),
            release: "1".into(),
            arch: "x86_64".into(),
            pkgid: format!("{name}-{version}"),
            ..Default::default()
        }
    }

    #[test]
    fn packages_provide_themselves_their_provides_and_their_files() {
        let mut b = PoolBuilder::default();
        let mut foo = record("foo", "2");
        foo.provides.push(Capability::named("libfoo.so.1()(64bit)"));
        let foo = b.add(foo, Origin::PackageSet(0)).expect("binary");
        b.add_file(Origin::PackageSet(0), "foo-2", "/usr/bin/foo".into());
        let mut src = record("foo", "2");
        src.arch = "src".into();
        assert_eq!(b.add(src, Origin::PackageSet(1)), None);
        let pool = b.build();
        let want = |name: &str, range: Option<&str>| Capability {
            name: name.into(),
            range: range.map(|r| Range::parse(Op::Ge, r).expect("evr")),
        };
        assert_eq!(pool.what_provides(&want("foo", Some("2"))), [foo]);
        assert!(pool.what_provides(&want("foo", Some("3"))).is_empty());
        assert_eq!(
            pool.what_provides(&want("libfoo.so.1()(64bit)", None)),
            [foo]
        );
        assert_eq!(pool.what_provides(&want("/usr/bin/foo", None)), [foo]);
        assert_eq!(pool.get(foo).nevra(), "foo-2-1.x86_64");
    }
}
