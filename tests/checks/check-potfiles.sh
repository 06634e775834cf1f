#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP: every source file with translatable messages is in po/POTFILES.in,
# and every file listed there exists.
# Usage: check-potfiles.sh SOURCE-ROOT
set -u
cd "$1" || exit 1
echo "1..2"
listed=$(grep -v '^#' po/POTFILES.in | sed '/^$/d' | sort)
using=$(grep -rl --include='*.c' -E '(^|[^A-Za-z_])(_|N_|C_|NC_|g_dngettext)\(' \
          src qmp storage net migration apps 2>/dev/null | sort)
missing=$(comm -13 <(printf '%s\n' "$listed") <(printf '%s\n' "$using"))
if [ -n "$missing" ]; then
  printf '# not in po/POTFILES.in: %s\n' $missing
  echo "not ok 1 POTFILES.in lists every file with translatable messages"
  status=1
else
  echo "ok 1 POTFILES.in lists every file with translatable messages"
  status=0
fi
gone=""
for f in $listed; do [ -f "$f" ] || gone="$gone $f"; done
if [ -n "$gone" ]; then
  echo "# listed but missing:$gone"
  echo "not ok 2 every file in POTFILES.in exists"
  status=1
else
  echo "ok 2 every file in POTFILES.in exists"
fi
exit $status
