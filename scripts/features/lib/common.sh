# shellcheck shell=bash
# vmlab feature scripts: the shared helpers, sourced by every scripts/features/<feature>.sh.
# The script sets FEATURE (used in every message) and "set -euo pipefail" before sourcing this
# file, then calls require_root. Sourcing it only defines functions and constants: it runs nothing.
# Where it comes from: next to the scripts (lib/common.sh) in a checkout or an image build; under
# Vagrant, whose shell provisioner uploads one file, it is uploaded separately and named in
# VMLAB_FEATURE_LIB.

# log MESSAGE / warn MESSAGE / die MESSAGE [CODE]: "vmlab: <feature>: ..." on stdout, or on stderr for
# warnings and errors; die exits with CODE (1 by default; features use 2 for a bad setting).
log() { printf 'vmlab: %s: %s\n' "$FEATURE" "$*"; }
warn() { printf 'vmlab: %s: warning: %s\n' "$FEATURE" "$*" >&2; }
die() { printf 'vmlab: %s: error: %s\n' "$FEATURE" "$1" >&2; exit "${2:-1}"; }

# require_root: stop (exit 1) unless running as root.
require_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root" 1
}

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

# is_installed PKG: whether dpkg has PKG installed.
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

# add_user_to_group USER GROUP: create GROUP (a system group) if missing and add USER to it,
# unless USER is already a member; only warn when there is no USER.
add_user_to_group() {
  local user=$1 group=$2
  if ! getent group "$group" >/dev/null; then
    log "creating group $group"
    groupadd --system "$group"
  fi
  if id "$user" >/dev/null 2>&1; then
    case " $(id -nG "$user") " in
      *" $group "*) ;;
      *)
        log "adding $user to group $group"
        usermod -aG "$group" "$user"
        ;;
    esac
  else
    warn "no user $user: nobody added to group $group"
  fi
}
