import { access, mkdir, rm } from 'node:fs/promises';
import { moveFile } from '../atomic-write.js';
import path from 'node:path';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { boxName } from '../lab/resolve-machines.js';
import type { BuildLog } from './build-log.js';
import { fileSize, sha256File } from './box-files.js';
import type { ImageRecord } from './registry-schema.js';
import { Registry } from './registry.js';
import { claimedElsewhere } from './host-registries.js';
import { vagrantBoxImage } from './vagrant-box-store.js';
import { addBox, boxVersion, buildStamp, removeBox, removeUnusedVolumes } from './vagrant-boxes.js';

/**
 * The names one build of an image uses: its build stamp, its box file in the work folder and that folder.
 * The Vagrant box version follows from the finished box (boxVersion), so it is known only at registration.
 */
export interface BuildPlan {
  name: string;
  created: Date;
  /** Date.now() when the build started, for buildSeconds. */
  started: number;
  /** 0.<YYYYMMDDhhmmss> of `created`: the leading part of the box version, and what a seed volume is named by. */
  stamp: string;
  /** The box file's name in the work folder. */
  file: string;
  workDir: string;
  box: string;
}

export function planBuild(context: Context, name: string): BuildPlan {
  const created = new Date();
  const stamp = buildStamp(created);
  return {
    name,
    created,
    started: Date.now(),
    stamp,
    file: `${name}-${stamp}.box`,
    workDir: path.join(context.home, 'tmp', `build-${name}-${process.pid}`),
    box: boxName(name),
  };
}

/** How a dry run names the version a build would get. */
export function plannedVersion(plan: BuildPlan): string {
  return `${plan.stamp}.<checksum>`;
}

export interface FinishedBox {
  /** Where the finished box file is now (moved into the registry). */
  built: string;
  /** How it was made, in words, for the registry record. */
  source: string;
  virtualSizeBytes: number;
  inputDigest: string;
  log: BuildLog;
  /** A box from the cache: when it was really built (its version follows), how long that took, and its checksum then. */
  cached?: { builtAt: Date; buildSeconds: number; sha256: string };
  /** For a role image: its role, its parent and the features baked into it. */
  lineage?: { kind: 'role' | 'custom'; role: string | null; parent: string | null; features: string[] };
  /** For a base image: what it carries beyond any role's features (BASE_GUEST_FEATURES). */
  features?: string[];
}

/**
 * Register a finished box file: add it to Vagrant under the version its bytes give (through a catalog), move
 * it into the registry folder and write the index last. A version already in Vagrant (the same bytes,
 * registered by another checkout from the shared cache) is shared, not added again. If the index cannot be
 * written, a Vagrant box added here and the moved file are removed again, so a failure registers nothing.
 * The previous build's box file and Vagrant box version are retired afterwards; its pool volume stays for VMs
 * using it, and both stay while another registry claims them. The caller removes its work folder (in a finally).
 */
export async function registerBox(
  context: Context,
  plan: BuildPlan,
  finished: FinishedBox,
  /** Refuse (under the registry lock) when the name was registered meanwhile: export without FORCE. */
  options: { mustBeNew?: boolean } = {},
): Promise<ImageRecord> {
  const registry = new Registry(context.home);
  const previous = await registry.get(plan.name);
  const sha256 = await sha256File(finished.built);
  if (finished.cached && sha256 !== finished.cached.sha256) {
    throw new UserError(`image ${plan.name}: the copy of the cached box has sha256 ${sha256}, not ${finished.cached.sha256}; nothing was registered`, `Check the disk under ${context.home}, then: make build IMAGE=${plan.name} FORCE=1`);
  }
  const version = boxVersion(finished.cached?.builtAt ?? plan.created, sha256);
  const file = `${plan.name}-${version}.box`;
  const shared = await boxAdded(context.env, plan.box, version);
  if (shared) context.ui.info(`image ${plan.name}: Vagrant box ${plan.box} ${version} is on this host already (the same bytes, registered by another checkout): shared`);
  else await addBox(context.runner, plan.workDir, plan.box, version, finished.built, sha256);
  const record: ImageRecord = {
    name: plan.name,
    kind: finished.lineage?.kind ?? 'base',
    role: finished.lineage?.role ?? null,
    source: finished.source,
    parent: finished.lineage?.parent ?? null,
    created: plan.created.toISOString(),
    sizeBytes: await fileSize(finished.built),
    virtualSizeBytes: finished.virtualSizeBytes,
    sha256,
    inputDigest: finished.inputDigest,
    features: finished.lineage?.features ?? finished.features ?? [],
    file,
    box: plan.box,
    boxVersion: version,
    retiredVersions: [],
    buildSeconds: finished.cached?.buildSeconds ?? Math.round((Date.now() - plan.started) / 1000),
  };
  const target = path.join(registry.imageDir(plan.name), file);
  try {
    await mkdir(registry.imageDir(plan.name), { recursive: true });
    await moveFile(finished.built, target);
    await registry.update((index) => {
      if (options.mustBeNew && index.images[plan.name]) {
        throw new UserError(`image ${plan.name} was registered by another command meanwhile`, `Pick another name, or replace it with FORCE=1`);
      }
      index.images[plan.name] = record;
    });
  } catch (error) {
    if (!shared) await removeBox(context.runner, plan.box, version);
    if (previous?.file !== file) await rm(target, { force: true });
    throw error;
  }
  if (previous && previous.boxVersion !== version) {
    const kept = await retire(context, registry, previous);
    if (kept.length) {
      await registry.update((index) => {
        const current = index.images[plan.name];
        if (current) current.retiredVersions = [...new Set([...current.retiredVersions, ...kept])];
      });
    }
  }
  await finished.log.line(`${finished.cached ? 'registered from the cache' : `done in ${record.buildSeconds}s`}: ${record.sizeBytes} bytes, sha256 ${sha256}, version ${version}`);
  return record;
}

/**
 * Retire the previous build: its box file and Vagrant box version go; its pool volume (and those of
 * earlier retired builds) goes too unless a VM's disk still stands on it. A version another registry on
 * this host claims stays whole (it is theirs too). Returns the versions kept for VMs.
 */
async function retire(context: Context, registry: Registry, previous: ImageRecord): Promise<string[]> {
  await rm(registry.boxFile(previous), { force: true });
  const versions = [previous.boxVersion, ...previous.retiredVersions];
  const elsewhere = await claimedElsewhere(context, previous.box, versions);
  if (!elsewhere.has(previous.boxVersion)) await removeBox(context.runner, previous.box, previous.boxVersion);
  return removeUnusedVolumes(context, previous.box, versions.filter((version) => !elsewhere.has(version)));
}

/** Whether Vagrant holds this version of the box already (its unpacked libvirt disk is there). */
async function boxAdded(env: NodeJS.ProcessEnv, box: string, version: string): Promise<boolean> {
  return access(vagrantBoxImage(env, box, version)).then(
    () => true,
    () => false,
  );
}
