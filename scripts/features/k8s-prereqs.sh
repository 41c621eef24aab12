#!/usr/bin/env bash
# feature: k8s-prereqs — the host settings kubeadm expects: no swap, overlay + br_netfilter, forwarding sysctls
# Turns swap off (now and in /etc/fstab; swap.target masked so no swap unit comes back), loads the
# overlay and br_netfilter modules (now and via /etc/modules-load.d) and sets the bridge/forwarding
# sysctls (now and via /etc/sysctl.d). The "now" parts only happen on a booted system.
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=k8s-prereqs
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

# --- swap ---
if grep -Eq '^[[:space:]]*[^#[:space:]][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]' /etc/fstab 2>/dev/null; then
  log "commenting out swap entries in /etc/fstab"
  sed -Ei 's/^([[:space:]]*[^#[:space:]][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$/# vmlab k8s-prereqs: swap off # \1/' /etc/fstab
fi
if [ "$(systemctl is-enabled swap.target 2>/dev/null || true)" != masked ]; then
  log "masking swap.target"
  systemctl mask swap.target >/dev/null 2>&1 || die "systemctl mask swap.target failed" 1
fi
if live_system && [ "$(wc -l </proc/swaps)" -gt 1 ]; then
  log "turning swap off (swapoff -a)"
  swapoff -a
fi

# --- kernel modules ---
if write_file /etc/modules-load.d/vmlab-k8s.conf 0644 <<'CONF'; then
# vmlab k8s-prereqs: container filesystem and bridged traffic through iptables
overlay
br_netfilter
CONF
  log "wrote /etc/modules-load.d/vmlab-k8s.conf"
fi
if live_system; then
  for module in overlay br_netfilter; do
    if [ ! -d "/sys/module/$module" ]; then
      log "loading kernel module $module"
      modprobe "$module"
    fi
  done
fi

# --- sysctls ---
sysctl_conf=/etc/sysctl.d/99-vmlab-k8s.conf
if write_file "$sysctl_conf" 0644 <<'CONF'; then
# vmlab k8s-prereqs: bridged traffic goes through iptables; the node forwards packets
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
CONF
  log "wrote $sysctl_conf"
fi
if live_system; then
  for key in net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.ip_forward; do
    file="/proc/sys/${key//.//}"
    if [ "$(cat "$file")" != 1 ]; then
      log "setting $key = 1"
      echo 1 >"$file"
    fi
  done
fi
log "done"
