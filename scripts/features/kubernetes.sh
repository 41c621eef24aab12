#!/usr/bin/env bash
# feature: kubernetes — kubeadm, kubelet and kubectl from the upstream Kubernetes apt repository, held
# Settings (all required): kubernetes_version (a minor version such as v1.31), kubernetes_apt_repo and
# kubernetes_apt_key (the repository and its signing-key URLs; "{version}" in them is replaced by
# kubernetes_version). Adds the repository, installs and holds the packages, enables kubelet (which
# waits for "kubeadm init/join") and points crictl at containerd.
FEATURE=kubernetes
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

version=${VMLAB_KUBERNETES_VERSION:-}
repo=${VMLAB_KUBERNETES_APT_REPO:-}
key_url=${VMLAB_KUBERNETES_APT_KEY:-}
missing=()
[ -n "$version" ] || missing+=(kubernetes_version)
[ -n "$repo" ] || missing+=(kubernetes_apt_repo)
[ -n "$key_url" ] || missing+=(kubernetes_apt_key)
if [ "${#missing[@]}" -gt 0 ]; then
  die "missing setting(s): ${missing[*]} (set them under settings: in the role file)" 2
fi
[[ "$version" =~ ^v[0-9]+\.[0-9]+$ ]] || die "setting kubernetes_version must be a minor version like v1.31, not \"$version\"" 2
repo=${repo//'{version}'/$version}
key_url=${key_url//'{version}'/$version}

packages=(kubelet kubeadm kubectl)
source_file=/etc/apt/sources.list.d/vmlab-kubernetes.list
keyring_base=/etc/apt/keyrings/vmlab-kubernetes

# source_for KEYRING: the sources.list content for this repository, signed by KEYRING.
source_for() {
  printf '# vmlab kubernetes feature: Kubernetes %s packages (signing key: %s)\n' "$version" "$key_url"
  printf 'deb [signed-by=%s] %s /\n' "$1" "$repo"
}

up_to_date=""
for keyring in "$keyring_base.asc" "$keyring_base.gpg"; do
  if [ -s "$keyring" ] && [ -f "$source_file" ] && [ "$(cat "$source_file")" = "$(source_for "$keyring")" ]; then
    up_to_date=1
  fi
done

if [ -z "$up_to_date" ]; then
  apt_install curl ca-certificates
  tmp=$(mktemp)
  log "downloading the repository signing key from $key_url"
  curl -fsSL --retry 3 -o "$tmp" "$key_url" || { rm -f "$tmp"; die "could not download $key_url" 1; }
  # apt reads ASCII-armoured keys from *.asc and binary ones from *.gpg: no gpg needed.
  if grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$tmp"; then
    keyring="$keyring_base.asc"
  else
    keyring="$keyring_base.gpg"
  fi
  rm -f "$keyring_base.asc" "$keyring_base.gpg"
  mkdir -p /etc/apt/keyrings
  install -m 0644 "$tmp" "$keyring"
  rm -f "$tmp"
  log "wrote $keyring"
  source_for "$keyring" | write_file "$source_file" 0644 || true
  log "wrote $source_file ($repo)"
  apt_refresh force
fi

installed_before=""
if is_installed kubeadm; then installed_before=1; fi
apt_install "${packages[@]}"
if [ -n "$installed_before" ]; then
  have=$(dpkg-query -W -f='${Version}' kubeadm)
  case "$have" in
    "${version#v}".*) ;;
    *) warn "kubeadm $have is installed but kubernetes_version is $version: held packages are not upgraded (see kubeadm upgrade)" ;;
  esac
fi

held=$(apt-mark showhold)
for pkg in "${packages[@]}"; do
  if ! grep -qx "$pkg" <<<"$held"; then
    log "holding $pkg (apt-mark hold)"
    apt-mark hold "$pkg" >/dev/null
  fi
done

if write_file /etc/crictl.yaml 0644 <<'CONF'; then
# vmlab kubernetes feature: crictl talks to containerd
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
CONF
  log "wrote /etc/crictl.yaml"
fi

# kubelet restarts in a loop until kubeadm init/join gives it a configuration: enabled, not started here.
enable_unit kubelet.service
log "done"
