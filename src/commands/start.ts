import { vagrantArgs, Vagrant } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import { requireMachine } from '../lab/resolve-machines.js';
import { loadWorkspace } from '../lab/workspace.js';
import { converge } from './up.js';

/** make start NAME=..: bring one declared machine to lab.yaml (boot it; create it if it has no VM yet). */
export async function startMachine(context: Context, name: string, options: { force?: boolean } = {}): Promise<void> {
  const workspace = await loadWorkspace(context);
  requireMachine(workspace.labFile.lab, name);
  await converge(context, { names: [name], force: options.force, retry: `make start NAME=${name}` });
}

/** Boot a machine whose VM exists (after an export halted it): no provisioning, no checks. */
export async function bootExisting(context: Context, name: string): Promise<void> {
  try {
    await new Vagrant(context.runner, context.labDir).run(vagrantArgs.up(name, { provision: 'no' }), { interactive: true });
  } catch (error) {
    if (error instanceof CommandError) {
      throw new UserError(`${name} did not come up again (vagrant up exited with ${error.exitCode})`, `Read vagrant's output above. Retry: make start NAME=${name}`);
    }
    throw error;
  }
  if (!context.dryRun) context.ui.info(`${name} is up. Shell: make ssh NAME=${name}`);
}
