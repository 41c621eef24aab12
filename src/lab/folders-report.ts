import type { Context } from '../context.js';
import { decideSharedFolders } from '../host/shared-folders.js';
import type { ResolvedMachine } from './resolve-machines.js';

/** Say how each machine's folders are shared (virtiofs, or 9p and why), as the Vagrantfile was rendered. */
export async function reportFolders(context: Context, machines: ResolvedMachine[]): Promise<void> {
  const sharing = machines.filter((machine) => (machine.folders ?? []).length);
  if (sharing.length === 0) return;
  const decision = await decideSharedFolders(context.env);
  for (const machine of sharing) {
    const list = (machine.folders ?? []).map((folder) => `${folder.host} -> ${folder.guest}`).join(', ');
    context.ui.info(`${machine.name}: shared folders by ${decision.type} (${decision.reason}): ${list}`);
  }
}
