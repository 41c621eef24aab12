import type { Context } from '../context.js';
import { preflight } from '../host/preflight.js';
import { planCopy, scpArgs } from '../lab/copy-paths.js';
import { requireRunning } from '../lab/running-machine.js';
import { sshConfigFile } from '../lab/ssh-config.js';
import { loadWorkspace, syncVagrantfile } from '../lab/workspace.js';

/**
 * make cp SRC=web:/var/log/syslog DST=./logs/ (or the other way): files and directories between the host
 * and a running machine, with scp over the machine's own ssh settings. Returns scp's exit code.
 */
export async function copyFiles(context: Context, source: string | undefined, destination: string | undefined): Promise<number> {
  const workspace = await loadWorkspace(context);
  const plan = planCopy(source, destination, Object.keys(workspace.labFile.lab.machines));
  await preflight(context, ['vagrant', 'virsh']);
  const machine = await requireRunning(context, workspace, plan.machine, 'cp');
  await syncVagrantfile(context);
  const config = await sshConfigFile(context, machine);
  const result = await context.runner.run('scp', scpArgs(config, plan), { cwd: context.labDir, stdio: 'inherit', check: false });
  if (result.exitCode !== 0) context.ui.warn(`the copy failed (scp exited with ${result.exitCode})`);
  else if (!context.dryRun) context.ui.info(`copied ${plan.source} -> ${plan.destination}`);
  return result.exitCode;
}
