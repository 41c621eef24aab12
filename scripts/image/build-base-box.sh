#!/usr/bin/env bash
# build-base-box.sh - build a minimal, fast-booting Debian Vagrant box for the
# vagrant-libvirt provider, using nothing but one apt mirror.
#
# Usage:
#   build-base-box.sh --distro debian --suite bookworm --mirror <URL> \
#       --out <path/to/name.box> --workdir <dir> \
#       [--components main] [--size 8G] [--hostname vmlab] [--cloud-image]
#
# --cloud-image writes a plain qcow2 cloud image to --out instead of a box: cloud-init (NoCloud) installed
# and no vagrant user, no vmlab-identity, which is what a distribution's cloud image looks like to vmlab
# (ring 3 serves one over HTTP to prove the qcow2 source).
#
# Progress is reported on stdout as lines of the exact form
#   STEP <n>/<total> <short description>
# when each phase starts. Everything else (tool output, warnings) may appear on
# stdout or stderr. Exit codes: 0 ok, 2 usage error, 3 missing host tool or
# not root, 130/143 interrupted (SIGINT/SIGTERM), any other non-zero value:
# build failure (the failing command's status).
#
# Must run as root (loop device, mount, chroot).
#
# Disk layout and why:
#   The disk is a raw file with an MBR partition table and ONE ext4 partition
#   starting at 1 MiB; the syslinux MBR code sits in sector 0 and EXTLINUX in
#   the partition's boot sector. The box therefore looks like any ordinary
#   cloud image (virt-sysprep and libguestfs understand it).
#   It is built without partition-aware loop devices or NBD, because some
#   build hosts (including container-like CI kernels) have neither
#   `losetup -P` partition nodes nor qemu-nbd:
#     * the root filesystem is created with `mkfs.ext4 -d <rootfs>` straight
#       onto an *offset* loop device (`losetup --offset 1MiB --sizelimit`)
#       that covers exactly the partition, so no files are copied through a
#       mount and the filesystem features are pinned by our own mke2fs.conf
#       (independent of the build host's e2fsprogs defaults);
#     * the filesystem is mounted once, only so that `extlinux --install` can
#       place ldlinux.sys; EXTLINUX cannot learn the partition start from a
#       loop device, so the "hidden sectors" field of its boot sector is then
#       set to the partition offset (2048 sectors) by hand - the boot code adds
#       it to every sector address it reads.
#   This works identically on an ordinary laptop. The guest grows the
#   partition and the filesystem at boot (guest/vmlab-growroot), so
#   vagrant-libvirt's machine_virtual_size just works.
#
# Temporary files live in a private directory under --workdir, removed on
# exit. The box is written to <out>.partial next to <out> and renamed into
# place only when complete, so an interrupted run never leaves a half box.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/builder.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/builder.sh"

readonly TOTAL_STEPS=6
GUEST_FILES="$(dirname "${BASH_SOURCE[0]}")/guest"
readonly GUEST_FILES
readonly PART_START_SECTORS=2048            # 1 MiB
readonly PART_START_BYTES=$((PART_START_SECTORS * 512))

# ---------------------------------------------------------------- helpers ---

usage() {
	cat <<EOF
Usage: $PROG --distro debian --suite <codename> --mirror <URL> --out <file.box>
            --workdir <dir> [--components main] [--size 8G] [--hostname vmlab]
            [--cloud-image]

Builds a minimal Debian Vagrant box (provider libvirt, qcow2) from an apt
mirror. Needs root. Progress lines on stdout: "STEP <n>/$TOTAL_STEPS <description>".

  --distro       only "debian" is supported
  --suite        Debian codename, e.g. bookworm
  --mirror       apt mirror URL (http://, https:// or file://); the only
                 network location used, also written into the guest's apt sources
  --out          box file to write (plain tar: box.img, metadata.json, Vagrantfile)
  --workdir      directory for temporary files (created if missing)
  --components   archive components, comma or space separated (default: main)
  --size         virtual disk size in GiB, e.g. 8 or 8G (default: 8G)
  --hostname     guest host name (default: vmlab)
  --cloud-image  write a qcow2 cloud image (cloud-init, no vagrant user) instead of a box
EOF
}

# ------------------------------------------------------------ arguments ---

distro='' suite='' mirror='' out='' workdir=''
components=main size=8G hostname=vmlab cloud_image=

while [[ $# -gt 0 ]]; do
	case $1 in
	--distro) need_value "$@"; distro=$2; shift 2 ;;
	--suite) need_value "$@"; suite=$2; shift 2 ;;
	--mirror) need_value "$@"; mirror=$2; shift 2 ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	--workdir) need_value "$@"; workdir=$2; shift 2 ;;
	--components) need_value "$@"; components=$2; shift 2 ;;
	--size) need_value "$@"; size=$2; shift 2 ;;
	--hostname) need_value "$@"; hostname=$2; shift 2 ;;
	--cloud-image) cloud_image=1; shift ;;
	--distro=* | --suite=* | --mirror=* | --out=* | --workdir=* | \
		--components=* | --size=* | --hostname=*)
		opt=${1%%=*}
		set -- "$opt" "${1#*=}" "${@:2}"
		;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument: $1" ;;
	esac
done

[[ -n $distro ]] || usage_error "--distro is required"
[[ -n $suite ]] || usage_error "--suite is required"
[[ -n $mirror ]] || usage_error "--mirror is required"
[[ -n $out ]] || usage_error "--out is required"
[[ -n $workdir ]] || usage_error "--workdir is required"

[[ $distro == debian ]] || usage_error "unsupported --distro '$distro' (only: debian)"
[[ $suite =~ ^[a-z][a-z0-9.-]*$ ]] || usage_error "invalid --suite '$suite'"
[[ $mirror =~ ^(https?|file)://[^[:space:]\"\']+$ ]] ||
	usage_error "invalid --mirror '$mirror' (expected http://, https:// or file:// URL)"
mirror=${mirror%/}
[[ $hostname =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]] ||
	usage_error "invalid --hostname '$hostname'"
components=${components//,/ }
read -r -a comp_list <<<"$components"
[[ ${#comp_list[@]} -gt 0 ]] || usage_error "--components is empty"
for c in "${comp_list[@]}"; do
	[[ $c =~ ^[a-z][a-z0-9-]*$ ]] || usage_error "invalid component '$c'"
done
components="${comp_list[*]}"
if [[ $size =~ ^([0-9]+)(G|GiB)?$ ]]; then
	size_gib=$((10#${BASH_REMATCH[1]}))
else
	usage_error "invalid --size '$size' (whole GiB, e.g. 8G)"
fi
((size_gib >= 2 && size_gib <= 16384)) || usage_error "--size must be between 2G and 16384G"
[[ $out != */ ]] || usage_error "--out must be a file name"

# ---------------------------------------------------------- host checks ---

require_root

# tool -> Debian package that provides it
declare -A TOOL_PKG=(
	[mmdebstrap]=mmdebstrap
	[qemu-img]=qemu-utils
	[mkfs.ext4]=e2fsprogs
	[sfdisk]=fdisk
	[losetup]=mount
	[mount]=mount
	[umount]=mount
	[extlinux]=extlinux
	[chroot]=coreutils
	[setsid]=util-linux
	[truncate]=coreutils
	[tar]=tar
	[dd]=coreutils
	[od]=coreutils
)
declare -A FILE_PKG=(
	[/usr/share/keyrings/debian-archive-keyring.gpg]=debian-archive-keyring
)
MBR_BIN=
for f in /usr/lib/syslinux/mbr/mbr.bin /usr/lib/EXTLINUX/mbr.bin /usr/share/syslinux/mbr.bin; do
	if [[ -r $f ]]; then MBR_BIN=$f; break; fi
done

check_tools
for f in "${!FILE_PKG[@]}"; do
	[[ -r $f ]] || note_missing "$f" "${FILE_PKG[$f]}"
done
[[ -n $MBR_BIN ]] || note_missing "mbr.bin (syslinux MBR boot code)" syslinux-common
exit_if_missing

# ------------------------------------------------------- workspace/trap ---

prepare_output
make_build_dir build-base-box
rootfs=$build/rootfs
mnt=$build/mnt
disk=$build/disk.raw
stage=$build/box
mkdir -p "$mnt" "$stage"
set_traps

# ------------------------------------------------- 1: bootstrap rootfs ---

step "bootstrap root filesystem"

# Use <suite>-updates too when the mirror carries it (apt-helper is part of apt).
suites=("$suite")
if command -v /usr/lib/apt/apt-helper >/dev/null 2>&1 &&
	/usr/lib/apt/apt-helper download-file "$mirror/dists/$suite-updates/InRelease" \
		"$build/tmp/updates-InRelease" >/dev/null 2>&1; then
	suites+=("$suite-updates")
fi
rm -f "$build/tmp/updates-InRelease"

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
sources=()
for s in "${suites[@]}"; do
	sources+=("deb [signed-by=$keyring] $mirror $s $components")
done

packages=(
	linux-image-cloud-amd64 initramfs-tools
	systemd-sysv systemd-resolved dbus
	openssh-server sudo qemu-guest-agent ca-certificates
	fdisk e2fsprogs
	iproute2 iputils-ping netbase procps less
)
# A cloud image: cloud-init makes the users at first boot.
[[ -z $cloud_image ]] || packages+=(cloud-init)
include=$(
	IFS=,
	printf '%s' "${packages[*]}"
)

# Documentation is left out of the image while bootstrapping only; the dpkg
# filter is removed afterwards so packages installed later get their docs.
run mmdebstrap \
	--mode=root --variant=minbase --format=directory --architectures=amd64 \
	--keyring="$keyring" \
	--include="$include" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	"$suite" "$rootfs" "${sources[@]}"

# ---------------------------------------------------- 2: configure guest ---

step "configure guest system"

rm -f "$rootfs/etc/dpkg/dpkg.cfg.d/99mmdebstrap"

# apt sources: the given mirror, deb822 style.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: ${suites[*]}
Components: $components
Signed-By: $keyring
EOF

# Host name.
printf '%s\n' "$hostname" >"$rootfs/etc/hostname"
cat >"$rootfs/etc/hosts" <<EOF
127.0.0.1	localhost
127.0.1.1	$hostname

::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF

# Identity: an empty machine-id makes every clone generate its own at first
# boot (and with it a distinct DHCP identity); no host keys in the image.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
rm -f "$rootfs"/etc/ssh/ssh_host_*

# Network: DHCP on every ethernet NIC, client identifier = MAC so clones of
# one image do not share a lease; DNS through systemd-resolved.
cat >"$rootfs/etc/systemd/network/80-vmlab-dhcp.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4

[DHCPv4]
ClientIdentifier=mac
EOF
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"

# SSH: one ed25519 host key, generated at first boot (an RSA key costs ~25 s
# under software emulation, an ECDSA one several more; Vagrant's net-ssh
# speaks ed25519).
cat >"$rootfs/etc/ssh/sshd_config.d/10-vmlab.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
EOF
cat >"$rootfs/etc/systemd/system/vmlab-ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate the SSH host key (ed25519)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=ssh.service
EOF

# Identity: the host name and the vagrant user's SSH key that vmlab chose
# for this machine arrive as systemd credentials in SMBIOS OEM strings and
# are applied before sshd starts (guest/vmlab-identity), so no first-boot SSH
# round trip is needed.
install -m 0755 "$GUEST_FILES/vmlab-identity" "$rootfs/usr/local/sbin/vmlab-identity"
install -d -m 0755 "$rootfs/var/lib/vmlab"
install -m 0644 "$GUEST_FILES/vmlab-identity.service" "$rootfs/etc/systemd/system/vmlab-identity.service"

# The root file system grows to fill the disk at boot (guest/vmlab-growroot).
install -m 0755 "$GUEST_FILES/vmlab-growroot" "$rootfs/usr/local/sbin/vmlab-growroot"
install -m 0644 "$GUEST_FILES/vmlab-growroot.service" "$rootfs/etc/systemd/system/vmlab-growroot.service"

# fstab
root_uuid=$(cat /proc/sys/kernel/random/uuid)
cat >"$rootfs/etc/fstab" <<EOF
# <file system>	<mount point>	<type>	<options>	<dump>	<pass>
UUID=$root_uuid	/	ext4	defaults,errors=remount-ro,noinit_itable	0	1
EOF

# Boot loader configuration (EXTLINUX, installed in step 4). /vmlinuz and
# /initrd.img are the symlinks the kernel packages keep up to date. No prompt
# (hold Shift for the menu with the previous kernel); "quiet", because every
# kernel message written to the 115200 baud serial console costs boot time.
[[ -e $rootfs/vmlinuz && -e $rootfs/initrd.img ]] ||
	die "kernel symlinks /vmlinuz and /initrd.img missing in the root filesystem"
mkdir -p "$rootfs/boot/extlinux"
cat >"$rootfs/boot/extlinux/extlinux.conf" <<EOF
SERIAL 0 115200
PROMPT 0
TIMEOUT 10
DEFAULT debian
LABEL debian
	LINUX /vmlinuz
	INITRD /initrd.img
	APPEND root=UUID=$root_uuid ro quiet console=tty0 console=ttyS0,115200n8
LABEL debian-old
	LINUX /vmlinuz.old
	INITRD /initrd.img.old
	APPEND root=UUID=$root_uuid ro quiet console=tty0 console=ttyS0,115200n8
EOF

if [[ -n $cloud_image ]]; then
	# cloud-init reads only the NoCloud seed (no probing of cloud metadata servers: minutes under
	# emulation) and leaves the network to the systemd-networkd file above. A minbase system has no
	# locales package: cloud-init's default en_US.UTF-8 would fail its locale module; C.UTF-8 is built in.
	printf '%s\n' 'datasource_list: [NoCloud, None]' 'network: {config: disabled}' 'locale: C.UTF-8' \
		>"$rootfs/etc/cloud/cloud.cfg.d/90-vmlab.cfg"
	chroot "$rootfs" systemctl enable --quiet systemd-networkd.service systemd-resolved.service \
		vmlab-ssh-hostkeys.service vmlab-growroot.service
	chroot "$rootfs" systemctl mask --quiet e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer
fi

# vagrant user: passwordless sudo, Vagrant's insecure public key(s).
insecure_keys=$build/tmp/authorized_keys
if [[ -z $cloud_image ]]; then
vagrant_insecure_keys "$insecure_keys"

chroot "$rootfs" useradd --create-home --shell /bin/bash --user-group \
	--comment vagrant vagrant
chroot "$rootfs" usermod --password '*' vagrant # no password, but not locked
install -d -m 0700 "$rootfs/home/vagrant/.ssh"
install -m 0600 "$insecure_keys" "$rootfs/home/vagrant/.ssh/authorized_keys"
chroot "$rootfs" chown -R vagrant:vagrant /home/vagrant/.ssh
cat >"$rootfs/etc/sudoers.d/vagrant" <<'EOF'
Defaults:vagrant env_keep += "SSH_AUTH_SOCK"
vagrant ALL=(ALL:ALL) NOPASSWD: ALL
EOF
chmod 0440 "$rootfs/etc/sudoers.d/vagrant"
chroot "$rootfs" visudo -cq -f /etc/sudoers.d/vagrant || die "invalid sudoers file"

# Services.
chroot "$rootfs" systemctl enable --quiet systemd-networkd.service \
	systemd-resolved.service vmlab-ssh-hostkeys.service vmlab-growroot.service vmlab-identity.service
chroot "$rootfs" systemctl mask --quiet e2scrub_reap.service \
	apt-daily.timer apt-daily-upgrade.timer
fi

# Leftovers.
rm -rf "${rootfs:?}"/tmp/* "${rootfs:?}"/var/tmp/* "$rootfs"/var/cache/debconf/*-old \
	"$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
find "$rootfs/var/log" -type f -exec truncate -s 0 {} +

# --------------------------------------------- 3: disk and root filesystem ---

step "create disk image and root filesystem"

disk_bytes=$((size_gib * 1024 * 1024 * 1024))
part_bytes=$((disk_bytes - PART_START_BYTES))
truncate -s "$disk_bytes" "$disk"
label_id=$(printf '0x%08x' $(((RANDOM << 16 | RANDOM) | 1)))
sfdisk --quiet --no-reread --no-tell-kernel "$disk" <<EOF
label: dos
label-id: $label_id
start=$PART_START_SECTORS, type=83, bootable
EOF
dd if="$MBR_BIN" of="$disk" bs=440 count=1 conv=notrunc status=none

# Our own feature set, so the result does not depend on the build host's
# mke2fs defaults (newer e2fsprogs enable features old boot loaders or
# guests may not know). No 64bit: not needed below 16 TiB.
cat >"$build/mke2fs.conf" <<'EOF'
[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,dir_nlink,extra_isize
	}
EOF

LOOPDEV=$(losetup --find --show --offset "$PART_START_BYTES" --sizelimit "$part_bytes" "$disk")
[[ -b $LOOPDEV ]] || die "losetup did not return a loop device"
# Inode tables are zeroed now (zeros cost nothing in the qcow2) so the guest's
# ext4lazyinit thread has no work after boot.
run env MKE2FS_CONFIG="$build/mke2fs.conf" mkfs.ext4 -q -F -t ext4 -L root -U "$root_uuid" \
	-E lazy_itable_init=0,lazy_journal_init=0,nodiscard \
	-d "$rootfs" "$LOOPDEV"

# ------------------------------------------------------- 4: boot loader ---

step "install boot loader"

mount -t ext4 "$LOOPDEV" "$mnt"
extlinux --install "$mnt/boot/extlinux" >/dev/null
sync -f "$mnt"
umount "$mnt"
losetup -d "$LOOPDEV"
LOOPDEV=

# Partition boot sector: check the EXTLINUX signature, then set the FAT-style
# "hidden sectors" field (offset 0x1C, 32-bit little endian) to the partition
# start, which extlinux could not learn through the loop device.
vbr_sig=$(od -An -tx1 -j $((PART_START_BYTES + 510)) -N 2 "$disk" | tr -d ' \n')
[[ $vbr_sig == 55aa ]] || die "no boot sector signature after extlinux --install (got '$vbr_sig')"
hidden_le=$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' \
	$((PART_START_SECTORS & 255)) $(((PART_START_SECTORS >> 8) & 255)) \
	$(((PART_START_SECTORS >> 16) & 255)) $(((PART_START_SECTORS >> 24) & 255)))
# shellcheck disable=SC2059 # the format string is the escaped byte sequence
printf "$hidden_le" | dd of="$disk" bs=1 seek=$((PART_START_BYTES + 0x1C)) count=4 \
	conv=notrunc status=none
hidden_now=$(od -An -tu4 -j $((PART_START_BYTES + 0x1C)) -N 4 "$disk" | tr -d ' \n')
[[ $hidden_now == "$PART_START_SECTORS" ]] || die "could not set hidden sectors (read back '$hidden_now')"

# --------------------------------------------------- 5: compress to qcow2 ---

step "compress disk image to qcow2"

compress_disk "$disk" "$stage/box.img"
if [[ -n $cloud_image ]]; then
	step "write the cloud image"
	sync "$stage/box.img"
	mv -f "$stage/box.img" "$out"
	printf 'built %s (%d MiB, virtual disk %d GiB)\n' "$out" $(($(stat -c %s "$out") / 1048576)) "$size_gib"
	exit 0
fi

# ---------------------------------------------------------- 6: package ---

step "package box"

cat >"$stage/metadata.json" <<EOF
{"provider":"libvirt","format":"qcow2","virtual_size":$size_gib}
EOF
cat >"$stage/Vagrantfile" <<'EOF'
# Defaults of the vmlab base box. Hosts without usable KVM need
# `libvirt.driver = "qemu"` in the project's Vagrantfile.
Vagrant.configure("2") do |config|
  # The guest is Debian: without this, Vagrant probes for it after the first
  # boot with one SSH command per guest type it knows (about 26 s under
  # software emulation). Role images and exports keep this file.
  config.vm.guest = :debian
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "kvm"
  end
end
EOF
package_box "$stage"

box_bytes=$(stat -c %s "$out")
printf 'built %s (%d MiB, virtual disk %d GiB)\n' "$out" $((box_bytes / 1048576)) "$size_gib"
