#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The demo: builds podvm, starts podvmd with local state (./demo-state,
# ./demo-run) on a private D-Bus session bus, boots the bundled tiny guest,
# shows it running and its console, pauses and resumes it, stops it, and
# shuts podvmd down. Each podvmctl command is printed before it runs.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${PODVM_DEMO_INNER:-}" ]; then
  "$top/tools/setup.sh"
  # A private session bus for this demo only; gone when the demo ends.
  exec env PODVM_DEMO_INNER=1 dbus-run-session -- "$0" "$@"
fi

cd "$top"
build=${PODVM_BUILDDIR:-build}
guest="$top/$build/tests/guest"
if [ ! -s "$guest/vmlinuz" ]; then
  echo "podvm: the tiny guest could not be built: $(cat "$guest/build.log" 2>/dev/null)" >&2
  exit 1
fi

state="$top/demo-state"
run="$top/demo-run"
mkdir -p "$state" "$run"
spec="$run/tiny.json"
sed "s|@GUEST_DIR@|$guest|g" data/examples/tiny.json > "$spec"

podvmctl() { "$top/$build/src/ctl/podvmctl" --session "$@"; }
show() { printf '\n\033[1m$ podvmctl %s\033[0m\n' "$*"; podvmctl "$@"; }

# kernelPath and initrdPath must lie in [qemu] kernel_dirs: here the guest's build directory.
conf="$run/podvmd.conf"
printf '[qemu]\nkernel_dirs=%s\n' "$guest" > "$conf"

"$top/$build/src/daemon/podvmd" --session --config "$conf" --state-dir "$state" --run-dir "$run" \
  2> "$run/podvmd.log" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  podvmctl list >/dev/null 2>&1 && break
  sleep 0.1
done

podvmctl delete --force tiny >/dev/null 2>&1 || true
show create -f "$spec"
show start tiny
show list

printf '\nWaiting for the guest to boot...\n'
for _ in $(seq 300); do
  grep -q PODVM-GUEST-READY "$state/pods/tiny/console.log" 2>/dev/null && break
  sleep 0.1
done
sleep 2
show logs tiny

show pause tiny
show list
show resume tiny
show list

printf '\nStorage: a volume in the pool and a scratch disk, hotplugged into the running pod.\n'
podvmctl volume delete data >/dev/null 2>&1 || true
show volume create data --size 32Mi
show attach-disk tiny --name data --claim data --bus scsi
show attach-disk tiny --name scratch --empty-disk 64Mi
show volume list
disks_seen() { grep PODVM-DISKS "$state/pods/tiny/console.log" | tail -1; }
for _ in $(seq 100); do
  disks_seen | grep -q ':67108864' && disks_seen | grep -q ':33554432' && break
  sleep 0.1
done
printf '\nWhat the guest sees (name:bytes):\n%s\n' "$(disks_seen)"
show detach-disk tiny scratch
show detach-disk tiny data
show volume delete data

cat <<'TXT'

The pod is running. With a daemon of your own (README.md, "To keep a pod
running") you can also:
  podvmctl console tiny      # its serial console; leave with Ctrl-a x or Ctrl-]
  podvmctl show tiny         # metadata, spec and status as JSON
  podvmctl events            # phase changes and QEMU events as they happen

Stopping it now (ACPI power-down; QEMU is told to quit after the grace period):
TXT
show stop tiny
show list
show delete tiny
echo
echo "podvmd's log: $run/podvmd.log"
