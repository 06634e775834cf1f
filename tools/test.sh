#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The whole test suite, as CI runs it:
#   1. build (tools/setup.sh) and run every suite in ./build;
#   2. build again with AddressSanitizer + UndefinedBehaviorSanitizer in
#      ./build-asan and run the unit, qmp, dbus, rest, storage, faults, net, images and apps suites
#      under them
#      (LeakSanitizer on; any report fails the run);
#   3. when clang's libFuzzer is installed, run each fuzz target for a short,
#      fixed number of iterations (tests/fuzz/run-fuzzers.sh).
# It ends with one line: "N passed, N failed, N skipped" (test cases).
# PODVM_TEST_QUICK=1 does step 1 only. Extra arguments go to step 1's
# `meson test` (e.g. --suite unit).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/setup.sh" || exit 1
cd "$top"
build=${PODVM_BUILDDIR:-build}
asan=${PODVM_ASAN_BUILDDIR:-build-asan}
logs=("$build/meson-logs/testlog.json")
rc=0

meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || rc=1

if [ -z "${PODVM_TEST_QUICK:-}" ]; then
  echo "== sanitizers: unit, qmp, dbus, rest, storage, faults, net, images and apps suites under ASan+UBSan"
  if [ ! -f "$asan/build.ninja" ]; then
    meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || rc=1
  fi
  if ninja -C "$asan" >/dev/null; then
    ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:fast_unwind_on_malloc=0 \
    LSAN_OPTIONS=suppressions="$top/tests/lsan.supp":print_suppressions=0 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    G_SLICE=always-malloc \
      meson test -C "$asan" --print-errorlogs --num-processes 2 \
        --suite unit --suite qmp --suite dbus --suite rest --suite storage --suite faults \
        --suite net --suite images --suite apps || rc=1
    logs+=("$asan/meson-logs/testlog.json")
  else
    echo "podvm: the sanitizer build failed" >&2
    rc=1
  fi

  fuzz=${PODVM_FUZZ_BUILDDIR:-build-fuzz}
  if command -v clang >/dev/null && \
     ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "== fuzzing: each libFuzzer target for ${PODVM_FUZZ_RUNS:-20000} inputs"
    if [ ! -f "$fuzz/build.ninja" ]; then
      CC=clang meson setup "$fuzz" -Db_sanitize=address,undefined -Db_lundef=false \
        -Dfuzzing=true >/dev/null || rc=1
    fi
    if ninja -C "$fuzz" tests/fuzz/fuzz-qmp-client tests/fuzz/fuzz-spec \
         tests/fuzz/fuzz-spec-prescan tests/fuzz/fuzz-quantity tests/fuzz/fuzz-json \
         tests/fuzz/fuzz-qmp-command tests/fuzz/fuzz-dhcp tests/fuzz/fuzz-dhcp6 tests/fuzz/fuzz-cni-result \
         tests/fuzz/fuzz-migration-doc tests/fuzz/fuzz-image-ref tests/fuzz/fuzz-image-manifest tests/fuzz/fuzz-www-auth tests/fuzz/fuzz-app-channel tests/fuzz/fuzz-label-selector \
         tests/fuzz/fuzz-guest-agent >/dev/null; then
      tests/fuzz/run-fuzzers.sh "$fuzz" "${PODVM_FUZZ_RUNS:-20000}" || rc=1
    else
      echo "podvm: the fuzzing build failed" >&2
      rc=1
    fi
  else
    echo "== fuzzing: skipped: clang's libFuzzer is not installed (apt-get install clang libclang-rt-14-dev)"
  fi
fi

python3 - "${logs[@]}" <<'PY' || true
# Counts the GLib test cases (TAP lines) of every run, not just the programs.
import json, re, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).readlines()
    except OSError:
        continue
    for line in lines:
        r = json.loads(line)
        cases = 0
        for out in (r.get("stdout") or "").splitlines():
            if re.match(r"^ok \d+.*# SKIP", out):
                skipped += 1; cases += 1
            elif re.match(r"^ok \d+", out):
                passed += 1; cases += 1
            elif re.match(r"^not ok \d+.*# TODO", out):
                passed += 1; cases += 1
            elif re.match(r"^not ok \d+", out):
                failed += 1; cases += 1
        if cases == 0:  # no TAP output: count the program itself
            res = r.get("result")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
        elif r.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP"):
            failed += 1  # a crash or timeout after some cases passed
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
