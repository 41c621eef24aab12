import { vagrantArgs } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { preflight } from '../host/preflight.js';
import { runVagrantStep } from '../lab/parallel.js';
import { domainPrefix, requireMachine } from '../lab/resolve-machines.js';
import { machineContext } from '../lab/host-context.js';
import { loadWorkspace, resolveMachines, syncVagrantfile } from '../lab/workspace.js';

export async function stopMachine(context: Context, name: string): Promise<void> {
  const workspace = await loadWorkspace(context);
  requireMachine(workspace.labFile.lab, name);
  context = machineContext(context, resolveMachines(workspace), name);
  await preflight(context);
  await syncVagrantfile(context);
  await runVagrantStep(context, 'halt', { name, domain: `${domainPrefix(workspace.labFile.lab)}${name}`, args: vagrantArgs.halt(name) });
}
