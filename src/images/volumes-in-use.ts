import { parseBlockList, Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';

/** `qemu-img info --backing-chain --output=json`: every file of the chain, the disk itself first. */
export function parseBackingChain(stdout: string): string[] {
  const chain = JSON.parse(stdout) as { filename?: string; 'full-backing-filename'?: string; 'backing-filename'?: string }[];
  return chain.flatMap((entry) => [entry.filename, entry['full-backing-filename'] ?? entry['backing-filename']]).filter((file): file is string => Boolean(file));
}

/** `virsh vol-dumpxml`: the backing files a volume names (libvirt reads them as root, qemu-img may not). */
export function parseVolumeBacking(xml: string): string[] {
  return [...xml.matchAll(/<backingStore[^>]*>\s*<path>([^<]+)<\/path>/g)].map((match) => match[1] as string);
}

/**
 * The files every libvirt domain's disks stand on, backing files included, and the files its CD-ROMs
 * hold (a NoCloud seed): a box volume in this set still carries a VM (its disk is a thin overlay on the
 * box volume) and must not be removed.
 *
 * With `problems`, a disk whose chain cannot be read (qemu-img without permission) is read through
 * libvirt instead (vol-dumpxml), and whatever still cannot be known is added to `problems`: the set is
 * then incomplete, and nothing should be removed on its word.
 */
export async function filesInUse(context: Context, problems?: string[]): Promise<Set<string>> {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const files = new Set<string>();
  for (const domain of await virsh.domains()) {
    const list = await virsh.query(virshArgs.domblklist(domain.name), false);
    if (list.exitCode !== 0 && problems && !/not found|no domain/i.test(list.stderr)) {
      problems.push(`the disks of domain ${domain.name} could not be listed (virsh domblklist: ${list.stderr.trim().split('\n')[0] ?? list.exitCode})`);
    }
    for (const disk of parseBlockList(list.stdout, ['disk', 'cdrom'])) {
      files.add(disk.source);
      if (disk.device !== 'disk') continue;
      // -U: a running VM holds a lock on its disk; reading the header is safe.
      const info = await context.runner.run('qemu-img', ['info', '-U', '--backing-chain', '--output=json', disk.source], { readOnly: true, check: false });
      if (info.exitCode === 0) {
        for (const file of parseBackingChain(info.stdout)) files.add(file);
        continue;
      }
      if (!problems) continue;
      const xml = await virsh.query(['vol-dumpxml', disk.source], false);
      if (xml.exitCode === 0) for (const file of parseVolumeBacking(xml.stdout)) files.add(file);
      else problems.push(`what the disk ${disk.source} of domain ${domain.name} stands on could not be read (qemu-img info and virsh vol-dumpxml failed)`);
    }
  }
  return files;
}
