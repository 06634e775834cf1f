#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP: every C file of the project is formatted as .clang-format says.
# Fix with: clang-format -i $(git ls-files '*.c' '*.h')
# Usage: check-format.sh SOURCE-ROOT
set -u
cd "$1" || exit 1
echo "1..1"
if ! command -v clang-format >/dev/null; then
  echo "ok 1 # SKIP clang-format is not installed (apt-get install clang-format)"
  exit 0
fi
if [ -e .git ] && command -v git >/dev/null; then
  files=$(git ls-files '*.c' '*.h')
else
  files=$(find qmp src storage net migration apps guest tests -name '*.c' -o -name '*.h')
fi
# One clang-format for every file (one per file took over 30 s on a loaded
# 2-core machine); it names each file it would change.
out=$(clang-format --dry-run --Werror $files 2>&1)
rc=$?
bad=$(printf '%s\n' "$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u | tr '\n' ' ')
if [ $rc -ne 0 ] && [ -z "$bad" ]; then
  printf '%s\n' "$out" | head -20 | sed 's/^/# /'
  echo "not ok 1 clang-format failed (exit $rc)"
  exit 1
fi
if [ -n "$bad" ]; then
  echo "# not formatted (run clang-format -i on them): $bad"
  echo "not ok 1 clang-format"
  exit 1
fi
echo "ok 1 clang-format"
