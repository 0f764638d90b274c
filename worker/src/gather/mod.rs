//! Gathering: choosing the packages of a compose and everything they need, per compose arch.
//!
//! The pool holds the compose's package set and the lookaside repositories. For each arch, a
//! SAT solve ([`solver`]) installs the requested packages into an empty root; the package-set
//! packages of the result go into that arch's tree, lookaside ones stay out. The result is
//! then trimmed to what the requested packages actually reach, so it is never larger than
//! needed.

pub mod capability;
pub mod lookaside;
pub mod metadata;
pub mod multilib;
pub mod pool;
pub mod rich;
pub mod select;
pub mod solver;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use pool::{Origin, PackageId, Pool};
use rich::{clauses, Clause};
use solver::{solve, ArchPolicy, Job, Mode};

pub use multilib::Methods as MultilibMethods;

/// What to gather.
#[derive(Debug, Clone, Default)]
pub struct GatherRequest {
    /// The compose arches.
    pub arches: Vec<String>,
    /// Requested packages (`name` or `name.arch`); `None`: the whole package set.
    pub packages: Option<Vec<String>>,
    /// Take only the requested packages, not their dependencies.
    pub no_deps: bool,
    /// Arches that also get packages of their compatible arches.
    pub multilib_arches: Vec<String>,
    /// How those packages are chosen.
    pub multilib: MultilibMethods,
}

/// What was gathered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    /// For each chosen package-set package (by its index in the package set), the arches
    /// whose trees it belongs in.
    pub placement: BTreeMap<usize, BTreeSet<String>>,
    /// `"<package> requires <dependency>"` for dependencies nothing satisfies, and solver
    /// explanations for requests that could not be resolved.
    pub broken: Vec<String>,
    /// Requested packages found for no arch.
    pub missing: Vec<String>,
}

/// Gathers `request` from `pool`.
pub fn gather(pool: &Pool, request: &GatherRequest) -> Gathered {
    let mut out = Gathered::default();
    let mut found = HashSet::new();
    let mut broken = BTreeSet::new();
    for arch in &request.arches {
        for id in gather_arch(pool, request, arch, &mut found, &mut broken) {
            if let Origin::PackageSet(index) = pool.get(id).origin {
                out.placement.entry(index).or_default().insert(arch.clone());
            }
        }
    }
    if let Some(names) = &request.packages {
        let missing: BTreeSet<String> = names
            .iter()
            .filter(|n| !found.contains(n.as_str()))
            .cloned()
            .collect();
        out.missing = missing.into_iter().collect();
    }
    out.broken = broken.into_iter().collect();
    out
}

/// What gathering chose for one arch: every package (package set and lookaside).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchGathered {
    /// The chosen packages.
    pub packages: Vec<PackageId>,
    /// As [`Gathered::broken`].
    pub broken: Vec<String>,
    /// Requested names not found for the arch.
    pub missing: Vec<String>,
}

/// Gathers `request` for `arch` alone, keeping lookaside packages in the result.
pub fn chosen_packages(pool: &Pool, request: &GatherRequest, arch: &str) -> ArchGathered {
    let mut broken = BTreeSet::new();
    let mut found = HashSet::new();
    let packages = gather_arch(pool, request, arch, &mut found, &mut broken);
    let missing = request
        .packages
        .iter()
        .flatten()
        .filter(|n| !found.contains(n.as_str()))
        .cloned()
        .collect();
    ArchGathered {
        packages,
        broken: broken.into_iter().collect(),
        missing,
    }
}

/// The packages chosen for `arch`; records the requests found and what is broken.
fn gather_arch(
    pool: &Pool,
    request: &GatherRequest,
    arch: &str,
    found: &mut HashSet<String>,
    broken: &mut BTreeSet<String>,
) -> Vec<PackageId> {
    let multilib = request.multilib_arches.iter().any(|a| a == arch) && request.multilib.any();
    let compat: Vec<String> = if multilib {
        odcs_common::arch::compatible_arches(arch)
            .iter()
            .map(|a| (*a).to_owned())
            .collect()
    } else {
        Vec::new()
    };
    let policy = ArchPolicy::new(arch, &compat);
    match &request.packages {
        None => whole_set(pool, &policy, arch, request.multilib, broken),
        Some(names) => {
            let mut requests = Vec::new();
            for name in names {
                let candidates = requested(pool, &policy, name);
                if !candidates.is_empty() {
                    found.insert(name.clone());
                    requests.push(candidates);
                }
            }
            resolve(pool, &policy, arch, request, &requests, broken)
        }
    }
}

/// Package-set packages a request names (`name`, or `name.arch`) that `policy` allows.
fn requested(pool: &Pool, policy: &ArchPolicy, spec: &str) -> Vec<PackageId> {
    let by_name: Vec<PackageId> = pool
        .named(spec)
        .iter()
        .copied()
        .filter(|id| {
            let p = pool.get(*id);
            matches!(p.origin, Origin::PackageSet(_))
                && policy.preferred[..2].contains(&p.record.arch)
        })
        .collect();
    if !by_name.is_empty() {
        return by_name;
    }
    let Some((name, arch)) = spec.rsplit_once('.') else {
        return Vec::new();
    };
    pool.named(name)
        .iter()
        .copied()
        .filter(|id| {
            let p = pool.get(*id);
            matches!(p.origin, Origin::PackageSet(_))
                && p.record.arch == arch
                && policy.preferred.contains(&p.record.arch)
        })
        .collect()
}

fn allowed(pool: &Pool, policy: &ArchPolicy, id: PackageId) -> bool {
    policy.preferred.contains(&pool.get(id).record.arch)
}

/// The whole package set for one arch: its arch and noarch packages, plus multilib ones.
fn whole_set(
    pool: &Pool,
    policy: &ArchPolicy,
    arch: &str,
    methods: MultilibMethods,
    broken: &mut BTreeSet<String>,
) -> Vec<PackageId> {
    let chosen: Vec<PackageId> = (0..pool.packages().len() as PackageId)
        .filter(|id| {
            let p = pool.get(*id);
            let a = p.record.arch.as_str();
            matches!(p.origin, Origin::PackageSet(_))
                && (a == arch
                    || a == "noarch"
                    || (allowed(pool, policy, *id) && methods.selects(&p.record)))
        })
        .collect();
    let present: HashSet<PackageId> = chosen.iter().copied().collect();
    let available = |id: PackageId| {
        present.contains(&id)
            || (matches!(pool.get(id).origin, Origin::Lookaside(_)) && allowed(pool, policy, id))
    };
    for id in &chosen {
        for line in unmet(pool, *id, &available) {
            broken.insert(line);
        }
    }
    chosen
}

/// `"<package> requires <dependency>"` for each requirement of `id` that `installed`
/// packages do not satisfy.
fn unmet(pool: &Pool, id: PackageId, installed: &dyn Fn(PackageId) -> bool) -> Vec<String> {
    let pkg = pool.get(id);
    pkg.record
        .requires
        .iter()
        .filter(|cap| match clauses(cap) {
            Ok(parsed) => !parsed.iter().all(|c| holds(pool, c, installed)),
            Err(_) => true,
        })
        .map(|cap| format!("{} requires {cap}", pkg.nevra()))
        .collect()
}

/// Whether `clause` holds when exactly the `installed` packages are installed.
fn holds(pool: &Pool, clause: &Clause, installed: &dyn Fn(PackageId) -> bool) -> bool {
    clause
        .any
        .iter()
        .any(|a| pool.atom_providers(a).into_iter().any(installed))
        || clause
            .unless
            .iter()
            .any(|a| !pool.atom_providers(a).into_iter().any(installed))
}

/// The best package of each request, without dependencies.
fn pick_best(pool: &Pool, policy: &ArchPolicy, requests: &[Vec<PackageId>]) -> Vec<PackageId> {
    requests
        .iter()
        .filter_map(|choice| {
            choice
                .iter()
                .copied()
                .min_by(|a, b| best_first(pool, policy, *a, *b))
        })
        .collect()
}

/// Newest first, then by arch preference.
fn best_first(pool: &Pool, policy: &ArchPolicy, a: PackageId, b: PackageId) -> std::cmp::Ordering {
    let (pa, pb) = (&pool.get(a).record, &pool.get(b).record);
    let evr = |r: &metadata::PackageRecord| {
        rpm_version::Evr::new(r.epoch.to_string(), r.version.clone(), r.release.clone())
    };
    let rank = |arch: &str| policy.preferred.iter().position(|x| x == arch);
    evr(pb)
        .cmp(&evr(pa))
        .then_with(|| rank(&pa.arch).cmp(&rank(&pb.arch)))
        .then_with(|| a.cmp(&b))
}

/// Compatible-arch packages of the package set to add for the base-arch packages `chosen`.
fn multilib_candidates(
    pool: &Pool,
    policy: &ArchPolicy,
    arch: &str,
    methods: MultilibMethods,
    chosen: &[PackageId],
) -> Vec<PackageId> {
    let mut out = Vec::new();
    for id in chosen {
        let p = pool.get(*id);
        if p.record.arch != arch || !matches!(p.origin, Origin::PackageSet(_)) {
            continue;
        }
        let mut compat: Vec<PackageId> = pool
            .named(&p.record.name)
            .iter()
            .copied()
            .filter(|c| {
                let cp = pool.get(*c);
                cp.record.arch != arch
                    && cp.record.arch != "noarch"
                    && allowed(pool, policy, *c)
                    && matches!(cp.origin, Origin::PackageSet(_))
                    && methods.selects(&cp.record)
            })
            .collect();
        compat.sort_by(|a, b| best_first(pool, policy, *a, *b));
        // Prefer the compatible package of the same version as the base one.
        let same = compat.iter().copied().find(|c| {
            let r = &pool.get(*c).record;
            (r.epoch, &r.version, &r.release)
                == (p.record.epoch, &p.record.version, &p.record.release)
        });
        out.extend(same.or(compat.first().copied()));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Resolves `requests` for one arch, leniently: requests that cannot be resolved are reported
/// in `broken` and taken without their dependencies.
fn resolve(
    pool: &Pool,
    policy: &ArchPolicy,
    arch: &str,
    request: &GatherRequest,
    requests: &[Vec<PackageId>],
    broken: &mut BTreeSet<String>,
) -> Vec<PackageId> {
    if request.no_deps {
        let mut chosen = pick_best(pool, policy, requests);
        chosen.extend(multilib_candidates(
            pool,
            policy,
            arch,
            request.multilib,
            &chosen,
        ));
        return chosen;
    }
    let mut accepted: Vec<Vec<PackageId>> = requests.to_vec();
    let mut forced = Vec::new();
    // Explaining a conflict can take long; only the first solve explains.
    let job = |install: Vec<Vec<PackageId>>| Job {
        install,
        quiet: true,
        ..Job::default()
    };
    let mut mode = Mode::Strict;
    let first = Job {
        quiet: false,
        ..job(accepted.clone())
    };
    let mut solved = match solve(pool, policy, &first, Mode::Strict) {
        Ok(solved) => solved,
        Err(problem) => {
            // Gather what can be gathered, reporting what is broken.
            mode = Mode::Lenient;
            match solve(pool, policy, &job(accepted.clone()), Mode::Lenient) {
                Ok(solved) => {
                    if solved.unsatisfied.is_empty() {
                        broken.insert(problem.trim().to_owned());
                    }
                    solved
                }
                Err(_) => {
                    accepted.clear();
                    let mut last = None;
                    for choice in requests {
                        let mut trial = accepted.clone();
                        trial.push(choice.clone());
                        match solve(pool, policy, &job(trial), Mode::Lenient) {
                            Ok(solved) => {
                                accepted.push(choice.clone());
                                last = Some(solved);
                            }
                            Err(_) => {
                                let names: BTreeSet<String> = choice
                                    .iter()
                                    .map(|p| pool.get(*p).record.name.clone())
                                    .collect();
                                broken.insert(format!(
                                    "{} cannot be installed with the packages requested before it",
                                    names.into_iter().collect::<Vec<_>>().join(", ")
                                ));
                                forced.extend(pick_best(
                                    pool,
                                    policy,
                                    std::slice::from_ref(choice),
                                ));
                            }
                        }
                    }
                    last.unwrap_or(solver::Solved {
                        packages: Vec::new(),
                        unsatisfied: Vec::new(),
                    })
                }
            }
        }
    };
    let mut optional = Vec::new();
    if request.multilib.any() && policy.preferred.len() > 2 {
        optional = multilib_candidates(pool, policy, arch, request.multilib, &solved.packages);
        if !optional.is_empty() {
            if let Ok(with_multilib) = solve(
                pool,
                policy,
                &Job {
                    install: accepted.clone(),
                    optional: optional.clone(),
                    exclude: Vec::new(),
                    quiet: true,
                },
                mode,
            ) {
                solved = with_multilib;
            }
        }
    }
    for u in &solved.unsatisfied {
        broken.insert(format!(
            "{} requires {}",
            pool.get(u.package).nevra(),
            u.dependency
        ));
    }
    let mut roots: Vec<PackageId> = accepted
        .iter()
        .filter_map(|choice| {
            choice
                .iter()
                .copied()
                .find(|c| solved.packages.binary_search(c).is_ok())
        })
        .collect();
    roots.extend(
        optional
            .iter()
            .copied()
            .filter(|p| solved.packages.binary_search(p).is_ok()),
    );
    let mut chosen = trim(pool, &solved.packages, &roots);
    if optional.is_empty() {
        chosen = improve(pool, policy, &accepted, mode, chosen, &roots);
    }
    chosen.extend(forced);
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// Solves tried while looking for a smaller result.
const IMPROVEMENT_TRIES: usize = 48;

/// Looks for a smaller result than `chosen`: each package chosen as one of several
/// alternatives is excluded in turn, keeping any smaller solution found.
fn improve(
    pool: &Pool,
    policy: &ArchPolicy,
    install: &[Vec<PackageId>],
    mode: Mode,
    mut chosen: Vec<PackageId>,
    roots: &[PackageId],
) -> Vec<PackageId> {
    let mut exclude: Vec<PackageId> = Vec::new();
    let mut tried: HashSet<PackageId> = HashSet::new();
    let mut tries = 0;
    'search: while tries < IMPROVEMENT_TRIES {
        for q in alternatives_chosen(pool, policy, &chosen, roots) {
            if !tried.insert(q) {
                continue;
            }
            tries += 1;
            let mut trial = exclude.clone();
            trial.push(q);
            let job = Job {
                install: install.to_vec(),
                optional: Vec::new(),
                exclude: trial.clone(),
                quiet: true,
            };
            if let Ok(solved) = solve(pool, policy, &job, mode) {
                // The requested packages themselves must stay what they were.
                if !roots
                    .iter()
                    .all(|r| solved.packages.binary_search(r).is_ok())
                {
                    continue;
                }
                let smaller = trim(pool, &solved.packages, roots);
                if smaller.len() < chosen.len() {
                    chosen = smaller;
                    exclude = trial;
                    tried.clear();
                    continue 'search;
                }
            }
            if tries >= IMPROVEMENT_TRIES {
                break;
            }
        }
        break;
    }
    chosen
}

/// Packages of `chosen` (not roots) that only satisfy requirements other packages could also
/// satisfy: the choices a different solve might avoid.
fn alternatives_chosen(
    pool: &Pool,
    policy: &ArchPolicy,
    chosen: &[PackageId],
    roots: &[PackageId],
) -> Vec<PackageId> {
    let mut sole: HashSet<PackageId> = roots.iter().copied().collect();
    let mut optional: BTreeSet<PackageId> = BTreeSet::new();
    for id in chosen {
        for requirement in pool.requirements(*id) {
            if !requirement.unless.is_empty() {
                continue;
            }
            let providers: BTreeSet<PackageId> = requirement
                .any
                .iter()
                .flatten()
                .copied()
                .filter(|p| allowed(pool, policy, *p))
                .collect();
            let inside: Vec<PackageId> = providers
                .iter()
                .copied()
                .filter(|p| chosen.binary_search(p).is_ok())
                .collect();
            match (providers.len(), inside.as_slice()) {
                (1, [only]) => {
                    sole.insert(*only);
                }
                (_, found) => optional.extend(found.iter().copied()),
            }
        }
    }
    optional.into_iter().filter(|p| !sole.contains(p)).collect()
}

/// The part of `solution` that `roots` need: starting from the roots, each unmet requirement
/// takes its provider from the solution, until nothing is unmet.
fn trim(pool: &Pool, solution: &[PackageId], roots: &[PackageId]) -> Vec<PackageId> {
    let mut keep: BTreeSet<PackageId> = roots.iter().copied().collect();
    loop {
        let mut added = false;
        let current: Vec<PackageId> = keep.iter().copied().collect();
        for id in current {
            for requirement in pool.requirements(id) {
                if requirement.holds(&|p| keep.contains(&p)) {
                    continue;
                }
                let provider = requirement.any.iter().find_map(|providers| {
                    providers
                        .iter()
                        .copied()
                        .find(|p| solution.binary_search(p).is_ok())
                });
                if let Some(p) = provider {
                    added |= keep.insert(p);
                }
            }
        }
        if !added {
            return keep.into_iter().collect();
        }
    }
}
