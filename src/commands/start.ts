import { vagrantArgs } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { failureDetail, runMachines } from '../lab/parallel.js';
import { domainPrefix, requireMachine } from '../lab/resolve-machines.js';
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
  const workspace = await loadWorkspace(context);
  const [outcome] = await runMachines(context, 'up', [{ name, domain: `${domainPrefix(workspace.labFile.lab)}${name}`, args: vagrantArgs.up(name, { provision: 'no' }) }]);
  if (outcome && !outcome.ok) {
    throw new UserError(
      `${name} did not come up again (vagrant up exited with ${outcome.exitCode})${failureDetail(outcome)}`,
      `${outcome.tail.length ? `Read its log: ${outcome.log}` : "Read vagrant's output above"}. Retry: make start NAME=${name}`,
    );
  }
  if (!context.dryRun) context.ui.info(`${name} is up. Shell: make ssh NAME=${name}`);
}
