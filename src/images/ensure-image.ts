import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { buildDebootstrapImage, baseInputDigest, resolveMirror } from './build-base-image.js';
import { boxInputDigest, buildBoxImage, buildQcow2Image, qcow2InputDigest } from './build-disk-image.js';
import { cleanStaleBuilds } from './stale-builds.js';
import { resolveVagrantBox } from './vagrant-box-store.js';
import type { ImageSource } from './image-schema.js';
import { definedImageNames, loadImageDefinition, type DefinedImage } from './load-images.js';
import type { ImageRecord } from './registry-schema.js';
import { Registry } from './registry.js';

export interface EnsureOptions {
  force?: boolean;
}

export interface Ensured {
  record: ImageRecord;
  /** 'up to date' when nothing had to be done. */
  action: 'up to date' | 'built';
}

/**
 * Make sure an image is built and current: an image whose inputs are unchanged is returned at once
 * (the input digest), anything else is built from its definition in images/<name>.yaml.
 */
export async function ensureImage(context: Context, name: string, options: EnsureOptions = {}): Promise<Ensured> {
  const registry = new Registry(context.home);
  const existing = await registry.get(name);
  const image = await loadImageDefinition(context.projectRoot, name, context.env);
  if (!image) {
    if (existing) return { record: existing, action: 'up to date' };
    const known = [...new Set([...(await definedImageNames(context.projectRoot, context.env)), ...Object.keys((await registry.read()).images)])];
    throw new UserError(`unknown image "${name}"`, `Known images: ${known.sort().join(', ') || 'none'}. See: make images`, 2);
  }
  const source = image.definition.source;
  if (!source) {
    throw new UserError(`image ${name} is a role image; role image builds are not available yet`, 'Use its parent image with IMAGE=<parent>; the role features are provisioned at first boot.');
  }
  if (existing && !options.force) {
    const digest = await inputDigest(context, image, source);
    if (existing.inputDigest === digest) return { record: existing, action: 'up to date' };
    context.ui.info(`image ${name}: its inputs changed since it was built; rebuilding`);
  }
  await cleanStaleBuilds(context);
  switch (source.type) {
    case 'debootstrap':
      if (source.distro !== 'debian') {
        throw new UserError(
          `image ${name}: the base box builder makes Debian images only so far; ${source.distro} ${source.suite} cannot be built yet`,
          'Use images/debian-12.yaml, or a qcow2 source with an Ubuntu cloud image (see README: Images).',
        );
      }
      return { record: await buildDebootstrapImage(context, image, source), action: 'built' };
    case 'qcow2':
      return { record: await buildQcow2Image(context, image, source), action: 'built' };
    case 'box':
      return { record: await buildBoxImage(context, image, source), action: 'built' };
  }
}

/** The digest of everything a base image is made from, per source type; equal to the record's when nothing changed. */
async function inputDigest(context: Context, image: DefinedImage, source: ImageSource): Promise<string> {
  switch (source.type) {
    case 'debootstrap':
      return baseInputDigest(context, image, await resolveMirror(source));
    case 'qcow2':
      return qcow2InputDigest(image, source);
    case 'box':
      return boxInputDigest(image, await resolveVagrantBox(context, image.name, source));
  }
}

/** The image a new machine of a role boots: the role's own image if it is built, else the nearest built or buildable ancestor. */
export async function imageForRole(
  context: Context,
  role: { name: string; image: string; parent: string },
): Promise<{ image: string; fallback: boolean }> {
  const registry = new Registry(context.home);
  if (await registry.get(role.image)) return { image: role.image, fallback: false };
  if (await loadImageDefinition(context.projectRoot, role.image, context.env).then((image) => Boolean(image?.definition.source))) {
    return { image: role.image, fallback: false };
  }
  return { image: role.parent, fallback: true };
}
