import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import { mirrorForSuite, readHostAptSources } from '../host/apt-sources.js';
import { boxName } from '../lab/resolve-machines.js';
import { BuildLog } from './build-log.js';
import { cachedBoxFile, fileSize, linkOrCopy, pruneCache, sha256File } from './box-files.js';
import type { ImageSource } from './image-schema.js';
import type { DefinedImage } from './load-images.js';
import type { ImageRecord } from './registry-schema.js';
import { Registry } from './registry.js';
import { addBox, boxVersion, removeBox } from './vagrant-boxes.js';

/** Bump when the way images are built changes: every image's digest changes with it. */
export const BUILDER_VERSION = '1';
const BUILDER_SCRIPT = 'scripts/image/build-base-box.sh';

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
  return createHash('sha256').update(JSON.stringify({ BUILDER_VERSION, definition: image.text, script, mirror })).digest('hex');
}

/**
 * Build a base image from an apt mirror with the builder script (or take it from the box cache),
 * add it to Vagrant and register it. The index is written last: an interrupted or failed build
 * leaves the registry as it was and removes its temporary files.
 */
export async function buildDebootstrapImage(context: Context, image: DefinedImage, source: DebootstrapSource): Promise<ImageRecord> {
  const registry = new Registry(context.home);
  const mirror = await resolveMirror(source);
  const digest = await baseInputDigest(context, image, mirror);
  const started = Date.now();
  const created = new Date();
  const version = boxVersion(created);
  const file = `${image.name}-${version}.box`;
  const workDir = path.join(context.home, 'tmp', `build-${image.name}-${process.pid}`);
  const cached = cachedBoxFile(context.env, image.name, digest);
  const log = await BuildLog.open(context.home, image.name);
  const box = boxName(image.name);

  const argv = [
    path.join(context.projectRoot, BUILDER_SCRIPT),
    ...['--distro', source.distro, '--suite', source.suite, '--mirror', mirror],
    ...['--components', source.components.join(','), '--size', `${source.size}G`],
    ...['--out', path.join(workDir, file), '--workdir', workDir],
  ];
  if (context.dryRun) {
    context.ui.out(['bash', ...argv].join(' '));
    context.ui.out(`vagrant box add --provider libvirt <catalog of ${box} ${version}>`);
    throw new DryRunStop(`would build image ${image.name}`);
  }
  if (process.getuid?.() !== 0) {
    throw new UserError(`building the base image ${image.name} needs root (loop device, mount, chroot)`, `Run: sudo make build IMAGE=${image.name}`);
  }

  await mkdir(workDir, { recursive: true });
  const previous = await registry.get(image.name);
  try {
    const built = path.join(workDir, file);
    if (await exists(cached)) {
      context.ui.info(`image ${image.name}: inputs unchanged since a cached build, reusing ${cached}`);
      await linkOrCopy(cached, built);
    } else {
      await runBuilder(context, image.name, argv, log);
      await linkOrCopy(built, cached).then(() => pruneCache(context.env, image.name, cached)).catch((error: Error) => context.ui.warn(`could not cache the box: ${error.message}`));
    }
    const sha256 = await sha256File(built);
    await addBox(context.runner, workDir, box, version, built, sha256);
    const record: ImageRecord = {
      name: image.name,
      kind: 'base',
      role: null,
      source: `${source.type} ${source.distro} ${source.suite}`,
      parent: null,
      created: created.toISOString(),
      sizeBytes: await fileSize(built),
      virtualSizeBytes: source.size * 2 ** 30,
      sha256,
      inputDigest: digest,
      features: [],
      file,
      box,
      boxVersion: version,
      buildSeconds: Math.round((Date.now() - started) / 1000),
    };
    await mkdir(registry.imageDir(image.name), { recursive: true });
    await rename(built, path.join(registry.imageDir(image.name), file));
    try {
      await registry.update((index) => {
        index.images[image.name] = record;
      });
    } catch (error) {
      await removeBox(context.runner, box, version);
      await rm(path.join(registry.imageDir(image.name), file), { force: true });
      throw error;
    }
    if (previous) await retire(context, registry, previous);
    await log.line(`done in ${record.buildSeconds}s: ${record.sizeBytes} bytes, sha256 ${sha256}`);
    return record;
  } finally {
    await rm(workDir, { recursive: true, force: true });
    await log.close();
  }
}

async function runBuilder(context: Context, name: string, argv: string[], log: BuildLog): Promise<void> {
  const progress = context.ui.progress(`building image ${name}`);
  await log.line(`$ bash ${argv.join(' ')}`);
  try {
    await context.runner.run('bash', argv, {
      onLine: (line) => {
        void log.line(line);
        const step = /^STEP (\d+)\/(\d+) (.*)$/.exec(line);
        if (step) progress.update(`building image ${name}: step ${step[1]}/${step[2]} ${step[3]} (${Math.round(((Number(step[1]) - 1) / Number(step[2])) * 100)}%)`);
      },
    });
    progress.succeed(`built image ${name}`);
  } catch (error) {
    progress.fail(`building image ${name} failed`);
    if (error instanceof CommandError) {
      throw new UserError(`building image ${name} failed (exit ${error.exitCode})${CommandError.tail(error.stderr, 8)}`, `Full log: ${log.file}`);
    }
    throw error;
  }
}

/** The previous build's box file and Vagrant box version; its pool volume stays for VMs that use it. */
async function retire(context: Context, registry: Registry, previous: ImageRecord): Promise<void> {
  await rm(registry.boxFile(previous), { force: true });
  await removeBox(context.runner, previous.box, previous.boxVersion);
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Thrown in a dry run where the plan cannot go further without the result of a build. */
export class DryRunStop extends Error {}
