#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP: the D-Bus interface XML and the bus policy are well-formed XML.
# Usage: check-xml.sh FILE...
set -u
echo "1..$#"
n=0
status=0
for f in "$@"; do
  n=$((n + 1))
  if ! command -v xmllint >/dev/null; then
    echo "ok $n # SKIP xmllint is not installed (apt-get install libxml2-utils)"
    continue
  fi
  # --nonet: the DTDs are named by URL and must not be fetched.
  if out=$(xmllint --noout --nonet "$f" 2>&1); then
    echo "ok $n xmllint $(basename "$f")"
  else
    printf '%s\n' "$out" | sed 's/^/# /'
    echo "not ok $n xmllint $(basename "$f")"
    status=1
  fi
done
exit $status
