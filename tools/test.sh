#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The whole test suite: builds podvm (tools/setup.sh), runs `meson test`,
# and prints one closing line "N passed, N failed, N skipped".
# Extra arguments go to `meson test` (e.g. --suite unit).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/setup.sh" || exit 1
cd "$top"
build=${PODVM_BUILDDIR:-build}

meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
rc=$?

python3 - "$build/meson-logs/testlog.json" <<'PY' || true
# Counts the GLib test cases (TAP lines), not just the programs.
import json, re, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
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
