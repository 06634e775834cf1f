#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs every libFuzzer target for a fixed number of inputs, or for a time:
#
#     tests/fuzz/run-fuzzers.sh BUILDDIR [RUNS]      (RUNS defaults to 20000)
#     tests/fuzz/run-fuzzers.sh BUILDDIR 30m         (30 minutes per target; s, m or h)
#
# BUILDDIR is configured with -Dfuzzing=true (see tests/fuzz/README.md). For
# each target, the reproducers in regressions/TARGET/ run first (each must
# pass), then the fuzzer runs RUNS inputs over a copy of corpus/TARGET/ in
# BUILDDIR/fuzz-corpus/TARGET/ (kept, so later runs go on from there); the
# committed corpus never grows. FUZZ_TARGETS="fuzz-spec ..." picks
# targets. Exits 1 on any crash, leak, hang or sanitizer report; the input
# that caused it is kept in BUILDDIR/fuzz-artifacts/.
set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILDDIR [RUNS]" >&2
    exit 2
fi
build=$1
runs=${2:-20000}
here=$(cd "$(dirname "$0")" && pwd)
targets=${FUZZ_TARGETS:-fuzz-qmp-client fuzz-spec fuzz-spec-prescan fuzz-quantity fuzz-json fuzz-qmp-command fuzz-dhcp fuzz-dhcp6 fuzz-cni-result fuzz-migration-doc fuzz-image-ref fuzz-image-manifest fuzz-www-auth fuzz-app-channel fuzz-label-selector fuzz-guest-agent}
artifacts="$build/fuzz-artifacts"
if [[ ! $runs =~ ^([0-9]+)([smh]?)$ ]]; then
    echo "$0: RUNS is a number of inputs or a time like 90s, 30m, 2h" >&2
    exit 2
fi
case ${BASH_REMATCH[2]} in
s) limit=(-runs=-1 -max_total_time="${BASH_REMATCH[1]}") ;;
m) limit=(-runs=-1 -max_total_time="$((BASH_REMATCH[1] * 60))") ;;
h) limit=(-runs=-1 -max_total_time="$((BASH_REMATCH[1] * 3600))") ;;
*) limit=(-runs="$runs") ;;
esac

# GLib 2.74's slice allocator hides leaks and use-after-free from ASan.
export G_SLICE=always-malloc
# Undefined behaviour is a crash, not a line in the log.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

max_len() {
    case $1 in
    fuzz-quantity) echo 64 ;;
    fuzz-spec) echo 16384 ;;
    fuzz-spec-prescan) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

mkdir -p "$artifacts"
failed=0

for target in $targets; do
    exe="$build/tests/fuzz/$target"
    if [ ! -x "$exe" ]; then
        echo "$target: $exe is missing; configure $build with -Dfuzzing=true and build it" >&2
        exit 2
    fi
    log="$artifacts/$target.log"

    regressions=("$here/regressions/$target"/*)
    if [ -e "${regressions[0]}" ]; then
        if ! "$exe" "${regressions[@]}" >"$log" 2>&1; then
            echo "$target: FAILED on a regression reproducer (log: $log)"
            grep -E '^Running:|ERROR|SUMMARY|check failed|fuzz-[a-z-]*\.c:[0-9]+:' "$log" | tail -n 8
            failed=1
            continue
        fi
    fi

    work="$build/fuzz-corpus/$target"
    mkdir -p "$work"
    cp -n "$here/corpus/$target"/* "$work/"
    "$exe" "${limit[@]}" -max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=2048 \
        -dict="$here/$target.dict" -artifact_prefix="$artifacts/$target-" \
        -print_final_stats=1 "$work" >>"$log" 2>&1
    rc=$?
    executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -ne 0 ]; then
        echo "$target: FAILED after ${executed:-?} inputs (log: $log)"
        grep -E 'ERROR|SUMMARY|check failed|fuzz-[a-z-]*\.c:[0-9]+:|Test unit written' "$log" |
            tail -n 8
        failed=1
    else
        echo "$target: ok, ${executed:-?} inputs"
    fi
done
exit $failed
