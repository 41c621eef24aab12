#!/usr/bin/env bash
# feature: time-sync — systemd-timesyncd keeps the clock in sync (NTP), installed and enabled
# Installs systemd-timesyncd (and dbus, which timedatectl needs), enables it and turns NTP on.
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=time-sync
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

apt_install systemd-timesyncd dbus
enable_unit systemd-timesyncd.service
start_unit systemd-timesyncd.service
if live_system; then
  if [ "$(timedatectl show -p NTP --value 2>/dev/null || true)" != yes ]; then
    log "turning NTP on (timedatectl set-ntp true)"
    timedatectl set-ntp true
  fi
fi
log "done"
