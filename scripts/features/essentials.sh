#!/usr/bin/env bash
# feature: essentials — a modest set of everyday command-line tools (curl, jq, vim-tiny, htop, ...)
# Installs the packages below from Debian if missing; nothing else is changed.
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=essentials
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

apt_install \
  ca-certificates curl gnupg lsb-release \
  jq less vim-tiny htop procps iproute2 iputils-ping \
  bash-completion file unzip xz-utils
log "done"
