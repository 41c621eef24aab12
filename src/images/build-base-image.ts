import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { mirrorForSuite, readHostAptSources } from '../host/apt-sources.js';
import { BuildLog } from './build-log.js';
import { DryRunStop, guardBuild, runBuilderScript, type OnStep } from './run-builder.js';
import { cacheBox, cachedBoxFile, checkCachedBox, copyBox, dropCachedBox } from './box-files.js';
import type { ImageSource } from './image-schema.js';
import type { DefinedImage } from './load-images.js';
import type { ImageRecord } from './registry-schema.js';
import { planBuild, registerBox } from './register-box.js';
import { Registry } from './registry.js';
import { boxVersion } from './vagrant-boxes.js';
import { formatArgv } from '../runner.js';

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
 * Build a base image from an apt mirror with the builder script, or take it from the box cache: a cached box
 * is reused only when its checksum is still the one recorded when it was built (a bad one is built again,
 * with a warning), and never with FORCE. A copy goes into the registry (never a hard link), then it is added
 * to Vagrant and registered. The index is written last: an interrupted or failed build leaves the registry
 * as it was and removes its temporary files.
 */
export async function buildDebootstrapImage(
  context: Context,
  image: DefinedImage,
  source: DebootstrapSource,
  options: { force?: boolean; onStep?: OnStep } = {},
): Promise<{ record: ImageRecord; cached: boolean }> {
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
  const check = options.force ? undefined : await checkCachedBox(cached);
  if (check?.state === 'bad') context.ui.warn(`image ${image.name}: the cached box ${cached} is not reused: ${check.why}. Building it again`);
  const reuse = check?.state === 'good' ? check.record : undefined;
  if (reuse && context.dryRun) {
    context.ui.out(formatArgv('cp', ['--reflink=auto', cached, built]));
    context.ui.out(`vagrant box add --provider libvirt <catalog of ${plan.box} ${boxVersion(new Date(reuse.builtAt), reuse.sha256)}>`);
    throw new DryRunStop(`would register image ${image.name} from the cache`);
  }
  if (!reuse) guardBuild(context, plan, argv, 'base image');

  const log = await BuildLog.open(context.home, image.name);
  await mkdir(plan.workDir, { recursive: true });
  try {
    if (reuse) {
      context.ui.info(`image ${image.name}: inputs unchanged since a cached build (${reuse.builtAt}, checksum checked), reusing ${cached}`);
      await log.line(`reusing ${cached}, built ${reuse.builtAt} in ${reuse.buildSeconds}s, sha256 ${reuse.sha256}`);
      await copyBox(cached, built);
    } else {
      if (check?.state === 'bad') await dropCachedBox(cached);
      if (options.force) context.ui.info(`image ${image.name}: FORCE=1, running the builder${(await exists(cached)) ? ` (the cached box ${cached} is replaced)` : ''}`);
      await runBuilderScript(context, image.name, argv, log, options.onStep);
    }
    const record = await registerBox(context, plan, {
      built,
      source: `${source.type} ${source.distro} ${source.suite}`,
      virtualSizeBytes: source.size * 2 ** 30,
      inputDigest: digest,
      features: BASE_GUEST_FEATURES,
      log,
      ...(reuse ? { cached: { builtAt: new Date(reuse.builtAt), buildSeconds: reuse.buildSeconds, sha256: reuse.sha256 } } : {}),
    });
    if (!reuse) {
      await cacheBox(context.env, image.name, new Registry(context.home).boxFile(record), cached, {
        sha256: record.sha256,
        buildSeconds: record.buildSeconds ?? 0,
        builtAt: plan.created.toISOString(),
      }).catch((error: Error) => context.ui.warn(`could not cache the box: ${error.message}`));
    }
    return { record, cached: Boolean(reuse) };
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
