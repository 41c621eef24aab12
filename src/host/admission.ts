import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseDomstats, Virsh, virshArgs } from '../adapters/virsh.js';
import { poolVolumePrefix } from '../images/vagrant-boxes.js';
import { Registry } from '../images/registry.js';
import type { ResolvedMachine } from '../lab/resolve-machines.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { Admission } from '../lab/lab-schema.js';
import { renderTable } from '../ui/ui.js';
import { readRemoteCapacity } from './host-figures.js';

/**
 * Resource admission: before vmlab starts VMs, the vCPUs and memory of every running VM on the host plus
 * what would start are compared with the host, and the disk that new VMs can grow to with the pool's free
 * space. The sums and verdicts are pure; the readings come from /proc, statfs and one `virsh domstats`.
 */

export interface HostCapacity {
  cpus: number;
  memoryMiB: number;
  pool: string;
  poolPath: string;
  diskFreeBytes: number;
}

/** One row of the table: a running VM, or one that a command would start or create. */
export interface Claim {
  /** The libvirt domain (running VMs) or the lab machine (what would start). */
  who: string;
  /** The domain a claim stands for, so that a VM about to be restarted is not counted twice. */
  domain: string;
  state: string;
  vcpus: number;
  memoryMiB: number;
  /** What its new disk and box volume can grow to; 0 for a VM that exists. */
  diskBytes: number;
}

export interface AdmissionReport {
  host: HostCapacity;
  running: Claim[];
  incoming: Claim[];
  totals: { vcpus: number; memoryMiB: number; diskBytes: number };
  limits: { vcpus: number; memoryMiB: number; diskBytes: number };
  over: ('vcpus' | 'memory' | 'disk')[];
  admission: Admission;
  /** The lab's host name when it is not this machine. */
  hostName?: string;
}

const GIB = 2 ** 30;

export function assess(host: HostCapacity, running: Claim[], incoming: Claim[], admission: Admission): AdmissionReport {
  const replaced = new Set(incoming.map((claim) => claim.domain));
  const counted = [...running.filter((claim) => !replaced.has(claim.domain)), ...incoming];
  const totals = {
    vcpus: counted.reduce((sum, claim) => sum + claim.vcpus, 0),
    memoryMiB: counted.reduce((sum, claim) => sum + claim.memoryMiB, 0),
    diskBytes: incoming.reduce((sum, claim) => sum + claim.diskBytes, 0),
  };
  const limits = {
    vcpus: Math.floor(host.cpus * admission.cpuOvercommit),
    memoryMiB: Math.floor(Math.max(0, host.memoryMiB - admission.memoryReserve) * admission.memoryOvercommit),
    diskBytes: Math.floor(host.diskFreeBytes * admission.diskOvercommit),
  };
  const over: AdmissionReport['over'] = [];
  // Only what would start can be refused: a host already over its limits can still stop VMs.
  if (incoming.length) {
    if (totals.vcpus > limits.vcpus) over.push('vcpus');
    if (totals.memoryMiB > limits.memoryMiB) over.push('memory');
    if (totals.diskBytes > limits.diskBytes) over.push('disk');
  }
  return { host, running, incoming, totals, limits, over, admission };
}

function gib(bytes: number): string {
  return `${(bytes / GIB).toFixed(1)} GiB`;
}

/** Who uses what, the totals against the limits, and which limit is crossed. */
export function renderAdmission(report: AdmissionReport): string {
  const { host, totals, limits, admission } = report;
  const replaced = new Set(report.incoming.map((claim) => claim.domain));
  const rows: (string | number)[][] = [
    ...report.running.map((claim) => [claim.who, replaced.has(claim.domain) ? `${claim.state} (restarts)` : claim.state, claim.vcpus, `${claim.memoryMiB} MiB`, '-']),
    ...report.incoming.map((claim) => [`+ ${claim.who}`, claim.state, claim.vcpus, `${claim.memoryMiB} MiB`, claim.diskBytes ? gib(claim.diskBytes) : '-']),
  ];
  const mark = (key: AdmissionReport['over'][number]) => (report.over.includes(key) ? ' OVER' : '');
  rows.push(['total', '', `${totals.vcpus}${mark('vcpus')}`, `${totals.memoryMiB} MiB${mark('memory')}`, `${gib(totals.diskBytes)}${mark('disk')}`]);
  rows.push(['limit', '', limits.vcpus, `${limits.memoryMiB} MiB`, gib(limits.diskBytes)]);
  const table = renderTable(['WHO', 'STATE', 'VCPUS', 'MEMORY', 'NEW DISK'], rows);
  return [
    `${report.hostName ? `host ${report.hostName}` : 'host'}: ${host.cpus} cores, ${host.memoryMiB} MiB memory; pool ${host.pool} (${host.poolPath}): ${gib(host.diskFreeBytes)} free`,
    `limits: vCPUs <= ${admission.cpuOvercommit} x cores; memory <= (host - ${admission.memoryReserve} MiB reserve) x ${admission.memoryOvercommit}; new disks <= free x ${admission.diskOvercommit} (admission: in lab.yaml)`,
    table,
  ].join('\n');
}

/** MemTotal of /proc/meminfo, in MiB. */
export function parseMeminfo(text: string): number | undefined {
  const kib = /^MemTotal:\s+(\d+) kB/m.exec(text)?.[1];
  return kib ? Math.floor(Number(kib) / 1024) : undefined;
}

/**
 * The host as the kernel sees it. (libvirt's nodeinfo can disagree: in some sandboxes it reports a NUMA
 * node's memory, not the machine's, and the pool's "Available" counts blocks the filesystem keeps back.)
 */
export async function readHostCapacity(context: Context): Promise<HostCapacity> {
  // A remote host's figures are that host's, through its URI (host-figures.ts).
  if (context.host) return readRemoteCapacity(context);
  const memoryMiB = parseMeminfo(await readFile('/proc/meminfo', 'utf8').catch(() => '')) ?? Math.floor(os.totalmem() / 2 ** 20);
  const pool = await context.runner.run('virsh', ['-c', context.libvirtUri, ...virshArgs.poolDumpxml(context.pool)], { readOnly: true, check: false });
  const poolPath = /<path>([^<]+)<\/path>/.exec(pool.stdout)?.[1];
  if (pool.exitCode !== 0 || !poolPath) {
    const why = (pool.stderr.trim().split('\n')[0] ?? '').replace(/^error:\s*/, '');
    throw new UserError(`the storage pool ${context.pool} is missing${why ? ` (${why})` : ''}: VM disks have nowhere to go`, 'Run: make setup (it creates the pool), then retry');
  }
  return { cpus: os.availableParallelism(), memoryMiB, pool: context.pool, poolPath, diskFreeBytes: await freeBytes(poolPath) };
}

async function freeBytes(dir: string): Promise<number> {
  for (let current = dir; ; current = path.dirname(current)) {
    const stats = await statfs(current).catch(() => undefined);
    if (stats) return stats.bavail * stats.bsize;
    if (current === path.dirname(current)) return 0;
  }
}

/** Every running domain on this libvirt, vmlab's or not: they all share the host. */
export async function readRunningClaims(context: Context): Promise<Claim[]> {
  const result = await context.runner.run('virsh', ['-c', context.libvirtUri, ...virshArgs.runningStats()], { readOnly: true });
  return parseDomstats(result.stdout).map((domain) => ({ who: domain.name, domain: domain.name, state: 'running', vcpus: domain.vcpus, memoryMiB: domain.memoryMiB, diskBytes: 0 }));
}

export async function readAdmission(context: Context, incoming: Claim[], admission: Admission): Promise<AdmissionReport> {
  const [host, running] = await Promise.all([readHostCapacity(context), readRunningClaims(context)]);
  return { ...assess(host, running, incoming, admission), ...(context.host ? { hostName: context.host } : {}) };
}

/**
 * Refuse to start what does not fit, with the table; FORCE=1 shows the table as a warning and goes on.
 * Nothing has changed when this refuses.
 */
export async function admit(context: Context, incoming: Claim[], admission: Admission, options: { force: boolean; retry: string }): Promise<void> {
  if (incoming.length === 0) return;
  const report = await readAdmission(context, incoming, admission);
  if (report.over.length === 0) return;
  const what = report.over.map((key) => (key === 'vcpus' ? 'vCPUs' : key)).join(' and ');
  const table = renderAdmission(report);
  if (options.force) {
    context.ui.warn(`starting beyond this host's limits (${what}) because of FORCE=1:\n${table}`);
    return;
  }
  throw new UserError(
    `not enough room on ${context.host ? `host ${context.host}` : 'this host'}: ${what} would go over the limit\n${table}`,
    `Stop a VM (make stop NAME=..), ask for less (CPUS=, MEMORY=, DISK=), raise the limits under admission: in lab.yaml, or override once: ${options.retry} FORCE=1`,
  );
}

/**
 * What machines about to start claim: vCPUs and memory; a machine to create also its disk's full size
 * (a thin overlay that can grow to it) and, when its box is not in the pool yet, the box volume.
 */
export async function machineClaims(context: Context, machines: { machine: ResolvedMachine; state: string; create: boolean }[]): Promise<Claim[]> {
  const creating = machines.filter((entry) => entry.create);
  const volumes = creating.length && !context.dryRun ? (await new Virsh(context.runner, context.libvirtUri).volumes(context.pool)).map((volume) => volume.name) : [];
  const index = creating.length ? await new Registry(context.home).read() : undefined;
  const uploads = new Set<string>();
  return machines.map(({ machine, state, create }) => {
    let diskBytes = create ? machine.disk * GIB : 0;
    const record = index?.images[machine.image];
    if (create && record && !uploads.has(machine.image)) {
      const prefix = `${poolVolumePrefix(machine.box)}${record.boxVersion}_`;
      if (!volumes.some((volume) => volume.startsWith(prefix))) diskBytes += record.sizeBytes;
      uploads.add(machine.image);
    }
    return { who: machine.name, domain: machine.domain, state, vcpus: machine.cpus, memoryMiB: machine.memory, diskBytes };
  });
}
