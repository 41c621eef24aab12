/** Debian/Ubuntu packages vmlab needs on the host, with what each is for (shown by setup and doctor). */
export const HOST_PACKAGES: { name: string; for: string }[] = [
  { name: 'vagrant', for: 'machine lifecycle' },
  { name: 'vagrant-libvirt', for: "Vagrant's libvirt provider" },
  { name: 'libvirt-daemon-system', for: 'libvirtd, virtlogd' },
  { name: 'libvirt-clients', for: 'virsh' },
  { name: 'qemu-system-x86', for: 'the hypervisor (KVM or software emulation)' },
  { name: 'qemu-utils', for: 'qemu-img' },
  { name: 'xorriso', for: 'the cloud-init seed ISO of images made from cloud images' },
  { name: 'dnsmasq-base', for: "DHCP on the management network" },
  { name: 'iptables', for: 'NAT on the management network' },
  { name: 'mmdebstrap', for: 'building base images from the apt mirror' },
  { name: 'e2fsprogs', for: 'the root filesystem of base images' },
  { name: 'fdisk', for: 'the partition table of base images' },
  { name: 'mount', for: 'loop devices while building images' },
  { name: 'extlinux', for: 'the boot loader of base images' },
  { name: 'syslinux-common', for: 'the boot loader of base images' },
  { name: 'debian-archive-keyring', for: 'verifying the Debian mirror' },
];

/** `dpkg-query -W -f '${Package} ${db:Status-Status}\n' pkgs...`: the packages not installed. */
export function parseMissingPackages(stdout: string, wanted: string[]): string[] {
  const installed = new Set(
    stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name),
  );
  return wanted.filter((name) => !installed.has(name));
}

export function parseOsRelease(text: string): { id: string; like: string[] } {
  const field = (key: string) => new RegExp(`^${key}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
  return { id: field('ID'), like: field('ID_LIKE').split(/\s+/).filter(Boolean) };
}
