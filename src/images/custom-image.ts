import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { checkImageName } from '../names.js';
import { recipeFor } from './image-graph.js';
import { childrenOf } from './registry.js';
import type { RegistryIndex } from './registry-schema.js';

/*
 * Custom images: made from a VM (export, clone) or brought from elsewhere (import). They have no recipe in
 * images/ or roles/: they are taken as they are, and their lineage is what they were made from.
 */

/** What an exported box says about itself, in vmlab.json next to box.img; import reads it back. */
export interface BoxLineage {
  format: 1;
  name: string;
  parent: string | null;
  role: string | null;
  features: string[];
  exportedFrom: { machine: string; lab: string } | null;
  created: string;
}

export function parseBoxLineage(text: string): BoxLineage | undefined {
  try {
    const data = JSON.parse(text) as Partial<BoxLineage>;
    if (data.format !== 1 || !Array.isArray(data.features) || !data.features.every((feature) => typeof feature === 'string')) return undefined;
    return {
      format: 1,
      name: typeof data.name === 'string' ? data.name : '',
      parent: typeof data.parent === 'string' ? data.parent : null,
      role: typeof data.role === 'string' ? data.role : null,
      features: data.features,
      exportedFrom: data.exportedFrom ?? null,
      created: typeof data.created === 'string' ? data.created : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * A name a custom image may take: not an image that images/ or roles/ define (those are built from their
 * recipe), not one that exists unless replacing was asked for, and never one other images stand on.
 */
export async function checkCustomTarget(
  context: Context,
  index: RegistryIndex,
  target: string,
  options: { force: boolean; retry: string },
): Promise<void> {
  checkImageName(target);
  if (await recipeFor(context, target)) {
    throw new UserError(
      `image ${target} is built by vmlab from its recipe (images/ or roles/); a custom image needs a name of its own`,
      `Pick another TARGET, e.g. ${options.retry.replace('<target>', `${target}-custom`)}`,
      2,
    );
  }
  const existing = index.images[target];
  if (!existing) return;
  if (!options.force) {
    throw new UserError(
      `image ${target} already exists (${existing.kind}, ${existing.source}, made ${existing.created})`,
      `Pick another TARGET, or replace it: ${options.retry.replace('<target>', target)} FORCE=1`,
    );
  }
  const children = childrenOf(index, target);
  if (children.length) {
    throw new UserError(`image ${target} cannot be replaced: images stand on it: ${children.join(', ')}`, `Pick another TARGET, or remove them first: make image-rm IMAGE=${children[0]} YES=1`);
  }
}
