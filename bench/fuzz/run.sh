#!/usr/bin/env bash
# Runs each fuzz target for N minutes (default 5), seeded from real inputs: the fixture RPMs,
# their repodata, recorded Koji answers and the API's example requests. Crashes are left in
# bench/fuzz/artifacts/TARGET/; each one found becomes a regression test in the crate it hit.
#
#   bash bench/fuzz/run.sh [MINUTES] [TARGET...]
#
# Needs cargo-fuzz, which it installs when missing. It builds with the toolchain the workspace
# uses and RUSTC_BOOTSTRAP=1 for the sanitizer flags: current nightlies no longer compile the
# rustix 0.37 that lapin pulls in. The corpus grows in ~/.cache/odcs-fuzz-corpus across runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
minutes="${1:-5}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(rpm_header xmlrpc_response repodata lookaside compose_request)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${ODCS_FUZZ_TARGET_DIR:-$HOME/.cache/odcs-fuzz-target}"
corpus_root="${ODCS_FUZZ_CORPUS:-$HOME/.cache/odcs-fuzz-corpus}"
fixtures="${ODCS_TEST_FIXTURE_REPO:-$root/../shared/fixtures/odcs-test-repo}"

seed() {
  local target="$1" dir="$2"
  case "$target" in
    rpm_header) find "$fixtures" -name '*.rpm' -size -2M -exec cp -t "$dir" {} + ;;
    repodata | lookaside)
      find "$fixtures/repodata" -type f -size -2M -exec cp -t "$dir" {} + ;;
    xmlrpc_response) cp "$here"/seeds/xmlrpc/* "$dir"/ ;;
    compose_request) cp "$here"/seeds/requests/* "$dir"/ ;;
  esac
}

cd "$root"
for target in "${targets[@]}"; do
  corpus="$corpus_root/$target"
  seeds="$(mktemp -d)"
  mkdir -p "$corpus" "$here/artifacts/$target"
  seed "$target" "$seeds"
  echo "== $target: $minutes min"
  cargo fuzz run --fuzz-dir "$here" "$target" "$corpus" "$seeds" -- \
    -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$here/artifacts/$target/" -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+ +DONE|stat::|==[0-9]+==|SUMMARY|thread .* panicked|Done )' || true
  rm -rf "$seeds"
  if [ -n "$(ls -A "$here/artifacts/$target")" ]; then
    echo "!! $target: crashes in $here/artifacts/$target" >&2
  fi
done
