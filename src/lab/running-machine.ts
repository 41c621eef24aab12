import { Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { hostContext } from './host-context.js';
import { requireMachine } from './resolve-machines.js';
import { resolveMachines, type Workspace } from './workspace.js';
import type { ResolvedMachine } from './resolve-machines.js';

/** A declared machine whose VM runs now (cp, console need one), or a refusal that says how to get there. */
export async function requireRunning(context: Context, workspace: Workspace, name: string, command: string): Promise<ResolvedMachine> {
  requireMachine(workspace.labFile.lab, name);
  const machine = resolveMachines(workspace).find((candidate) => candidate.name === name)!;
  // On the machine's own libvirt host (hosts: in lab.yaml), not necessarily this one.
  const onHost = hostContext(context, machine);
  const virsh = new Virsh(onHost.runner, onHost.libvirtUri);
  const [state, info] = await Promise.all([virsh.domainState(machine.domain).catch(() => undefined), virsh.query(virshArgs.dominfo(machine.domain), false)]);
  if (state === 'running') return machine;
  if (!state) throw new UserError(`${name} has no VM yet: ${command} needs it running`, `Create it: make start NAME=${name}`, 2);
  const saved = /^Managed save:\s+yes/m.test(info.stdout);
  throw new UserError(`${name} is ${saved ? 'saved (suspended)' : state}: ${command} needs it running`, saved ? `Resume it: make resume NAME=${name}` : `Start it: make start NAME=${name}`, 2);
}
