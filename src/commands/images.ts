import { access, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseBoxList, VAGRANT_ENV } from '../adapters/vagrant.js';
import { Virsh, virshArgs } from '../adapters/virsh.js';
import { confirmOrRefuse } from '../confirm.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { checkLibvirt } from '../host/preflight.js';
import { sha256File } from '../images/box-files.js';
import { seedVolumeName } from '../images/nocloud-seed.js';
import { childrenOf, Registry } from '../images/registry.js';
import type { ImageRecord, RegistryIndex } from '../images/registry-schema.js';
import { chainFreshness, recipeChain, recipeFor } from '../images/image-graph.js';
import { imageTree, renderImageTree } from '../images/image-tree.js';
import { poolVolumePrefix, removeBox } from '../images/vagrant-boxes.js';
import { loadWorkspace, resolveMachines } from '../lab/workspace.js';
import { checkImageName } from '../names.js';
import { renderTable } from '../ui/ui.js';

const MiB = 2 ** 20;

export async function listImages(context: Context, options: { tree?: boolean } = {}): Promise<void> {
  const index = await new Registry(context.home).read();
  if (options.tree) return imageTreeOf(context, index);
  const states = await imageStates(context, index);
  const images = Object.values(index.images)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((image) => ({ ...image, state: states.get(image.name) ?? 'current' }));
  const now = Date.now();
  context.ui.result(images, () =>
    images.length === 0
      ? 'No images yet. The first make create-<role> builds the base image, or: make build IMAGE=debian-12'
      : renderTable(
          ['NAME', 'KIND', 'STATE', 'ROLE', 'PARENT', 'SIZE', 'VIRTUAL', 'AGE', 'BUILT IN', 'SOURCE'],
          images.map((image) => [
            image.name,
            image.kind,
            image.state,
            image.role ?? '-',
            image.parent ?? '-',
            `${(image.sizeBytes / MiB).toFixed(0)} MiB`,
            `${(image.virtualSizeBytes / 2 ** 30).toFixed(0)} GiB`,
            age(now - Date.parse(image.created)),
            image.buildSeconds === undefined ? '-' : `${image.buildSeconds} s`,
            image.source,
          ]),
        ),
  );
}

/** make images TREE=1: the lineage base -> role -> custom, with the lab's machines on each image. */
async function imageTreeOf(context: Context, index: RegistryIndex): Promise<void> {
  let machines: { name: string; image: string }[] = [];
  try {
    machines = resolveMachines(await loadWorkspace(context));
  } catch (error) {
    context.ui.warn(`the lab's machines are not shown: ${(error as Error).message.split('\n')[0]}`);
  }
  const roots = imageTree(index, machines);
  context.ui.result(roots, () => (roots.length ? renderImageTree(roots) : 'No images yet. The first make create-<role> builds the base image, or: make build IMAGE=debian-12'));
}

/**
 * current: built from the inputs it has now; stale: its inputs or its parent changed since (the next
 * build rebuilds it); custom: an exported image, taken as it is.
 */
async function imageStates(context: Context, index: RegistryIndex): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  for (const record of Object.values(index.images)) {
    if (!(await recipeFor(context, record.name))) {
      states.set(record.name, record.kind === 'custom' ? 'custom' : 'current');
      continue;
    }
    const freshness = await chainFreshness(context, await recipeChain(context, record.name), index).catch(() => undefined);
    states.set(record.name, freshness?.get(record.name) === 'current' ? 'current' : 'stale');
  }
  return states;
}

function age(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h`;
  return `${Math.floor(minutes / 1440)}d`;
}

/** Remove an image: refused while a machine or a child image uses it; removes its box and pool volumes too. */
export async function removeImage(context: Context, name: string): Promise<void> {
  checkImageName(name);
  const registry = new Registry(context.home);
  const index = await registry.read();
  const record = index.images[name];
  if (!record) throw new UserError(`unknown image "${name}"`, `See: make images`, 2);
  const children = childrenOf(index, name);
  if (children.length) throw new UserError(`image ${name} has child images: ${children.join(', ')}`, `Remove them first: make image-rm IMAGE=${children[0]} YES=1`);
  const workspace = await loadWorkspace(context);
  const users = resolveMachines(workspace).filter((machine) => machine.image === name).map((machine) => machine.name);
  if (users.length) throw new UserError(`image ${name} is used by machines: ${users.join(', ')}`, `Delete them first: make delete NAME=${users[0]} YES=1`);
  await confirmOrRefuse(context, `Remove image ${name}, its Vagrant box and its pool volumes?`, { what: `removing image ${name}`, command: `make image-rm IMAGE=${name}` });
  await removeImageRecord(context, registry, record);
}

/** The removal itself, once the checks passed: the Vagrant box version, its pool volumes, seed, record and folder. */
export async function removeImageRecord(context: Context, registry: Registry, record: ImageRecord): Promise<void> {
  const name = record.name;
  await checkLibvirt(context);
  const virsh = new Virsh(context.runner, context.libvirtUri);
  // Only this registry's version: another checkout on the same host may have its own version of the box.
  const versions = [record.boxVersion, ...record.retiredVersions];
  const listed = await virsh.volumesOrProblem(context.pool);
  if (listed.problem) context.ui.warn(`the volumes of pool ${context.pool} could not be listed (${listed.problem}): any pool volume of ${name} stays; after make setup, make gc finds it`);
  const volumes = listed.volumes.filter(
    (volume) =>
      versions.some((version) => volume.name.startsWith(`${poolVolumePrefix(record.box)}${version}_`)) ||
      volume.name === seedVolumeName(name, record.boxVersion),
  );
  await removeBox(context.runner, record.box, record.boxVersion);
  for (const volume of volumes) await virsh.change(virshArgs.volDelete(context.pool, volume.name));
  if (context.dryRun) return;
  await registry.update((current) => {
    delete current.images[name];
  });
  await rm(registry.imageDir(name), { recursive: true, force: true });
  context.ui.info(`removed image ${name}${volumes.length ? ` and pool volume(s) ${volumes.map((volume) => volume.name).join(', ')}` : ''}`);
}

export interface Verification {
  image: string;
  ok: boolean;
  problems: string[];
}

/** Checksum, qemu-img check, the box in Vagrant, the volume in the pool; and orphans of vmlab's own. */
export async function verifyImages(context: Context): Promise<number> {
  const registry = new Registry(context.home);
  const index = await registry.read();
  const boxes = parseBoxList((await context.runner.run('vagrant', ['box', 'list', '--machine-readable'], { readOnly: true, env: VAGRANT_ENV })).stdout);
  const volumes = (await new Virsh(context.runner, context.libvirtUri).volumes(context.pool)).map((volume) => volume.name);
  const results: Verification[] = [];
  for (const record of Object.values(index.images)) results.push(await verifyOne(context, registry, record, boxes, volumes));
  const known = new Set(Object.values(index.images).map((record) => record.box));
  const orphanBoxes = [...new Set(boxes.map((box) => box.name))].filter((box) => box.startsWith('vmlab/') && !known.has(box));
  const orphanVolumes = volumes.filter((volume) => volume.startsWith('vmlab-VAGRANTSLASH-') && ![...known].some((box) => volume.startsWith(poolVolumePrefix(box))));
  context.ui.result({ images: results, orphanBoxes, orphanVolumes }, () => {
    const table = renderTable(['', 'IMAGE', 'PROBLEMS'], results.map((result) => [result.ok ? 'OK' : 'FAIL', result.image, result.problems.join('; ') || '-']));
    const orphans = [...orphanBoxes.map((box) => `orphan Vagrant box: ${box}`), ...orphanVolumes.map((volume) => `orphan pool volume: ${volume}`)];
    return [results.length ? table : 'No images registered.', ...orphans].join('\n');
  });
  return results.every((result) => result.ok) && !orphanBoxes.length && !orphanVolumes.length ? 0 : 1;
}

async function verifyOne(context: Context, registry: Registry, record: ImageRecord, boxes: { name: string; version?: string }[], volumes: string[]): Promise<Verification> {
  const problems: string[] = [];
  const file = registry.boxFile(record);
  const present = await access(file).then(() => true, () => false);
  if (!present) problems.push(`box file missing: ${file}`);
  else if ((await sha256File(file)) !== record.sha256) problems.push('sha256 does not match the registry');
  else {
    const dir = await mkdtemp(path.join(context.home, 'verify-'));
    try {
      await context.runner.run('tar', ['-xf', file, '-C', dir, 'box.img', 'metadata.json'], { readOnly: true });
      const check = await context.runner.run('qemu-img', ['check', path.join(dir, 'box.img')], { readOnly: true, check: false });
      if (check.exitCode !== 0) problems.push(`qemu-img check: ${check.stdout.trim().split('\n').at(-1)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (!boxes.some((box) => box.name === record.box && box.version === record.boxVersion)) problems.push(`Vagrant box ${record.box} ${record.boxVersion} missing (make build IMAGE=${record.name} FORCE=1)`);
  const volume = volumes.find((name) => name.startsWith(`${poolVolumePrefix(record.box)}${record.boxVersion}_`));
  if (!volume) context.ui.info(`${record.name}: no pool volume yet (uploaded at the first VM)`);
  return { image: record.name, ok: problems.length === 0, problems };
}

