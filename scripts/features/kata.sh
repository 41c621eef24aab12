#!/usr/bin/env bash
# feature: kata — Kata Containers wired into containerd as runtime "kata" (io.containerd.kata.v2)
# Settings: kata_source (only "release-tarball" for now) and kata_release_url (a kata-static release
# tarball, .tar.xz/.tar.zst/.tar.gz, holding opt/kata/...), optional kata_release_sha256. Extracts it
# to /opt/kata, links containerd-shim-kata-v2 and kata-runtime into /usr/local/bin, and adds the
# "kata" runtime to containerd's CRI configuration (run the containerd feature first).
# Running Kata containers needs /dev/kvm in this VM, i.e. nested virtualisation on the host
# (kvm_intel/kvm_amd nested=1 and a host-passthrough/host-model CPU); installing does not.
# shellcheck disable=SC2034 # FEATURE names this script in the library's messages
FEATURE=kata
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# The shared helpers: next to this script in a checkout or an image build; Vagrant uploads the
# library separately and names it in VMLAB_FEATURE_LIB, since its shell provisioner uploads one file.
# "shellcheck -x" follows it from any directory; plain shellcheck, which cannot, skips it quietly.
# shellcheck source-path=SCRIPTDIR disable=SC1091
# shellcheck source=lib/common.sh
. "${VMLAB_FEATURE_LIB:-$(dirname "${BASH_SOURCE[0]}")/lib/common.sh}"
require_root

kata_source=${VMLAB_KATA_SOURCE:-}
url=${VMLAB_KATA_RELEASE_URL:-}
sha256=${VMLAB_KATA_RELEASE_SHA256:-}
[ -n "$kata_source" ] || die "missing setting kata_source (set it under settings: in the role file; supported: release-tarball)" 2
case "$kata_source" in
  release-tarball)
    [ -n "$url" ] || die "missing setting kata_release_url (kata_source is release-tarball)" 2
    ;;
  *) die "unsupported kata_source \"$kata_source\" (supported: release-tarball)" 2 ;;
esac
if [ -n "$sha256" ] && ! [[ "$sha256" =~ ^[0-9a-f]{64}$ ]]; then
  die "setting kata_release_sha256 must be 64 lowercase hex digits" 2
fi

prefix=/opt/kata
stamp="$prefix/.vmlab-release"
config=/etc/containerd/config.toml
want_stamp="$url${sha256:+ sha256:$sha256}"

is_installed containerd || die "containerd is not installed: list the containerd feature before kata" 1
[ -f "$config" ] || die "$config is missing: list the containerd feature before kata" 1

# --- the release tarball ---
if [ -x "$prefix/bin/containerd-shim-kata-v2" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
  log "already installed: $url"
else
  tools=(curl ca-certificates)
  case "$url" in
    *.tar.xz | *.txz) tools+=(xz-utils) ;;
    *.tar.zst | *.tzst) tools+=(zstd) ;;
  esac
  apt_install "${tools[@]}"
  mkdir -p "${prefix%/*}"
  work=$(mktemp -d "${prefix%/*}/.vmlab-kata.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  log "downloading $url"
  curl -fsSL --retry 3 -o "$work/release.tar" "$url" || die "could not download $url" 1
  if [ -n "$sha256" ]; then
    echo "$sha256  $work/release.tar" | sha256sum -c --quiet - || die "checksum mismatch for $url" 1
  fi
  log "extracting the release"
  mkdir "$work/root"
  tar -xf "$work/release.tar" -C "$work/root"
  if [ -d "$work/root/opt/kata/bin" ]; then
    tree="$work/root/opt/kata"
  elif [ -d "$work/root/bin" ]; then
    tree="$work/root"
  else
    die "$url holds no opt/kata/bin (is it a kata-static release tarball?)" 1
  fi
  for binary in containerd-shim-kata-v2 kata-runtime; do
    [ -x "$tree/bin/$binary" ] || die "$url has no bin/$binary" 1
  done
  printf '%s\n' "$want_stamp" >"$tree/.vmlab-release"
  log "installing the release in $prefix"
  rm -rf "$prefix.vmlab-old"
  if [ -e "$prefix" ]; then mv "$prefix" "$prefix.vmlab-old"; fi
  mv "$tree" "$prefix"
  rm -rf "$prefix.vmlab-old"
fi

for binary in containerd-shim-kata-v2 kata-runtime; do
  if [ "$(readlink "/usr/local/bin/$binary" 2>/dev/null || true)" != "$prefix/bin/$binary" ]; then
    log "linking /usr/local/bin/$binary -> $prefix/bin/$binary"
    mkdir -p /usr/local/bin
    ln -sfn "$prefix/bin/$binary" "/usr/local/bin/$binary"
  fi
done

# --- containerd: runtime "kata" for CRI (containerd finds containerd-shim-kata-v2 on its PATH) ---
grep -q '^version = 2$' "$config" || die "$config is not a version 2 configuration (containerd 1.x)" 1
runtime_table='[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]'
if grep -qF "$runtime_table" "$config"; then
  log "containerd already has runtime kata"
else
  log "adding runtime kata (io.containerd.kata.v2) to $config"
  cat >>"$config" <<CONF

# vmlab kata feature: Kata Containers as CRI runtime handler "kata"
$runtime_table
  runtime_type = "io.containerd.kata.v2"
  privileged_without_host_devices = true
  pod_annotations = ["io.katacontainers.*"]
CONF
  enable_unit containerd.service
  if live_system && systemctl is-active --quiet containerd.service; then
    restart_unit containerd.service
  fi
fi
enable_unit containerd.service
start_unit containerd.service

if live_system && [ ! -e /dev/kvm ]; then
  warn "no /dev/kvm: Kata is installed, but its containers need nested virtualisation to run"
fi
log "done"
