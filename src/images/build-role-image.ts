import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { BuildLog } from './build-log.js';
import { ROLE_BUILDER, type Recipe } from './image-graph.js';
import { planBuild, registerBox } from './register-box.js';
import type { ImageRecord } from './registry-schema.js';
import { Registry } from './registry.js';
import { guardBuild, runBuilderScript, type OnStep } from './run-builder.js';

type RoleRecipe = Extract<Recipe, { kind: 'role' }>;

/**
 * A role image: the parent's disk with the role's features run in a chroot of it (scripts/image/
 * build-role-image.sh). No VM boots, so apt runs at the host's speed; services the features enable start
 * when a VM boots from the image. Features the parent already holds are not run again.
 */
export async function buildRoleImage(context: Context, recipe: RoleRecipe, parent: ImageRecord, digest: string, onStep?: OnStep): Promise<ImageRecord> {
  const registry = new Registry(context.home);
  const plan = planBuild(context, recipe.name);
  const built = path.join(plan.workDir, plan.file);
  const inherited = new Set(parent.features);
  const features = recipe.role.features.filter((feature) => !inherited.has(feature));
  const argv = [
    path.join(context.projectRoot, ROLE_BUILDER),
    ...['--parent-box', registry.boxFile(parent), '--out', built, '--workdir', plan.workDir],
    ...['--features-dir', path.join(context.projectRoot, 'scripts', 'features')],
    ...features.flatMap((feature) => ['--feature', feature]),
    ...Object.entries(recipe.role.settings).flatMap(([key, value]) => ['--env', `VMLAB_${key.toUpperCase()}=${value}`]),
  ];
  guardBuild(context, plan, argv, 'role image');
  const log = await BuildLog.open(context.home, recipe.name);
  await mkdir(plan.workDir, { recursive: true });
  try {
    await log.line(`method: chroot of ${parent.name}'s disk (no VM boot); features: ${features.join(', ') || 'none new'}`);
    await runBuilderScript(context, recipe.name, argv, log, onStep);
    return await registerBox(context, plan, {
      built,
      source: `role ${recipe.role.name} on ${parent.name}`,
      virtualSizeBytes: parent.virtualSizeBytes,
      inputDigest: digest,
      log,
      lineage: { kind: 'role', role: recipe.role.name, parent: parent.name, features: [...parent.features, ...features] },
    });
  } finally {
    await rm(plan.workDir, { recursive: true, force: true });
    await log.close();
  }
}
