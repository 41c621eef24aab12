import { Virsh } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { checkLibvirt } from '../host/preflight.js';
import { hostContext, machinesByHost } from '../lab/host-context.js';
import { LOCAL_HOST } from '../lab/hosts.js';
import { loadWorkspace, resolveMachines } from '../lab/workspace.js';
import { renderTable } from '../ui/ui.js';

export interface MachineRow {
  name: string;
  role: string;
  image: string;
  state: string;
  ip: string | null;
  cpus: number;
  memory: number;
  domain: string;
  /** The libvirt host it runs on (hosts: in lab.yaml); local is this machine. */
  host: string;
}

/**
 * The lab's machines with their live state, straight from libvirt in two virsh processes whatever their
 * number: one `virsh list` for all states, then one batch of dominfo/domifaddr for the domains that exist.
 */
export async function listMachines(context: Context): Promise<void> {
  const workspace = await loadWorkspace(context);
  const machines = resolveMachines(workspace);
  const byHost = machinesByHost(machines);
  if (byHost.size === 0 || byHost.has(LOCAL_HOST)) await checkLibvirt(context);
  const live = new Map<string, { state: string; ip?: string | null; cpus?: number; memoryMiB?: number }>();
  // Each host's machines from that host's libvirt, the same two virsh processes per host.
  for (const [host, members] of byHost) {
    const hostCtx = hostContext(context, members[0]!);
    try {
      if (host !== LOCAL_HOST) await checkLibvirt(hostCtx);
      const virsh = new Virsh(hostCtx.runner, hostCtx.libvirtUri);
      const domains = new Map((await virsh.domains()).map((row) => [row.name, row.state]));
      const existing = members.filter((machine) => domains.has(machine.domain)).map((machine) => machine.domain);
      const details = await virsh.domainDetails(existing, new Set(existing.filter((domain) => domains.get(domain) === 'running')));
      for (const machine of members) {
        const state = domains.get(machine.domain);
        if (state) live.set(machine.name, { state, ip: details.get(machine.domain)?.ip, cpus: details.get(machine.domain)?.cpus, memoryMiB: details.get(machine.domain)?.memoryMiB });
      }
    } catch (error) {
      if (host === LOCAL_HOST) throw error;
      context.ui.warn(error instanceof Error ? error.message : String(error));
      for (const machine of members) live.set(machine.name, { state: 'host unreachable' });
    }
  }
  const rows: MachineRow[] = machines.map((machine) => {
    const found = live.get(machine.name);
    return {
      name: machine.name,
      role: machine.role,
      image: machine.image,
      state: found?.state ?? 'not created',
      ip: found?.ip ?? null,
      cpus: found?.cpus ?? machine.cpus,
      memory: found?.memoryMiB ?? machine.memory,
      domain: machine.domain,
      host: machine.host,
    };
  });
  const driver = workspace.driver;
  const remote = Object.keys(workspace.labFile.lab.hosts).length > 0;
  context.ui.result({ driver: driver.driver, driverReason: driver.reason, machines: rows }, () => {
    if (rows.length === 0) return `No machines yet. Create one: make create-base NAME=dev\ndriver: ${driver.driver} (${driver.reason})`;
    const table = renderTable(
      // HOST once the lab has hosts: (a lab on one laptop keeps its columns).
      ['NAME', 'ROLE', 'IMAGE', 'STATE', 'IP', 'CPUS', 'MEMORY', ...(remote ? ['HOST'] : [])],
      rows.map((row) => [row.name, row.role, row.image, row.state, row.ip ?? '-', row.cpus, `${row.memory} MiB`, ...(remote ? [row.host] : [])]),
    );
    return `${table}\ndriver: ${driver.driver} (${driver.reason})`;
  });
}
