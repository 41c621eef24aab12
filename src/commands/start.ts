import { vagrantArgs, Vagrant } from '../adapters/vagrant.js';
import { Virsh } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import { preflight } from '../host/preflight.js';
import type { Lab } from '../lab/lab-schema.js';
import { domainPrefix, requireMachine } from '../lab/resolve-machines.js';
import { loadWorkspace, renderWorkspace, saveWorkspace } from '../lab/workspace.js';

export async function startMachine(context: Context, name: string): Promise<void> {
  const workspace = await loadWorkspace(context);
  requireMachine(workspace.labFile.lab, name);
  await preflight(context);
  await saveWorkspace(context, workspace.labFile, await renderWorkspace(context, workspace));
  await bringUp(context, workspace.labFile.lab, name);
}

/**
 * `vagrant up`, provisioning only when the domain does not exist yet: a machine that was created
 * before just boots (`--no-provision`), a new one runs its role's features on first boot.
 */
export async function bringUp(context: Context, lab: Lab, name: string): Promise<void> {
  const domain = `${domainPrefix(lab)}${name}`;
  const exists = context.dryRun ? false : (await new Virsh(context.runner, context.libvirtUri).domains()).some((row) => row.name === domain);
  const vagrant = new Vagrant(context.runner, context.labDir);
  try {
    await vagrant.run(vagrantArgs.up(name, { provision: !exists }), { interactive: true });
  } catch (error) {
    if (error instanceof CommandError) {
      throw new UserError(
        `${name} did not come up (vagrant up exited with ${error.exitCode}); it stays declared in lab.yaml`,
        `Read vagrant's output above. Retry: make start NAME=${name}; or remove it: make delete NAME=${name} YES=1`,
      );
    }
    throw error;
  }
  if (!context.dryRun) context.ui.info(`${name} is up. Shell: make ssh NAME=${name}`);
}
