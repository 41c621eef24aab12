import { vagrantArgs, Vagrant } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { preflight } from '../host/preflight.js';
import { requireMachine } from '../lab/resolve-machines.js';
import { loadWorkspace, syncVagrantfile } from '../lab/workspace.js';

/** An interactive shell, or with a command: run it and return its exit code. */
export async function sshMachine(context: Context, name: string, command?: string): Promise<number> {
  const workspace = await loadWorkspace(context);
  requireMachine(workspace.labFile.lab, name);
  await preflight(context, ['vagrant']);
  await syncVagrantfile(context);
  const result = await new Vagrant(context.runner, context.labDir).run(vagrantArgs.ssh(name, command || undefined), {
    interactive: true,
    check: false,
  });
  return result.exitCode;
}
