#!/usr/bin/env bash
# The CPU a benchmark ran on, in one line: model name, family/model/stepping (a VM often shows
# only "AMD EPYC", which names no generation), clock, cores and whether it has the SHA
# extensions. Sourced (for `sha_ni` and `cpu_line`) or run by the benchmark scripts, so every
# table records it alike.

# "yes" when the CPU has the SHA extensions, else "no".
sha_ni() { if grep -qw sha_ni /proc/cpuinfo; then echo yes; else echo no; fi; }

cpu_line() {
  awk -F': ' -v cores="$(nproc)" -v sha="$(sha_ni)" '
    /^model name/ && !name {name = $2}
    /^cpu family/ && !family {family = $2}
    /^model\t/ && !model {model = $2}
    /^stepping/ && !stepping {stepping = $2}
    /^cpu MHz/ && !mhz {mhz = $2}
    END {
      printf "%s (family %s, model %s, stepping %s, %.0f MHz), %s cores; SHA extensions (sha_ni): %s\n",
        name, family, model, stepping, mhz, cores, sha
    }' /proc/cpuinfo
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then cpu_line; fi
