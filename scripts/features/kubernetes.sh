#!/usr/bin/env bash
# feature: kubernetes — kubeadm, kubelet and kubectl from the upstream Kubernetes apt repository, held
# Settings (all required): kubernetes_version (a minor version such as v1.31), kubernetes_apt_repo and
# kubernetes_apt_key (the repository and its signing-key URLs; "{version}" in them is replaced by
# kubernetes_version). Adds the repository, installs and holds the packages, enables kubelet (which
# waits for "kubeadm init/join") and points crictl at containerd.
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=kubernetes
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

version=${VMLAB_KUBERNETES_VERSION:-}
repo=${VMLAB_KUBERNETES_APT_REPO:-}
key_url=${VMLAB_KUBERNETES_APT_KEY:-}
missing=()
[ -n "$version" ] || missing+=(kubernetes_version)
[ -n "$repo" ] || missing+=(kubernetes_apt_repo)
[ -n "$key_url" ] || missing+=(kubernetes_apt_key)
if [ "${#missing[@]}" -gt 0 ]; then
  die "missing setting(s): ${missing[*]} (set them under settings: in the role file)" 2
fi
[[ "$version" =~ ^v[0-9]+\.[0-9]+$ ]] || die "setting kubernetes_version must be a minor version like v1.31, not \"$version\"" 2
repo=${repo//'{version}'/$version}
key_url=${key_url//'{version}'/$version}

packages=(kubelet kubeadm kubectl)
source_file=/etc/apt/sources.list.d/vmlab-kubernetes.list
keyring_base=/etc/apt/keyrings/vmlab-kubernetes

# source_for KEYRING: the sources.list content for this repository, signed by KEYRING.
source_for() {
  printf '# vmlab kubernetes feature: Kubernetes %s packages (signing key: %s)\n' "$version" "$key_url"
  printf 'deb [signed-by=%s] %s /\n' "$1" "$repo"
}

up_to_date=""
for keyring in "$keyring_base.asc" "$keyring_base.gpg"; do
  if [ -s "$keyring" ] && [ -f "$source_file" ] && [ "$(cat "$source_file")" = "$(source_for "$keyring")" ]; then
    up_to_date=1
  fi
done

if [ -z "$up_to_date" ]; then
  apt_install curl ca-certificates
  tmp=$(mktemp)
  log "downloading the repository signing key from $key_url"
  curl -fsSL --retry 3 -o "$tmp" "$key_url" || { rm -f "$tmp"; die "could not download $key_url" 1; }
  # apt reads ASCII-armoured keys from *.asc and binary ones from *.gpg: no gpg needed.
  if grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$tmp"; then
    keyring="$keyring_base.asc"
  else
    keyring="$keyring_base.gpg"
  fi
  rm -f "$keyring_base.asc" "$keyring_base.gpg"
  mkdir -p /etc/apt/keyrings
  install -m 0644 "$tmp" "$keyring"
  rm -f "$tmp"
  log "wrote $keyring"
  source_for "$keyring" | write_file "$source_file" 0644 || true
  log "wrote $source_file ($repo)"
  apt_refresh force
fi

installed_before=""
if is_installed kubeadm; then installed_before=1; fi
apt_install "${packages[@]}"
if [ -n "$installed_before" ]; then
  have=$(dpkg-query -W -f='${Version}' kubeadm)
  case "$have" in
    "${version#v}".*) ;;
    *) warn "kubeadm $have is installed but kubernetes_version is $version: held packages are not upgraded (see kubeadm upgrade)" ;;
  esac
fi

held=$(apt-mark showhold)
for pkg in "${packages[@]}"; do
  if ! grep -qx "$pkg" <<<"$held"; then
    log "holding $pkg (apt-mark hold)"
    apt-mark hold "$pkg" >/dev/null
  fi
done

if write_file /etc/crictl.yaml 0644 <<'CONF'; then
# vmlab kubernetes feature: crictl talks to containerd
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
CONF
  log "wrote /etc/crictl.yaml"
fi

# kubelet restarts in a loop until kubeadm init/join gives it a configuration: enabled, not started here.
enable_unit kubelet.service
log "done"
