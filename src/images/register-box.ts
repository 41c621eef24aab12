import { mkdir, rm } from 'node:fs/promises';
import { moveFile } from '../atomic-write.js';
import path from 'node:path';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { boxName } from '../lab/resolve-machines.js';
import type { BuildLog } from './build-log.js';
import { fileSize, sha256File } from './box-files.js';
import type { ImageRecord } from './registry-schema.js';
import { Registry } from './registry.js';
import { addBox, boxVersion, removeBox, removeUnusedVolumes } from './vagrant-boxes.js';

/** The names one build of an image uses: its Vagrant box version, its box file and its temporary folder. */
export interface BuildPlan {
  name: string;
  created: Date;
  /** Date.now() when the build started, for buildSeconds. */
  started: number;
  version: string;
  /** The box file's name, in the work folder while building and in the registry afterwards. */
  file: string;
  workDir: string;
  box: string;
}

export function planBuild(context: Context, name: string): BuildPlan {
  const created = new Date();
  const version = boxVersion(created);
  return {
    name,
    created,
    started: Date.now(),
    version,
    file: `${name}-${version}.box`,
    workDir: path.join(context.home, 'tmp', `build-${name}-${process.pid}`),
    box: boxName(name),
  };
}

export interface FinishedBox {
  /** Where the finished box file is now (moved into the registry). */
  built: string;
  /** How it was made, in words, for the registry record. */
  source: string;
  virtualSizeBytes: number;
  inputDigest: string;
  log: BuildLog;
  /** For a role image: its role, its parent and the features baked into it. */
  lineage?: { kind: 'role' | 'custom'; role: string | null; parent: string | null; features: string[] };
  /** For a base image: what it carries beyond any role's features (BASE_GUEST_FEATURES). */
  features?: string[];
}

/**
 * Register a finished base box file: add it to Vagrant under the plan's fresh version (through a
 * catalog), move it into the registry folder and write the index last. If the index cannot be written,
 * the Vagrant box and the moved file are removed again, so a failure registers nothing. The previous
 * build's box file and Vagrant box version are retired afterwards; its pool volume stays for VMs using it.
 * The caller removes its work folder (in a finally).
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
  await addBox(context.runner, plan.workDir, plan.box, plan.version, finished.built, sha256);
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
    file: plan.file,
    box: plan.box,
    boxVersion: plan.version,
    retiredVersions: [],
    buildSeconds: Math.round((Date.now() - plan.started) / 1000),
  };
  const target = path.join(registry.imageDir(plan.name), plan.file);
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
    await removeBox(context.runner, plan.box, plan.version);
    await rm(target, { force: true });
    throw error;
  }
  if (previous && previous.boxVersion !== plan.version) {
    const kept = await retire(context, registry, previous);
    if (kept.length) {
      await registry.update((index) => {
        const current = index.images[plan.name];
        if (current) current.retiredVersions = [...new Set([...current.retiredVersions, ...kept])];
      });
    }
  }
  await finished.log.line(`done in ${record.buildSeconds}s: ${record.sizeBytes} bytes, sha256 ${sha256}`);
  return record;
}

/**
 * Retire the previous build: its box file and Vagrant box version go; its pool volume (and those of
 * earlier retired builds) goes too unless a VM's disk still stands on it. Returns the versions kept.
 */
async function retire(context: Context, registry: Registry, previous: ImageRecord): Promise<string[]> {
  await rm(registry.boxFile(previous), { force: true });
  await removeBox(context.runner, previous.box, previous.boxVersion);
  return removeUnusedVolumes(context, previous.box, [previous.boxVersion, ...previous.retiredVersions]);
}
