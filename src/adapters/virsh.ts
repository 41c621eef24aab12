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
  volDelete: (pool: string, volume: string) => ['vol-delete', '--pool', pool, volume],
  poolInfo: (pool: string) => ['pool-info', pool],
  version: () => ['version'],
};

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

/** `virsh domblklist --details`: the disk devices and their source files. */
export function parseBlockList(stdout: string): { device: string; target: string; source: string }[] {
  return tableRows(stdout)
    .map(([, device = '', target = '', source = '']) => ({ device, target, source }))
    .filter((row) => row.device === 'disk' && row.source !== '-');
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

  async domains(): Promise<DomainRow[]> {
    return parseDomainList((await this.query(virshArgs.listAll())).stdout);
  }

  async volumes(pool: string): Promise<{ name: string; path: string }[]> {
    const result = await this.query(virshArgs.volList(pool), false);
    return result.exitCode === 0 ? parseVolumeList(result.stdout) : [];
  }
}
