#!/usr/bin/env bash
# feature: docker — Docker Engine (docker.io) and Compose from Debian's packages, daemon enabled
# Installs docker.io and the Compose package (setting compose_package; bookworm only packages
# Compose v1, "docker-compose"), enables the daemon and adds the vagrant user to the docker group.
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=docker
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

compose_package=${VMLAB_COMPOSE_PACKAGE:-docker-compose}
docker_user=vagrant

# apparmor: Debian kernels enable AppArmor, and Docker's default container profile needs the parser.
apt_install docker.io "$compose_package" apparmor

add_user_to_group "$docker_user" docker

enable_unit containerd.service
enable_unit docker.service
start_unit docker.service
log "done"
