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
 */
export function boxVersion(created: Date): string {
  const stamp = created.toISOString().replace(/\D/g, '').slice(0, 14);
  return `0.${stamp}`;
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
