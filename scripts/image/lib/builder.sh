# shellcheck shell=bash
# builder.sh - sourced by the image builders (build-base-box.sh,
# build-role-image.sh, export-disk.sh): their shared helpers. Defines functions
# and variables only; it runs nothing when sourced.
#
# What the sourcing script provides:
#   TOTAL_STEPS    the number of steps, for the STEP lines (set before step)
#   TOOL_PKG       an associative array tool -> Debian package (for check_tools)
#   workdir, out   the --workdir and --out arguments (for prepare_output)
#   CLEANUP_HOOK   optional: a function the cleanup calls after stopping the
#                  running command and before unmounting
#
# What it defines for the sourcing script:
#   PROG, PATH (with the sbin directories), die, warn, usage_error, need_value,
#   step, run (and CHILD), require_root, check_tools, note_missing,
#   exit_if_missing, prepare_output (workdir, out, partial), make_build_dir
#   (build, TMPDIR, LOOPDEV), mounts_below_build, loops_below_build,
#   unmount_all, cleanup, on_signal, set_traps, LINUX_PART_TYPES,
#   open_root_partition, close_root_partition, convert_progress
#   (progress_lines), compress_disk, package_box.

readonly PROG=${0##*/}
# Callers (sudo, IDE tasks) may not have the sbin directories on PATH.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

# ---------------------------------------------------------------- messages ---

die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

warn() {
	printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

usage_error() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	printf 'Try: %s --help\n' "$PROG" >&2
	exit 2
}

# need_value "$@": the option in $1 has a non-empty value in $2.
need_value() {
	[[ $# -ge 2 && -n $2 ]] || usage_error "option $1 needs a value"
}

# Progress: "STEP <n>/<total> <description>" when each phase starts.
step_no=0
step() {
	step_no=$((step_no + 1))
	printf 'STEP %d/%d %s\n' "$step_no" "$TOTAL_STEPS" "$*"
}

# Run a long command in the background, in its own session/process group, and
# wait for it: SIGTERM/SIGINT then reach our trap at once (bash defers traps
# while a foreground child runs), and the trap can stop the command together
# with all its helpers (apt, dpkg, ...) by signalling that process group.
# setsid does not fork here (a background job is not a group leader), so $!
# is the process group id. Returns the command's exit status (so a plain
# `run cmd` still stops the script under set -e).
CHILD=
run() {
	local rc=0
	setsid "$@" &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=
	return "$rc"
}

# ------------------------------------------------------------- host checks ---

require_root() {
	if [[ $EUID -ne 0 ]]; then
		printf '%s: error: must run as root (needs loop devices, mount and chroot)\n' "$PROG" >&2
		exit 3
	fi
}

missing_tools=() missing_pkgs=()

# note_missing <what> <Debian package that provides it>
note_missing() {
	missing_tools+=("$1")
	missing_pkgs+=("$2")
}

# Notes every tool of TOOL_PKG that is not on PATH.
check_tools() {
	local t
	for t in "${!TOOL_PKG[@]}"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			note_missing "$t" "${TOOL_PKG[$t]}"
		fi
	done
}

# Exit 3, naming what is missing and the packages to install, if anything is.
exit_if_missing() {
	local pkgs
	if [[ ${#missing_tools[@]} -gt 0 ]]; then
		pkgs=$(printf '%s\n' "${missing_pkgs[@]}" | sort -u | tr '\n' ' ')
		printf '%s: error: missing host tools: %s\n' "$PROG" "${missing_tools[*]}" >&2
		printf '%s: install them with: apt-get install %s\n' "$PROG" "${pkgs% }" >&2
		exit 3
	fi
}

# ---------------------------------------------------------- workspace/trap ---

# Creates $workdir and the directory of $out, makes both absolute (physical)
# paths; the box is first written to $partial, next to $out.
partial=
prepare_output() {
	local out_dir
	mkdir -p "$workdir"
	workdir=$(cd "$workdir" && pwd -P)
	out_dir=$(dirname "$out")
	mkdir -p "$out_dir"
	out="$(cd "$out_dir" && pwd -P)/$(basename "$out")"
	partial="$out.partial"
}

# make_build_dir <name>: the private directory $build under $workdir, with
# $build/tmp as TMPDIR. The cleanup removes it.
build=
LOOPDEV=
make_build_dir() {
	build=$(mktemp -d "$workdir/$1.XXXXXX")
	chmod 0755 "$build"
	mkdir -p "$build/tmp"
	export TMPDIR=$build/tmp
	LOOPDEV=
}

# Mount points below $build, deepest first (mountinfo escapes blanks as \040).
mounts_below_build() {
	local _a _b _c _d mp _rest
	while read -r _a _b _c _d mp _rest; do
		mp=$(printf '%b' "$mp")
		case $mp in "$build" | "$build"/*) printf '%s\n' "$mp" ;; esac
	done </proc/self/mountinfo | sort -r
}

# Loop devices whose backing file is below $build: a signal that arrives while
# losetup runs may leave one attached before $LOOPDEV is set.
loops_below_build() {
	local name file
	[[ -n $build ]] || return 0
	while read -r name file; do
		file=$(printf '%b' "$file")
		file=${file% (deleted)}
		case $file in "$build"/*) printf '%s\n' "$name" ;; esac
	done < <(losetup --list --noheadings --raw --output NAME,BACK-FILE 2>/dev/null)
}

unmount_all() {
	local mp
	while read -r mp; do
		[[ -n $mp ]] || continue
		umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null ||
			warn "could not unmount $mp"
	done < <(mounts_below_build)
}

# On exit: stop the running command's process group, run CLEANUP_HOOK, unmount
# everything below $build, detach $LOOPDEV (and any other loop device of a file
# below $build), remove the partial box and $build.
CLEANUP_HOOK=
cleanup() {
	local rc=$? i loop
	set +e
	trap - EXIT INT TERM HUP
	if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null
		for ((i = 0; i < 60; i++)); do
			kill -0 -- "-$CHILD" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL -- "-$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
	fi
	if [[ -n $CLEANUP_HOOK ]]; then
		"$CLEANUP_HOOK"
	fi
	unmount_all
	if [[ -n $LOOPDEV ]]; then
		losetup -d "$LOOPDEV" 2>/dev/null || warn "could not detach $LOOPDEV"
	fi
	while read -r loop; do
		[[ -n $loop ]] || continue
		losetup -d "$loop" 2>/dev/null || warn "could not detach $loop"
	done < <(loops_below_build)
	rm -f "$partial"
	if [[ -z $(mounts_below_build) ]]; then
		rm -rf --one-file-system "$build"
	else
		warn "mounts remain below $build; not removing it"
	fi
	if [[ $rc -ne 0 ]]; then
		printf '%s: failed (exit %d); %s was not written\n' "$PROG" "$rc" "$out" >&2
	fi
	exit "$rc"
}

on_signal() {
	printf '%s: interrupted\n' "$PROG" >&2
	exit "$1"
}

# Exit codes on a signal: 130 SIGINT, 143 SIGTERM, 129 SIGHUP.
set_traps() {
	trap cleanup EXIT
	trap 'on_signal 130' INT
	trap 'on_signal 143' TERM
	trap 'on_signal 129' HUP
}

# ------------------------------------------------------------------ disks ---

# Partition type of a Linux file system: MBR id, GPT "Linux filesystem", GPT "x86-64 root".
readonly LINUX_PART_TYPES=' 83 0FC63DAF-8483-4772-8E79-3D69D8477DE4 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 '

# open_root_partition <raw disk> <mount point> [<what, for messages>]: mount
# the root file system of a whole-disk raw image at <mount point> (private:
# nothing mounted below it propagates to the host's mount table), attached as
# $LOOPDEV. Needs no partition-aware loop devices or NBD (some build hosts have
# neither): the partition table is read from the file with sfdisk, and a Linux
# partition attached as an *offset* loop device. sfdisk --json prints the
# partitions as objects {"node":..., "start":2048, "size":..., "type":"83", ...}
# (one per line or spread over lines, depending on the util-linux version): the
# JSON is flattened and cut into one line per partition object. The Linux
# partitions are tried in order; the first holding /etc and /usr/bin is used.
open_root_partition() {
	local disk=$1 mp=$2 what=${3:-the disk}
	local table line start size type sector_size=512 offset bytes c err=''
	local candidates=()
	table=$(sfdisk --json "$disk" | tr -d '\n') || die "cannot read the partition table of $what"
	if [[ $table =~ \"sectorsize\":[[:space:]]*([0-9]+) ]]; then
		sector_size=${BASH_REMATCH[1]}
	fi
	[[ $table == *'"partitions"'* ]] || die "no partitions in $what"
	while IFS= read -r line; do
		[[ $line =~ \"start\":[[:space:]]*([0-9]+) ]] || continue
		start=${BASH_REMATCH[1]}
		[[ $line =~ \"size\":[[:space:]]*([0-9]+) ]] || continue
		size=${BASH_REMATCH[1]}
		[[ $line =~ \"type\":[[:space:]]*\"([^\"]+)\" ]] || continue
		type=${BASH_REMATCH[1]^^}
		if [[ $LINUX_PART_TYPES == *" $type "* ]]; then
			candidates+=("$((start * sector_size)) $((size * sector_size))")
		fi
	done < <(printf '%s\n' "${table#*\"partitions\"}" | tr '}' '\n')
	[[ ${#candidates[@]} -gt 0 ]] || die "no Linux partition found in $what"
	for c in "${candidates[@]}"; do
		offset=${c% *} bytes=${c#* }
		LOOPDEV=$(losetup --find --show --offset "$offset" --sizelimit "$bytes" "$disk")
		[[ -b $LOOPDEV ]] || die "losetup did not return a loop device"
		if ! err=$(mount "$LOOPDEV" "$mp" 2>&1); then
			losetup -d "$LOOPDEV"
			LOOPDEV=
			continue
		fi
		mount --make-private "$mp"
		if [[ -d $mp/etc && -d $mp/usr/bin && -x $mp/usr/bin/env ]]; then
			printf 'root partition: offset %d bytes, %d MiB\n' "$offset" $((bytes / 1048576))
			return 0
		fi
		err="the partition at offset $offset holds no root file system"
		umount "$mp"
		losetup -d "$LOOPDEV"
		LOOPDEV=
	done
	die "no root file system found in $what: $err"
}

# close_root_partition <mount point>: the counterpart of open_root_partition.
# Discards the free blocks first: the loop device punches holes into the raw
# file, which qemu-img then skips, so the qcow2 stays small. Without discard
# support, zeroes the free space instead. Then unmounts and detaches $LOOPDEV.
close_root_partition() {
	local mp=$1
	sync -f "$mp"
	if ! fstrim "$mp" 2>/dev/null; then
		warn "fstrim not supported here; zeroing free space instead"
		run dd if=/dev/zero of="$mp/.vmlab-zero" bs=1M status=none || true
		rm -f "$mp/.vmlab-zero"
	fi
	umount "$mp"
	losetup -d "$LOOPDEV"
	LOOPDEV=
}

# progress_lines: reads qemu-img -p progress ("    (12.34/100%)" records ended
# by carriage returns) on stdin; writes "PROGRESS <whole percent>" lines, at
# most one per whole percent, each at once (bash writes a builtin's output
# unbuffered). Reads until end of input, so the writer never blocks.
progress_lines() {
	local rec pct last=-1
	while IFS= read -r -d $'\r' rec || [[ -n $rec ]]; do
		[[ $rec =~ \(([0-9]+)(\.[0-9]+)?/100%\) ]] || continue
		pct=$((10#${BASH_REMATCH[1]}))
		if ((pct > last && pct <= 100)); then
			printf 'PROGRESS %d\n' "$pct"
			last=$pct
		fi
	done
}

# convert_progress <qemu-img convert arguments>: qemu-img convert -p, its
# progress as PROGRESS lines on stdout (progress_lines). The pipeline runs in a
# bash of its own, through run: in its own process group, which the cleanup
# stops as a whole. Returns qemu-img's exit status (pipefail; or the filter's
# if only it failed).
convert_progress() {
	run bash -o pipefail -c "$(declare -f progress_lines)"'
		qemu-img convert -p "$@" | progress_lines' convert_progress "$@"
}

# ------------------------------------------------------ vagrant's key ---

# vagrant_insecure_keys <file>: Vagrant's insecure public key(s) into <file>,
# taken from the installed Vagrant when available (newer releases also ship
# an ed25519 key as keys/vagrant.pub.ed25519), else the classic RSA key.
# Vagrant logs in with it at a VM's first up and then replaces it with a key
# of that VM's own (config.ssh.insert_key).
vagrant_insecure_keys() {
	local keys=$1 d f
	: >"$keys"
	for d in /usr/share/vagrant/keys /opt/vagrant/embedded/gems/gems/vagrant-*/keys \
		/opt/vagrant/embedded/gems/vagrant-*/keys \
		/usr/share/rubygems-integration/all/gems/vagrant-*/keys \
		/usr/lib/ruby/vendor_ruby/vagrant/keys /usr/share/vagrant/gems/gems/vagrant-*/keys; do
		for f in "$d"/vagrant.pub "$d"/vagrant.pub.*; do
			[[ -r $f ]] || continue
			grep -E '^(ssh-(rsa|ed25519)|ecdsa-sha2-[a-z0-9]+) ' "$f" >>"$keys" || true
		done
	done
	if [[ ! -s $keys ]]; then
		printf '%s\n' "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key" >"$keys"
		echo "note: no installed Vagrant keys found; using the built-in insecure RSA key"
	fi
	sort -u -o "$keys" "$keys"
}

# ---------------------------------------------------------------- the box ---

# compress_disk <raw disk> <qcow2>: compress the raw disk (removed afterwards).
compress_disk() {
	run qemu-img convert -c -O qcow2 "$1" "$2"
	rm -f "$1"
	qemu-img check -q "$2" || die "qemu-img check failed on ${2##*/}"
}

# package_box <dir> [<file name> ...]: the box $out from <dir>'s metadata.json,
# Vagrantfile and box.img (and the other named files of <dir>), written to
# $partial and renamed into place only when complete.
# The disk is already compressed; a plain (uncompressed) tar avoids a second,
# useless compression pass.
package_box() {
	local dir=$1
	shift
	run tar -C "$dir" --owner=0 --group=0 --numeric-owner \
		-cf "$partial" -- metadata.json Vagrantfile box.img "$@"
	sync "$partial"
	mv -f "$partial" "$out"
}
