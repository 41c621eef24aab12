#!/usr/bin/env bash
# export-disk.sh - turn a halted VM's disk into a Vagrant box (provider
# libvirt) with the machine's identity removed, so that every VM made from the
# box is a new machine: its own machine-id (and with it its DHCP identity), SSH
# host keys, hostname; no leases, logs or temporary files of the original.
#
# Usage:
#   export-disk.sh --disk <VM disk> --out <out.box> --workdir <dir> \
#       --metadata <metadata.json> --vagrantfile <Vagrantfile> [--extra <file> ...] \
#       [--sysprep auto|builtin|virt-sysprep] [--no-compress]
#
# The VM disk (usually a qcow2 overlay on its box's image) is never modified:
# qemu-img reads it, and its whole backing chain, read-only into a sparse raw
# copy, and everything else happens on that copy. qemu-img also refuses a disk
# that a running VM holds open.
#
# The identity is removed either by virt-sysprep (libguestfs-tools; an explicit
# list of operations that leaves users' files and SSH authorized keys alone) or,
# without it, by this script itself: the raw copy's Linux partition is attached
# as an offset loop device and mounted, as build-role-image.sh does it (no
# partition-aware loop devices or NBD needed; open_root_partition in
# lib/builder.sh). Files in home directories are not touched. SSH host keys are
# regenerated at the next boot: by the image's own unit where it has one (our
# base images do), otherwise by a drop-in for ssh.service that this script adds.
# Afterwards the free space is discarded so that the compressed disk stays small.
#
# Progress is reported on stdout as lines of the exact form
#   STEP <n>/5 <short description>
# when each phase starts, and during the long disk conversions as
#   PROGRESS <whole percent>
# (how far the current step is; at most one line per percent). Exit codes: 0
# ok, 2 usage error, 3 missing host tool or not root, 130/143 interrupted
# (SIGINT/SIGTERM), any other non-zero value: failure.
#
# Must run as root (loop device, mount; the VM disk usually belongs to libvirt).
#
# Temporary files live in a private directory under --workdir, removed on exit
# (also on an interrupt, after unmounting and detaching the loop device). The
# box is written to <out>.partial next to <out> and renamed into place only
# when complete, so an interrupted run never leaves a half box.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/builder.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/builder.sh"

readonly HOSTNAME_RESET=vmlab
readonly SSH_DROPIN_DIR=/etc/systemd/system/ssh.service.d
readonly SSH_DROPIN=$SSH_DROPIN_DIR/vmlab-host-keys.conf
# The drop-in's text, for printf %b (here and in the guest's sh).
readonly SSH_DROPIN_TEXT='[Service]\nExecStartPre=/usr/bin/ssh-keygen -A\n'
# A unit line that generates SSH host keys (ssh-keygen, or Fedora's sshd-keygen).
readonly KEYGEN_UNIT_RE='^[[:space:]]*Exec[A-Za-z]*=.*sshd?-keygen'
# virt-sysprep operations: identity only. Not ssh-userdir, user-account (they
# would delete Vagrant's authorized key and users); customize carries
# --hostname and the rest. random-seed is an operation of older versions only
# (customize sets a seed); operations the installed version lacks are left out.
readonly SYSPREP_OPERATIONS=(machine-id ssh-hostkeys dhcp-client-state logfiles net-hwaddr
	udev-persistent-net random-seed tmp-files bash-history customize)

# ---------------------------------------------------------------- helpers ---

usage() {
	cat <<EOF
Usage: $PROG --disk <VM disk> --out <out.box> --workdir <dir>
            --metadata <metadata.json> --vagrantfile <Vagrantfile> [--extra <file> ...]
            [--sysprep auto|builtin|virt-sysprep] [--no-compress]

Makes a Vagrant libvirt box from a halted VM's disk, with the machine identity
removed (machine-id, SSH host keys, DHCP leases, logs, temporary files, shell
history, hostname reset to $HOSTNAME_RESET). The disk is read, never modified.
Needs root. Progress lines on stdout: "STEP <n>/<total> <description>" and
"PROGRESS <percent>".

  --disk         the VM's disk (qcow2, may have a backing chain; or raw)
  --out          box file to write (plain tar: metadata.json, Vagrantfile,
                 box.img and the --extra files)
  --workdir      directory for temporary files (created if missing)
  --metadata     the box's metadata.json
  --vagrantfile  the box's Vagrantfile
  --extra        another file for the box, stored under its base name; repeatable
  --sysprep      how to remove the identity: virt-sysprep (libguestfs-tools),
                 builtin (loop device and mount), or auto (the default:
                 virt-sysprep when installed, else builtin)
  --no-compress  write box.img as plain (uncompressed) qcow2: faster, larger
EOF
}

readonly TOTAL_STEPS=5

# ------------------------------------------------------------ arguments ---

disk='' out='' workdir='' metadata='' vagrantfile='' sysprep=auto compress=1
extras=()

while [[ $# -gt 0 ]]; do
	case $1 in
	--disk) need_value "$@"; disk=$2; shift 2 ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	--workdir) need_value "$@"; workdir=$2; shift 2 ;;
	--metadata) need_value "$@"; metadata=$2; shift 2 ;;
	--vagrantfile) need_value "$@"; vagrantfile=$2; shift 2 ;;
	--extra) need_value "$@"; extras+=("$2"); shift 2 ;;
	--sysprep) need_value "$@"; sysprep=$2; shift 2 ;;
	--no-compress) compress=''; shift ;;
	--disk=* | --out=* | --workdir=* | --metadata=* | --vagrantfile=* | --extra=* | --sysprep=*)
		opt=${1%%=*}
		set -- "$opt" "${1#*=}" "${@:2}"
		;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument: $1" ;;
	esac
done

[[ -n $disk ]] || usage_error "--disk is required"
[[ -n $out ]] || usage_error "--out is required"
[[ -n $workdir ]] || usage_error "--workdir is required"
[[ -n $metadata ]] || usage_error "--metadata is required"
[[ -n $vagrantfile ]] || usage_error "--vagrantfile is required"

[[ $out != */ ]] || usage_error "--out must be a file name"
case $sysprep in
auto | builtin | virt-sysprep) ;;
*) usage_error "invalid --sysprep '$sysprep' (expected auto, builtin or virt-sysprep)" ;;
esac
# The names in the box: each once, none of the three fixed members.
declare -A member=([metadata.json]=1 [Vagrantfile]=1 [box.img]=1)
extra_names=()
for f in "${extras[@]}"; do
	[[ $f != */ ]] || usage_error "--extra must be a file name: $f"
	name=${f##*/}
	[[ $name != . && $name != .. && -z ${member[$name]:-} ]] ||
		usage_error "--extra $f: the box already has a member named $name"
	member[$name]=1
	extra_names+=("$name")
done

# ---------------------------------------------------------- host checks ---

require_root

method=$sysprep
if [[ $method == auto ]]; then
	if command -v virt-sysprep >/dev/null 2>&1; then
		method=virt-sysprep
	else
		method=builtin
	fi
fi
if [[ $method == virt-sysprep ]] && ! command -v virt-sysprep >/dev/null 2>&1; then
	usage_error "--sysprep virt-sysprep: virt-sysprep is not installed (apt-get install libguestfs-tools)"
fi

# tool -> Debian package that provides it
declare -A TOOL_PKG=(
	[qemu-img]=qemu-utils
	[setsid]=util-linux
	[tar]=tar
)
# The builtin way, also the fallback of auto should virt-sysprep fail.
if [[ $method == builtin || $sysprep == auto ]]; then
	TOOL_PKG+=(
		[sfdisk]=fdisk
		[losetup]=mount
		[mount]=mount
		[umount]=mount
		[fstrim]=util-linux
		[truncate]=coreutils
		[grep]=grep
	)
fi
check_tools
exit_if_missing

# The files (after the root check: a non-root caller may not be able to read them).
[[ (-f $disk || -b $disk) && -r $disk ]] || usage_error "disk not found: $disk"
[[ -f $metadata && -r $metadata ]] || usage_error "metadata file not found: $metadata"
[[ -f $vagrantfile && -r $vagrantfile ]] || usage_error "Vagrantfile not found: $vagrantfile"
for f in "${extras[@]}"; do
	[[ -f $f && -r $f ]] || usage_error "extra file not found: $f"
done

# ------------------------------------------------------- workspace/trap ---

disk=$(cd "$(dirname "$disk")" && pwd -P)/$(basename "$disk")
prepare_output
[[ $out != "$disk" ]] || usage_error "--out must differ from --disk"

make_build_dir export-disk
raw=$build/disk.raw
root=$build/root
stage=$build/box
insecure_keys=$build/vagrant-keys
mkdir -p "$root" "$stage"
vagrant_insecure_keys "$insecure_keys"

set_traps

# The box's other members, copied now: a missing or unreadable file fails
# before the long steps.
cp "$metadata" "$stage/metadata.json"
cp "$vagrantfile" "$stage/Vagrantfile"
for f in "${extras[@]}"; do
	cp "$f" "$stage/${f##*/}"
done

# ------------------------------------------------------ identity: builtin ---

# guest_dir <path in the image>: every directory on the way is a directory of
# the image itself, not a symbolic link. The image is mounted on the host: an
# absolute link in it would lead into the host's own files.
guest_dir() {
	local p=$root part parts
	IFS=/ read -ra parts <<<"${1#/}"
	for part in "${parts[@]}"; do
		[[ -n $part ]] || continue
		p=$p/$part
		[[ -d $p && ! -L $p ]] || return 1
	done
}

# clear_dir <dir in the image> [<name pattern>]: removes what <dir> holds (the
# entries matching <pattern>, default all); the directory stays.
clear_dir() {
	guest_dir "$1" || return 0
	find "$root$1" -xdev -mindepth 1 -maxdepth 1 -name "${2:-*}" \
		-exec rm -rf --one-file-system -- {} +
}

# remove_file <file in the image>: removes it (a symbolic link: the link).
remove_file() {
	guest_dir "$(dirname "$1")" || return 0
	rm -f -- "$root$1"
}

# write_file <file in the image> <text>: the file with exactly <text> (printf
# %b: backslash escapes such as \n expanded), a regular file (in place of a
# symbolic link); its directory must exist.
write_file() {
	guest_dir "$(dirname "$1")" || return 0
	[[ ! -L $root$1 ]] || rm -f -- "$root$1"
	printf '%b' "$2" >"$root$1"
}

# The 127.0.1.1 line of /etc/hosts (Debian's line for the own hostname) reset,
# later such lines dropped; the file is rewritten in place (owner, mode kept).
reset_hosts() {
	local f=$root/etc/hosts line lines=() seen=''
	guest_dir /etc && [[ -f $f && ! -L $f ]] || return 0
	while IFS= read -r line || [[ -n $line ]]; do
		if [[ $line =~ ^[[:space:]]*127\.0\.1\.1([[:space:]]|$) ]]; then
			[[ -z $seen ]] || continue
			line=$'127.0.1.1\t'$HOSTNAME_RESET
			seen=1
		fi
		lines+=("$line")
	done <"$f"
	[[ -n $seen ]] || return 0
	printf '%s\n' "${lines[@]}" >"$f"
}

# Whether a unit of the image generates SSH host keys.
has_keygen_unit() {
	local d dirs=()
	# /lib is a link to usr/lib in a merged-/usr system: then usr/lib is enough.
	for d in /etc/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
		if guest_dir "$d"; then dirs+=("$root$d"); fi
	done
	[[ ${#dirs[@]} -gt 0 ]] || return 1
	grep -rqsE -- "$KEYGEN_UNIT_RE" "${dirs[@]}"
}

# Vagrant replaced its insecure key in this VM's vagrant user with a key of
# this one machine (config.ssh.insert_key), so a VM made from the image would
# refuse Vagrant's login. The insecure key goes back; Vagrant replaces it again
# at the first up of each new VM.
reset_vagrant_key() {
	local ssh_dir=/home/vagrant/.ssh owner
	if ! guest_dir "$ssh_dir"; then
		printf 'vagrant user: no %s in the image; authorized keys left alone\n' "$ssh_dir"
		return 0
	fi
	owner=$(stat -c %u:%g "$root$ssh_dir")
	[[ ! -L $root$ssh_dir/authorized_keys ]] || rm -f -- "$root$ssh_dir/authorized_keys"
	install -m 0600 -o "${owner%:*}" -g "${owner#*:}" "$insecure_keys" "$root$ssh_dir/authorized_keys"
	printf "vagrant user: authorized_keys reset to Vagrant's insecure key (replaced at each new VM's first up)\n"
}

remove_identity_builtin() {
	open_root_partition "$raw" "$root" "the VM's disk"

	# machine-id: empty, not missing: systemd makes a new one at first boot.
	write_file /etc/machine-id ''
	if [[ -f $root/var/lib/dbus/machine-id && ! -L $root/var/lib/dbus/machine-id ]]; then
		remove_file /var/lib/dbus/machine-id
	fi
	if guest_dir /etc/ssh; then
		rm -f -- "$root"/etc/ssh/ssh_host_*
	fi
	# DHCP client state: ISC dhclient, NetworkManager, dhcpcd, systemd-networkd.
	clear_dir /var/lib/dhcp '*.leases'
	clear_dir /var/lib/dhclient
	clear_dir /var/lib/NetworkManager '*.lease'
	clear_dir /var/lib/dhcpcd '*.lease*'
	clear_dir /var/lib/systemd/network
	remove_file /var/lib/systemd/random-seed
	remove_file /etc/udev/rules.d/70-persistent-net.rules
	# Logs: the files stay (some daemons expect them), empty; the journal goes.
	clear_dir /var/log/journal
	if guest_dir /var/log; then
		find "$root/var/log" -xdev -type f -exec truncate -s 0 {} +
	fi
	clear_dir /tmp
	clear_dir /var/tmp
	remove_file /root/.bash_history
	# Vagrant sets the real hostname at boot.
	write_file /etc/hostname "$HOSTNAME_RESET"'\n'
	reset_hosts
	reset_vagrant_key

	# SSH host keys at the next boot.
	if has_keygen_unit; then
		printf 'SSH host keys: generated at boot by a unit of the image\n'
	elif guest_dir /etc/systemd/system; then
		if [[ -L $root$SSH_DROPIN_DIR ]]; then rm -f -- "$root$SSH_DROPIN_DIR"; fi
		mkdir -p "$root$SSH_DROPIN_DIR"
		write_file "$SSH_DROPIN" "$SSH_DROPIN_TEXT"
		printf 'SSH host keys: generated at boot by %s (added)\n' "$SSH_DROPIN"
		# A new file needs its SELinux label: relabel at the next boot.
		if grep -qsE '^[[:space:]]*SELINUX=(enforcing|permissive)' "$root/etc/selinux/config"; then
			: >"$root/.autorelabel"
		fi
	else
		warn "no systemd in the image: SSH host keys are not regenerated at boot"
	fi

	close_root_partition "$root"
}

# ------------------------------------------------- identity: virt-sysprep ---

# Returns virt-sysprep's (or virt-sparsify's) exit status; it runs where set -e
# does not apply (the caller tests it), so every failure returns at once.
remove_identity_sysprep() {
	local listed available=" " ops=() op _ keygen vkeys
	listed=$(virt-sysprep --list-operations) || return
	while read -r op _; do available+="$op "; done <<<"$listed"
	for op in "${SYSPREP_OPERATIONS[@]}"; do
		if [[ $available == *" $op "* ]]; then ops+=("$op"); fi
	done
	if [[ $available != *" customize "* ]]; then
		warn "this virt-sysprep has no customize operation (for --hostname)"
		return 1
	fi
	# The same test and drop-in as the builtin way, run in the guest (where
	# its own paths and links count), in the same appliance run.
	keygen="if ! grep -rqsE '$KEYGEN_UNIT_RE' /etc/systemd/system /usr/lib/systemd/system /lib/systemd/system"
	keygen+=" && [ -d /etc/systemd/system ]; then mkdir -p $SSH_DROPIN_DIR"
	keygen+=" && printf '%b' '$SSH_DROPIN_TEXT' >$SSH_DROPIN; fi"
	# Vagrant's insecure key back for the vagrant user (see reset_vagrant_key).
	vkeys="if [ -d /home/vagrant/.ssh ]; then install -m 0600 -o \$(stat -c %u /home/vagrant/.ssh)"
	vkeys+=" -g \$(stat -c %g /home/vagrant/.ssh) /root/.vmlab-vagrant-keys /home/vagrant/.ssh/authorized_keys; fi;"
	vkeys+=" rm -f /root/.vmlab-vagrant-keys"
	# libguestfs: the direct backend (qemu as root) reads our root-owned copy;
	# its appliance is built under TMPDIR, below the work directory.
	export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
	run virt-sysprep --format raw -a "$raw" \
		--operations "$(IFS=, && printf '%s' "${ops[*]}")" \
		--hostname "$HOSTNAME_RESET" \
		--delete /var/lib/systemd/random-seed \
		--run-command "$keygen" \
		--upload "$insecure_keys:/root/.vmlab-vagrant-keys" \
		--run-command "$vkeys" || return
	# The free space discarded, so that the compressed disk stays small.
	if command -v virt-sparsify >/dev/null 2>&1; then
		run virt-sparsify --in-place --format raw "$raw" || return
	else
		warn "virt-sparsify not installed: free space not discarded, the box may be larger"
	fi
}

# -------------------------------------------------------- 1: flatten disk ---

step "flatten disk"

# Read-only: qemu-img convert opens the source, and its backing chain,
# read-only. Sparse raw: only the blocks in use take space.
convert_progress -O raw "$disk" "$raw"

# ----------------------------------------------- 2: remove machine identity ---

step "remove machine identity"

if [[ $method == virt-sysprep ]]; then
	rc=0
	remove_identity_sysprep || rc=$?
	if [[ $rc -ne 0 && $sysprep == auto ]]; then
		warn "virt-sysprep failed (exit $rc); removing the identity the builtin way"
		method=builtin
	elif [[ $rc -ne 0 ]]; then
		die "virt-sysprep failed (exit $rc)"
	fi
fi
if [[ $method == builtin ]]; then
	remove_identity_builtin
fi
printf 'identity removed with: %s\n' "$method"

# ------------------------------------------------------- 3: compress disk ---

if [[ -n $compress ]]; then
	step "compress disk"
	convert_progress -c -O qcow2 "$raw" "$stage/box.img"
else
	step "convert disk (uncompressed)"
	convert_progress -O qcow2 "$raw" "$stage/box.img"
fi
rm -f "$raw"

# ---------------------------------------------------------- 4: check disk ---

step "check disk"

qemu-img check -q "$stage/box.img" || die "qemu-img check failed on box.img"

# --------------------------------------------------------- 5: package box ---

step "package box"

package_box "$stage" "${extra_names[@]}"

box_bytes=$(stat -c %s "$out")
printf 'exported %s (%d MiB%s)\n' "$out" $((box_bytes / 1048576)) "${compress:+, compressed}"
