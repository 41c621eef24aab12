import path from 'node:path';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { labGraph, type GraphImage } from '../lab/lab-graph.js';
import { loadWorkspace, resolveMachines } from '../lab/workspace.js';
import { MANAGEMENT_NETWORK } from '../vagrantfile/vagrantfile-view.js';

/**
 * make graph [FILE=lab.svg]: the lab drawn by graphviz's dot (any format dot writes, from FILE's
 * extension). Without dot, the DOT text goes to stdout with the command that renders it.
 */
export async function graphLab(context: Context, options: { file?: string }): Promise<void> {
  const workspace = await loadWorkspace(context);
  const machines = resolveMachines(workspace);
  const images: GraphImage[] = Object.values(workspace.images.images).map((image) => ({ name: image.name, kind: image.kind, parent: image.parent }));
  // A role's image not built yet still has its place in the lineage.
  for (const role of workspace.roles.values()) {
    if (!images.some((image) => image.name === role.image)) images.push({ name: role.image, kind: 'not built', parent: role.parent && role.parent !== role.image ? role.parent : null });
  }
  const dot = labGraph(machines, { lab: workspace.labFile.lab.name, management: MANAGEMENT_NETWORK, images });
  const file = options.file ? path.resolve(options.file) : path.join(context.labDir, 'lab.svg');
  const format = path.extname(file).slice(1) || 'svg';
  if (!/^[a-z0-9]+$/.test(format)) throw new UserError(`cannot tell the picture's format from ${file}`, 'Example: make graph FILE=lab.svg (or .png, .pdf)', 2);
  if (context.dryRun) {
    context.ui.out(`dot -T${format} -o ${file}`);
    return;
  }
  const rendered = await context.runner.run('dot', [`-T${format}`, '-o', file], { input: dot, check: false }).catch((error: unknown) => {
    if (error instanceof UserError) return undefined; // dot is not installed
    throw error;
  });
  if (!rendered) {
    context.ui.out(dot.trimEnd());
    context.ui.warn(`graphviz's dot is not installed: above is the lab as DOT text. Install it (apt-get install graphviz), or render it: dot -T${format} -o ${file} <file.dot`);
    return;
  }
  if (rendered.exitCode !== 0) throw new UserError(`dot could not draw the lab: ${rendered.stderr.trim()}`, `The DOT text: make graph FILE=lab.dot`);
  if (machines.length === 0) context.ui.warn('lab.yaml declares no machines yet: the picture is empty. Create one: make create-base NAME=dev');
  context.ui.info(`wrote ${file} (${machines.length} machine${machines.length === 1 ? '' : 's'})`);
}
