"""libsolv side of the gather benchmark (Debian python3-solv in RPM mode, as dnf uses it).

    libsolv_bench.py REPO_DIR pick OUT_DIR   write the job files: deep.txt (the name with the
                                              largest closure), random50.txt, devel.txt
    libsolv_bench.py REPO_DIR solve NAMES     load primary+filelists and solve installing NAMES
                                              (a file); prints "packages load_ms solve_ms"
"""
import random
import re
import sys
import time

import solv


def locations(repo_dir):
    text = open(f"{repo_dir}/repodata/repomd.xml").read()
    found = {}
    for kind, href in re.findall(r'<data type="(\w+)">.*?<location href="([^"]+)"', text, re.S):
        found[kind] = f"{repo_dir}/{href}"
    return found["primary"], found["filelists"]


def load(repo_dir):
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_RPM)
    pool.setarch("x86_64")
    pool.set_flag(solv.Pool.POOL_FLAG_IMPLICITOBSOLETEUSESCOLORS, 1)
    repo = pool.add_repo("corpus")
    primary, filelists = locations(repo_dir)
    repo.add_rpmmd(solv.xfopen(primary), None, 0)
    repo.add_rpmmd(solv.xfopen(filelists), None, solv.Repo.REPO_EXTEND_SOLVABLES)
    pool.addfileprovides()
    pool.createwhatprovides()
    return pool


def solve(pool, names):
    solver = pool.Solver()
    solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
    jobs = []
    for name in names:
        jobs += pool.select(name, solv.Selection.SELECTION_NAME).jobs(solv.Job.SOLVER_INSTALL)
    problems = solver.solve(jobs)
    if problems:
        return None
    return solver.transaction().newsolvables()


def main():
    repo_dir, mode = sys.argv[1], sys.argv[2]
    if mode == "pick":
        out = sys.argv[3]
        pool = load(repo_dir)
        names = sorted({s.name for s in pool.solvables_iter() if s.arch in ("x86_64", "noarch")})
        sizes = []
        for name in names:
            got = solve(pool, [name])
            if got is not None:
                sizes.append((len(got), name))
        deep = max(sizes)[1]
        open(f"{out}/deep.txt", "w").write(deep + "\n")
        rng = random.Random(42)
        open(f"{out}/random50.txt", "w").write("\n".join(rng.sample(names, 50)) + "\n")
        devel = [n for n in names if n.endswith("-devel")]
        open(f"{out}/devel.txt", "w").write("\n".join(devel) + "\n")
        return
    names = open(sys.argv[3]).read().split()
    start = time.perf_counter()
    pool = load(repo_dir)
    loaded = time.perf_counter()
    got = solve(pool, names)
    solved = time.perf_counter()
    count = len(got) if got is not None else -1
    print(f"{count} {(loaded - start) * 1000:.1f} {(solved - loaded) * 1000:.2f}")


main()
