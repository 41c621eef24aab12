import path from 'node:path';
import type { Context } from '../context.js';
import { knownRegistriesPath, readKnownRegistries, registryGone } from './known-registries.js';
import type { RegistryIndex } from './registry-schema.js';
import { Registry } from './registry.js';
import { stampOf } from './vagrant-boxes.js';

/*
 * Every registry on this host (this one first, then the host-wide list of known-registries.ts): what `make gc`,
 * `make images-verify`, image-rm and a rebuild read before they call a box or volume nobody's. A registry that
 * cannot be read claims an unknown set, so nothing of vmlab's is removed or called an orphan while it is so.
 */

export interface HostRegistries {
  /** Every registry that could be read; this one first. */
  registries: { file: string; index: RegistryIndex }[];
  /** Registries (or the host-wide list) that could not be read. */
  unreadable: string[];
  /** Listed registries whose checkout is gone. */
  gone: string[];
}

export async function readHostRegistries(context: Context, warn: (message: string) => void = (message) => context.ui.warn(message)): Promise<HostRegistries> {
  const own = new Registry(context.home).indexFile;
  const unreadable: string[] = [];
  let listed: string[] = [];
  try {
    listed = await readKnownRegistries(context.env);
  } catch (error) {
    unreadable.push(knownRegistriesPath(context.env));
    warn(`${(error as Error).message} Boxes and box volumes are kept: what other checkouts claim is unknown.`);
  }
  const registries: HostRegistries['registries'] = [];
  const gone: string[] = [];
  for (const file of [...new Set([own, ...listed])]) {
    if (file !== own && (await registryGone(file))) {
      gone.push(file);
      continue;
    }
    try {
      registries.push({ file, index: await new Registry(path.dirname(path.dirname(file))).read() });
    } catch (error) {
      unreadable.push(file);
      warn(`registry ${file} cannot be read (${(error as Error).message.split('\n')[0]?.replace(/\s*Nothing was changed\.$/, '')}). Boxes and box volumes are kept: what it claims is unknown.`);
    }
  }
  return { registries, unreadable, gone };
}

/**
 * What a set of registries claims, as keys: `box <box> <version>` (a Vagrant box version and its pool
 * volume), `seed <image> <build stamp>` (a cloud image's seed volume) and the image names. Pure.
 */
export function registryClaims(registries: readonly { index: RegistryIndex }[]): { boxes: Set<string>; seeds: Set<string>; images: Set<string> } {
  const boxes = new Set<string>();
  const seeds = new Set<string>();
  const images = new Set<string>();
  for (const { index } of registries) {
    for (const record of Object.values(index.images)) {
      images.add(record.name);
      for (const version of [record.boxVersion, ...record.retiredVersions]) {
        boxes.add(`box ${record.box} ${version}`);
        seeds.add(`seed ${record.name} ${stampOf(version)}`);
      }
    }
  }
  return { boxes, seeds, images };
}

/**
 * Which of these versions of a box another registry on this host claims (the same bytes registered there:
 * one shared Vagrant box and pool volume). All of them when some registry cannot be read.
 */
export async function claimedElsewhere(context: Context, box: string, versions: readonly string[]): Promise<Set<string>> {
  const own = new Registry(context.home).indexFile;
  const host = await readHostRegistries(context);
  if (host.unreadable.length) return new Set(versions);
  const claims = registryClaims(host.registries.filter((registry) => registry.file !== own));
  return new Set(versions.filter((version) => claims.boxes.has(`box ${box} ${version}`)));
}
