#!/usr/bin/env bash
# feature: lxd — LXD (Debian's package) for system containers, initialised once
# Installs lxd, adds the vagrant user to the lxd group, and installs a boot-time unit that initialises
# LXD once if it has no storage pool yet (so an image built in a chroot, where LXD cannot run, still
# comes up initialised); on a booted system it runs that unit now.
#
# The initialisation is lxd init --preseed: a "dir" storage pool named default, and a NAT bridge lxdbr0
# on the IPv4 subnet of the setting lxd_bridge_ipv4 (IPv6 off). "auto" picks the first 10.218.<n>.1/24
# that no route of the VM covers or falls inside. LXD's own "auto" is not used: it also pings each
# random candidate and gives up after 100 that answer, which happens on networks that answer every
# address in 10.0.0.0/8 (the lxd role's checks failed that way under vagrant-libvirt's NAT).
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

bridge_ipv4=${VMLAB_LXD_BRIDGE_IPV4:-auto}
if [ "$bridge_ipv4" != auto ] && ! [[ $bridge_ipv4 =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|30)$ ]]; then
  die "setting lxd_bridge_ipv4 must be \"auto\" or the bridge's address with its prefix (10.218.0.1/24), not \"$bridge_ipv4\"" 2
fi

# dnsmasq-base serves DHCP/DNS on lxdbr0; apparmor lets LXD confine containers (Debian kernels enable it);
# iproute2 lets the init script read the VM's routes; nftables is the firewall LXD NATs lxdbr0 with.
apt_install lxd dnsmasq-base apparmor iproute2 nftables

add_user_to_group "$lxd_user" lxd

# The unit reads the setting at boot: an image carries it to every VM made from it.
if write_file /etc/default/vmlab-lxd 0644 <<EOF; then
# vmlab lxd feature (role setting lxd_bridge_ipv4): lxdbr0's IPv4 address/prefix, or auto
VMLAB_LXD_BRIDGE_IPV4=$bridge_ipv4
EOF
  log "wrote /etc/default/vmlab-lxd (lxd_bridge_ipv4=$bridge_ipv4)"
fi

if write_file /usr/local/sbin/vmlab-lxd-init 0755 <<'SCRIPT'; then
#!/bin/sh
# vmlab lxd feature: initialise LXD once (dir storage pool "default", NAT bridge lxdbr0) unless done.
set -eu
lxd waitready --timeout=300
if [ -n "$(lxc storage list --format csv)" ]; then
  echo "vmlab-lxd-init: LXD already has a storage pool, nothing to do"
  exit 0
fi

# A /24 is free when no route but the default one covers its first address, and no route lies inside it.
free_subnet() {
  [ -z "$(ip -4 route show match "$1.1" | grep -v '^default')" ] && [ -z "$(ip -4 route show root "$1.0/24")" ]
}
address=${VMLAB_LXD_BRIDGE_IPV4:-auto}
if [ "$address" = auto ]; then
  address=''
  n=0
  while [ "$n" -le 255 ]; do
    if free_subnet "10.218.$n"; then
      address="10.218.$n.1/24"
      break
    fi
    n=$((n + 1))
  done
  if [ -z "$address" ]; then
    echo "vmlab-lxd-init: every 10.218.<n>.0/24 is in use; set lxd_bridge_ipv4 in the role" >&2
    exit 1
  fi
fi

echo "vmlab-lxd-init: lxd init --preseed (storage pool default: dir; lxdbr0: $address, NAT, no IPv6)"
lxd init --preseed <<PRESEED
networks:
- name: lxdbr0
  type: bridge
  config:
    ipv4.address: $address
    ipv4.nat: "true"
    ipv6.address: none
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
    eth0:
      name: eth0
      network: lxdbr0
      type: nic
PRESEED
SCRIPT
  log "wrote /usr/local/sbin/vmlab-lxd-init"
fi

if write_file /etc/systemd/system/vmlab-lxd-init.service 0644 <<'UNIT'; then
[Unit]
Description=vmlab: initialise LXD (storage pool default, bridge lxdbr0) if not yet initialised
Wants=lxd.socket
After=lxd.socket lxd.service

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=HOME=/root
EnvironmentFile=-/etc/default/vmlab-lxd
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
  # LXD picks its firewall (nftables) when it starts: a daemon that ran before nftables was installed
  # would fall back to iptables, which is not installed. Not initialised means no instances yet to stop.
  if systemctl is-active --quiet lxd.service; then
    log "restarting lxd so that it finds nftables"
    systemctl restart lxd.service
  fi
  log "initialising LXD (vmlab-lxd-init.service)"
  if ! systemctl start vmlab-lxd-init.service; then
    journalctl -u vmlab-lxd-init.service --no-pager -n 30 >&2 || true
    die "LXD initialisation failed (journalctl -u vmlab-lxd-init.service)" 1
  fi
fi
log "done"
