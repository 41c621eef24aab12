import type { Context } from '../context.js';
import { renderWorkspace, loadWorkspace, updateLab } from '../lab/workspace.js';

export async function renderLab(context: Context): Promise<void> {
  const labFile = await updateLab(context);
  if (context.dryRun) context.ui.out(await renderWorkspace(context, await loadWorkspace(context)));
  else context.ui.info(`wrote ${context.vagrantfile} (${Object.keys(labFile.lab.machines).length} machines)`);
}
