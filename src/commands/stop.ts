import { vagrantArgs, Vagrant } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { preflight } from '../host/preflight.js';
import { requireMachine } from '../lab/resolve-machines.js';
import { loadWorkspace, syncVagrantfile } from '../lab/workspace.js';

export async function stopMachine(context: Context, name: string): Promise<void> {
  const workspace = await loadWorkspace(context);
  requireMachine(workspace.labFile.lab, name);
  await preflight(context);
  await syncVagrantfile(context);
  await new Vagrant(context.runner, context.labDir).run(vagrantArgs.halt(name), { interactive: true });
}
