#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP: the installed unit passes `systemd-analyze verify`.
# Usage: check-systemd-unit.sh UNIT-FILE PODVMD-BINARY
set -u
unit=$1
podvmd=$2
echo "1..1"
if ! command -v systemd-analyze >/dev/null; then
  echo "ok 1 # SKIP systemd-analyze is not installed (apt-get install systemd)"
  exit 0
fi
# verify resolves ExecStart: point it at the built binary in a private copy.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=.*|ExecStart=$podvmd|" "$unit" > "$dir/podvmd.service"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$dir/podvmd.service" 2>&1 \
      | grep -v -e "Failed to .*bus" -e "not running" -e "dbus-io.podvm" )
if [ -n "$out" ]; then
  printf '%s\n' "$out" | sed 's/^/# /'
  echo "not ok 1 systemd-analyze verify podvmd.service"
  exit 1
fi
echo "ok 1 systemd-analyze verify podvmd.service"
