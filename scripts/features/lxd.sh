#!/usr/bin/env bash
# feature: lxd — LXD (Debian's package) for system containers, initialised with defaults once
# Installs lxd, adds the vagrant user to the lxd group, and installs a boot-time unit that runs
# "lxd init --auto" once if LXD has no storage pool yet (so an image built in a chroot, where
# LXD cannot run, still comes up initialised); on a booted system it runs that unit now.
FEATURE=lxd
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

lxd_user=vagrant

# dnsmasq-base serves DHCP/DNS on lxdbr0; apparmor lets LXD confine containers (Debian kernels enable it).
apt_install lxd dnsmasq-base apparmor

if ! getent group lxd >/dev/null; then
  log "creating group lxd"
  groupadd --system lxd
fi
if id "$lxd_user" >/dev/null 2>&1; then
  case " $(id -nG "$lxd_user") " in
    *" lxd "*) ;;
    *)
      log "adding $lxd_user to group lxd"
      usermod -aG lxd "$lxd_user"
      ;;
  esac
else
  warn "no user $lxd_user: nobody added to group lxd"
fi

if write_file /usr/local/sbin/vmlab-lxd-init 0755 <<'SCRIPT'; then
#!/bin/sh
# vmlab lxd feature: initialise LXD with its defaults (dir storage pool, lxdbr0) unless already done.
set -eu
lxd waitready --timeout=300
if [ -n "$(lxc storage list --format csv)" ]; then
  echo "vmlab-lxd-init: LXD already has a storage pool, nothing to do"
else
  echo "vmlab-lxd-init: running lxd init --auto"
  lxd init --auto
fi
SCRIPT
  log "wrote /usr/local/sbin/vmlab-lxd-init"
fi

if write_file /etc/systemd/system/vmlab-lxd-init.service 0644 <<'UNIT'; then
[Unit]
Description=vmlab: initialise LXD with defaults (lxd init --auto) if not yet initialised
Wants=lxd.socket
After=lxd.socket lxd.service

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=HOME=/root
ExecStart=/usr/local/sbin/vmlab-lxd-init

[Install]
WantedBy=multi-user.target
UNIT
  log "wrote /etc/systemd/system/vmlab-lxd-init.service"
  if live_system; then systemctl daemon-reload; fi
fi

for unit in lxd.socket lxd.service vmlab-lxd-init.service; do
  if [ -e "/lib/systemd/system/$unit" ] || [ -e "/etc/systemd/system/$unit" ]; then
    enable_unit "$unit"
  fi
done
if live_system && ! systemctl is-active --quiet vmlab-lxd-init.service; then
  log "initialising LXD (vmlab-lxd-init.service)"
  if ! systemctl start vmlab-lxd-init.service; then
    journalctl -u vmlab-lxd-init.service --no-pager -n 30 >&2 || true
    die "LXD initialisation failed (journalctl -u vmlab-lxd-init.service)" 1
  fi
fi
log "done"
