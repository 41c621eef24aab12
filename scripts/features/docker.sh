#!/usr/bin/env bash
# feature: docker — Docker Engine (docker.io) and Compose from Debian's packages, daemon enabled
# Installs docker.io and the Compose package (setting compose_package; bookworm only packages
# Compose v1, "docker-compose"), enables the daemon and adds the vagrant user to the docker group.
FEATURE=docker
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

compose_package=${VMLAB_COMPOSE_PACKAGE:-docker-compose}
docker_user=vagrant

# apparmor: Debian kernels enable AppArmor, and Docker's default container profile needs the parser.
apt_install docker.io "$compose_package" apparmor

if ! getent group docker >/dev/null; then
  log "creating group docker"
  groupadd --system docker
fi
if id "$docker_user" >/dev/null 2>&1; then
  case " $(id -nG "$docker_user") " in
    *" docker "*) ;;
    *)
      log "adding $docker_user to group docker"
      usermod -aG docker "$docker_user"
      ;;
  esac
else
  warn "no user $docker_user: nobody added to group docker"
fi

enable_unit containerd.service
enable_unit docker.service
start_unit docker.service
log "done"
