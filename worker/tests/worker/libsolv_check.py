"""Solves install jobs with libsolv (Debian python3-solv, switched to RPM semantics as dnf
uses it) over one repository's primary.xml and filelists.xml, for comparison with our gather.

Usage: libsolv_check.py DIR, where DIR holds primary.xml, filelists.xml and jobs.json: a list
of {"install": [names], "ours": [nevra...]}. Prints, per job, whether libsolv can install the
names into an empty root and which package names it picks, and whether installing exactly
our packages is consistent and closed (libsolv adds nothing to them).
"""
import json
import sys

import solv


def load(directory):
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_RPM)
    pool.setarch("x86_64")
    pool.set_flag(solv.Pool.POOL_FLAG_IMPLICITOBSOLETEUSESCOLORS, 1)
    repo = pool.add_repo("packages")
    with open(f"{directory}/primary.xml", "rb") as handle:
        f = solv.xfopen_fd(None, handle.fileno())
        repo.add_rpmmd(f, None, 0)
    with open(f"{directory}/filelists.xml", "rb") as handle:
        f = solv.xfopen_fd(None, handle.fileno())
        repo.add_rpmmd(f, None, solv.Repo.REPO_EXTEND_SOLVABLES)
    pool.addfileprovides()
    pool.createwhatprovides()
    return pool


def solve(pool, jobs):
    solver = pool.Solver()
    solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
    problems = solver.solve(jobs)
    if problems:
        return None, [str(p) for p in problems]
    return sorted(s.str() for s in solver.transaction().newsolvables()), []


def main():
    directory = sys.argv[1]
    pool = load(directory)
    by_nevra = {s.str(): s for s in pool.solvables_iter()}
    with open(f"{directory}/jobs.json") as handle:
        jobs = json.load(handle)
    results = []
    for job in jobs:
        install = []
        for name in job["install"]:
            install += pool.select(name, solv.Selection.SELECTION_NAME).jobs(solv.Job.SOLVER_INSTALL)
        picked, problems = solve(pool, install)
        ours = [by_nevra[n] for n in job["ours"]]
        exact = [pool.Job(solv.Job.SOLVER_SOLVABLE | solv.Job.SOLVER_INSTALL, s.id) for s in ours]
        closure, closure_problems = solve(pool, exact)
        results.append({
            "solvable": picked is not None,
            "picked": picked or [],
            "problems": problems,
            "ours_closed": closure is not None and sorted(closure) == sorted(job["ours"]),
            "closure": closure or closure_problems,
        })
    json.dump(results, sys.stdout)


main()
