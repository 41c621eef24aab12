import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { loadRoles } from '../roles/load-roles.js';
import type { Role } from '../roles/role-schema.js';
import { BUILDER_VERSION, baseInputDigest, resolveMirror } from './build-base-image.js';
import { boxInputDigest, qcow2InputDigest } from './build-disk-image.js';
import type { ImageSource } from './image-schema.js';
import { definedImageNames, loadImageDefinition, type DefinedImage } from './load-images.js';
import type { RegistryIndex } from './registry-schema.js';
import { resolveVagrantBox } from './vagrant-box-store.js';

/*
 * How each image is made, and what it is made of. Inheritance: base -> role -> custom, any depth.
 * A base image has a source (images/<name>.yaml). A role image is a parent image plus a role's
 * features: declared in images/<name>.yaml (role + parent), or implied by a role whose preferred
 * image differs from its parent (roles/docker.yaml: image docker, parent debian-12).
 */
export type Recipe =
  | { kind: 'base'; name: string; image: DefinedImage; source: ImageSource }
  | { kind: 'role'; name: string; role: Role; parent: string; image?: DefinedImage };

export const ROLE_BUILDER = 'scripts/image/build-role-image.sh';

export async function recipeFor(context: Context, name: string, roles?: Map<string, Role>): Promise<Recipe | undefined> {
  const image = await loadImageDefinition(context.projectRoot, name, context.env);
  const allRoles = roles ?? (await loadRoles(context.projectRoot));
  if (image?.definition.source) return { kind: 'base', name, image, source: image.definition.source };
  if (image?.definition.role && image.definition.parent) {
    const role = allRoles.get(image.definition.role);
    if (!role) throw new UserError(`${path.relative(context.projectRoot, image.file)}: role: unknown role "${image.definition.role}"`, `Known roles: ${[...allRoles.keys()].join(', ')}`);
    return { kind: 'role', name, role, parent: image.definition.parent, image };
  }
  const role = [...allRoles.values()].find((candidate) => candidate.image === name && candidate.parent !== name);
  return role ? { kind: 'role', name, role, parent: role.parent } : undefined;
}

/** The recipes from the root base image down to `name`, parent first. */
export async function recipeChain(context: Context, name: string): Promise<Recipe[]> {
  const roles = await loadRoles(context.projectRoot);
  const chain: Recipe[] = [];
  const visited: string[] = [];
  for (let current: string | undefined = name; current; ) {
    if (visited.includes(current)) throw new UserError(`image ${name}: its parents form a loop (${[...visited, current].join(' -> ')})`);
    visited.push(current);
    const recipe = await recipeFor(context, current, roles);
    if (!recipe) {
      const known = await definedImageNames(context.projectRoot, context.env);
      throw new UserError(`unknown image "${current}"${current === name ? '' : ` (the parent of ${chain[0]?.name})`}`, `Known images: ${known.join(', ')}. See: make images`, 2);
    }
    chain.unshift(recipe);
    current = recipe.kind === 'role' ? recipe.parent : undefined;
  }
  return chain;
}

export async function imageChain(context: Context, name: string): Promise<string[]> {
  return (await recipeChain(context, name)).map((recipe) => recipe.name);
}

/**
 * The digest of everything an image is made from. A role image's includes its parent's recorded digest,
 * so a rebuilt parent makes every child stale.
 */
export async function recipeDigest(context: Context, recipe: Recipe, parentDigest: string | undefined): Promise<string> {
  if (recipe.kind === 'base') {
    switch (recipe.source.type) {
      case 'debootstrap':
        return baseInputDigest(context, recipe.image, await resolveMirror(recipe.source));
      case 'qcow2':
        return qcow2InputDigest(recipe.image, recipe.source);
      case 'box':
        return boxInputDigest(recipe.image, await resolveVagrantBox(context, recipe.image.name, recipe.source));
    }
  }
  const read = (file: string) => readFile(file, 'utf8');
  const features = await Promise.all(recipe.role.featureScripts.map(read));
  const library = await read(path.join(context.projectRoot, 'scripts/features/lib/common.sh'));
  const builder = await read(path.join(context.projectRoot, ROLE_BUILDER));
  const builderLib = await read(path.join(context.projectRoot, 'scripts/image/lib/builder.sh'));
  const roleFile = await read(path.join(context.projectRoot, 'roles', `${recipe.role.name}.yaml`));
  return createHash('sha256')
    .update(JSON.stringify({ BUILDER_VERSION, builder, builderLib, definition: recipe.image?.text ?? null, roleFile, features, library, parentDigest: parentDigest ?? null }))
    .digest('hex');
}

export type Freshness = 'current' | 'stale' | 'missing';

/** Whether each image of the chain is built and current, judged against the registry as it is now. */
export async function chainFreshness(context: Context, chain: Recipe[], index: RegistryIndex): Promise<Map<string, Freshness>> {
  const result = new Map<string, Freshness>();
  let parentDigest: string | undefined;
  for (const recipe of chain) {
    const record = index.images[recipe.name];
    if (!record) result.set(recipe.name, 'missing');
    else result.set(recipe.name, record.inputDigest === (await recipeDigest(context, recipe, parentDigest)) ? 'current' : 'stale');
    parentDigest = record?.inputDigest;
  }
  return result;
}
