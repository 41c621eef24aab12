import { parseBlockList, Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';

/** `qemu-img info --backing-chain --output=json`: every file of the chain, the disk itself first. */
export function parseBackingChain(stdout: string): string[] {
  const chain = JSON.parse(stdout) as { filename?: string; 'full-backing-filename'?: string; 'backing-filename'?: string }[];
  return chain.flatMap((entry) => [entry.filename, entry['full-backing-filename'] ?? entry['backing-filename']]).filter((file): file is string => Boolean(file));
}

/**
 * The files every libvirt domain's disks stand on, backing files included: a box volume in this set
 * still carries a VM (its disk is a thin overlay on the box volume) and must not be removed.
 */
export async function filesInUse(context: Context): Promise<Set<string>> {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const files = new Set<string>();
  for (const domain of await virsh.domains()) {
    const disks = parseBlockList((await virsh.query(virshArgs.domblklist(domain.name), false)).stdout);
    for (const disk of disks) {
      files.add(disk.source);
      // -U: a running VM holds a lock on its disk; reading the header is safe.
      const info = await context.runner.run('qemu-img', ['info', '-U', '--backing-chain', '--output=json', disk.source], { readOnly: true, check: false });
      if (info.exitCode === 0) for (const file of parseBackingChain(info.stdout)) files.add(file);
    }
  }
  return files;
}
