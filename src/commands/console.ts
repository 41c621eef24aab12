import { virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { preflight } from '../host/preflight.js';
import { hostContext } from '../lab/host-context.js';
import { requireRunning } from '../lab/running-machine.js';
import { loadWorkspace } from '../lab/workspace.js';

/**
 * make console NAME=web: the machine's serial console (ttyS0: the kernel's console and a getty), for when
 * SSH is broken. virsh's escape Ctrl+] leaves it. Returns virsh's exit code.
 */
export async function attachConsole(context: Context, name: string): Promise<number> {
  const workspace = await loadWorkspace(context);
  await preflight(context, ['virsh']);
  const machine = await requireRunning(context, workspace, name, 'console');
  context.ui.info(`${name}: serial console; press Enter for a login prompt, Ctrl+] to leave`);
  const result = await context.runner.run('virsh', ['-c', hostContext(context, machine).libvirtUri, ...virshArgs.console(machine.domain)], { stdio: 'inherit', check: false });
  return result.exitCode;
}
