//! RPM semantics for the `resolvo` SAT solver.
//!
//! resolvo knows names, candidates of a name, and version sets (subsets of one name's
//! candidates). RPM capabilities map onto that as follows:
//! - a name is a package name with its arch colour (noarch, 32-bit, 64-bit), so at most one
//!   version of `glibc.x86_64` is chosen but `glibc.i686` may sit beside it (multilib), as
//!   libsolv does with `POOL_FLAG_IMPLICITOBSOLETEUSESCOLORS`;
//! - a requirement on a capability is the union, over every package name providing it, of
//!   "candidates of this name providing the capability";
//! - conflicts and obsoletes are constraints: "any chosen candidate of this name must not
//!   provide / be obsoleted by it";
//! - a rich requirement becomes clauses ([`super::rich`]); conditions (`if`, `unless`) are
//!   resolvo conditional requirements: "some candidate of a providing name provides it".

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use resolvo::utils::{Pool as Interner, VersionSet};
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider,
    KnownDependencies, LogicalOperator, NameId, Problem, Requirement, SolvableId, Solver,
    SolverCache, StringId, UnsolvableOrCancelled, VersionSetId, VersionSetUnionId,
};
use rpm_version::Evr;

use super::capability::Capability;
use super::pool::{Origin, PackageId, Pool};
use super::rich::{alternatives, clauses, Atom};

/// The arch colour libsolv uses to let 32- and 64-bit packages of one name coexist.
pub fn colour(arch: &str) -> u8 {
    match arch {
        "noarch" => 0,
        "x86_64" | "aarch64" | "ppc64" | "ppc64le" | "s390x" | "riscv64" | "sparc64" => 2,
        _ => 1,
    }
}

/// Which arches a solve may choose from, in order of preference.
#[derive(Debug, Clone)]
pub struct ArchPolicy {
    /// The compose arch, then noarch, then compatible (multilib) arches.
    pub preferred: Vec<String>,
}

impl ArchPolicy {
    /// `arch` and noarch, plus `compat` arches.
    pub fn new(arch: &str, compat: &[String]) -> ArchPolicy {
        let mut preferred = vec![arch.to_owned(), "noarch".to_owned()];
        preferred.extend(compat.iter().filter(|c| *c != arch).cloned());
        ArchPolicy { preferred }
    }

    fn rank(&self, arch: &str) -> Option<usize> {
        self.preferred.iter().position(|a| a == arch)
    }
}

/// A package name with its arch colour.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct NameKey(String, u8);

impl fmt::Display for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subset of one name's candidates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Match {
    Provides(Atom),
    NotProviding(Atom, PackageId),
    NotObsoleted(Capability, PackageId),
    FromPackageSet,
}

impl VersionSet for Match {
    type V = PackageId;
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Match::Provides(atom) => write!(f, "providing {atom}"),
            Match::NotProviding(atom, _) => write!(f, "not providing {atom}"),
            Match::NotObsoleted(cap, _) => write!(f, "not obsoleted by {cap}"),
            Match::FromPackageSet => f.write_str("from the package set"),
        }
    }
}

/// A dependency no package in the pool satisfies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unsatisfied {
    /// The package needing it.
    pub package: PackageId,
    /// The dependency, as the package states it.
    pub dependency: String,
}

struct Provider<'p> {
    pool: &'p Pool,
    policy: &'p ArchPolicy,
    ids: Interner<Match, NameKey>,
    solvables: Vec<Option<SolvableId>>,
    candidates: HashMap<NameId, Vec<SolvableId>>,
    providers: RefCell<HashMap<Atom, std::rc::Rc<Vec<PackageId>>>>,
    unsatisfied: RefCell<BTreeSet<Unsatisfied>>,
    known: RefCell<HashMap<PackageId, KnownDependencies>>,
    strict: bool,
    /// The compose the solve serves: a solve stops when it must (lease lost, deadline).
    cancel: Option<crate::cancel::Cancel>,
}

impl<'p> Provider<'p> {
    fn new(pool: &'p Pool, policy: &'p ArchPolicy, exclude: &[PackageId], strict: bool) -> Self {
        let ids = Interner::new();
        let mut solvables = vec![None; pool.packages().len()];
        let mut candidates: HashMap<NameId, Vec<SolvableId>> = HashMap::new();
        for (id, pkg) in pool.packages().iter().enumerate() {
            if policy.rank(&pkg.record.arch).is_none() || exclude.contains(&(id as PackageId)) {
                continue;
            }
            let name =
                ids.intern_package_name(NameKey(pkg.record.name.clone(), colour(&pkg.record.arch)));
            let solvable = ids.intern_solvable(name, id as PackageId);
            solvables[id] = Some(solvable);
            candidates.entry(name).or_default().push(solvable);
        }
        Provider {
            pool,
            policy,
            ids,
            solvables,
            candidates,
            providers: RefCell::default(),
            unsatisfied: RefCell::default(),
            known: RefCell::default(),
            strict,
            cancel: crate::cancel::current(),
        }
    }

    fn package(&self, solvable: SolvableId) -> PackageId {
        self.ids.resolve_solvable(solvable).record
    }

    /// Allowed packages satisfying `atom`, sorted.
    fn providers(&self, atom: &Atom) -> std::rc::Rc<Vec<PackageId>> {
        if let Some(found) = self.providers.borrow().get(atom) {
            return found.clone();
        }
        let found: Vec<PackageId> = self
            .pool
            .atom_providers(atom)
            .into_iter()
            .filter(|id| self.solvables[*id as usize].is_some())
            .collect();
        let found = std::rc::Rc::new(found);
        self.providers
            .borrow_mut()
            .insert(atom.clone(), found.clone());
        found
    }

    fn name_of(&self, package: PackageId) -> Option<NameId> {
        self.solvables[package as usize].map(|s| self.ids.resolve_solvable(s).name)
    }

    /// One version set per package name among `packages`.
    fn sets_by_name(
        &self,
        packages: &[PackageId],
        set: impl Fn() -> Match,
        out: &mut Vec<VersionSetId>,
    ) {
        // Alternatives in order of preference (see `compare`): resolvo tries them in order.
        let mut best: Vec<PackageId> = packages.to_vec();
        best.sort_by(|a, b| self.compare(*a, *b));
        let mut names: Vec<NameId> = Vec::new();
        for name in best.iter().filter_map(|p| self.name_of(*p)) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        for name in names {
            let vs = self.ids.intern_version_set(name, set());
            if !out.contains(&vs) {
                out.push(vs);
            }
        }
    }

    fn requirement(&self, sets: &[VersionSetId]) -> Option<Requirement> {
        match sets {
            [] => None,
            [one] => Some(Requirement::Single(*one)),
            [first, rest @ ..] => Some(Requirement::Union(
                self.ids
                    .intern_version_set_union(*first, rest.iter().copied()),
            )),
        }
    }

    /// The condition "some package providing `atom` is chosen" (`None` when nothing allowed
    /// provides it, so it never holds).
    fn provided(&self, atom: &Atom) -> Option<ConditionId> {
        let providers = self.providers(atom);
        let mut sets = Vec::new();
        self.sets_by_name(&providers, || Match::Provides(atom.clone()), &mut sets);
        sets.into_iter()
            .map(|vs| self.ids.intern_condition(Condition::Requirement(vs)))
            .reduce(|a, b| {
                self.ids
                    .intern_condition(Condition::Binary(LogicalOperator::Or, a, b))
            })
    }

    /// Constraints keeping every other package providing `atom` out when `package` is in.
    fn forbid(&self, atom: &Atom, package: PackageId, out: &mut Vec<VersionSetId>) {
        let others: Vec<PackageId> = self
            .providers(atom)
            .iter()
            .copied()
            .filter(|p| *p != package)
            .collect();
        self.sets_by_name(&others, || Match::NotProviding(atom.clone(), package), out);
    }

    /// The package's dependencies, computed once.
    fn dependencies(&self, package: PackageId) -> KnownDependencies {
        if let Some(known) = self.known.borrow().get(&package) {
            return known.clone();
        }
        let known = self.compute_dependencies(package);
        self.known.borrow_mut().insert(package, known.clone());
        known
    }

    /// The first dependency of `package` nothing provides, if any.
    fn first_unsatisfied(&self, package: PackageId) -> Option<String> {
        self.dependencies(package);
        self.unsatisfied
            .borrow()
            .range(
                Unsatisfied {
                    package,
                    dependency: String::new(),
                }..,
            )
            .next()
            .filter(|u| u.package == package)
            .map(|u| u.dependency.clone())
    }

    fn compute_dependencies(&self, package: PackageId) -> KnownDependencies {
        let record = &self.pool.get(package).record;
        let mut known = KnownDependencies::default();
        // Recorded and left out of the requirements: strict solves exclude the package
        // (see `get_candidates`), lenient ones gather the rest and report it.
        let unsatisfied = |dependency: String, _: &mut KnownDependencies| {
            self.unsatisfied.borrow_mut().insert(Unsatisfied {
                package,
                dependency,
            });
        };
        for cap in &record.requires {
            let parsed = match clauses(cap) {
                Ok(parsed) => parsed,
                Err(e) => {
                    unsatisfied(e.to_string(), &mut known);
                    continue;
                }
            };
            for clause in parsed {
                let mut sets = Vec::new();
                for atom in &clause.any {
                    let providers = self.providers(atom);
                    self.sets_by_name(&providers, || Match::Provides(atom.clone()), &mut sets);
                }
                let conditions: Option<Vec<ConditionId>> = clause
                    .unless
                    .iter()
                    .map(|atom| self.provided(atom))
                    .collect();
                let Some(conditions) = conditions else {
                    // A condition nothing can satisfy never holds: the clause is satisfied.
                    continue;
                };
                let condition = conditions.into_iter().reduce(|a, b| {
                    self.ids
                        .intern_condition(Condition::Binary(LogicalOperator::And, a, b))
                });
                match (self.requirement(&sets), condition) {
                    (Some(requirement), condition) => {
                        known.requirements.push(ConditionalRequirement {
                            condition,
                            requirement,
                        })
                    }
                    (None, None) => unsatisfied(cap.to_string(), &mut known),
                    (None, Some(_)) => {
                        // "not all of these": expressible as a constraint for one atom.
                        if let [atom] = clause.unless.as_slice() {
                            self.forbid(atom, package, &mut known.constrains);
                        }
                    }
                }
            }
        }
        for cap in &record.conflicts {
            for atom in alternatives(cap).unwrap_or_default() {
                self.forbid(&atom, package, &mut known.constrains);
            }
        }
        for cap in &record.obsoletes {
            let obsoleted: Vec<PackageId> = self
                .pool
                .obsoleted_by(cap)
                .into_iter()
                .filter(|p| *p != package && self.solvables[*p as usize].is_some())
                .collect();
            self.sets_by_name(
                &obsoleted,
                || Match::NotObsoleted(cap.clone(), package),
                &mut known.constrains,
            );
        }
        known
    }

    fn matches(&self, package: PackageId, set: &Match) -> bool {
        match set {
            Match::Provides(atom) => self.providers(atom).binary_search(&package).is_ok(),
            Match::NotProviding(atom, except) => {
                package == *except || self.providers(atom).binary_search(&package).is_err()
            }
            Match::NotObsoleted(cap, except) => {
                let pkg = self.pool.get(package);
                package == *except
                    || pkg.record.name != cap.name
                    || cap
                        .range
                        .as_ref()
                        .is_some_and(|r| !pkg.evr_range().overlaps(r))
            }
            Match::FromPackageSet => {
                matches!(self.pool.get(package).origin, Origin::PackageSet(_))
            }
        }
    }

    /// Preference: the package set over lookaside; then, as libsolv, names in alphabetical
    /// order, newer versions, the compose arch over noarch over compatible arches.
    fn compare(&self, a: PackageId, b: PackageId) -> Ordering {
        let (pa, pb) = (self.pool.get(a), self.pool.get(b));
        let lookaside = |p: &super::pool::PoolPackage| matches!(p.origin, Origin::Lookaside(_));
        let evr = |p: &super::pool::PoolPackage| {
            Evr::new(
                p.record.epoch.to_string(),
                p.record.version.clone(),
                p.record.release.clone(),
            )
        };
        lookaside(pa)
            .cmp(&lookaside(pb))
            .then_with(|| pa.record.name.cmp(&pb.record.name))
            .then_with(|| evr(pb).cmp(&evr(pa)))
            .then_with(|| {
                self.policy
                    .rank(&pa.record.arch)
                    .cmp(&self.policy.rank(&pb.record.arch))
            })
            .then_with(|| a.cmp(&b))
    }
}

impl resolvo::Interner for Provider<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl fmt::Display + '_ {
        self.pool.get(self.package(solvable)).nevra()
    }

    fn display_name(&self, name: NameId) -> impl fmt::Display + '_ {
        self.ids.resolve_package_name(name).to_string()
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl fmt::Display + '_ {
        self.ids.resolve_version_set(version_set).to_string()
    }

    fn display_string(&self, string_id: StringId) -> impl fmt::Display + '_ {
        self.ids.resolve_string(string_id).to_owned()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.ids.resolve_version_set_package_name(version_set)
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.ids.resolve_solvable(solvable).name
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        self.ids.resolve_version_set_union(version_set_union)
    }

    fn resolve_condition(&self, condition: ConditionId) -> Condition {
        self.ids.resolve_condition(condition).clone()
    }
}

impl DependencyProvider for Provider<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let set = self.ids.resolve_version_set(version_set);
        candidates
            .iter()
            .copied()
            .filter(|s| self.matches(self.package(*s), set) != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates> {
        let candidates = self.candidates.get(&name).cloned().unwrap_or_default();
        // Strict: a package needing something nothing provides cannot be installed, as for
        // libsolv.
        let excluded = if self.strict {
            candidates
                .iter()
                .filter_map(|s| {
                    let package = self.package(*s);
                    self.first_unsatisfied(package).map(|dep| {
                        let reason = format!("nothing provides {dep}");
                        (*s, self.ids.intern_string(reason))
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        Some(Candidates {
            candidates,
            excluded,
            ..Candidates::default()
        })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        solvables.sort_by(|a, b| self.compare(self.package(*a), self.package(*b)));
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        Dependencies::Known(self.dependencies(self.package(solvable)))
    }

    fn should_cancel_with_value(&self) -> Option<Box<dyn std::any::Any>> {
        let stop = self.cancel.as_ref()?.check().err()?;
        Some(Box::new(stop))
    }
}

/// What one solve asks for.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// Each entry must be satisfied by one of its packages (package-set packages only).
    pub install: Vec<Vec<PackageId>>,
    /// Packages to add when they can be installed, skipped otherwise.
    pub optional: Vec<PackageId>,
    /// Packages the solve must not choose.
    pub exclude: Vec<PackageId>,
    /// Skip explaining why the job cannot be satisfied (the caller only needs to know).
    pub quiet: bool,
}

/// A solve's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solved {
    /// Every chosen package (package set and lookaside), sorted.
    pub packages: Vec<PackageId>,
    /// Dependencies of chosen packages no package satisfies (left out of the solve).
    pub unsatisfied: Vec<Unsatisfied>,
}

/// How requirements nothing provides are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The requiring package cannot be installed (libsolv's semantics).
    Strict,
    /// The requirement is left out and reported in [`Solved::unsatisfied`].
    Lenient,
}

/// Solves `job` over the packages of `pool` that `policy` allows; `Err` explains why the
/// job cannot be satisfied.
pub fn solve(pool: &Pool, policy: &ArchPolicy, job: &Job, mode: Mode) -> Result<Solved, String> {
    let provider = Provider::new(pool, policy, &job.exclude, mode == Mode::Strict);
    let mut requirements = Vec::new();
    for choice in &job.install {
        let mut sets = Vec::new();
        provider.sets_by_name(choice, || Match::FromPackageSet, &mut sets);
        match provider.requirement(&sets) {
            Some(r) => requirements.push(ConditionalRequirement::from(r)),
            None => {
                let names: BTreeSet<String> = choice
                    .iter()
                    .map(|p| pool.get(*p).record.name.clone())
                    .collect();
                return Err(format!(
                    "no package for {} is installable on {}",
                    names.into_iter().collect::<Vec<_>>().join(", "),
                    policy.preferred.join("/")
                ));
            }
        }
    }
    let optional: Vec<SolvableId> = job
        .optional
        .iter()
        .filter_map(|p| provider.solvables[*p as usize])
        .collect();
    let problem = Problem::new()
        .requirements(requirements)
        .soft_requirements(optional);
    let mut solver = Solver::new(provider);
    match solver.solve(problem) {
        Ok(chosen) => {
            let provider = solver.provider();
            let mut packages: Vec<PackageId> =
                chosen.into_iter().map(|s| provider.package(s)).collect();
            packages.sort_unstable();
            packages.dedup();
            let unsatisfied = provider
                .unsatisfied
                .borrow()
                .iter()
                .filter(|u| packages.binary_search(&u.package).is_ok())
                .cloned()
                .collect();
            Ok(Solved {
                packages,
                unsatisfied,
            })
        }
        Err(UnsolvableOrCancelled::Unsolvable(_)) if job.quiet => Err(String::new()),
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
            // resolvo's explanation asserts on some conflict graphs; a failed explanation
            // must not take the worker down with it.
            let explained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                conflict.display_user_friendly(&solver).to_string()
            }));
            Err(explained.unwrap_or_else(|_| {
                "the requested packages cannot be installed together".to_owned()
            }))
        }
        Err(UnsolvableOrCancelled::Cancelled(_)) => {
            Err("dependency resolution was cancelled".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gather::metadata::PackageRecord;
    use crate::gather::pool::PoolBuilder;

    fn pool(packages: &[(&str, &[&str], &[&str])]) -> Pool {
        let mut b = PoolBuilder::default();
        for (i, (name, requires, provides)) in packages.iter().enumerate() {
            b.add(
                PackageRecord {
                    name: (*name).into(),
                    version: "1".into(),
                    release: "1".into(),
                    arch: "noarch".into(),
                    pkgid: (*name).into(),
                    requires: requires.iter().map(|r| Capability::named(*r)).collect(),
                    provides: provides.iter().map(|r| Capability::named(*r)).collect(),
                    ..Default::default()
                },
                Origin::PackageSet(i),
            );
        }
        b.build()
    }

    fn names(pool: &Pool, solved: &Solved) -> Vec<String> {
        solved
            .packages
            .iter()
            .map(|p| pool.get(*p).record.name.clone())
            .collect()
    }

    #[test]
    fn conditions_that_hold_require_their_consequence() {
        let pool = pool(&[
            ("app", &["(plugin if extra)"], &[]),
            ("extra", &[], &[]),
            ("plugin", &[], &[]),
        ]);
        let policy = ArchPolicy::new("x86_64", &[]);
        let job = |ids: &[PackageId]| Job {
            install: ids.iter().map(|i| vec![*i]).collect(),
            ..Job::default()
        };
        let alone = solve(&pool, &policy, &job(&[0]), Mode::Strict).expect("solves");
        assert_eq!(names(&pool, &alone), ["app"]);
        let both = solve(&pool, &policy, &job(&[0, 1]), Mode::Strict).expect("solves");
        assert_eq!(names(&pool, &both), ["app", "extra", "plugin"]);
        let reversed = solve(&pool, &policy, &job(&[1, 0]), Mode::Strict).expect("solves");
        assert_eq!(names(&pool, &reversed), ["app", "extra", "plugin"]);
    }
}
