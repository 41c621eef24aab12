#!/usr/bin/env bash
# A machine's data disks (disks: in lab.yaml): VMLAB_DATA_DISKS="vmlab-data-1=/data;vmlab-data-2=/srv"
# names each disk to mount by its serial. A disk with no file system gets ext4; each is mounted by UUID
# through /etc/fstab (nofail: a missing disk never stops a boot). A disk that already has a file system is
# never formatted. Idempotent. Disks without a mount: in lab.yaml are not named here and stay raw.
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "vmlab: data-disks: must run as root" >&2; exit 1; }

device_of() {
	local serial=$1 block
	for block in /sys/block/vd*; do
		[ -r "$block/serial" ] && [ "$(cat "$block/serial")" = "$serial" ] && { echo "/dev/${block##*/}"; return 0; }
	done
	return 1
}

IFS=';' read -ra entries <<<"${VMLAB_DATA_DISKS:-}"
for entry in "${entries[@]}"; do
	[[ "$entry" =~ ^(vmlab-data-[0-9]+)=(/[A-Za-z0-9._/-]+)$ ]] || { echo "vmlab: data-disks: bad entry '$entry'" >&2; exit 1; }
	serial=${BASH_REMATCH[1]} target=${BASH_REMATCH[2]}
	dev=$(device_of "$serial") || { echo "vmlab: data-disks: no disk with serial $serial" >&2; exit 1; }
	if [ -z "$(blkid -o value -s TYPE "$dev" || true)" ]; then
		mkfs.ext4 -q -L "${serial#vmlab-}" "$dev"
	fi
	uuid=$(blkid -o value -s UUID "$dev")
	mkdir -p "$target"
	if ! grep -q "^UUID=$uuid " /etc/fstab; then
		printf 'UUID=%s %s ext4 defaults,nofail 0 2\n' "$uuid" "$target" >>/etc/fstab
	fi
	mountpoint -q "$target" || mount "$target"
	echo "vmlab: data disk $serial ($dev) mounted at $target"
done
