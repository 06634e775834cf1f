#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the tiny test guest into OUTDIR:
#   OUTDIR/vmlinuz     Debian's cloud kernel (downloaded, never installed)
#   OUTDIR/initrd.img  gzip'd newc cpio: busybox-static, ./init, a few modules
#   OUTDIR/build.log   what happened (one line per step; the last line says why
#                      when the build failed)
#   OUTDIR/guest-agent "qemu-ga VERSION" when the guest has Debian's
#                      qemu-guest-agent, else "none: WHY" (the guest still
#                      builds; the guest agent tests skip with WHY)
#
# When something is missing (no apt, no network, no busybox-static), the
# reason goes to build.log, vmlinuz and initrd.img are created EMPTY and the
# script exits 0: the tests that need the guest then skip with that reason
# (podvm_test_require_guest). Delete OUTDIR/vmlinuz to retry.
#
# The downloaded .deb is kept in OUTDIR/cache, so a rebuild (a new init)
# needs no network.

set -u -o pipefail

if [ $# -ne 1 ] && [ $# -ne 2 ]; then
    echo "usage: $0 OUTDIR [KERNEL_PACKAGE]" >&2
    exit 2
fi

OUTDIR=$1
SRCDIR=$(cd "$(dirname "$0")" && pwd)
INIT=$SRCDIR/init
# Installed next to init: udhcpc's script, and the sources of the DHCPv6
# client and of the memory dirtier (podvm.dirty).
DHCP4_SCRIPT=$SRCDIR/dhcp4-script
DHCP6_SOURCE=$SRCDIR/podvm-dhcp6.c
DIRTY_SOURCE=$SRCDIR/podvm-dirty.c
# /sbin/shutdown (what qemu-guest-agent runs for guest-shutdown) and /etc/os-release.
SHUTDOWN_SCRIPT=$SRCDIR/shutdown
OS_RELEASE=$SRCDIR/os-release
# The kernel package and module order, shared with the app guest.
KERNEL_LIB=$SRCDIR/../../guest/kernel-package.sh
CC=${CC:-cc}
BUSYBOX=${PODVM_GUEST_BUSYBOX:-/bin/busybox}
# Debian's cloud kernel by default (small, boots fast); the "generic" guest
# (tests/guest/generic) takes linux-image-amd64, which has the e1000 and
# 8139 NIC drivers the cloud kernel lacks.
KERNEL_META=${2:-${PODVM_GUEST_KERNEL_PACKAGE:-linux-image-cloud-amd64}}
LOG=$OUTDIR/build.log

# Modules the guest loads, in no particular order; their dependencies are
# found from each module's .modinfo and added before them. A module missing
# from the kernel package (or built in) is skipped and logged.
MODULES="
    virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
    virtio_blk virtio_scsi sd_mod
    af_packet failover net_failover virtio_net e1000 8139cp 8139too
    virtio_console virtio-rng virtio_balloon
    button evdev
    cdrom sr_mod isofs
"

mkdir -p "$OUTDIR" || exit 1
OUTDIR=$(cd "$OUTDIR" && pwd)
LOG=$OUTDIR/build.log
: >"$LOG.new"

log() {
    echo "$*" >>"$LOG.new"
}

finish() {
    mv -f "$LOG.new" "$LOG"
}

# Writes the reason, leaves empty outputs so the build succeeds and the
# tests skip with the reason, and exits 0.
fail() {
    log "test guest not built: $*"
    rm -f "$OUTDIR/vmlinuz" "$OUTDIR/initrd.img"
    : >"$OUTDIR/vmlinuz"
    : >"$OUTDIR/initrd.img"
    finish
    exit 0
}

# shellcheck source=../../guest/kernel-package.sh
. "$KERNEL_LIB" || fail "cannot read $KERNEL_LIB"

up_to_date() {
    local f
    for f in "$OUTDIR/vmlinuz" "$OUTDIR/initrd.img"; do
        [ -s "$f" ] || return 1
        [ "$f" -nt "$0" ] || return 1
        [ "$f" -nt "$INIT" ] || return 1
        [ "$f" -nt "$DHCP4_SCRIPT" ] || return 1
        [ "$f" -nt "$DHCP6_SOURCE" ] || return 1
        [ "$f" -nt "$DIRTY_SOURCE" ] || return 1
        [ "$f" -nt "$SHUTDOWN_SCRIPT" ] || return 1
        [ "$f" -nt "$OS_RELEASE" ] || return 1
        [ "$f" -nt "$KERNEL_LIB" ] || return 1
    done
    return 0
}

if up_to_date; then
    log "up to date: $(cat "$OUTDIR/kernel-version" 2>/dev/null || echo unknown kernel)"
    finish
    exit 0
fi

for tool in apt-cache apt-get dpkg-deb cpio gzip; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is not installed (a Debian host is needed)"
done
[ -x "$BUSYBOX" ] || fail "$BUSYBOX is missing: apt-get install busybox-static"
"$BUSYBOX" true 2>/dev/null || fail "$BUSYBOX does not run on this host"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/podvm-guest-XXXXXX") || fail "cannot create a temporary directory"
trap 'rm -rf "$TMP"' EXIT

kernel_package_extract "$KERNEL_META" "$OUTDIR/cache" "$TMP/pkg"
kernel_modules_order "$kernel_moddir" $MODULES

root=$TMP/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules} || fail "cannot populate $root"
cp "$BUSYBOX" "$root/bin/busybox" || fail "cannot copy $BUSYBOX"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] && continue
    ln -sf busybox "$root/bin/$applet"
done
ln -sf ../bin/busybox "$root/sbin/init"
cp "$INIT" "$root/init" || fail "cannot copy $INIT"
chmod 0755 "$root/init"
mkdir -p "$root/etc/podvm" || fail "cannot populate $root/etc/podvm"
cp "$DHCP4_SCRIPT" "$root/etc/podvm/dhcp4-script" || fail "cannot copy $DHCP4_SCRIPT"
chmod 0755 "$root/etc/podvm/dhcp4-script"
# Debian's busybox has no udhcpc6: a small static DHCPv6 client of our own.
# Without a compiler the guest simply has no DHCPv6 (IPv4 and RAs still work).
if "$CC" -static -Os -s -o "$root/bin/podvm-dhcp6" "$DHCP6_SOURCE" 2>>"$LOG.new"; then
    log "podvm-dhcp6: built"
else
    rm -f "$root/bin/podvm-dhcp6"
    log "podvm-dhcp6: not built ($CC -static failed; is libc6-dev installed?): no DHCPv6 in the guest"
fi
# podvm.dirty's memory dirtier: without it the guest dirties memory with dd (slower).
if "$CC" -static -O2 -s -o "$root/bin/podvm-dirty" "$DIRTY_SOURCE" 2>>"$LOG.new"; then
    log "podvm-dirty: built"
else
    rm -f "$root/bin/podvm-dirty"
    log "podvm-dirty: not built ($CC -static failed): podvm.dirty uses dd"
fi
# Debian's qemu-guest-agent: its qemu-ga and the shared libraries it needs,
# as this (Debian 12) host has them; the loader too. Without it the guest
# still builds, and says so in OUTDIR/guest-agent.
guest_agent() {
    local lib libs
    if ! package_download qemu-guest-agent "$OUTDIR/cache-qga"; then
        exec 9>&-
        echo "none: $package_download_error" >"$OUTDIR/guest-agent"
        return 0
    fi
    if ! dpkg-deb -x "$deb" "$TMP/qga" 2>>"$LOG.new"; then
        exec 9>&-
        echo "none: dpkg-deb -x $(basename "$deb") failed" >"$OUTDIR/guest-agent"
        return 0
    fi
    exec 9>&-
    if ! libs=$(ldd "$TMP/qga/usr/sbin/qemu-ga" 2>&1) || echo "$libs" | grep -q 'not found'; then
        echo "none: qemu-ga's libraries are not all on this host: $(echo "$libs" |
            grep 'not found' | tr -s ' \t\n' ' ')" >"$OUTDIR/guest-agent"
        return 0
    fi
    cp "$TMP/qga/usr/sbin/qemu-ga" "$root/bin/qemu-ga" || fail "cannot copy qemu-ga"
    for lib in $(echo "$libs" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" ||
            fail "cannot copy $lib"
    done
    echo "qemu-ga $(basename "$deb" .deb | sed 's/^qemu-guest-agent_//; s/%3a/:/')" \
        >"$OUTDIR/guest-agent"
}
guest_agent
log "guest agent: $(cat "$OUTDIR/guest-agent")"
cp "$SHUTDOWN_SCRIPT" "$root/sbin/shutdown" || fail "cannot copy $SHUTDOWN_SCRIPT"
chmod 0755 "$root/sbin/shutdown"
cp "$OS_RELEASE" "$root/etc/os-release" || fail "cannot copy $OS_RELEASE"

: >"$root/lib/modules/order"
for m in "${kernel_module_order[@]}"; do
    cp "${kernel_module_file[$m]}" "$root/lib/modules/$m.ko" || fail "cannot copy module $m"
    echo "$m" >>"$root/lib/modules/order"
done
log "modules (load order): ${kernel_module_order[*]}"
echo "$kernel_version" >"$root/etc/podvm-guest-kernel"

# Reproducible-ish archive: sorted names, fixed owner; /dev/console comes
# from the kernel's built-in initramfs, init reopens it after devtmpfs.
if ! (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
          cpio --quiet -o -H newc -R 0:0 | gzip -n -6 >"$TMP/initrd.img"); then
    fail "cpio/gzip of the initramfs failed"
fi

cp "$kernel_vmlinuz" "$OUTDIR/vmlinuz.new" || fail "cannot write $OUTDIR/vmlinuz"
mv -f "$OUTDIR/vmlinuz.new" "$OUTDIR/vmlinuz"
mv -f "$TMP/initrd.img" "$OUTDIR/initrd.img" || fail "cannot write $OUTDIR/initrd.img"
echo "$kernel_version" >"$OUTDIR/kernel-version"
log "built vmlinuz ($(stat -c %s "$OUTDIR/vmlinuz") bytes)" \
    "and initrd.img ($(stat -c %s "$OUTDIR/initrd.img") bytes)"
finish
exit 0
