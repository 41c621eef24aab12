import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { HostCapacity } from './admission.js';
import { REMOTE_TIMEOUT_MS } from './remote-hosts.js';

/**
 * A remote host's own figures, read through its URI: cores and memory from `virsh nodeinfo`, the pool's
 * path and free space from its `pool-dumpxml` (libvirt's <available>, the only free-space figure there is
 * without a shell on that host), and whether KVM works there (`virsh domcapabilities --virttype kvm`
 * fails where the host has no usable /dev/kvm).
 */

/** `virsh nodeinfo`: "CPU(s):              8" and "Memory size:         32763456 KiB". */
export function parseNodeinfo(stdout: string): { cpus?: number; memoryMiB?: number } {
  const cpus = /^CPU\(s\):\s+(\d+)/m.exec(stdout)?.[1];
  const kib = /^Memory size:\s+(\d+) KiB/m.exec(stdout)?.[1];
  return { ...(cpus ? { cpus: Number(cpus) } : {}), ...(kib ? { memoryMiB: Math.floor(Number(kib) / 1024) } : {}) };
}

/** A pool's <path> and <available unit='bytes'> from its XML. */
export function parsePoolXml(xml: string): { path?: string; availableBytes?: number } {
  const poolPath = /<path>([^<]+)<\/path>/.exec(xml)?.[1];
  const match = /<available unit='(\w+)'>(\d+)<\/available>/.exec(xml);
  const units: Record<string, number> = { bytes: 1, b: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };
  return { ...(poolPath ? { path: poolPath } : {}), ...(match ? { availableBytes: Number(match[2]) * (units[match[1]!] ?? 1) } : {}) };
}

function virsh(context: Context, args: string[]) {
  return context.runner.run('virsh', ['-c', context.libvirtUri, ...args], { readOnly: true, check: false, timeoutMs: REMOTE_TIMEOUT_MS });
}

export async function readRemoteCapacity(context: Context): Promise<HostCapacity> {
  const [node, pool] = await Promise.all([virsh(context, ['nodeinfo']), virsh(context, ['pool-dumpxml', context.pool])]);
  const figures = parseNodeinfo(node.stdout);
  const { path: poolPath, availableBytes } = parsePoolXml(pool.stdout);
  if (!figures.cpus || !figures.memoryMiB) {
    throw new UserError(`host ${context.host} did not give its cores and memory (virsh -c ${context.libvirtUri} nodeinfo)`, `Check it: make doctor HOST=${context.host}`);
  }
  if (pool.exitCode !== 0 || !poolPath || availableBytes === undefined) {
    throw new UserError(
      `the storage pool ${context.pool} is missing on host ${context.host}: VM disks have nowhere to go there`,
      `Create it there: virsh -c '${context.libvirtUri}' pool-define-as ${context.pool} dir --target /var/lib/libvirt/images && virsh -c '${context.libvirtUri}' pool-start ${context.pool} && virsh -c '${context.libvirtUri}' pool-autostart ${context.pool}`,
    );
  }
  return { cpus: figures.cpus, memoryMiB: figures.memoryMiB, pool: context.pool, poolPath, diskFreeBytes: availableBytes };
}

/** KVM on that host, as libvirt there sees it; "qemu" (software emulation) otherwise. */
export async function remoteDriver(context: Context): Promise<'kvm' | 'qemu'> {
  return (await virsh(context, ['domcapabilities', '--virttype', 'kvm'])).exitCode === 0 ? 'kvm' : 'qemu';
}
