#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP: the installed unit passes `systemd-analyze verify`, and its
# Documentation= (man:podvmd(8)) resolves to the man page the build makes.
# Usage: check-systemd-unit.sh UNIT-FILE PODVMD-BINARY [PODVMD.8]
set -u
unit=$1
podvmd=$2
man_page=${3:-}
echo "1..2"
if ! command -v systemd-analyze >/dev/null; then
  echo "ok 1 # SKIP systemd-analyze is not installed (apt-get install systemd)"
  echo "ok 2 # SKIP systemd-analyze is not installed (apt-get install systemd)"
  exit 0
fi
# verify resolves ExecStart: point it at the built binary in a private copy.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=.*|ExecStart=$podvmd|" "$unit" > "$dir/podvmd.service"
status=0

# verify [--man=yes|no]: its findings, less those of a machine without a
# running system bus.
verify() {
  SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$@" "$dir/podvmd.service" 2>&1 \
    | grep -v -e "Failed to .*bus" -e "not running" -e "dbus-io.podvm"
}

out=$(verify --man=no)
if [ -n "$out" ]; then
  printf '%s\n' "$out" | sed 's/^/# /'
  echo "not ok 1 systemd-analyze verify podvmd.service"
  status=1
else
  echo "ok 1 systemd-analyze verify podvmd.service"
fi

if [ -z "$man_page" ] || [ ! -f "$man_page" ]; then
  echo "ok 2 # SKIP the man pages are not built (scdoc is missing: apt-get install scdoc)"
elif ! command -v man >/dev/null; then
  echo "ok 2 # SKIP man is not installed (apt-get install man-db)"
else
  # The page where man looks for it, as installed: MANPATH/man8/podvmd.8.
  mkdir -p "$dir/man/man8"
  cp "$man_page" "$dir/man/man8/"
  out=$(MANPATH=$dir/man verify --man=yes)
  if [ -n "$out" ]; then
    printf '%s\n' "$out" | sed 's/^/# /'
    echo "not ok 2 systemd-analyze verify --man=yes podvmd.service: Documentation= resolves"
    status=1
  else
    echo "ok 2 systemd-analyze verify --man=yes podvmd.service: Documentation= resolves"
  fi
fi
exit $status
