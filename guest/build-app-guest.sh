#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds podvm's app guest into OUTDIR (BUILD/guest/app in the build):
#   OUTDIR/vmlinuz     Debian's cloud kernel (downloaded, never installed)
#   OUTDIR/initrd.img  gzip'd newc cpio: /init (app-init/, built here with
#                      `cc -static`) and the modules it loads
#   OUTDIR/build.log   what happened; the last line says why when the build failed
#
# When something is missing (no apt, no network, no static libc), the reason
# goes to build.log, vmlinuz and initrd.img are created EMPTY and the script
# exits 0: the tests that need the app guest skip with that reason. Delete
# OUTDIR/vmlinuz to retry.
#
# CACHE_DIR (default OUTDIR/cache) keeps the kernel's .deb; the build passes
# the test guest's cache (tests/guest/build-guest.sh), so both guests share
# one download. A lock file in it keeps two builds from downloading at once.

set -u -o pipefail

if [ $# -ne 1 ] && [ $# -ne 2 ]; then
    echo "usage: $0 OUTDIR [CACHE_DIR]" >&2
    exit 2
fi

OUTDIR=$1
SRCDIR=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-cc}
KERNEL_META=${PODVM_GUEST_KERNEL_PACKAGE:-linux-image-cloud-amd64}
INIT_SOURCES="$SRCDIR/app-init/podvm-app-init.c $SRCDIR/app-init/podvm-app-init-setup.c
    $SRCDIR/app-init/podvm-app-init-apps.c $SRCDIR/podvm-channel-codec.c"
INIT_HEADERS="$SRCDIR/app-init/podvm-app-init.h $SRCDIR/podvm-channel-codec.h"
# The kernel package and module order, shared with the test guest.
KERNEL_LIB=$SRCDIR/kernel-package.sh

# Modules the init loads (dependencies are found from each module's .modinfo
# and added before them; one missing or built in is skipped and logged).
MODULES="
    virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
    virtio_blk failover net_failover virtio_net af_packet virtio_console
    erofs overlay button evdev
"

mkdir -p "$OUTDIR" || exit 1
OUTDIR=$(cd "$OUTDIR" && pwd)
CACHE=${2:-$OUTDIR/cache}
LOG=$OUTDIR/build.log
: >"$LOG.new"

log() {
    echo "$*" >>"$LOG.new"
}

finish() {
    mv -f "$LOG.new" "$LOG"
}

fail() {
    log "app guest not built: $*"
    rm -f "$OUTDIR/vmlinuz" "$OUTDIR/initrd.img"
    : >"$OUTDIR/vmlinuz"
    : >"$OUTDIR/initrd.img"
    finish
    exit 0
}

# shellcheck source=kernel-package.sh
. "$KERNEL_LIB" || fail "cannot read $KERNEL_LIB"

up_to_date() {
    local f src
    for f in "$OUTDIR/vmlinuz" "$OUTDIR/initrd.img"; do
        [ -s "$f" ] || return 1
        for src in "$0" "$KERNEL_LIB" $INIT_SOURCES $INIT_HEADERS; do
            [ "$f" -nt "$src" ] || return 1
        done
    done
    return 0
}

if up_to_date; then
    log "up to date: $(cat "$OUTDIR/kernel-version" 2>/dev/null || echo unknown kernel)"
    finish
    exit 0
fi

for tool in apt-cache apt-get dpkg-deb cpio gzip flock; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is not installed (a Debian host is needed)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/podvm-app-guest-XXXXXX") || fail "cannot create a temporary directory"
trap 'rm -rf "$TMP"' EXIT

root=$TMP/root
mkdir -p "$root"/{dev,proc,sys,run,tmp,apps,lib/modules} || fail "cannot populate $root"
# shellcheck disable=SC2086
if ! "$CC" -static -Os -s -std=gnu11 -D_GNU_SOURCE -Wall -Wno-format-truncation -I"$SRCDIR" -I"$SRCDIR/app-init" \
        -o "$root/init" $INIT_SOURCES 2>>"$LOG.new"; then
    fail "$CC -static could not build the init (is libc6-dev installed?)"
fi
log "init: built ($(stat -c %s "$root/init") bytes)"

kernel_package_extract "$KERNEL_META" "$CACHE" "$TMP/pkg"
# shellcheck disable=SC2086
kernel_modules_order "$kernel_moddir" $MODULES

# The init loads /lib/modules/order's names, one a line, from NAME.ko.
: >"$root/lib/modules/order"
for m in "${kernel_module_order[@]}"; do
    cp "${kernel_module_file[$m]}" "$root/lib/modules/$m.ko" || fail "cannot copy module $m"
    echo "$m" >>"$root/lib/modules/order"
done
log "modules (load order): ${kernel_module_order[*]}"

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
