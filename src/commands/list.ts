import { Virsh } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { checkLibvirt } from '../host/preflight.js';
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
  /** Forwarded ports as declared ("8080:80"), with the host address each listens on. */
  ports: { hostIp: string; hostPort: number; guestPort: number }[];
}

/**
 * The lab's machines with their live state, straight from libvirt in two virsh processes whatever their
 * number: one `virsh list` for all states, then one batch of dominfo/domifaddr for the domains that exist.
 */
export async function listMachines(context: Context): Promise<void> {
  const workspace = await loadWorkspace(context);
  await checkLibvirt(context);
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const domains = new Map((await virsh.domains()).map((row) => [row.name, row.state]));
  const machines = resolveMachines(workspace);
  const existing = machines.filter((machine) => domains.has(machine.domain)).map((machine) => machine.domain);
  const details = await virsh.domainDetails(existing, new Set(existing.filter((domain) => domains.get(domain) === 'running')));
  const rows: MachineRow[] = machines.map((machine) => {
    const live = details.get(machine.domain);
    return {
      name: machine.name,
      role: machine.role,
      image: machine.image,
      // A managed save (make suspend) leaves the domain shut off with its memory state on disk.
      state: live?.managedSave && domains.get(machine.domain) === 'shut off' ? 'saved' : (domains.get(machine.domain) ?? 'not created'),
      ip: live?.ip ?? null,
      cpus: live?.cpus ?? machine.cpus,
      memory: live?.memoryMiB ?? machine.memory,
      domain: machine.domain,
      ports: machine.ports.map(({ hostIp, hostPort, guestPort }) => ({ hostIp, hostPort, guestPort })),
    };
  });
  const driver = workspace.driver;
  context.ui.result({ driver: driver.driver, driverReason: driver.reason, machines: rows }, () => {
    if (rows.length === 0) return `No machines yet. Create one: make create-base NAME=dev\ndriver: ${driver.driver} (${driver.reason})`;
    const table = renderTable(
      ['NAME', 'ROLE', 'IMAGE', 'STATE', 'IP', 'CPUS', 'MEMORY', 'PORTS'],
      rows.map((row) => [row.name, row.role, row.image, row.state, row.ip ?? '-', row.cpus, `${row.memory} MiB`, portsText(row.ports)]),
    );
    return `${table}\ndriver: ${driver.driver} (${driver.reason})`;
  });
}

/** "8080->80, 127.0.0.1:5432->5432"; every interface is left unwritten, as in lab.yaml. */
function portsText(ports: MachineRow['ports']): string {
  return ports.map((port) => `${port.hostIp === '0.0.0.0' ? '' : `${port.hostIp}:`}${port.hostPort}->${port.guestPort}`).join(', ') || '-';
}
