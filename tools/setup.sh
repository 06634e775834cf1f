#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs what podvm needs from Debian's packages (when missing) and builds
# it with meson into ./build. Idempotent: a second run only rebuilds.
# Used by tools/demo.sh and tools/test.sh; run it on its own to just build.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

packages=(
  gcc meson ninja-build pkg-config gettext
  libglib2.0-dev libglib2.0-dev-bin libglib2.0-bin libjson-glib-dev libsoup-3.0-dev
  dbus-daemon
  qemu-system-x86 qemu-utils
  busybox-static cpio kmod xz-utils
  curl ca-certificates
  systemd libxml2-utils clang-format
  clang libclang-rt-14-dev
  libisofs-dev libarchive-dev libyaml-dev
  libnl-route-3-dev libnftables-dev
  containernetworking-plugins nftables iptables passt iproute2
  dhcpcd-base
  wrk
  docker-registry skopeo erofs-utils redis-server redis-tools
  scdoc man-db
  zsh fish # for the tests only: podvmctl's zsh and fish completions
  chromium chromium-driver
  prometheus
)

# Installed for the tests only (a registry they start on a port of their own,
# the redis-server binary they pack into an image, promtool and a Prometheus
# that scrapes podvmd): the system services
# these packages start are stopped again below.
test_services=(docker-registry redis-server prometheus)

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "podvm: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  for svc in "${test_services[@]}"; do
    case " ${missing[*]} " in *" $svc "*) ;; *) continue ;; esac
    if [ -d /run/systemd/system ]; then
      if systemctl is-active --quiet "$svc" 2>/dev/null; then
        "${sudo_cmd[@]}" systemctl disable --now --quiet "$svc" || true
        echo "podvm: stopped and disabled the $svc service apt started (the tests run their own)"
      fi
    elif [ -x "/etc/init.d/$svc" ] && "/etc/init.d/$svc" status >/dev/null 2>&1; then
      "${sudo_cmd[@]}" "/etc/init.d/$svc" stop >/dev/null || true
      echo "podvm: stopped the $svc service apt started (the tests run their own)"
    fi
  done
fi

# The user QEMU runs as ([qemu] qemu_user, default podvm-qemu): a system user
# with no login, no home and no supplementary groups. Its primary group is
# kvm where that exists (QEMU opens /dev/kvm), else a group of its own.
if ! getent passwd podvm-qemu >/dev/null; then
  if command -v systemd-sysusers >/dev/null && [ -d /run/systemd/system ]; then
    "${sudo_cmd[@]}" systemd-sysusers "$top/systemd/podvm.sysusers"
  else
    group_args=(--user-group)
    if getent group kvm >/dev/null; then
      group_args=(--gid kvm)
    fi
    "${sudo_cmd[@]}" useradd --system --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "podvm QEMU processes" "${group_args[@]}" podvm-qemu
  fi
  echo "podvm: created the system user podvm-qemu (QEMU runs as it)"
fi

# Node.js tools the tests run (the OpenAPI linters, the browser test's
# driver), pinned by tools/npm/package-lock.json, and the web console's
# front-end packages (web/package-lock.json; meson copies them into the
# page). Debian's nodejs and npm are installed only when no npm is there.
# `npm ci` runs again only when the lock file changed.
if ! command -v npm >/dev/null; then
  echo "podvm: installing nodejs npm"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    nodejs npm >/dev/null
fi
for npm_dir in tools/npm web; do
  if ! cmp -s "$npm_dir/package-lock.json" "$npm_dir/node_modules/.podvm-installed-lock"; then
    (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$npm_dir/package-lock.json" "$npm_dir/node_modules/.podvm-installed-lock"
    echo "podvm: installed the npm packages of $npm_dir"
  fi
done

builddir=${PODVM_BUILDDIR:-build}
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" >/dev/null
fi
# web/node_modules arrived after the build was configured: meson copies it now.
if [ -f web/node_modules/@xterm/xterm/lib/xterm.js ] && [ ! -f "$builddir/web/vendor/xterm.js" ]; then
  meson setup --reconfigure "$builddir" >/dev/null
fi
ninja -C "$builddir" >/dev/null
echo "podvm: built in $builddir"
