import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { mirrorForSuite, readHostAptSources } from '../host/apt-sources.js';
import { BuildLog } from './build-log.js';
import { guardBuild, runBuilderScript, type OnStep } from './run-builder.js';
import { cachedBoxFile, linkOrCopy, pruneCache } from './box-files.js';
import type { ImageSource } from './image-schema.js';
import type { DefinedImage } from './load-images.js';
import type { ImageRecord } from './registry-schema.js';
import { planBuild, registerBox } from './register-box.js';

/** Bump when the way images are built changes: every image's digest changes with it. */
export const BUILDER_VERSION = '1';
const BUILDER_SCRIPT = 'scripts/image/build-base-box.sh';
/** The files the builder installs into the guest as they are. */
const GUEST_FILES = ['vmlab-identity', 'vmlab-identity.service', 'vmlab-growroot', 'vmlab-growroot.service'].map((name) => `scripts/image/guest/${name}`);
/**
 * What a base image carries beyond a role's features, recorded with its features so that role images and
 * exports inherit it: vmlab-identity applies the SSH key and host name vmlab passes in SMBIOS at boot.
 */
export const BASE_GUEST_FEATURES = ['vmlab-identity'];

type DebootstrapSource = Extract<ImageSource, { type: 'debootstrap' }>;

export async function resolveMirror(source: DebootstrapSource): Promise<string> {
  if (source.mirror !== 'host') return source.mirror.replace(/\/+$/, '');
  const mirror = mirrorForSuite(await readHostAptSources(), source.suite);
  if (!mirror) {
    throw new UserError(
      `no apt source for ${source.distro} ${source.suite} in the host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d)`,
      `Set source.mirror in images/<image>.yaml to a reachable ${source.distro} archive URL.`,
    );
  }
  return mirror;
}

/** Everything that decides what the box contains; a change to any of it means a rebuild. */
export async function baseInputDigest(context: Context, image: DefinedImage, mirror: string): Promise<string> {
  const script = await readFile(path.join(context.projectRoot, BUILDER_SCRIPT), 'utf8');
  const builderLib = await readFile(path.join(context.projectRoot, 'scripts/image/lib/builder.sh'), 'utf8');
  const guest = await Promise.all(GUEST_FILES.map((file) => readFile(path.join(context.projectRoot, file), 'utf8')));
  return createHash('sha256').update(JSON.stringify({ BUILDER_VERSION, definition: image.text, script, builderLib, guest, mirror })).digest('hex');
}

/**
 * Build a base image from an apt mirror with the builder script (or take it from the box cache),
 * add it to Vagrant and register it. The index is written last: an interrupted or failed build
 * leaves the registry as it was and removes its temporary files.
 */
export async function buildDebootstrapImage(context: Context, image: DefinedImage, source: DebootstrapSource, onStep?: OnStep): Promise<ImageRecord> {
  const mirror = await resolveMirror(source);
  const digest = await baseInputDigest(context, image, mirror);
  const plan = planBuild(context, image.name);
  const cached = cachedBoxFile(context.env, image.name, digest);
  const built = path.join(plan.workDir, plan.file);

  const argv = [
    path.join(context.projectRoot, BUILDER_SCRIPT),
    ...['--distro', source.distro, '--suite', source.suite, '--mirror', mirror],
    ...['--components', source.components.join(','), '--size', `${source.size}G`],
    ...['--out', built, '--workdir', plan.workDir],
  ];
  guardBuild(context, plan, argv, 'base image');

  const log = await BuildLog.open(context.home, image.name);
  await mkdir(plan.workDir, { recursive: true });
  try {
    if (await exists(cached)) {
      context.ui.info(`image ${image.name}: inputs unchanged since a cached build, reusing ${cached}`);
      await linkOrCopy(cached, built);
    } else {
      await runBuilderScript(context, image.name, argv, log, onStep);
      await linkOrCopy(built, cached).then(() => pruneCache(context.env, image.name, cached)).catch((error: Error) => context.ui.warn(`could not cache the box: ${error.message}`));
    }
    return await registerBox(context, plan, {
      built,
      source: `${source.type} ${source.distro} ${source.suite}`,
      virtualSizeBytes: source.size * 2 ** 30,
      inputDigest: digest,
      features: BASE_GUEST_FEATURES,
      log,
    });
  } finally {
    await rm(plan.workDir, { recursive: true, force: true });
    await log.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

export { DryRunStop } from './run-builder.js';
