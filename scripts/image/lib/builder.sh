# shellcheck shell=bash
# builder.sh - sourced by the image builders (build-base-box.sh,
# build-role-image.sh): their shared helpers. Defines functions and variables
# only; it runs nothing when sourced.
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
#   (build, TMPDIR, LOOPDEV), mounts_below_build, unmount_all, cleanup,
#   on_signal, set_traps, compress_disk, package_box.

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

unmount_all() {
	local mp
	while read -r mp; do
		[[ -n $mp ]] || continue
		umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null ||
			warn "could not unmount $mp"
	done < <(mounts_below_build)
}

# On exit: stop the running command's process group, run CLEANUP_HOOK, unmount
# everything below $build, detach $LOOPDEV, remove the partial box and $build.
CLEANUP_HOOK=
cleanup() {
	local rc=$? i
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

# ---------------------------------------------------------------- the box ---

# compress_disk <raw disk> <qcow2>: compress the raw disk (removed afterwards).
compress_disk() {
	run qemu-img convert -c -O qcow2 "$1" "$2"
	rm -f "$1"
	qemu-img check -q "$2" || die "qemu-img check failed on ${2##*/}"
}

# package_box <dir>: the box $out from <dir>'s metadata.json, Vagrantfile and
# box.img, written to $partial and renamed into place only when complete.
# The disk is already compressed; a plain (uncompressed) tar avoids a second,
# useless compression pass.
package_box() {
	run tar -C "$1" --owner=0 --group=0 --numeric-owner \
		-cf "$partial" metadata.json Vagrantfile box.img
	sync "$partial"
	mv -f "$partial" "$out"
}
