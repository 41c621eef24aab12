import { vagrantArgs } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { preflight } from '../host/preflight.js';
import { readLiveOnHosts } from '../lab/host-context.js';
import { runMachines, renderOutcomes } from '../lab/parallel.js';
import { loadWorkspace, syncVagrantfile } from '../lab/workspace.js';
import { converge, selectMachines, type Selection } from './up.js';

function selectionText(selection: Selection): string {
  return selection.group ? `GROUP=${selection.group}` : `NAME=${selection.names?.join(',') ?? ''}`;
}

function requireSelection(selection: Selection, command: string): void {
  if (!selection.group && !selection.names?.length) throw new UserError(`which machines? ${command} needs NAME or GROUP`, `Example: make ${command} NAME=web (or GROUP=k8s)`, 2);
}

/**
 * make suspend NAME=..|GROUP=..: libvirt managed save of the running machines, side by side (the memory
 * state goes to disk and the domain shuts off; vagrant stops its port tunnels). A saved machine counts as
 * not running for admission; make resume or make up brings it back where it was.
 */
export async function suspendMachines(context: Context, selection: Selection): Promise<void> {
  requireSelection(selection, 'suspend');
  const workspace = await loadWorkspace(context);
  const machines = selectMachines(workspace, selection);
  await preflight(context);
  await syncVagrantfile(context);
  const live = await readLiveOnHosts(context, machines, machines.map((machine) => machine.domain));
  const running = machines.filter((machine) => live.get(machine.domain)?.state === 'running');
  for (const machine of machines.filter((candidate) => !running.includes(candidate))) {
    const domain = live.get(machine.domain);
    context.ui.info(`${machine.name}: ${domain?.saved ? 'saved already' : (domain?.state ?? 'not created')}, nothing to suspend`);
  }
  if (running.length === 0) return;
  const outcomes = await runMachines(context, 'suspend', running.map((machine) => ({ name: machine.name, domain: machine.domain, args: vagrantArgs.suspend(machine.name) })));
  if (context.dryRun) return;
  if (outcomes.length > 1) context.ui.info(renderOutcomes(outcomes));
  // vagrant-libvirt reports a failed managed save on its output only: libvirt is asked what happened.
  const after = await readLiveOnHosts(context, running, running.map((machine) => machine.domain));
  const failed = running.filter((machine) => !after.get(machine.domain)?.saved || !outcomes.find((outcome) => outcome.name === machine.name)?.ok);
  if (failed.length) {
    throw new UserError(
      `${failed.map((machine) => `${machine.name} (${after.get(machine.domain)?.state ?? 'gone'})`).join(', ')} not saved`,
      `Their logs: ${outcomes.filter((outcome) => failed.some((machine) => machine.name === outcome.name)).map((outcome) => outcome.log).join(' ')}. Retry: make suspend ${selectionText(selection)}`,
    );
  }
  context.ui.info(`${running.map((machine) => machine.name).join(', ')}: saved (memory state on disk). Back: make resume ${selectionText(selection)}`);
}

/** make resume NAME=..|GROUP=..: the saved machines of the selection go on where they were (through make up's checks). */
export async function resumeMachines(context: Context, selection: Selection, options: { force?: boolean } = {}): Promise<void> {
  requireSelection(selection, 'resume');
  const workspace = await loadWorkspace(context);
  const machines = selectMachines(workspace, selection);
  await preflight(context, ['virsh']);
  const live = await readLiveOnHosts(context, machines, machines.map((machine) => machine.domain));
  const saved = machines.filter((machine) => live.get(machine.domain)?.saved);
  for (const machine of machines.filter((candidate) => !saved.includes(candidate))) context.ui.info(`${machine.name}: ${live.get(machine.domain)?.state ?? 'not created'}, not saved: nothing to resume`);
  if (saved.length === 0) return;
  await converge(context, { names: saved.map((machine) => machine.name), force: options.force, retry: `make resume ${selectionText(selection)}` });
}
