#!/usr/bin/env bash
# feature: guest-agent — the QEMU guest agent, installed and enabled, so libvirt can talk to the VM
# Installs qemu-guest-agent, enables it, and starts it when the agent's virtio channel is present.
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=guest-agent
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

apt_install qemu-guest-agent
# Debian's unit is started by udev when the virtio port appears (it is "static"); enable_unit copes.
enable_unit qemu-guest-agent.service
if live_system && [ ! -e /dev/virtio-ports/org.qemu.guest_agent.0 ]; then
  warn "no guest agent channel (/dev/virtio-ports/org.qemu.guest_agent.0): the agent starts once the VM has one"
else
  start_unit qemu-guest-agent.service
fi
log "done"
