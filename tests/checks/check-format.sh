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
if [ -d .git ] && command -v git >/dev/null; then
  files=$(git ls-files '*.c' '*.h')
else
  files=$(find qmp src storage net migration apps guest tests -name '*.c' -o -name '*.h')
fi
bad=""
for f in $files; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
  echo "# not formatted (run clang-format -i on them):$bad"
  echo "not ok 1 clang-format"
  exit 1
fi
echo "ok 1 clang-format"
