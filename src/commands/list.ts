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
  /** Forwarded ports as declared ("8080:80"), with the host address each listens on. */
  ports: { hostIp: string; hostPort: number; guestPort: number }[];
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
  const live = new Map<string, { state: string; ip?: string | null; cpus?: number; memoryMiB?: number; managedSave?: boolean }>();
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
        if (state) live.set(machine.name, { state, ...details.get(machine.domain) });
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
      // A managed save (make suspend) leaves the domain shut off with its memory state on disk.
      state: found?.managedSave && found.state === 'shut off' ? 'saved' : (found?.state ?? 'not created'),
      ip: found?.ip ?? null,
      cpus: found?.cpus ?? machine.cpus,
      memory: found?.memoryMiB ?? machine.memory,
      domain: machine.domain,
      host: machine.host,
      ports: machine.ports.map(({ hostIp, hostPort, guestPort }) => ({ hostIp, hostPort, guestPort })),
    };
  });
  const driver = workspace.driver;
  const remote = Object.keys(workspace.labFile.lab.hosts).length > 0;
  const forwarding = rows.some((row) => row.ports.length > 0);
  context.ui.result({ driver: driver.driver, driverReason: driver.reason, machines: rows }, () => {
    if (rows.length === 0) return `No machines yet. Create one: make create-base NAME=dev\ndriver: ${driver.driver} (${driver.reason})`;
    const table = renderTable(
      // PORTS once a machine forwards one, HOST once the lab has hosts: (a plain lab keeps its columns).
      ['NAME', 'ROLE', 'IMAGE', 'STATE', 'IP', 'CPUS', 'MEMORY', ...(forwarding ? ['PORTS'] : []), ...(remote ? ['HOST'] : [])],
      rows.map((row) => [row.name, row.role, row.image, row.state, row.ip ?? '-', row.cpus, `${row.memory} MiB`, ...(forwarding ? [portsText(row.ports)] : []), ...(remote ? [row.host] : [])]),
    );
    return `${table}\ndriver: ${driver.driver} (${driver.reason})`;
  });
}

/** "8080->80, 127.0.0.1:5432->5432"; every interface is left unwritten, as in lab.yaml. */
function portsText(ports: MachineRow['ports']): string {
  return ports.map((port) => `${port.hostIp === '0.0.0.0' ? '' : `${port.hostIp}:`}${port.hostPort}->${port.guestPort}`).join(', ') || '-';
}
