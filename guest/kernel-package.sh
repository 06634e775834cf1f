# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Sourced by the guest builders (tests/guest/build-guest.sh, the test
# guest; guest/build-app-guest.sh, podvm's app guest): Debian's kernel
# package, downloaded once into a cache both share (never installed), and
# the modules a guest loads with their dependencies. The caller defines
# log MESSAGE (a line of its build.log) and fail REASON (gives up; does not
# return).

# package_download PKG CACHE
# The newest .deb of package PKG in CACHE, downloaded with apt-get download
# unless there (one download at a time: CACHE/.lock, held on fd 9 until the
# caller closes it with `exec 9>&-`). Sets deb; on failure returns 1 with
# the reason in package_download_error.
package_download() {
    local pkg=$1 cache=$2 out why

    package_download_error=
    if ! mkdir -p "$cache" || ! exec 9>"$cache/.lock"; then
        package_download_error="cannot create $cache/.lock"
        return 1
    fi
    if command -v flock >/dev/null 2>&1 && ! flock 9; then
        package_download_error="cannot lock $cache/.lock"
        return 1
    fi
    deb=$(kernel_package_cached "$cache" "$pkg")
    if [ -n "$deb" ]; then
        log "using cached $(basename "$deb")"
        return 0
    fi
    # apt-get download writes into the current directory; as root it warns
    # that the download is unsandboxed, which is harmless here.
    if ! out=$(cd "$cache" && LC_ALL=C apt-get download -q \
                   -o Acquire::Retries=1 -o Acquire::http::Timeout=20 "$pkg" 2>&1); then
        # The indented line after "Err:" says why (no network, no proxy, ...).
        why=$(echo "$out" | grep -A1 '^Err:' | sed -n '2s/^ *//p')
        package_download_error="apt-get download $pkg failed: ${why:-$(echo "$out" | grep '^E:' | head -1)}"
        return 1
    fi
    deb=$(kernel_package_cached "$cache" "$pkg")
    if [ -z "$deb" ]; then
        package_download_error="apt-get download $pkg left no .deb in $cache"
        return 1
    fi
    log "downloaded $(basename "$deb")"
}

# kernel_package_extract META CACHE DEST
# META is a metapackage (linux-image-cloud-amd64) whose first Depends is the
# versioned image package. Its .deb is downloaded into CACHE unless there
# (one download at a time: CACHE/.lock), older ones removed, and its files
# extracted into DEST. Sets kernel_vmlinuz, kernel_version, kernel_moddir.
kernel_package_extract() {
    local meta=$1 cache=$2 dest=$3 pkg deb old

    pkg=$(LC_ALL=C apt-cache depends "$meta" 2>/dev/null |
          awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
    [ -n "$pkg" ] || fail "apt-cache does not know $meta (run apt-get update)"
    log "kernel package: $pkg"

    package_download "$pkg" "$cache" || fail "$package_download_error"
    # Old versions are not needed any more.
    for old in "$cache"/*.deb; do
        [ "$old" = "$deb" ] || rm -f "$old"
    done
    dpkg-deb -x "$deb" "$dest" 2>>"$LOG.new" || fail "dpkg-deb -x $(basename "$deb") failed"
    exec 9>&-

    set -- "$dest"/boot/vmlinuz-*
    kernel_vmlinuz=$1
    [ -f "$kernel_vmlinuz" ] || fail "$(basename "$deb") contains no boot/vmlinuz-*"
    kernel_version=${kernel_vmlinuz##*/vmlinuz-}
    kernel_moddir=$dest/lib/modules/$kernel_version
    [ -d "$kernel_moddir" ] || fail "$(basename "$deb") contains no lib/modules/$kernel_version"
    log "kernel version: $kernel_version"
}

# The newest cached .deb of package $2 in $1, or nothing.
kernel_package_cached() {
    local f newest=
    for f in "$1/${2}_"*.deb; do
        [ -f "$f" ] || continue
        if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then
            newest=$f
        fi
    done
    echo "$newest"
}

# kernel_modules_order MODDIR NAME...
# Sets kernel_module_file (module name -> .ko file; names use '_':
# virtio-rng.ko is virtio_rng) and kernel_module_order: the NAMEs and their
# dependencies (the "depends=" of each module's .modinfo), dependencies
# first, each once. A module built in or missing is skipped and logged.
declare -A kernel_module_file
declare -A kernel_module_seen
kernel_module_order=()
kernel_modules_order() {
    local moddir=$1 f name m
    shift
    kernel_module_file=()
    kernel_module_seen=()
    kernel_module_order=()
    while IFS= read -r -d '' f; do
        name=$(basename "$f")
        name=${name%%.ko*}
        kernel_module_file[${name//-/_}]=$f
    done < <(find "$moddir" -name '*.ko' -print0)
    for m in "$@"; do
        kernel_module_add "$moddir" "$m"
    done
}

kernel_module_add() {
    local moddir=$1 name=${2//-/_} dep
    [ -n "${kernel_module_seen[$name]:-}" ] && return 0
    kernel_module_seen[$name]=1
    if [ -z "${kernel_module_file[$name]:-}" ]; then
        if grep -q "/${2}.ko\$\|/${name}.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
            log "module $name: built in"
        else
            log "module $name: not in this kernel, skipped"
        fi
        return 0
    fi
    for dep in $(tr '\0' '\n' <"${kernel_module_file[$name]}" | sed -n 's/^depends=//p' |
                 head -1 | tr ',' ' '); do
        kernel_module_add "$moddir" "$dep"
    done
    kernel_module_order+=("$name")
}
