#!/usr/bin/env bash
# feature: observer — tracing and metrics: bpftrace, BCC tools, sysstat collection, node exporter on :9100
# Installs bpftrace, bpfcc-tools (and kernel headers for BCC, setting observer_kernel_headers),
# turns sysstat's periodic collection on, and enables prometheus-node-exporter (default port 9100).
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=observer
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

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
