import { parseDominfo, parseDomifaddr, Virsh, virshArgs } from '../adapters/virsh.js';
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
}

/**
 * The lab's machines with their live state, straight from libvirt: one `virsh list` for all states,
 * then dominfo/domifaddr only for the domains that exist, in parallel.
 */
export async function listMachines(context: Context): Promise<void> {
  const workspace = await loadWorkspace(context);
  await checkLibvirt(context);
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const domains = new Map((await virsh.domains()).map((row) => [row.name, row.state]));
  const rows: MachineRow[] = await Promise.all(
    resolveMachines(workspace).map(async (machine) => {
      const state = domains.get(machine.domain);
      const row: MachineRow = {
        name: machine.name,
        role: machine.role,
        image: machine.image,
        state: state ?? 'not created',
        ip: null,
        cpus: machine.cpus,
        memory: machine.memory,
        domain: machine.domain,
      };
      if (!state) return row;
      const [info, addresses] = await Promise.all([
        virsh.query(virshArgs.dominfo(machine.domain), false),
        state === 'running' ? virsh.query(virshArgs.domifaddr(machine.domain), false) : undefined,
      ]);
      const live = parseDominfo(info.stdout);
      return { ...row, cpus: live.cpus ?? row.cpus, memory: live.memoryMiB ?? row.memory, ip: addresses ? (parseDomifaddr(addresses.stdout) ?? null) : null };
    }),
  );
  const driver = workspace.driver;
  context.ui.result({ driver: driver.driver, driverReason: driver.reason, machines: rows }, () => {
    if (rows.length === 0) return `No machines yet. Create one: make create-base NAME=dev\ndriver: ${driver.driver} (${driver.reason})`;
    const table = renderTable(
      ['NAME', 'ROLE', 'IMAGE', 'STATE', 'IP', 'CPUS', 'MEMORY'],
      rows.map((row) => [row.name, row.role, row.image, row.state, row.ip ?? '-', row.cpus, `${row.memory} MiB`]),
    );
    return `${table}\ndriver: ${driver.driver} (${driver.reason})`;
  });
}
