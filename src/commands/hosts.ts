import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { readHostCapacity, readRunningClaims } from '../host/admission.js';
import { remoteDriver } from '../host/host-figures.js';
import { checkLibvirt } from '../host/preflight.js';
import { LOCAL_HOST } from '../lab/hosts.js';
import { loadWorkspace, resolveMachines } from '../lab/workspace.js';
import { renderTable } from '../ui/ui.js';

export interface HostRow {
  name: string;
  uri: string;
  reachable: boolean;
  /** kvm where that host's libvirt offers KVM, qemu (software emulation) otherwise; this host's: its decision. */
  driver: string | null;
  cpus: number | null;
  memoryMiB: number | null;
  poolFreeBytes: number | null;
  running: { vms: number; vcpus: number; memoryMiB: number } | null;
  machines: string[];
  error?: string;
  fix?: string;
}

/** The context that reaches one of the lab's hosts by name. */
export function contextOfHost(context: Context, hosts: Record<string, string>, name: string): Context {
  if (name === LOCAL_HOST) return context;
  const uri = hosts[name];
  if (!uri) {
    throw new UserError(`no host named "${name}" in lab.yaml`, `Hosts: ${[LOCAL_HOST, ...Object.keys(hosts)].join(', ')}. Declare one under hosts: as name: qemu+ssh://user@host/system`, 2);
  }
  return { ...context, libvirtUri: uri, host: name };
}

/** make hosts: every host of the lab (local first) with its reachability, driver, capacity and use. */
export async function listHosts(context: Context): Promise<void> {
  const workspace = await loadWorkspace(context);
  const { hosts } = workspace.labFile.lab;
  const machines = resolveMachines(workspace);
  const rows: HostRow[] = await Promise.all(
    [LOCAL_HOST, ...Object.keys(hosts)].map(async (name): Promise<HostRow> => {
      const hostCtx = contextOfHost(context, hosts, name);
      const base = { name, uri: hostCtx.libvirtUri, machines: machines.filter((machine) => machine.host === name).map((machine) => machine.name) };
      try {
        await checkLibvirt(hostCtx);
        const [capacity, running, driver] = await Promise.all([
          readHostCapacity(hostCtx),
          readRunningClaims(hostCtx),
          name === LOCAL_HOST ? workspace.driver.driver : remoteDriver(hostCtx),
        ]);
        return {
          ...base,
          reachable: true,
          driver,
          cpus: capacity.cpus,
          memoryMiB: capacity.memoryMiB,
          poolFreeBytes: capacity.diskFreeBytes,
          running: { vms: running.length, vcpus: running.reduce((sum, claim) => sum + claim.vcpus, 0), memoryMiB: running.reduce((sum, claim) => sum + claim.memoryMiB, 0) },
        };
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        return { ...base, reachable: false, driver: null, cpus: null, memoryMiB: null, poolFreeBytes: null, running: null, error: error.message, ...(error.hint ? { fix: error.hint } : {}) };
      }
    }),
  );
  context.ui.result(rows, () => {
    const table = renderTable(
      ['HOST', 'REACHABLE', 'DRIVER', 'CORES', 'MEMORY', 'POOL FREE', 'RUNNING', 'MACHINES', 'URI'],
      rows.map((row) => [
        row.name,
        row.reachable ? 'yes' : 'NO',
        row.driver ?? '-',
        row.cpus ?? '-',
        row.memoryMiB === null ? '-' : `${row.memoryMiB} MiB`,
        row.poolFreeBytes === null ? '-' : `${(row.poolFreeBytes / 2 ** 30).toFixed(1)} GiB`,
        row.running ? `${row.running.vms} VMs, ${row.running.vcpus} vCPUs, ${row.running.memoryMiB} MiB` : '-',
        row.machines.join(',') || '-',
        row.uri,
      ]),
    );
    const problems = rows.filter((row) => !row.reachable).map((row) => `${row.name}: ${row.error}\n  fix: ${row.fix ?? `make doctor HOST=${row.name}`}`);
    return [table, ...problems].join('\n');
  });
  const unreachable = rows.filter((row) => !row.reachable);
  if (unreachable.length) throw new UserError(`${unreachable.length} host(s) not reachable: ${unreachable.map((row) => row.name).join(', ')}`, `make doctor HOST=${unreachable[0]!.name}`);
}
