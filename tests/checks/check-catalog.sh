#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP: systemd/podvm.catalog is a catalog journalctl takes (--update-catalog
# into a scratch root), with an entry for every MESSAGE_ID of podvm-log.h and
# no other.
# Usage: check-catalog.sh CATALOG PODVM-LOG-H
set -u
catalog=$1
header=$2
echo "1..2"
if ! command -v journalctl >/dev/null; then
  echo "ok 1 # SKIP journalctl is not installed (apt-get install systemd)"
  echo "ok 2 # SKIP journalctl is not installed"
  exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd/catalog"
cp "$catalog" "$root/usr/lib/systemd/catalog/podvm.catalog"
if out=$(journalctl --root="$root" --update-catalog 2>&1) && [ -z "$out" ] &&
   [ -s "$root/var/lib/systemd/catalog/database" ]; then
  echo "ok 1 journalctl --update-catalog takes podvm.catalog"
else
  printf '%s\n' "$out" | sed 's/^/# /'
  echo "not ok 1 journalctl --update-catalog takes podvm.catalog"
fi
listed=$(journalctl --root="$root" --list-catalog 2>/dev/null | awk '$2 == "podvm:" {print $1}' | sort)
defined=$(grep -o '"[0-9a-f]\{32\}"' "$header" | tr -d '"' | sort)
if [ -n "$defined" ] && [ "$listed" = "$defined" ]; then
  echo "ok 2 every MESSAGE_ID of podvm-log.h has its entry, and only those ($(echo "$defined" | wc -l))"
else
  diff <(echo "$defined") <(echo "$listed") | sed 's/^/# /'
  echo "not ok 2 the catalog's ids are those of podvm-log.h"
fi
