import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { buildDebootstrapImage } from './build-base-image.js';
import { buildBoxImage, buildQcow2Image } from './build-disk-image.js';
import { buildRoleImage } from './build-role-image.js';
import { chainFreshness, recipeChain, recipeDigest, recipeFor, type Recipe } from './image-graph.js';
import { damagedError } from './damaged.js';
import { definedImageNames } from './load-images.js';
import type { ImageRecord } from './registry-schema.js';
import { Registry } from './registry.js';
import type { OnStep } from './run-builder.js';
import { cleanStaleBuilds } from './stale-builds.js';

export interface EnsureOptions {
  force?: boolean;
  onStep?: OnStep;
}

export interface Ensured {
  record: ImageRecord;
  /** 'up to date' when nothing had to be done; 'cached' when the box came from the box cache (not a build). */
  action: 'up to date' | 'built' | 'cached';
}

/**
 * Make sure an image and its parents are built and current, parents first. An image whose inputs
 * (its input digest, which includes its parent's) are unchanged is returned at once; FORCE rebuilds
 * the named image only. An image without a recipe (an exported one) is taken as it is.
 */
export async function ensureImage(context: Context, name: string, options: EnsureOptions = {}): Promise<Ensured> {
  const existing = await new Registry(context.home).get(name);
  if (!(await recipeFor(context, name))) {
    if (existing) return { record: existing, action: 'up to date' };
    const known = [...new Set([...(await definedImageNames(context.projectRoot, context.env)), ...Object.keys((await new Registry(context.home).read()).images)])];
    throw new UserError(`unknown image "${name}"`, `Known images: ${known.sort().join(', ') || 'none'}. See: make images`, 2);
  }
  let result: Ensured | undefined;
  for (const recipe of await recipeChain(context, name)) {
    const last = recipe.name === name;
    result = await ensureRecipe(context, recipe, { force: last && options.force, onStep: last ? options.onStep : undefined });
  }
  return result as Ensured;
}

/**
 * What `make build` has to do for an image: its chain (parents first) and which of them are not current.
 * An unknown image is refused here, before anything is queued; an exported image (no recipe) is current.
 */
export async function buildNeeds(context: Context, name: string, force: boolean): Promise<{ chain: string[]; outdated: string[] }> {
  const index = await new Registry(context.home).read();
  if (!(await recipeFor(context, name))) {
    const record = index.images[name];
    if (record?.damaged) throw damagedError(record, false);
    if (record) return { chain: [name], outdated: force ? [name] : [] };
    const known = [...new Set([...(await definedImageNames(context.projectRoot, context.env)), ...Object.keys(index.images)])];
    throw new UserError(`unknown image "${name}"`, `Known images: ${known.sort().join(', ') || 'none'}. See: make images`, 2);
  }
  const recipes = await recipeChain(context, name);
  // A damaged image is refused until it is rebuilt (FORCE=1 on it) or removed; a damaged parent too.
  for (const recipe of recipes) {
    const record = index.images[recipe.name];
    if (record?.damaged && !(force && recipe.name === name)) throw damagedError(record, true, recipe.name === name ? undefined : `the parent of ${name}`);
  }
  const freshness = await chainFreshness(context, recipes, index);
  const outdated = recipes.map((recipe) => recipe.name).filter((image) => freshness.get(image) !== 'current' || (force && image === name));
  return { chain: recipes.map((recipe) => recipe.name), outdated };
}

/** Build one image whose parent is already built (the build queue runs one of these per job). */
export async function ensureOne(context: Context, name: string, options: EnsureOptions = {}): Promise<Ensured> {
  const recipe = await recipeFor(context, name);
  if (!recipe) return ensureImage(context, name, options);
  return ensureRecipe(context, recipe, options);
}

async function ensureRecipe(context: Context, recipe: Recipe, options: EnsureOptions): Promise<Ensured> {
  const index = await new Registry(context.home).read();
  const existing = index.images[recipe.name];
  const parent = recipe.kind === 'role' ? index.images[recipe.parent] : undefined;
  if (recipe.kind === 'role' && !parent) {
    throw new UserError(`image ${recipe.name}: its parent ${recipe.parent} is not built`, `Build it first: make build IMAGE=${recipe.parent}`);
  }
  const digest = await recipeDigest(context, recipe, parent?.inputDigest);
  if (existing && !options.force) {
    if (existing.inputDigest === digest) return { record: existing, action: 'up to date' };
    context.ui.info(`image ${recipe.name}: ${recipe.kind === 'role' ? 'it or its parent changed' : 'its inputs changed'} since it was built; rebuilding`);
  }
  await cleanStaleBuilds(context);
  return build(context, recipe, parent, digest, options);
}

async function build(context: Context, recipe: Recipe, parent: ImageRecord | undefined, digest: string, options: EnsureOptions): Promise<Ensured> {
  const built = (record: ImageRecord): Ensured => ({ record, action: 'built' });
  if (recipe.kind === 'role') return built(await buildRoleImage(context, recipe, parent as ImageRecord, digest, options.onStep));
  const source = recipe.source;
  switch (source.type) {
    case 'debootstrap':
      if (source.distro !== 'debian') {
        throw new UserError(
          `image ${recipe.name}: the base box builder makes Debian images only so far; ${source.distro} ${source.suite} cannot be built yet`,
          'Use images/debian-12.yaml, or a qcow2 source with an Ubuntu cloud image (see README: Images).',
        );
      }
    {
      const result = await buildDebootstrapImage(context, recipe.image, source, { force: options.force, onStep: options.onStep });
      return { record: result.record, action: result.cached ? 'cached' : 'built' };
    }
    case 'qcow2':
      return built(await buildQcow2Image(context, recipe.image, source));
    case 'box':
      return built(await buildBoxImage(context, recipe.image, source));
  }
}

/**
 * The image a new machine of a role boots. By default the role's own image (built first if needed).
 * With autoBuild off, the nearest image of its chain that is already built, and the role's features
 * are provisioned at first boot.
 */
export async function imageForRole(
  context: Context,
  role: { name: string; image: string; parent: string },
  options: { autoBuild: boolean },
): Promise<{ image: string; fallback: boolean }> {
  const index = await new Registry(context.home).read();
  if (index.images[role.image] || options.autoBuild) return { image: role.image, fallback: false };
  const chain = await recipeChain(context, role.image);
  const built = chain.map((recipe) => recipe.name).reverse().find((name) => index.images[name]);
  return { image: built ?? chain[0]?.name ?? role.parent, fallback: true };
}
