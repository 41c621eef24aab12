#!/usr/bin/env bash
# feature: kata — Kata Containers wired into containerd as runtime "kata" (io.containerd.kata.v2)
# Settings: kata_source (only "release-tarball" for now) and kata_release_url (a kata-static release
# tarball, .tar.xz/.tar.zst/.tar.gz, holding opt/kata/...), optional kata_release_sha256. Extracts it
# to /opt/kata, links containerd-shim-kata-v2 and kata-runtime into /usr/local/bin, and adds the
# "kata" runtime to containerd's CRI configuration (run the containerd feature first).
# Running Kata containers needs /dev/kvm in this VM, i.e. nested virtualisation on the host
# (kvm_intel/kvm_amd nested=1 and a host-passthrough/host-model CPU); installing does not.
FEATURE=kata
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# ---- shared helpers (copied into every feature script: Vagrant uploads one file) ----
log() { printf 'vmlab: %s: %s\n' "$FEATURE" "$*"; }
warn() { printf 'vmlab: %s: warning: %s\n' "$FEATURE" "$*" >&2; }
die() { printf 'vmlab: %s: error: %s\n' "$FEATURE" "$1" >&2; exit "${2:-1}"; }

[ "$(id -u)" -eq 0 ] || die "must run as root" 1

# A booted system (systemd is PID 1), as opposed to an image-build chroot, where
# nothing may be started, loaded into the kernel or applied to it.
live_system() {
  [ -d /run/systemd/system ] || return 1
  if command -v systemd-detect-virt >/dev/null 2>&1 && systemd-detect-virt --quiet --chroot; then
    return 1
  fi
  return 0
}

# apt-get, but in a chroot package scripts must not start daemons (they would run on the build host).
apt_get() {
  local policy=/usr/sbin/policy-rc.d added="" rc=0
  if ! live_system && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    added=1
  fi
  apt-get "$@" || rc=$?
  if [ -n "$added" ]; then rm -f "$policy"; fi
  return "$rc"
}

# apt_refresh auto|force: with auto, apt-get update only when the package lists are missing,
# older than an hour, or an apt source changed since.
APT_STAMP=/var/lib/vmlab/apt-update.stamp
apt_refresh() {
  if [ "$1" != force ] && [ -f "$APT_STAMP" ] &&
    [ -n "$(find "$APT_STAMP" -mmin -60 2>/dev/null)" ] &&
    [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ] &&
    [ -z "$(find /etc/apt/sources.list /etc/apt/sources.list.d -newer "$APT_STAMP" 2>/dev/null)" ]; then
    return 0
  fi
  log "refreshing apt package lists"
  apt_get update -q
  mkdir -p "${APT_STAMP%/*}"
  touch "$APT_STAMP"
}

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# apt_install PKG...: install the packages that are not installed yet, without recommends.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "already installed: $*"
    return 0
  fi
  apt_refresh auto
  log "installing ${missing[*]}"
  apt_get install -y -q --no-install-recommends "${missing[@]}"
}

# write_file PATH MODE < content: returns 0 if the file was (re)written, 1 if it was already up to date.
write_file() {
  local path=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 1
  fi
  mkdir -p "$(dirname "$path")"
  install -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  return 0
}

# enable_unit UNIT: systemctl enable, unless it is already enabled (works in a chroot too).
enable_unit() {
  local state
  command -v systemctl >/dev/null 2>&1 || die "systemctl not found: vmlab images are systemd-based" 1
  state=$(systemctl is-enabled "$1" 2>/dev/null || true)
  case "$state" in
    enabled | enabled-runtime | static | indirect | generated | alias) ;;
    *)
      log "enabling $1"
      systemctl enable "$1" >/dev/null 2>&1 || die "systemctl enable $1 failed" 1
      ;;
  esac
}

# start_unit UNIT: start it now on a booted system; in a chroot only say it starts at boot.
start_unit() {
  if ! live_system; then
    log "not a booted system: $1 starts at boot"
    return 0
  fi
  if systemctl is-active --quiet "$1"; then
    return 0
  fi
  log "starting $1"
  systemctl start "$1"
}

# restart_unit UNIT: restart it now on a booted system (after a configuration change).
restart_unit() {
  if live_system; then
    log "restarting $1"
    systemctl restart "$1"
  fi
}
# ---- end of shared helpers ----

kata_source=${VMLAB_KATA_SOURCE:-}
url=${VMLAB_KATA_RELEASE_URL:-}
sha256=${VMLAB_KATA_RELEASE_SHA256:-}
[ -n "$kata_source" ] || die "missing setting kata_source (set it under settings: in the role file; supported: release-tarball)" 2
case "$kata_source" in
  release-tarball)
    [ -n "$url" ] || die "missing setting kata_release_url (kata_source is release-tarball)" 2
    ;;
  *) die "unsupported kata_source \"$kata_source\" (supported: release-tarball)" 2 ;;
esac
if [ -n "$sha256" ] && ! [[ "$sha256" =~ ^[0-9a-f]{64}$ ]]; then
  die "setting kata_release_sha256 must be 64 lowercase hex digits" 2
fi

prefix=/opt/kata
stamp="$prefix/.vmlab-release"
config=/etc/containerd/config.toml
want_stamp="$url${sha256:+ sha256:$sha256}"

is_installed containerd || die "containerd is not installed: list the containerd feature before kata" 1
[ -f "$config" ] || die "$config is missing: list the containerd feature before kata" 1

# --- the release tarball ---
if [ -x "$prefix/bin/containerd-shim-kata-v2" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
  log "already installed: $url"
else
  tools=(curl ca-certificates)
  case "$url" in
    *.tar.xz | *.txz) tools+=(xz-utils) ;;
    *.tar.zst | *.tzst) tools+=(zstd) ;;
  esac
  apt_install "${tools[@]}"
  mkdir -p "${prefix%/*}"
  work=$(mktemp -d "${prefix%/*}/.vmlab-kata.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  log "downloading $url"
  curl -fsSL --retry 3 -o "$work/release.tar" "$url" || die "could not download $url" 1
  if [ -n "$sha256" ]; then
    echo "$sha256  $work/release.tar" | sha256sum -c --quiet - || die "checksum mismatch for $url" 1
  fi
  log "extracting the release"
  mkdir "$work/root"
  tar -xf "$work/release.tar" -C "$work/root"
  if [ -d "$work/root/opt/kata/bin" ]; then
    tree="$work/root/opt/kata"
  elif [ -d "$work/root/bin" ]; then
    tree="$work/root"
  else
    die "$url holds no opt/kata/bin (is it a kata-static release tarball?)" 1
  fi
  for binary in containerd-shim-kata-v2 kata-runtime; do
    [ -x "$tree/bin/$binary" ] || die "$url has no bin/$binary" 1
  done
  printf '%s\n' "$want_stamp" >"$tree/.vmlab-release"
  log "installing the release in $prefix"
  rm -rf "$prefix.vmlab-old"
  if [ -e "$prefix" ]; then mv "$prefix" "$prefix.vmlab-old"; fi
  mv "$tree" "$prefix"
  rm -rf "$prefix.vmlab-old"
fi

for binary in containerd-shim-kata-v2 kata-runtime; do
  if [ "$(readlink "/usr/local/bin/$binary" 2>/dev/null || true)" != "$prefix/bin/$binary" ]; then
    log "linking /usr/local/bin/$binary -> $prefix/bin/$binary"
    mkdir -p /usr/local/bin
    ln -sfn "$prefix/bin/$binary" "/usr/local/bin/$binary"
  fi
done

# --- containerd: runtime "kata" for CRI (containerd finds containerd-shim-kata-v2 on its PATH) ---
grep -q '^version = 2$' "$config" || die "$config is not a version 2 configuration (containerd 1.x)" 1
runtime_table='[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]'
if grep -qF "$runtime_table" "$config"; then
  log "containerd already has runtime kata"
else
  log "adding runtime kata (io.containerd.kata.v2) to $config"
  cat >>"$config" <<CONF

# vmlab kata feature: Kata Containers as CRI runtime handler "kata"
$runtime_table
  runtime_type = "io.containerd.kata.v2"
  privileged_without_host_devices = true
  pod_annotations = ["io.katacontainers.*"]
CONF
  enable_unit containerd.service
  if live_system && systemctl is-active --quiet containerd.service; then
    restart_unit containerd.service
  fi
fi
enable_unit containerd.service
start_unit containerd.service

if live_system && [ ! -e /dev/kvm ]; then
  warn "no /dev/kvm: Kata is installed, but its containers need nested virtualisation to run"
fi
log "done"
