#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The demo: builds podvm, then, in a network and mount namespace of its own
# (so the pod network's bridge, veths and NAT rules never touch the
# machine's links), starts podvmd with local state (./demo-state,
# ./demo-run) on a private D-Bus session bus. It boots the bundled tiny
# guest from a KubeVirt manifest with a masquerade interface on the pod
# network (podvmd's built-in default CNI network: bridge podvm0,
# 10.66.0.0/16), shows it running with its IP and its console, pauses and
# resumes it, hotplugs disks, fetches the guest's web page at the pod's
# address, hotplugs a second NIC on a second network, stops and deletes
# it. Then, as rkt's KVM stage1 did, it runs container images as app pods,
# each in a small VM of its own: it starts a registry on loopback
# (Debian's docker-registry), pushes two images it builds (busybox, and
# redis from Debian's redis-server), and runs them with `podvmctl run
# docker://...`: the first prints and ends, the second serves redis-cli
# through the pod's address. Each podvmctl command is printed before it
# runs. Needs root (or sudo) for the namespaces.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${PODVM_DEMO_INNER:-}" ]; then
  "$top/tools/setup.sh"
  as_root=()
  if [ "$(id -u)" != 0 ]; then
    as_root=(sudo)
  fi
  # A network and mount namespace (unshare makes its mounts private) and a
  # private session bus inside it, for this demo only; all gone when it ends.
  exec "${as_root[@]}" env PODVM_DEMO_INNER=1 PODVM_BUILDDIR="${PODVM_BUILDDIR:-build}" \
    unshare --net --mount -- dbus-run-session -- "$0" "$@"
fi

cd "$top"
build=${PODVM_BUILDDIR:-build}
guest="$top/$build/tests/guest"
if [ ! -s "$guest/vmlinuz" ]; then
  echo "podvm: the tiny guest could not be built: $(cat "$guest/build.log" 2>/dev/null)" >&2
  exit 1
fi
ip link set lo up

state="$top/demo-state"
run="$top/demo-run"
mkdir -p "$state" "$run"
spec="$run/web.yaml"
sed "s|@GUEST_DIR@|$guest|g" data/examples/web.yaml > "$spec"
console="$state/pods/web/console.log"

podvmctl() { "$top/$build/src/ctl/podvmctl" --session "$@"; }
show() { printf '\n\033[1m$ podvmctl %s\033[0m\n' "$*"; podvmctl "$@"; }
# Waits up to $2 tenths of a second for the pattern $1 on the guest's console.
wait_console() {
  for _ in $(seq "$2"); do
    grep -q "$1" "$console" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "podvm: no \"$1\" on the guest's console; podvmd's log: $run/podvmd.log" >&2
  return 1
}
# GETs $1 until the guest answers (its web server starts after its lease).
fetch() {
  printf '\n\033[1m$ curl %s\033[0m\n' "$1"
  for _ in $(seq 60); do
    curl -sS --fail --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "podvm: $1 did not answer" >&2
  return 1
}
# A member of the pod's status, from `podvmctl show` (JSON).
status() {
  podvmctl show web | python3 -c 'import json, sys
v = json.load(sys.stdin)["status"]
for key in sys.argv[1].split("."):
    v = v[int(key)] if isinstance(v, list) else v.get(key, "")
print(v)' "$1"
}

# kernelPath and initrdPath must lie in [qemu] kernel_dirs: here the guest's build
# directory. An empty CNI directory: the pod network is podvmd's built-in default.
rm -rf "$run/cni"
mkdir -p "$run/cni"
conf="$run/podvmd.conf"
# The registry of the app pods' images runs on loopback, plain HTTP: listed as insecure.
registry_port=5000
printf '[qemu]\nkernel_dirs=%s\n\n[network]\ncni_config_dir=%s\n\n[images]\ninsecure_registries=127.0.0.1:%s\n\n[apps]\nguest_dir=%s\n' \
  "$guest" "$run/cni" "$registry_port" "$top/$build/guest/app" > "$conf"

"$top/$build/src/daemon/podvmd" --session --config "$conf" --state-dir "$state" --run-dir "$run" \
  2> "$run/podvmd.log" &
daemon=$!
registry=
trap 'kill "$daemon" $registry 2>/dev/null; wait "$daemon" $registry 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  podvmctl list >/dev/null 2>&1 && break
  sleep 0.1
done

for pod in web hello redis; do podvmctl delete --force "$pod" >/dev/null 2>&1 || true; done
printf '\nA KubeVirt VirtualMachineInstance with a masquerade interface on the pod network:\n'
sed -n '/^    devices:/,$p' "$spec"
show create -f "$spec"
show start web
show list

printf '\nWaiting for the guest to boot and take its lease...\n'
wait_console PODVM-GUEST-READY 600
wait_console 'PODVM-NET eth0 up 10.0.2.2/24' 600
sleep 1
show logs web

show pause web
show list
show resume web
show list

printf '\nStorage: a volume in the pool and a scratch disk, hotplugged into the running pod.\n'
podvmctl volume delete data >/dev/null 2>&1 || true
show volume create data --size 32Mi
show attach-disk web --name data --claim data --bus scsi
show attach-disk web --name scratch --empty-disk 64Mi
show volume list
disks_seen() { grep PODVM-DISKS "$console" | tail -1; }
for _ in $(seq 100); do
  disks_seen | grep -q ':67108864' && disks_seen | grep -q ':33554432' && break
  sleep 0.1
done
printf '\nWhat the guest sees (name:bytes):\n%s\n' "$(disks_seen)"
show detach-disk web scratch
show detach-disk web data
show volume delete data

pod_ip=$(status podIP)
cat <<TXT

Networking: the pod has its own network namespace, set up by CNI (bridge
podvm0, host-local IPAM), and its address is $pod_ip. The guest took
10.0.2.2 by DHCP from podvmd behind NAT; port 80, declared in the manifest,
is forwarded from the pod's address to the guest:
TXT
grep 'PODVM-NET eth0' "$console" | tail -1
fetch "http://$pod_ip/"

# A second CNI network, "lan" (bridge podvm1, no NAT), defined only while the NIC is
# attached: with any conflist in the directory, the first would be the pod network of
# new pods; the pod's own network keeps the conflist it was set up with.
cat > "$run/cni/lan.conflist" <<'JSON'
{"cniVersion": "1.0.0", "name": "lan", "plugins": [
  {"type": "bridge", "bridge": "podvm1", "isGateway": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.77.0.0/24"}]]}}]}
JSON
printf '\nA second NIC, hotplugged: bridge binding on a second network (CNI network "lan",\nbridge podvm1), so the guest holds an address of that network itself (DHCP from podvmd).\n'
show attach-nic web --name lan --binding bridge --multus lan
wait_console 'PODVM-NET eth1 up' 300
grep 'PODVM-NET eth1 up' "$console" | tail -1
lan_ip=$(status interfaces.1.ipAddress)
printf 'status.interfaces[1]: %s %s\n' "$(status interfaces.1.name)" "$lan_ip"
fetch "http://$lan_ip/"
show detach-nic web lan
wait_console 'PODVM-NET eth1 gone' 300
grep 'PODVM-NET eth1 gone' "$console" | tail -1
rm -f "$run/cni/lan.conflist"

printf '\nStopping it (ACPI power-down; QEMU is told to quit after the grace period):\n'
show stop web
show delete web

cat <<'TXT'

App pods, as rkt's KVM stage1 ran them: a container image runs in a small
VM of its own (podvm's app guest: Debian's cloud kernel and a static init),
sized from its apps (memory: the apps' + 128Mi; vCPUs: the host's). The
images come from a registry: here Debian's docker-registry on loopback, with
two images this demo builds and pushes with skopeo.
TXT
mkdir -p "$run/registry"
cat > "$run/registry/config.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $run/registry/data
http:
  addr: 127.0.0.1:$registry_port
YAML
docker-registry serve "$run/registry/config.yml" > "$run/registry/log" 2>&1 &
registry=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$registry_port/v2/" >/dev/null && break
  sleep 0.1
done
make_image="$top/$build/tests/podvm-make-image"
rm -rf "$run/images"
push() {
  printf '\n\033[1m$ skopeo copy oci:%s docker://127.0.0.1:%s/%s\033[0m\n' "$1" "$registry_port" "$2"
  skopeo copy -q --dest-tls-verify=false "oci:$run/images:$1" "docker://127.0.0.1:$registry_port/$2"
}
"$make_image" busybox "$run/images" hello /bin/sh -c \
  'echo "hello from $(hostname), a VM of $(nproc) vCPUs and $(($(sed -n "s/MemTotal: *//p" /proc/meminfo | cut -d" " -f1) / 1024)) MiB"' >/dev/null
push hello demo/hello:latest
"$make_image" redis "$run/images" redis >/dev/null
push redis demo/redis:7

printf '\nThe first pulls the image, builds its root filesystem, boots, prints and ends:\n'
show run --name hello "docker://127.0.0.1:$registry_port/demo/hello"
show status hello
show image list
show delete hello

printf '\nRedis, with its port declared (the pod network forwards it to the VM):\n'
show run --detach --name redis --port 6379 --memory 256Mi "docker://127.0.0.1:$registry_port/demo/redis:7"
redis_ip=$(podvmctl show redis | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"].get("podIP", ""))')
printf '\n\033[1m$ redis-cli -h %s ping\033[0m\n' "$redis_ip"
for _ in $(seq 120); do
  answer=$(redis-cli -h "$redis_ip" ping 2>/dev/null || true)
  [ "$answer" = PONG ] && break
  sleep 0.5
done
echo "${answer:-no answer}"
[ "$answer" = PONG ] || { echo "podvm: redis did not answer; podvmd's log: $run/podvmd.log" >&2; exit 1; }
show exec redis -- redis-server --version
show list
show stop redis
show delete redis

cat <<'TXT'

With a daemon of your own (README.md, "To keep a pod running") you can also:
  podvmctl console POD       # its serial console; leave with Ctrl-a x or Ctrl-]
  podvmctl show POD          # metadata, spec and status as JSON
  podvmctl events            # phase changes and QEMU events as they happen
TXT
echo
echo "podvmd's log: $run/podvmd.log"
