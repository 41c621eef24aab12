import { Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';

/**
 * After a host reboot the lab's networks are defined but inactive (none of vmlab's autostart). vagrant-libvirt
 * starts an inactive network itself, but only under a lock inside its own process: machines that go up side
 * by side would race to start the same one, and all but one fail. So vmlab starts them first, by name.
 */
export async function startInactiveNetworks(context: Context, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const result = await virsh.query(virshArgs.netListInactive(), false);
  if (result.exitCode !== 0) return;
  const inactive = new Set(result.stdout.split('\n').map((line) => line.trim()).filter(Boolean));
  for (const name of [...new Set(names)].filter((network) => inactive.has(network))) {
    context.ui.info(`network ${name} is defined but not running (a host reboot?): starting it`);
    await virsh.change(virshArgs.netStart(name));
  }
}
