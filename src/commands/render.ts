import type { Context } from '../context.js';
import { loadWorkspace, renderWorkspace, saveWorkspace } from '../lab/workspace.js';

export async function renderLab(context: Context): Promise<void> {
  const workspace = await loadWorkspace(context);
  const text = await renderWorkspace(context, workspace);
  await saveWorkspace(context, workspace.labFile, text);
  if (context.dryRun) context.ui.out(text);
  else context.ui.info(`wrote ${context.vagrantfile} (${Object.keys(workspace.labFile.lab.machines).length} machines)`);
}
