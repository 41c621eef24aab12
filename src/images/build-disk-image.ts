import { createHash } from 'node:crypto';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import { BuildLog } from './build-log.js';
import { boxMetadata, boxVagrantfile, parseQemuImgInfo, virtualSizeGiB } from './box-format.js';
import { cachedDownload, fetchVerified, sha256Mismatch } from './download-cache.js';
import { CLOUD_INIT_FEATURE } from './nocloud-seed.js';
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
 * (box.img, metadata.json, Vagrantfile), then registered
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

/**
 * A base image from a qcow2 (or raw) file or URL, checked against its sha256 before anything else: a URL
 * goes through the download cache (download-cache.ts), a mismatch is refused with both sums and nothing
 * is converted or registered.
 */
export async function buildQcow2Image(context: Context, image: DefinedImage, source: Qcow2Source): Promise<ImageRecord> {
  const plan = planBuild(context, image.name);
  const where = source.path ?? (source.url as string);
  const localUrl = source.url?.startsWith('file:') ? fileURLToPath(source.url) : undefined;
  const localPath = source.path ? path.resolve(path.dirname(image.file), source.path) : localUrl;
  if (context.dryRun) {
    const cached = cachedDownload(context.env, source.sha256).file;
    if (!localPath) context.ui.out(`download ${source.url} to ${cached} (unless it is there with sha256 ${source.sha256})`);
    planOut(context, plan, localPath ?? cached);
    throw new DryRunStop(`would build image ${image.name}`);
  }
  try {
    let disk: string;
    if (localPath) {
      if (!(await exists(localPath))) {
        throw new UserError(`image ${image.name}: ${source.path ? 'source.path' : 'source.url'} ${localPath} does not exist`, `Fix ${image.file}`);
      }
      const actual = await sha256File(localPath);
      if (actual !== source.sha256) throw sha256Mismatch(image.name, where, source.sha256, actual, image.file);
      disk = localPath;
    } else {
      disk = await fetchVerified(context, image, source.url as string, source.sha256);
    }
    return await packAndRegister(context, image, plan, disk, {
      source: `qcow2 ${where}`,
      features: source.cloudInit ? [CLOUD_INIT_FEATURE] : [],
      guest: source.guest,
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
    planOut(context, plan, box.image);
    throw new DryRunStop(`would build image ${image.name}`);
  }
  if (!(await exists(box.image))) {
    throw new UserError(`image ${image.name}: Vagrant box ${box.name} ${box.version} has no libvirt disk at ${box.image}`, `Add it again: vagrant box add ${box.name} --provider libvirt --box-version ${box.version} --force`);
  }
  try {
    return await packAndRegister(context, image, plan, box.image, {
      source: `box ${box.name} ${box.version}`,
      features: [],
      inputDigest: boxInputDigest(image, box),
    });
  } finally {
    await rm(plan.workDir, { recursive: true, force: true });
  }
}

function planOut(context: Context, plan: BuildPlan, disk: string): void {
  const stage = path.join(plan.workDir, 'stage');
  context.ui.out(`qemu-img convert -f <format> -O qcow2 -c ${disk} ${path.join(stage, 'box.img')}`);
  context.ui.out(`tar -cf ${path.join(plan.workDir, plan.file)} metadata.json Vagrantfile box.img`);
  context.ui.out(`vagrant box add --provider libvirt <catalog of ${plan.box} ${plannedVersion(plan)}>`);
}

/**
 * Convert the disk into the box's compressed qcow2, write metadata and Vagrantfile, pack, register. A cloud
 * image's box has no seed of its own: each machine made from it gets one (src/lab/cloud-init-seed.ts), with
 * its own key and host name, as debian-12's machines get theirs in SMBIOS.
 */
async function packAndRegister(
  context: Context,
  image: DefinedImage,
  plan: BuildPlan,
  disk: string,
  options: { source: string; features: string[]; guest?: string; inputDigest: string },
): Promise<ImageRecord> {
  const log = await BuildLog.open(context.home, image.name);
  const progress = context.ui.progress(`building image ${image.name}`);
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
    await writeFile(path.join(stage, 'Vagrantfile'), boxVagrantfile(null, options.guest));
    const built = path.join(plan.workDir, plan.file);
    progress.update(`building image ${image.name}: packing and adding the Vagrant box`);
    await step(context, log, image, 'tar', ['-C', stage, '--owner=0', '--group=0', '--numeric-owner', '-cf', built, 'metadata.json', 'Vagrantfile', 'box.img']);
    await rm(stage, { recursive: true, force: true });
    const record = await registerBox(context, plan, { built, source: options.source, virtualSizeBytes: info.virtualSizeBytes, inputDigest: options.inputDigest, features: options.features, log });
    progress.succeed(`built image ${image.name}`);
    return record;
  } catch (error) {
    progress.fail(`building image ${image.name} failed`);
    throw error;
  } finally {
    await log.close();
  }
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

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
