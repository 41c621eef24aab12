#!/usr/bin/env bash
# feature: lxd — LXD (Debian's package) for system containers, initialised with defaults once
# Installs lxd, adds the vagrant user to the lxd group, and installs a boot-time unit that runs
# "lxd init --auto" once if LXD has no storage pool yet (so an image built in a chroot, where
# LXD cannot run, still comes up initialised); on a booted system it runs that unit now.
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=lxd
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

lxd_user=vagrant

# dnsmasq-base serves DHCP/DNS on lxdbr0; apparmor lets LXD confine containers (Debian kernels enable it).
apt_install lxd dnsmasq-base apparmor

add_user_to_group "$lxd_user" lxd

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
