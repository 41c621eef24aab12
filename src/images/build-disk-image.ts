import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileURLToPath } from 'node:url';
import { virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import { BuildLog } from './build-log.js';
import { boxMetadata, boxVagrantfile, parseQemuImgInfo, virtualSizeGiB } from './box-format.js';
import { seedMetaData, seedUserData, seedVolumeName, uploadSeed } from './nocloud-seed.js';
import { resolveVagrantBox } from './vagrant-box-store.js';
import { sha256File } from './box-files.js';
import { BUILDER_VERSION, DryRunStop } from './build-base-image.js';
import type { ImageSource } from './image-schema.js';
import type { DefinedImage } from './load-images.js';
import { planBuild, plannedVersion, registerBox, type BuildPlan } from './register-box.js';
import type { ImageRecord } from './registry-schema.js';

/*
 * Base images made from an existing disk: a qcow2 (or raw) file or URL, or a Vagrant box already on
 * this host. The disk is converted into a compressed qcow2 and packed as a libvirt Vagrant box
 * (box.img, metadata.json, Vagrantfile; for cloud images a NoCloud seed in the pool), then registered
 * exactly like a debootstrap build.
 */

type Qcow2Source = Extract<ImageSource, { type: 'qcow2' }>;
type BoxSource = Extract<ImageSource, { type: 'box' }>;

export function qcow2InputDigest(image: DefinedImage, source: Qcow2Source): string {
  return createHash('sha256').update(JSON.stringify({ BUILDER_VERSION, definition: image.text, sha256: source.sha256 })).digest('hex');
}

export function boxInputDigest(image: DefinedImage, box: { name: string; version: string }): string {
  return createHash('sha256').update(JSON.stringify({ BUILDER_VERSION, definition: image.text, box: box.name, version: box.version })).digest('hex');
}

/** A base image from a qcow2 (or raw) file or URL, checked against its sha256 before anything else. */
export async function buildQcow2Image(context: Context, image: DefinedImage, source: Qcow2Source): Promise<ImageRecord> {
  const plan = planBuild(context, image.name);
  const where = source.path ?? (source.url as string);
  const localUrl = source.url?.startsWith('file:') ? fileURLToPath(source.url) : undefined;
  const localPath = source.path ? path.resolve(path.dirname(image.file), source.path) : localUrl;
  if (context.dryRun) {
    if (!localPath) context.ui.out(`download ${source.url} to ${path.join(plan.workDir, 'download')}`);
    planOut(context, plan, localPath ?? path.join(plan.workDir, 'download'), source.cloudInit);
    throw new DryRunStop(`would build image ${image.name}`);
  }
  try {
    let disk: string;
    if (localPath) {
      if (!(await exists(localPath))) {
        throw new UserError(`image ${image.name}: ${source.path ? 'source.path' : 'source.url'} ${localPath} does not exist`, `Fix ${image.file}`);
      }
      disk = localPath;
    } else {
      await mkdir(plan.workDir, { recursive: true });
      disk = await download(context, image.name, source.url as string, path.join(plan.workDir, 'download'));
    }
    const actual = await sha256File(disk);
    if (actual !== source.sha256) {
      throw new UserError(
        `image ${image.name}: sha256 mismatch for ${where}: expected ${source.sha256}, actual ${actual}`,
        `Nothing was built. Check the file, or correct source.sha256 in ${image.file}`,
      );
    }
    return await packAndRegister(context, image, plan, disk, {
      source: `qcow2 ${where}`,
      cloudInit: source.cloudInit,
      inputDigest: qcow2InputDigest(image, source),
    });
  } finally {
    await rm(plan.workDir, { recursive: true, force: true });
  }
}

/** A base image from a Vagrant libvirt box already on this host (no seed: the box has its vagrant user). */
export async function buildBoxImage(context: Context, image: DefinedImage, source: BoxSource): Promise<ImageRecord> {
  const box = await resolveVagrantBox(context, image.name, source);
  const plan = planBuild(context, image.name);
  if (context.dryRun) {
    planOut(context, plan, box.image, false);
    throw new DryRunStop(`would build image ${image.name}`);
  }
  if (!(await exists(box.image))) {
    throw new UserError(`image ${image.name}: Vagrant box ${box.name} ${box.version} has no libvirt disk at ${box.image}`, `Add it again: vagrant box add ${box.name} --provider libvirt --box-version ${box.version} --force`);
  }
  try {
    return await packAndRegister(context, image, plan, box.image, {
      source: `box ${box.name} ${box.version}`,
      cloudInit: false,
      inputDigest: boxInputDigest(image, box),
    });
  } finally {
    await rm(plan.workDir, { recursive: true, force: true });
  }
}

function planOut(context: Context, plan: BuildPlan, disk: string, seed: boolean): void {
  const stage = path.join(plan.workDir, 'stage');
  context.ui.out(`qemu-img convert -f <format> -O qcow2 -c ${disk} ${path.join(stage, 'box.img')}`);
  if (seed) {
    context.ui.out(`xorriso -as mkisofs -output ${path.join(plan.workDir, 'seed.iso')} -volid cidata -joliet -rock user-data meta-data`);
    context.ui.out(`virsh vol-upload --pool ${context.pool} ${seedVolumeName(plan.name, plan.stamp)} seed.iso`);
  }
  context.ui.out(`tar -cf ${path.join(plan.workDir, plan.file)} metadata.json Vagrantfile box.img`);
  context.ui.out(`vagrant box add --provider libvirt <catalog of ${plan.box} ${plannedVersion(plan)}>`);
}

/** Convert the disk into the box's compressed qcow2, write metadata, Vagrantfile and seed, pack, register. */
async function packAndRegister(
  context: Context,
  image: DefinedImage,
  plan: BuildPlan,
  disk: string,
  options: { source: string; cloudInit: boolean; inputDigest: string },
): Promise<ImageRecord> {
  const log = await BuildLog.open(context.home, image.name);
  const progress = context.ui.progress(`building image ${image.name}`);
  let seedVolume: string | undefined;
  let seedPath: string | null = null;
  try {
    const stage = path.join(plan.workDir, 'stage');
    await mkdir(stage, { recursive: true });
    await log.line(`source ${options.source}: ${disk}`);
    const info = parseQemuImgInfo((await step(context, log, image, 'qemu-img', ['info', '--output=json', disk], { readOnly: true })).stdout);
    if (info.format !== 'qcow2' && info.format !== 'raw') {
      throw new UserError(`image ${image.name}: ${options.source} is a ${info.format} disk; vmlab takes qcow2 (or raw, which it converts)`, `Convert it first: qemu-img convert -O qcow2 <file> <file>.qcow2`);
    }
    if (info.backingFile) {
      throw new UserError(`image ${image.name}: ${disk} has a backing file (${info.backingFile})`, `Flatten it first: qemu-img convert -O qcow2 ${disk} <flat>.qcow2`);
    }
    progress.update(`building image ${image.name}: converting the ${info.format} disk (${virtualSizeGiB(info.virtualSizeBytes)} GiB virtual)`);
    await step(context, log, image, 'qemu-img', ['convert', '-f', info.format, '-O', 'qcow2', '-c', disk, path.join(stage, 'box.img')]);
    await writeFile(path.join(stage, 'metadata.json'), boxMetadata(info.virtualSizeBytes));
    if (options.cloudInit) {
      progress.update(`building image ${image.name}: writing the cloud-init seed`);
      seedVolume = seedVolumeName(image.name, plan.stamp);
      seedPath = await writeSeed(context, log, image, plan, seedVolume);
    }
    await writeFile(path.join(stage, 'Vagrantfile'), boxVagrantfile(seedPath));
    const built = path.join(plan.workDir, plan.file);
    progress.update(`building image ${image.name}: packing and adding the Vagrant box`);
    await step(context, log, image, 'tar', ['-C', stage, '--owner=0', '--group=0', '--numeric-owner', '-cf', built, 'metadata.json', 'Vagrantfile', 'box.img']);
    await rm(stage, { recursive: true, force: true });
    const record = await registerBox(context, plan, { built, source: options.source, virtualSizeBytes: info.virtualSizeBytes, inputDigest: options.inputDigest, log });
    progress.succeed(`built image ${image.name}`);
    return record;
  } catch (error) {
    progress.fail(`building image ${image.name} failed`);
    if (seedVolume) await context.runner.run('virsh', ['-c', context.libvirtUri, ...virshArgs.volDelete(context.pool, seedVolume)], { check: false });
    throw error;
  } finally {
    await log.close();
  }
}

/** The NoCloud ISO (label cidata), uploaded into the pool; returns its path there. */
async function writeSeed(context: Context, log: BuildLog, image: DefinedImage, plan: BuildPlan, volume: string): Promise<string> {
  const seed = path.join(plan.workDir, 'seed');
  await mkdir(seed, { recursive: true });
  await writeFile(path.join(seed, 'user-data'), seedUserData());
  await writeFile(path.join(seed, 'meta-data'), seedMetaData(`vmlab-${image.name}-${plan.stamp}`));
  const iso = path.join(plan.workDir, 'seed.iso');
  await step(context, log, image, 'xorriso', ['-as', 'mkisofs', '-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', 'user-data', 'meta-data'], { cwd: seed });
  return uploadSeed(context, iso, volume, (await stat(iso)).size);
}

/** Run one build command, logged; a failure names the command and the log. */
async function step(context: Context, log: BuildLog, image: DefinedImage, file: string, args: string[], options: { cwd?: string; readOnly?: boolean } = {}) {
  await log.line(`$ ${file} ${args.join(' ')}`);
  try {
    const result = await context.runner.run(file, args, options);
    if (result.stderr.trim()) await log.line(result.stderr.trim());
    return result;
  } catch (error) {
    if (error instanceof CommandError) {
      await log.line(error.message);
      throw new UserError(`building image ${image.name} failed: ${file} exited with ${error.exitCode}${CommandError.tail(error.stderr, 8)}`, `Full log: ${log.file}`);
    }
    throw error;
  }
}

/** Stream a URL to a file (fetch; http, https). A failure is a UserError naming the URL. */
async function download(context: Context, imageName: string, url: string, to: string): Promise<string> {
  const progress = context.ui.progress(`image ${imageName}: downloading ${url}`);
  const fail = (detail: string) => {
    progress.fail(`image ${imageName}: download failed`);
    return new UserError(`image ${imageName}: downloading ${url} failed: ${detail}`, 'Check the URL and the network, or download it yourself and give source.path instead.');
  };
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow' });
  } catch (error) {
    const cause = (error as { cause?: { message?: string; code?: string } }).cause;
    throw fail(cause?.message ?? cause?.code ?? (error as Error).message);
  }
  if (!response.ok || !response.body) throw fail(`HTTP ${response.status} ${response.statusText}`.trim());
  const total = Number(response.headers.get('content-length')) || 0;
  let received = 0;
  let shown = 0;
  const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received - shown >= 16 * 2 ** 20) {
      shown = received;
      progress.update(`image ${imageName}: downloading ${url}: ${(received / 2 ** 20).toFixed(0)} MiB${total ? ` of ${(total / 2 ** 20).toFixed(0)} MiB` : ''}`);
    }
  });
  try {
    await pipeline(body, createWriteStream(to));
  } catch (error) {
    throw fail((error as Error).message);
  }
  progress.succeed(`image ${imageName}: downloaded ${(received / 2 ** 20).toFixed(0)} MiB`);
  return to;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
