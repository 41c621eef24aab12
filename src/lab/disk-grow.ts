import { parseBlockList, parseVolumeCapacity, Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import type { RegistryIndex } from '../images/registry-schema.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { Step } from './converge.js';
import type { LabFile } from './lab-file.js';
import type { ResolvedMachine } from './resolve-machines.js';

const GIB = 1024 ** 3;

/** A root disk to grow before its machine boots; the guest's vmlab-growroot grows / at that boot. */
export interface DiskGrowth {
  machine: ResolvedMachine;
  volume: string;
  fromGiB: number;
  toGiB: number;
}

/**
 * The root disks of the machines about to boot (start, or a restart) against their disk: in lab.yaml.
 * vagrant-libvirt sizes a disk only when it makes it, so a raised disk: is applied here, at the next
 * start. A smaller one is refused, before anything changes: a disk never shrinks (its file system would
 * be cut off). Machines that run as declared are not read: a raised disk: waits for their next start.
 * Data disks declared after a machine was made are named in a warning: vagrant-libvirt adds them only
 * when it makes the domain.
 */
export async function planDiskGrowth(context: Context, labFile: LabFile, steps: Step[], images: RegistryIndex): Promise<DiskGrowth[]> {
  const booting = steps.filter((step) => step.kind === 'start' || step.kind === 'reconfigure');
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const growth: DiskGrowth[] = [];
  const issues: ConfigIssue[] = [];
  for (const { machine } of booting) {
    const disks = parseBlockList((await virsh.query(virshArgs.domblklist(machine.domain), false)).stdout);
    const root = disks[0];
    if (!root) continue;
    if (disks.length - 1 < (machine.dataDisks ?? []).length) {
      context.ui.warn(`${machine.name}: ${(machine.dataDisks ?? []).length - disks.length + 1} of its disks: are not attached: data disks are added when a machine is made (make delete NAME=${machine.name} YES=1, then make up)`);
    }
    const capacity = parseVolumeCapacity((await virsh.query(virshArgs.volInfoBytes(root.source), false)).stdout);
    if (capacity === undefined) continue;
    const fromGiB = Math.round((capacity / GIB) * 10) / 10;
    const wanted = machine.disk * GIB;
    // vagrant-libvirt makes a disk no smaller than its image: a disk: below the image's size is no shrink.
    const imageSize = images.images[machine.image]?.virtualSizeBytes ?? 0;
    if (wanted < capacity && capacity <= imageSize) continue;
    if (wanted < capacity) {
      issues.push({
        path: `machines.${machine.name}.disk`,
        message: `${machine.disk} GiB is smaller than ${machine.name}'s disk of ${fromGiB} GiB: a disk never shrinks (its file system would be cut off)`,
        ...labFile.position(['machines', machine.name, 'disk']),
      });
    } else if (wanted > capacity) {
      growth.push({ machine, volume: root.source, fromGiB, toGiB: machine.disk });
    }
  }
  if (issues.length) {
    throw new ConfigError(labFile.displayName, issues, 'Nothing was changed. Set disk: back to at least the size shown; for a smaller disk, make a new VM: make delete NAME=.. YES=1, then make up');
  }
  return growth;
}

/** Grow the volumes (the machines are shut off: the next boot grows the partition and /). */
export async function growDisks(context: Context, growth: DiskGrowth[]): Promise<void> {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  for (const entry of growth) {
    context.ui.info(`${entry.machine.name}: disk ${entry.fromGiB} -> ${entry.toGiB} GiB (/ grows at this boot)`);
    await virsh.change(virshArgs.volResize(entry.volume, entry.toGiB));
  }
}
