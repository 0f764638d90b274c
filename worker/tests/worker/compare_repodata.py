#!/usr/bin/python3
"""Compares two repositories' metadata with createrepo_c's own parser.

    compare_repodata.py OURS THEIRS

Both are parsed with createrepo_c's Python bindings (Debian python3-createrepo-c); every
package must appear in both with the same NEVRA, checksum, descriptive fields, sizes, header
range, location, dependencies (each list compared as a set), files and changelogs. Exits 1
listing the differences, 0 when the repositories mean the same.
"""

import sys

import createrepo_c as cr

DEP_LISTS = ["provides", "requires", "conflicts", "obsoletes",
             "recommends", "suggests", "supplements", "enhances"]
FIELDS = ["name", "arch", "epoch", "version", "release", "pkgId", "checksum_type",
          "summary", "description", "url", "rpm_packager", "time_build", "time_file",
          "size_package", "size_installed", "size_archive", "location_href",
          "rpm_license", "rpm_vendor", "rpm_group", "rpm_buildhost", "rpm_sourcerpm",
          "rpm_header_start", "rpm_header_end"]


def load(path):
    packages = {}
    md = cr.Metadata()
    md.locate_and_load_xml(path)
    for key in md.keys():
        packages[key] = md.get(key)
    return packages


def norm_epoch(value):
    return value if value not in (None, "") else "0"


def deps(pkg, kind):
    return sorted(
        (name or "", flags or "", norm_epoch(epoch) if ver else "", ver or "", rel or "", bool(pre))
        for (name, flags, epoch, ver, rel, pre) in getattr(pkg, kind)
    )


def main(ours_path, theirs_path):
    ours, theirs = load(ours_path), load(theirs_path)
    problems = []
    if set(ours) != set(theirs):
        problems.append("package sets differ: only ours %s, only theirs %s"
                        % (sorted(set(ours) - set(theirs))[:5], sorted(set(theirs) - set(ours))[:5]))
    for key in sorted(set(ours) & set(theirs)):
        a, b = ours[key], theirs[key]
        label = "%s-%s-%s.%s" % (b.name, b.version, b.release, b.arch)
        for field in FIELDS:
            va, vb = getattr(a, field), getattr(b, field)
            if field == "epoch":
                va, vb = norm_epoch(va), norm_epoch(vb)
            if va != vb:
                problems.append("%s: %s ours %r theirs %r" % (label, field, va, vb))
        for kind in DEP_LISTS:
            if deps(a, kind) != deps(b, kind):
                problems.append("%s: %s ours %r theirs %r" % (label, kind, deps(a, kind), deps(b, kind)))
        files_a = sorted(tuple(x or "" for x in f) for f in a.files)
        files_b = sorted(tuple(x or "" for x in f) for f in b.files)
        if files_a != files_b:
            problems.append("%s: files differ (%d vs %d)" % (label, len(a.files), len(b.files)))
        if sorted(tuple(x or "" for x in c) for c in a.changelogs) != sorted(
                tuple(x or "" for x in c) for c in b.changelogs):
            problems.append("%s: changelogs ours %r theirs %r" % (label, a.changelogs, b.changelogs))
    for line in problems[:40]:
        print(line)
    if problems:
        print("%d differences" % len(problems))
        return 1
    print("%d packages mean the same" % len(ours))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
