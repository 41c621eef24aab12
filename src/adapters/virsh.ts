import type { Runner } from '../runner.js';

/**
 * virsh: fast, read-mostly access to libvirt state. `make list` uses it instead of `vagrant status`
 * (tens of milliseconds against seconds per call).
 */
export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

export const virshArgs = {
  listAll: () => ['list', '--all'],
  dominfo: (domain: string) => ['dominfo', domain],
  domifaddr: (domain: string) => ['domifaddr', domain],
  domblklist: (domain: string) => ['domblklist', domain, '--details'],
  volList: (pool: string) => ['vol-list', pool],
  /** A volume by its path: capacity in bytes. */
  volInfoBytes: (volumePath: string) => ['vol-info', '--bytes', volumePath],
  /** Grow a volume (by its path) to this many GiB; libvirt runs qemu-img resize for a qcow2 one. */
  volResize: (volumePath: string, gib: number) => ['vol-resize', volumePath, `${gib}G`],
  volDelete: (pool: string, volume: string) => ['vol-delete', '--pool', pool, volume],
  poolInfo: (pool: string) => ['pool-info', pool],
  version: () => ['version'],
  domstate: (domain: string) => ['domstate', domain],
  domstateReason: (domain: string) => ['domstate', domain, '--reason'],
  snapshotList: (domain: string) => ['snapshot-list', domain],
  /** An internal snapshot (qcow2 disks), of the memory too when the domain runs; all or nothing. */
  snapshotCreateAs: (domain: string, label: string) => ['snapshot-create-as', '--domain', domain, '--name', label, '--description', 'vmlab snapshot', '--atomic'],
  /** --running: the domain runs after the revert, whatever state the snapshot was taken in. */
  snapshotRevert: (domain: string, label: string, options: { running: boolean }) => [
    'snapshot-revert', '--domain', domain, '--snapshotname', label, ...(options.running ? ['--running'] : []),
  ],
  snapshotDelete: (domain: string, label: string) => ['snapshot-delete', '--domain', domain, '--snapshotname', label],
  /** vCPUs and memory of every running domain, in one call. */
  runningStats: () => ['domstats', '--list-running', '--vcpu', '--balloon'],
  poolDumpxml: (pool: string) => ['pool-dumpxml', pool],
  netList: () => ['net-list', '--all', '--name'],
  domiflist: (domain: string) => ['domiflist', domain],
  netInfo: (network: string) => ['net-info', network],
  netDumpxml: (network: string) => ['net-dumpxml', network],
  netDestroy: (network: string) => ['net-destroy', network],
  netListInactive: () => ['net-list', '--inactive', '--name'],
  netStart: (network: string) => ['net-start', network],
  netUndefine: (network: string) => ['net-undefine', network],
  /**
   * Several virsh commands in one process and one libvirt connection (virsh runs a ';'-separated list
   * given as one argument with its own parser, no shell). Only plain words are let through, so that no
   * name can change what runs; vmlab's domain names always are.
   */
  batch: (commands: string[][]) => {
    for (const word of commands.flat()) {
      if (!/^[\w.@:+-]+$/.test(word)) throw new Error(`not a plain word for a virsh batch: ${JSON.stringify(word)}`);
    }
    return [commands.map((command) => command.join(' ')).join(' ; ')];
  },
};

const DETAIL_MARKER = 'VMLAB-DETAIL';

/** The batch that reads vCPUs and memory of each domain, and the address of those that run. */
export function domainDetailCommands(domains: string[], running: ReadonlySet<string>): string[][] {
  return domains.flatMap((domain) => [
    ['echo', DETAIL_MARKER, 'info', domain],
    virshArgs.dominfo(domain),
    ...(running.has(domain) ? [['echo', DETAIL_MARKER, 'addr', domain], virshArgs.domifaddr(domain)] : []),
  ]);
}

export interface DomainDetail {
  cpus?: number;
  memoryMiB?: number;
  /** The first IPv4 address (running domains only). */
  ip?: string;
}

/** The batch's output, cut at its marker lines, parsed per domain. */
export function parseDomainDetails(stdout: string): Map<string, DomainDetail> {
  const sections = new Map<string, { info: string[]; addr: string[] }>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    const marker = new RegExp(`^${DETAIL_MARKER} (info|addr) (\\S+)$`).exec(line.trim());
    if (marker) {
      const section = sections.get(marker[2]!) ?? { info: [], addr: [] };
      sections.set(marker[2]!, section);
      current = marker[1] === 'info' ? section.info : section.addr;
      continue;
    }
    current?.push(line);
  }
  const details = new Map<string, DomainDetail>();
  for (const [domain, section] of sections) {
    const info = parseDominfo(section.info.join('\n'));
    const ip = parseDomifaddr(section.addr.join('\n'));
    details.set(domain, { cpus: info.cpus, memoryMiB: info.memoryMiB, ...(ip ? { ip } : {}) });
  }
  return details;
}

/** `virsh domstats --vcpu --balloon`: per domain, its vCPUs and its maximum memory. */
export function parseDomstats(stdout: string): { name: string; vcpus: number; memoryMiB: number }[] {
  const domains: { name: string; vcpus: number; memoryMiB: number }[] = [];
  for (const line of stdout.split('\n')) {
    const domain = /^Domain: '(.*)'$/.exec(line.trim());
    if (domain?.[1] !== undefined) {
      domains.push({ name: domain[1], vcpus: 0, memoryMiB: 0 });
      continue;
    }
    const current = domains.at(-1);
    const field = /^\s*([\w.]+)=(\d+)$/.exec(line);
    if (!current || !field) continue;
    if (field[1] === 'vcpu.current') current.vcpus = Number(field[2]);
    if (field[1] === 'balloon.maximum') current.memoryMiB = Math.round(Number(field[2]) / 1024);
  }
  return domains;
}

/** `virsh domiflist`: the libvirt networks a domain's interfaces are on. */
export function parseInterfaceNetworks(stdout: string): string[] {
  return tableRows(stdout)
    .filter(([, type]) => type === 'network')
    .map(([, , source = '']) => source)
    .filter(Boolean);
}

/** `virsh net-info`: the bridge a network's host side is. */
export function parseNetBridge(stdout: string): string | undefined {
  return /^Bridge:\s+(\S+)/m.exec(stdout)?.[1];
}

export type DomainState = 'running' | 'shut off' | 'paused' | 'crashed' | 'pmsuspended' | 'in shutdown' | 'blocked' | 'idle' | string;

export interface DomainRow {
  id: string;
  name: string;
  state: DomainState;
}

/** Rows of a virsh table: a header line, a line of dashes, then rows separated by 2+ spaces. */
function tableRows(stdout: string): string[][] {
  const lines = stdout.split('\n');
  const rule = lines.findIndex((line) => /^-{5,}/.test(line.trim()));
  if (rule < 0) return [];
  return lines
    .slice(rule + 1)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => line.split(/\s{2,}/));
}

/** `virsh list --all` */
export function parseDomainList(stdout: string): DomainRow[] {
  return tableRows(stdout).map(([id = '', name = '', ...state]) => ({ id, name, state: state.join(' ') }));
}

/** `virsh dominfo` "Key:   value" lines. */
export function parseDominfo(stdout: string): { state?: string; cpus?: number; memoryMiB?: number } {
  const fields = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^([^:]+):\s*(.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) fields.set(match[1].trim(), match[2].trim());
  }
  const memory = /^(\d+) KiB/.exec(fields.get('Max memory') ?? '');
  const cpus = fields.get('CPU(s)');
  return {
    state: fields.get('State'),
    cpus: cpus ? Number(cpus) : undefined,
    memoryMiB: memory?.[1] ? Math.round(Number(memory[1]) / 1024) : undefined,
  };
}

/** `virsh domifaddr`: the first IPv4 address, without its prefix length. */
export function parseDomifaddr(stdout: string): string | undefined {
  for (const [, , protocol, address] of tableRows(stdout)) {
    if (protocol === 'ipv4' && address) return address.split('/')[0];
  }
  return undefined;
}

/** `virsh vol-list <pool>`: volume names and paths. */
export function parseVolumeList(stdout: string): { name: string; path: string }[] {
  return tableRows(stdout).map(([name = '', path = '']) => ({ name, path }));
}

/** `virsh vol-info --bytes`: the volume's capacity. */
export function parseVolumeCapacity(stdout: string): number | undefined {
  const match = /^Capacity:\s+(\d+)\s*bytes/m.exec(stdout);
  return match ? Number(match[1]) : undefined;
}

/** `virsh domblklist --details`: the disk devices (or the given kinds: disk, cdrom, ...) and their source files. */
export function parseBlockList(stdout: string, devices: readonly string[] = ['disk']): { device: string; target: string; source: string }[] {
  return tableRows(stdout)
    .map(([, device = '', target = '', source = '']) => ({ device, target, source }))
    .filter((row) => devices.includes(row.device) && row.source !== '-');
}

/** `virsh domstate`: "running", "shut off", ...; a "(reason)" suffix (--reason) is dropped. */
export function parseDomstate(stdout: string): DomainState | undefined {
  const line = stdout.split('\n').map((text) => text.trim()).find(Boolean);
  return line ? line.replace(/\s*\(.*\)$/, '') : undefined;
}

/** A domain's state with libvirt's reason for it, e.g. paused (I/O error), shut off (crashed). */
export interface DomainReading {
  state: DomainState;
  reason: string;
}

/** `virsh domstate --reason`: "paused (I/O error)" -> { state: 'paused', reason: 'I/O error' }. */
export function parseDomstateReason(stdout: string): DomainReading | undefined {
  const line = stdout.split('\n').map((text) => text.trim()).find(Boolean);
  if (!line) return undefined;
  const match = /^(.*?)\s*\((.*)\)$/.exec(line);
  return match ? { state: match[1] ?? '', reason: match[2] ?? '' } : { state: line, reason: '' };
}

export interface SnapshotRow {
  name: string;
  /** ISO 8601 (UTC), or virsh's text when it is not the usual "YYYY-MM-DD hh:mm:ss +zzzz". */
  created: string;
  /** The domain's state when the snapshot was taken: running, shutoff, paused, disk-snapshot, ... */
  state: string;
}

const SNAPSHOT_ROW = /^(.+?)\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4})\s+(\S.*)$/;

/** virsh's "2026-11-22 10:15:02 +0000" as ISO 8601 in UTC: "2026-11-22T10:15:02Z". */
export function snapshotTimeToIso(text: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})$/.exec(text.trim());
  if (!match) return text;
  const date = new Date(`${match[1]}T${match[2]}${match[3]}:${match[4]}`);
  return Number.isNaN(date.getTime()) ? text : date.toISOString().replace('.000Z', 'Z');
}

/**
 * `virsh snapshot-list <domain>`: Name, Creation Time, State. The row is read from its time in the
 * middle, so a name with spaces (made outside vmlab) is still read whole.
 */
export function parseSnapshotList(stdout: string): SnapshotRow[] {
  const lines = stdout.split('\n');
  const rule = lines.findIndex((line) => /^-{5,}/.test(line.trim()));
  if (rule < 0) return [];
  const rows: SnapshotRow[] = [];
  for (const line of lines.slice(rule + 1).map((text) => text.trim()).filter(Boolean)) {
    const match = SNAPSHOT_ROW.exec(line);
    if (match?.[1] && match[2] && match[3]) rows.push({ name: match[1], created: snapshotTimeToIso(match[2]), state: match[3].trim() });
  }
  return rows;
}

export class Virsh {
  constructor(
    private readonly runner: Runner,
    private readonly uri = DEFAULT_LIBVIRT_URI,
  ) {}

  async query(args: string[], check = true): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return this.runner.run('virsh', ['-c', this.uri, ...args], { readOnly: true, check });
  }

  async change(args: string[]): Promise<void> {
    await this.runner.run('virsh', ['-c', this.uri, ...args]);
  }

  /** A change whose failure the caller handles (the result is returned, not thrown). */
  async tryChange(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return this.runner.run('virsh', ['-c', this.uri, ...args], { check: false });
  }

  async domains(): Promise<DomainRow[]> {
    return parseDomainList((await this.query(virshArgs.listAll())).stdout);
  }

  /**
   * vCPUs, memory and (running ones) the address of many domains in one virsh process, whatever their
   * number: `make list` costs the same with one machine or ten.
   */
  async domainDetails(domains: string[], running: ReadonlySet<string>): Promise<Map<string, DomainDetail>> {
    if (domains.length === 0) return new Map();
    return parseDomainDetails((await this.query(virshArgs.batch(domainDetailCommands(domains, running)), false)).stdout);
  }

  async snapshots(domain: string): Promise<SnapshotRow[]> {
    return parseSnapshotList((await this.query(virshArgs.snapshotList(domain))).stdout);
  }

  async domainState(domain: string): Promise<DomainState | undefined> {
    return parseDomstate((await this.query(virshArgs.domstate(domain))).stdout);
  }

  /** The domain's state and its reason; undefined when there is no such domain (yet). */
  async domainReading(domain: string): Promise<DomainReading | undefined> {
    const result = await this.query(virshArgs.domstateReason(domain), false);
    return result.exitCode === 0 ? parseDomstateReason(result.stdout) : undefined;
  }

  async networks(): Promise<string[]> {
    const result = await this.query(virshArgs.netList(), false);
    return result.exitCode === 0 ? result.stdout.split('\n').map((line) => line.trim()).filter(Boolean) : [];
  }

  /** The pool's volumes; none when the pool cannot be read (see volumesOrProblem to know why). */
  async volumes(pool: string): Promise<{ name: string; path: string }[]> {
    return (await this.volumesOrProblem(pool)).volumes;
  }

  async volumesOrProblem(pool: string): Promise<{ volumes: { name: string; path: string }[]; problem?: string }> {
    const result = await this.query(virshArgs.volList(pool), false);
    if (result.exitCode === 0) return { volumes: parseVolumeList(result.stdout) };
    return { volumes: [], problem: (result.stderr.trim().split('\n')[0] ?? `exit ${result.exitCode}`).replace(/^error:\s*/, '') };
  }
}
