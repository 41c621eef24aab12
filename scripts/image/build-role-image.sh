#!/usr/bin/env bash
# build-role-image.sh - make a ROLE IMAGE Vagrant box (provider libvirt) from a
# PARENT box by running vmlab feature scripts in a chroot of the parent's disk.
#
# Usage:
#   build-role-image.sh --parent-box <parent.box> --out <out.box> --workdir <dir> \
#       --features-dir <path to scripts/features> \
#       [--feature <name> ...] [--env KEY=VALUE ...]
#
# No VM boots: apt and the package scripts run at the host's native speed,
# which under QEMU software emulation is many times faster than inside a VM.
# The feature scripts are written for this: in a chroot (systemd not PID 1)
# they start no daemon and apt runs with a temporary policy-rc.d; the services
# they enable start when a VM boots from the image.
#
# Progress is reported on stdout as lines of the exact form
#   STEP <n>/<total> <short description>
# when each phase starts (total = 5 + number of features). Exit codes: 0 ok,
# 2 usage error, 3 missing host tool or not root, 130/143 interrupted
# (SIGINT/SIGTERM), any other non-zero value: build failure. A failing feature
# script is reported on stderr as
#   build-role-image.sh: error: feature <name> failed (exit N)
#
# Must run as root (loop device, mount, chroot).
#
# Disk access without partition-aware loop devices or NBD (some build hosts
# have neither): the parent's qcow2 is converted to a sparse raw file, its
# partition table read from the file with sfdisk, and the Linux partition
# attached as an *offset* loop device and mounted (open_root_partition in
# lib/builder.sh). Afterwards the free space is discarded (fstrim punches holes
# into the raw file) so the compressed qcow2 stays small.
#
# Temporary files live in a private directory under --workdir, removed on
# exit. The box is written to <out>.partial next to <out> and renamed into
# place only when complete, so an interrupted run never leaves a half box.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/builder.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/builder.sh"

readonly GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly GUEST_FEATURES=/opt/vmlab-features

# ---------------------------------------------------------------- helpers ---

usage() {
	cat <<EOF
Usage: $PROG --parent-box <parent.box> --out <out.box> --workdir <dir>
            --features-dir <dir> [--feature <name> ...] [--env KEY=VALUE ...]

Builds a role image box from a parent box: runs the named feature scripts, in
order, in a chroot of the parent's disk (no VM boot). Needs root. Progress
lines on stdout: "STEP <n>/<total> <description>".

  --parent-box    the parent Vagrant libvirt box (tar with box.img, metadata.json,
                  Vagrantfile); its metadata.json and Vagrantfile are reused
  --out           box file to write (plain tar: box.img, metadata.json, Vagrantfile)
  --workdir       directory for temporary files (created if missing)
  --features-dir  the directory of feature scripts (<name>.sh and lib/), copied
                  into the image at $GUEST_FEATURES while the features run
  --feature       a feature to run (<features-dir>/<name>.sh); repeatable, in order
  --env           KEY=VALUE passed to every feature script; repeatable
EOF
}

TOTAL_STEPS=0

# ------------------------------------------------------------ arguments ---

parent_box='' out='' workdir='' features_dir=''
features=() env_vars=()

while [[ $# -gt 0 ]]; do
	case $1 in
	--parent-box) need_value "$@"; parent_box=$2; shift 2 ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	--workdir) need_value "$@"; workdir=$2; shift 2 ;;
	--features-dir) need_value "$@"; features_dir=$2; shift 2 ;;
	--feature) need_value "$@"; features+=("$2"); shift 2 ;;
	--env) need_value "$@"; env_vars+=("$2"); shift 2 ;;
	--parent-box=* | --out=* | --workdir=* | --features-dir=* | --feature=* | --env=*)
		opt=${1%%=*}
		set -- "$opt" "${1#*=}" "${@:2}"
		;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument: $1" ;;
	esac
done

[[ -n $parent_box ]] || usage_error "--parent-box is required"
[[ -n $out ]] || usage_error "--out is required"
[[ -n $workdir ]] || usage_error "--workdir is required"
[[ -n $features_dir ]] || usage_error "--features-dir is required"

[[ $out != */ ]] || usage_error "--out must be a file name"
for f in "${features[@]}"; do
	[[ $f =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || usage_error "invalid feature name '$f'"
done
for e in "${env_vars[@]}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || usage_error "invalid --env '$e' (expected KEY=VALUE)"
done

TOTAL_STEPS=$((5 + ${#features[@]}))

# ---------------------------------------------------------- host checks ---

require_root

# tool -> Debian package that provides it
declare -A TOOL_PKG=(
	[qemu-img]=qemu-utils
	[sfdisk]=fdisk
	[losetup]=mount
	[mount]=mount
	[umount]=mount
	[fstrim]=util-linux
	[setsid]=util-linux
	[chroot]=coreutils
	[truncate]=coreutils
	[tar]=tar
)
check_tools
exit_if_missing

# The files (after the root check: a non-root caller may not be able to read them).
[[ -f $parent_box && -r $parent_box ]] || usage_error "parent box not found: $parent_box"
[[ -d $features_dir ]] || usage_error "features directory not found: $features_dir"
[[ -f $features_dir/lib/common.sh ]] || usage_error "no lib/common.sh in features directory $features_dir"
for f in "${features[@]}"; do
	[[ -f $features_dir/$f.sh ]] || usage_error "unknown feature '$f' (no $features_dir/$f.sh)"
done

# ------------------------------------------------------- workspace/trap ---

parent_box=$(cd "$(dirname "$parent_box")" && pwd -P)/$(basename "$parent_box")
features_dir=$(cd "$features_dir" && pwd -P)
prepare_output
[[ $out != "$parent_box" ]] || usage_error "--out must differ from --parent-box"

make_build_dir build-role-image
parent=$build/parent
root=$build/root
disk=$build/disk.raw
stage=$build/box
mkdir -p "$parent" "$root" "$stage"

# Processes whose root directory is the image (a daemon a package script
# started despite policy-rc.d, a gpg-agent, ...): they would keep it busy.
stop_chroot_processes() {
	local p r pids=() i
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		case $r in "$root" | "$root"/*) pids+=("${p#/proc/}") ;; esac
	done
	[[ ${#pids[@]} -gt 0 ]] || return 0
	warn "stopping processes left in the chroot: ${pids[*]}"
	kill -TERM "${pids[@]}" 2>/dev/null
	for ((i = 0; i < 20; i++)); do
		kill -0 "${pids[@]}" 2>/dev/null || return 0
		sleep 0.25
	done
	kill -KILL "${pids[@]}" 2>/dev/null
	return 0
}

CLEANUP_HOOK=stop_chroot_processes
set_traps

# ---------------------------------------------------- 1: unpack parent ---

step "unpack parent box"

# tar detects a compressed box by itself; members may be named ./box.img.
run tar -C "$parent" --no-same-owner -xf "$parent_box"
for f in box.img metadata.json Vagrantfile; do
	[[ -f $parent/$f ]] || die "parent box $parent_box has no $f"
done
# Sparse raw copy: only the blocks in use take space.
run qemu-img convert -O raw "$parent/box.img" "$disk"
rm -f "$parent/box.img"

# -------------------------------------------------------- 2: open disk ---

step "open disk"

open_root_partition "$disk" "$root" "the parent's disk"

for d in proc sys dev dev/pts run; do
	mkdir -p "$root/$d"
done
mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
# The guest's /run is a tmpfs when it boots; nothing written there belongs in the image.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"

# Name resolution for apt: the host's resolv.conf, in place of the guest's own
# (in our images a symlink to systemd-resolved's stub), which is kept aside
# untouched (a rename within the image) and put back after the features.
guest_resolv=$root/etc/.resolv.conf.vmlab-orig
had_resolv=
if [[ -e $root/etc/resolv.conf || -L $root/etc/resolv.conf ]]; then
	mv -T "$root/etc/resolv.conf" "$guest_resolv"
	had_resolv=1
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null ||
	warn "host has no readable /etc/resolv.conf; apt may not resolve host names"

rm -rf "${root:?}$GUEST_FEATURES"
mkdir -p "$root$GUEST_FEATURES"
cp -R "$features_dir/." "$root$GUEST_FEATURES/"
chown -R 0:0 "$root$GUEST_FEATURES"

# ---------------------------------------------------- 3..: run features ---

guest_env=(PATH="$GUEST_PATH" HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "${env_vars[@]}")
for f in "${features[@]}"; do
	step "run feature $f"
	rc=0
	run chroot "$root" /usr/bin/env -i "${guest_env[@]}" \
		bash "$GUEST_FEATURES/$f.sh" </dev/null || rc=$?
	if [[ $rc -ne 0 ]]; then
		printf '%s: error: feature %s failed (exit %d)\n' "$PROG" "$f" "$rc" >&2
		exit "$rc"
	fi
done

# ------------------------------------------------------ n: clean up image ---

step "clean up the image"

rm -rf "${root:?}$GUEST_FEATURES"
run chroot "$root" /usr/bin/env -i PATH="$GUEST_PATH" HOME=/root apt-get clean
rm -f "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old "$root/usr/sbin/policy-rc.d"
rm -rf "${root:?}"/tmp/* "${root:?}"/var/tmp/*
find "$root/var/log" -type f -exec truncate -s 0 {} +
# Identity: every clone generates its own machine-id and SSH host keys at first boot.
: >"$root/etc/machine-id"
if [[ -f $root/var/lib/dbus/machine-id && ! -L $root/var/lib/dbus/machine-id ]]; then
	rm -f "$root/var/lib/dbus/machine-id"
fi
rm -f "$root"/etc/ssh/ssh_host_*
# The guest's own resolv.conf, exactly as it was.
rm -f "$root/etc/resolv.conf"
if [[ -n $had_resolv ]]; then
	mv -T "$guest_resolv" "$root/etc/resolv.conf"
fi

stop_chroot_processes
for mp in run dev/pts dev sys proc; do
	umount "$root/$mp"
done
# Discard the free blocks (so the compressed qcow2 stays small), unmount, detach.
close_root_partition "$root"

# --------------------------------------------------- n+1: compress disk ---

step "compress disk"

compress_disk "$disk" "$stage/box.img"

# ---------------------------------------------------- n+2: package box ---

step "package box"

cp "$parent/metadata.json" "$parent/Vagrantfile" "$stage/"
package_box "$stage"

box_bytes=$(stat -c %s "$out")
printf 'built %s (%d MiB; features: %s)\n' "$out" $((box_bytes / 1048576)) "${features[*]:-none}"
