#!/usr/bin/env bash
# feature: observer — tracing and metrics: bpftrace, BCC tools, sysstat collection, node exporter on :9100
# Installs bpftrace, bpfcc-tools (and kernel headers for BCC, setting observer_kernel_headers),
# turns sysstat's periodic collection on, and enables prometheus-node-exporter (default port 9100).
FEATURE=observer
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

kernel_headers=${VMLAB_OBSERVER_KERNEL_HEADERS:-true}
case "$kernel_headers" in
  true | false) ;;
  *) die "setting observer_kernel_headers must be \"true\" or \"false\", not \"$kernel_headers\"" 2 ;;
esac

# sysstat asks (debconf) whether to collect; answer before installing so the package writes ENABLED="true".
if [ "$(debconf-show sysstat 2>/dev/null | sed -n 's/^[* ] sysstat\/enable: //p')" != true ]; then
  log "preseeding sysstat/enable=true"
  echo 'sysstat sysstat/enable boolean true' | debconf-set-selections
fi

apt_install bpftrace bpfcc-tools sysstat prometheus-node-exporter

# BCC compiles its probes against the running kernel's headers (bpftrace does not need them: BTF).
if [ "$kernel_headers" = true ]; then
  headers="linux-headers-$(dpkg --print-architecture)"
  if live_system && apt-cache show "linux-headers-$(uname -r)" >/dev/null 2>&1; then
    headers="linux-headers-$(uname -r)"
  fi
  apt_install "$headers"
fi

# The collection switch is ENABLED in /etc/default/sysstat (managed with debconf and ucf, and the
# file wins over debconf): if sysstat was there before the preseed, set it and let the package resync.
if ! grep -qx 'ENABLED="true"' /etc/default/sysstat; then
  log "enabling sysstat collection (ENABLED=\"true\" in /etc/default/sysstat, dpkg-reconfigure sysstat)"
  sed -i 's/^ENABLED=.*/ENABLED="true"/' /etc/default/sysstat
  grep -qx 'ENABLED="true"' /etc/default/sysstat || echo 'ENABLED="true"' >>/etc/default/sysstat
  dpkg-reconfigure -f noninteractive sysstat
  grep -qx 'ENABLED="true"' /etc/default/sysstat || die "could not enable sysstat collection in /etc/default/sysstat" 1
fi
for unit in sysstat.service sysstat-collect.timer sysstat-summary.timer; do
  enable_unit "$unit"
done
start_unit sysstat.service

# Debian's node exporter listens on :9100 unless ARGS in /etc/default/prometheus-node-exporter says otherwise.
if grep -Eq '^[[:space:]]*ARGS=.*--web\.listen-address' /etc/default/prometheus-node-exporter 2>/dev/null; then
  warn "/etc/default/prometheus-node-exporter sets --web.listen-address: it may not listen on :9100"
fi
enable_unit prometheus-node-exporter.service
start_unit prometheus-node-exporter.service
log "done"
