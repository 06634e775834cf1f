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

up_to_date() {
    local f src
    for f in "$OUTDIR/vmlinuz" "$OUTDIR/initrd.img"; do
        [ -s "$f" ] || return 1
        for src in "$0" $INIT_SOURCES $INIT_HEADERS; do
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

pkg=$(LC_ALL=C apt-cache depends "$KERNEL_META" 2>/dev/null |
      awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
[ -n "$pkg" ] || fail "apt-cache does not know $KERNEL_META (run apt-get update)"
log "kernel package: $pkg"

mkdir -p "$CACHE" || fail "cannot create $CACHE"
exec 9>"$CACHE/.lock" || fail "cannot open $CACHE/.lock"
flock 9 || fail "cannot lock $CACHE/.lock"
cached_deb() {
    local f newest=
    for f in "$CACHE/${pkg}_"*.deb; do
        [ -f "$f" ] || continue
        if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then
            newest=$f
        fi
    done
    echo "$newest"
}
deb=$(cached_deb)
if [ -z "$deb" ]; then
    if ! out=$(cd "$CACHE" && LC_ALL=C apt-get download -q \
                   -o Acquire::Retries=1 -o Acquire::http::Timeout=20 "$pkg" 2>&1); then
        why=$(echo "$out" | grep -A1 '^Err:' | sed -n '2s/^ *//p')
        fail "apt-get download $pkg failed: ${why:-$(echo "$out" | grep '^E:' | head -1)}"
    fi
    deb=$(cached_deb)
    [ -n "$deb" ] || fail "apt-get download $pkg left no .deb in $CACHE"
    log "downloaded $(basename "$deb")"
else
    log "using cached $(basename "$deb")"
fi
dpkg-deb -x "$deb" "$TMP/pkg" 2>>"$LOG.new" || fail "dpkg-deb -x $(basename "$deb") failed"
flock -u 9
set -- "$TMP"/pkg/boot/vmlinuz-*
vmlinuz=$1
[ -f "$vmlinuz" ] || fail "$(basename "$deb") contains no boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
moddir=$TMP/pkg/lib/modules/$kver
[ -d "$moddir" ] || fail "$(basename "$deb") contains no lib/modules/$kver"
log "kernel version: $kver"

# Module name -> file (names use '_'), and dependencies first, as build-guest.sh.
declare -A modfile
while IFS= read -r -d '' f; do
    name=$(basename "$f")
    name=${name%%.ko*}
    modfile[${name//-/_}]=$f
done < <(find "$moddir" -name '*.ko' -print0)

mod_depends() {
    tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -1 | tr ',' ' '
}

declare -A visited
order=()
add_module() {
    local name=${1//-/_} dep
    [ -n "${visited[$name]:-}" ] && return 0
    visited[$name]=1
    if [ -z "${modfile[$name]:-}" ]; then
        if grep -q "/${1}.ko\$\|/${name}.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
            log "module $name: built in"
        else
            log "module $name: not in this kernel, skipped"
        fi
        return 0
    fi
    for dep in $(mod_depends "${modfile[$name]}"); do
        add_module "$dep"
    done
    order+=("$name")
}
for m in $MODULES; do
    add_module "$m"
done

# The init loads /lib/modules/order's names, one a line, from NAME.ko.
: >"$root/lib/modules/order"
for m in "${order[@]}"; do
    cp "${modfile[$m]}" "$root/lib/modules/$m.ko" || fail "cannot copy module $m"
    echo "$m" >>"$root/lib/modules/order"
done
log "modules (load order): ${order[*]}"

if ! (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
          cpio --quiet -o -H newc -R 0:0 | gzip -n -6 >"$TMP/initrd.img"); then
    fail "cpio/gzip of the initramfs failed"
fi

cp "$vmlinuz" "$OUTDIR/vmlinuz.new" || fail "cannot write $OUTDIR/vmlinuz"
mv -f "$OUTDIR/vmlinuz.new" "$OUTDIR/vmlinuz"
mv -f "$TMP/initrd.img" "$OUTDIR/initrd.img" || fail "cannot write $OUTDIR/initrd.img"
echo "$kver" >"$OUTDIR/kernel-version"
log "built vmlinuz ($(stat -c %s "$OUTDIR/vmlinuz") bytes)" \
    "and initrd.img ($(stat -c %s "$OUTDIR/initrd.img") bytes)"
finish
exit 0
