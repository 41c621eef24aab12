/** The parts of a libvirt Vagrant box: box.img (qcow2), metadata.json, Vagrantfile. Pure. */

const GiB = 2 ** 30;

export interface DiskInfo {
  format: string;
  virtualSizeBytes: number;
  backingFile?: string;
}

/** `qemu-img info --output=json <file>` -> format, virtual size and backing file. */
export function parseQemuImgInfo(stdout: string): DiskInfo {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new Error(`qemu-img info did not print JSON: ${stdout.slice(0, 200)}`);
  }
  const info = json as Record<string, unknown>;
  const format = info.format;
  const size = info['virtual-size'];
  if (typeof format !== 'string' || typeof size !== 'number' || !Number.isInteger(size) || size <= 0) {
    throw new Error(`qemu-img info: no format or virtual-size in ${stdout.slice(0, 200)}`);
  }
  const backing = info['full-backing-filename'] ?? info['backing-filename'];
  return { format, virtualSizeBytes: size, ...(typeof backing === 'string' ? { backingFile: backing } : {}) };
}

/** metadata.json's virtual_size is whole GiB: rounded up, so the disk is never smaller than the image. */
export function virtualSizeGiB(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / GiB));
}

export function boxMetadata(virtualSizeBytes: number): string {
  return `${JSON.stringify({ provider: 'libvirt', format: 'qcow2', virtual_size: virtualSizeGiB(virtualSizeBytes) })}\n`;
}

/**
 * The box's own Vagrantfile. A cloud image's NoCloud seed is attached from the libvirt pool, where QEMU
 * (running as libvirt-qemu) can read it; inside ~/.vagrant.d of root it could not.
 */
export function boxVagrantfile(seedPath: string | null, guest?: string): string {
  return [
    '# Defaults of a vmlab box made from a disk image. Hosts without usable KVM need',
    '# `libvirt.driver = "qemu"` in the project\'s Vagrantfile.',
    'Vagrant.configure("2") do |config|',
    ...(guest ? ['  # The guest type, so that Vagrant does not probe for it after the first boot.', `  config.vm.guest = :${guest}`] : []),
    '  config.vm.provider :libvirt do |libvirt|',
    '    libvirt.driver = "kvm"',
    ...(seedPath
      ? [
          "    # cloud-init's NoCloud seed (volume label cidata): creates the vagrant user at first boot.",
          `    libvirt.storage :file, :device => :cdrom, :path => ${JSON.stringify(seedPath)}`,
        ]
      : []),
    '  end',
    'end',
    '',
  ].join('\n');
}
