import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { VAGRANT_ENV } from '../adapters/vagrant.js';
import { Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import type { Runner, RunResult } from '../runner.js';
import { filesInUse } from './volumes-in-use.js';

/**
 * Boxes are added through a small catalog file so that each build gets its own version: a rebuilt
 * image then gets a new pool volume, and VMs still running on the old one keep their backing disk.
 * The version follows from the box itself: 0.<when it was built>.<the first 32 bits of its sha256>, so
 * checkouts that register the same bytes (a box from the shared cache) register the same version and share
 * one Vagrant box and one pool volume. The build time leads, so that Vagrant's newest version is the newest
 * build. Images registered before had 0.<when it was built> (stampOf gives that part of either).
 */
export function boxVersion(builtAt: Date, sha256: string): string {
  return `${buildStamp(builtAt)}.${Number.parseInt(sha256.slice(0, 8), 16)}`;
}

/** 0.<YYYYMMDDhhmmss>: what a build is named by before its box exists (its work files, its seed volume). */
export function buildStamp(builtAt: Date): string {
  return `0.${builtAt.toISOString().replace(/\D/g, '').slice(0, 14)}`;
}

/** The build-time part of a box version, old (0.<stamp>) or new (0.<stamp>.<checksum>): what its seed is named by. */
export function stampOf(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

export function catalog(box: string, version: string, boxFile: string, sha256: string): string {
  return JSON.stringify({
    name: box,
    versions: [{ version, providers: [{ name: 'libvirt', url: pathToFileURL(boxFile).href, checksum_type: 'sha256', checksum: sha256 }] }],
  });
}

/** vagrant-libvirt uploads a box into the pool as <box with / as -VAGRANTSLASH->_vagrant_box_image_<version>_box.img */
export function poolVolumePrefix(box: string): string {
  return `${box.replaceAll('/', '-VAGRANTSLASH-')}_vagrant_box_image_`;
}

export async function addBox(runner: Runner, workDir: string, box: string, version: string, boxFile: string, sha256: string): Promise<void> {
  const catalogFile = path.join(workDir, 'catalog.json');
  await writeFile(catalogFile, catalog(box, version, boxFile, sha256));
  await runner.run('vagrant', ['box', 'add', '--provider', 'libvirt', catalogFile], { env: VAGRANT_ENV });
}

/** Remove a box (one version, or all); a failure is returned, not thrown. */
export async function removeBox(runner: Runner, box: string, version?: string): Promise<RunResult> {
  const which = version ? ['--box-version', version] : ['--all'];
  return runner.run('vagrant', ['box', 'remove', box, '--provider', 'libvirt', ...which, '--force'], { env: VAGRANT_ENV, check: false });
}

/**
 * Delete the pool volumes of these versions of a box that no VM's disk stands on; returns the
 * versions whose volume is still in use (kept).
 */
export async function removeUnusedVolumes(context: Context, box: string, versions: string[]): Promise<string[]> {
  if (versions.length === 0) return [];
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const volumes = await virsh.volumes(context.pool);
  const inUse = await filesInUse(context);
  const kept: string[] = [];
  for (const version of versions) {
    for (const volume of volumes.filter((candidate) => candidate.name.startsWith(`${poolVolumePrefix(box)}${version}_`))) {
      if (inUse.has(volume.path)) kept.push(version);
      else await virsh.change(virshArgs.volDelete(context.pool, volume.name));
    }
  }
  return kept;
}
