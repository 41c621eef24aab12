import { access, mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseBoxList, VAGRANT_ENV } from '../adapters/vagrant.js';
import { Virsh, virshArgs } from '../adapters/virsh.js';
import { confirmOrRefuse } from '../confirm.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { checkLibvirt } from '../host/preflight.js';
import { copyBox, sha256File } from '../images/box-files.js';
import { formatArgv } from '../runner.js';
import { seedVolumeName } from '../images/nocloud-seed.js';
import { childrenOf, Registry } from '../images/registry.js';
import type { ImageRecord, RegistryIndex } from '../images/registry-schema.js';
import { chainFreshness, recipeChain, recipeFor } from '../images/image-graph.js';
import { imageTree, renderImageTree } from '../images/image-tree.js';
import { poolVolumePrefix, removeBox, stampOf } from '../images/vagrant-boxes.js';
import { damagedFix } from '../images/damaged.js';
import { classifyVolume } from '../images/gc-plan.js';
import { claimedElsewhere, readHostRegistries, registryClaims } from '../images/host-registries.js';
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
    .map((image) => ({ ...image, state: image.damaged ? 'damaged' : (states.get(image.name) ?? 'current') }));
  const now = Date.now();
  const damaged = await Promise.all(
    images.filter((image) => image.damaged).map(async (image) => `${image.name} is damaged (make images-verify, ${image.damaged?.at}: ${image.damaged?.problems.join('; ')}). ${damagedFix(image, Boolean(await recipeFor(context, image.name).catch(() => undefined)))}`),
  );
  context.ui.result(images, () =>
    images.length === 0
      ? 'No images yet. The first make create-<role> builds the base image, or: make build IMAGE=debian-12'
      : [renderTable(
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
        ), ...damaged].join('\n'),
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
 * build rebuilds it); custom: an exported image, taken as it is. (damaged, from a failed verify, goes over all.)
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
  // Only this registry's versions, and of those only what no other registry on this host claims: another
  // checkout may have its own version of the box, or share this one (the same bytes from the box cache).
  const claimed = await claimedElsewhere(context, record.box, [record.boxVersion, ...record.retiredVersions]);
  const versions = [record.boxVersion, ...record.retiredVersions].filter((version) => !claimed.has(version));
  if (claimed.size) context.ui.info(`image ${name}: Vagrant box ${record.box} ${[...claimed].join(', ')} stays: another registry on this host claims it`);
  const listed = await virsh.volumesOrProblem(context.pool);
  if (listed.problem) context.ui.warn(`the volumes of pool ${context.pool} could not be listed (${listed.problem}): any pool volume of ${name} stays; after make setup, make gc finds it`);
  const volumes = listed.volumes.filter(
    (volume) =>
      versions.some((version) => volume.name.startsWith(`${poolVolumePrefix(record.box)}${version}_`)) ||
      (!claimed.has(record.boxVersion) && volume.name === seedVolumeName(name, stampOf(record.boxVersion))),
  );
  if (!claimed.has(record.boxVersion)) await removeBox(context.runner, record.box, record.boxVersion);
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
  /** The registry's box file of the image. */
  file: string;
  /** What to type next, when it failed. */
  next?: string;
}

/**
 * make images-verify: checksum, qemu-img check and the box in Vagrant for each image of this registry; an
 * image that fails is marked damaged (make images shows it, create refuses it) and one that passes is cleared.
 * Lists the vmlab boxes and box volumes that no registry on this host claims (what make gc judges by). The
 * exit status is about this registry's images only.
 */
export async function verifyImages(context: Context): Promise<number> {
  const registry = new Registry(context.home);
  const index = await registry.read();
  const boxes = parseBoxList((await context.runner.run('vagrant', ['box', 'list', '--machine-readable'], { readOnly: true, env: VAGRANT_ENV })).stdout);
  const volumes = (await new Virsh(context.runner, context.libvirtUri).volumes(context.pool)).map((volume) => volume.name);
  const results: Verification[] = [];
  for (const record of Object.values(index.images)) results.push(await verifyOne(context, registry, record, boxes, volumes));
  await recordDamage(context, registry, index, results);

  const host = await readHostRegistries(context);
  const claims = registryClaims(host.registries);
  const unknown = host.unreadable.length > 0;
  const orphanBoxes = unknown
    ? []
    : [...new Set(boxes.filter((box) => box.name.startsWith('vmlab/') && box.version && (box.provider === undefined || box.provider === 'libvirt')).map((box) => `${box.name} ${box.version}`))].filter(
        (box) => !claims.boxes.has(`box ${box}`),
      );
  const orphanVolumes = unknown
    ? []
    : volumes.filter((volume) => {
        const found = classifyVolume(volume);
        if (found?.kind === 'box-volume') return !claims.boxes.has(`box ${found.box} ${found.version}`);
        if (found?.kind === 'seed-volume') return !claims.seeds.has(`seed ${found.image} ${found.version}`);
        return false;
      });
  context.ui.result({ images: results, orphanBoxes, orphanVolumes }, () => {
    const table = renderTable(['', 'IMAGE', 'PROBLEMS'], results.map((result) => [result.ok ? 'OK' : 'FAIL', result.image, result.problems.join('; ') || '-']));
    const next = results.filter((result) => !result.ok).map((result) => `${result.image} is marked damaged (make create refuses it). ${result.next}`);
    const orphans = [...orphanBoxes.map((box) => `orphan Vagrant box (no registry on this host claims it): ${box}`), ...orphanVolumes.map((volume) => `orphan pool volume (no registry on this host claims it): ${volume}`)];
    if (orphans.length) orphans.push('make gc lists what of these nothing uses any more; make gc YES=1 removes it.');
    return [results.length ? table : 'No images registered.', ...next, ...orphans].join('\n');
  });
  return results.every((result) => result.ok) ? 0 : 1;
}

/** Mark what failed as damaged and clear what passed, for records unchanged since they were verified. */
async function recordDamage(context: Context, registry: Registry, index: RegistryIndex, results: Verification[]): Promise<void> {
  const at = new Date().toISOString();
  const changes = results.filter((result) => (result.ok ? index.images[result.image]?.damaged : true));
  if (context.dryRun || changes.length === 0) return;
  await registry.update((current) => {
    for (const result of changes) {
      const record = current.images[result.image];
      const verified = index.images[result.image];
      if (!record || !verified || record.sha256 !== verified.sha256 || record.boxVersion !== verified.boxVersion) continue;
      if (result.ok) delete record.damaged;
      else record.damaged = { at, problems: result.problems };
    }
  });
}

async function verifyOne(context: Context, registry: Registry, record: ImageRecord, boxes: { name: string; version?: string }[], volumes: string[]): Promise<Verification> {
  const problems: string[] = [];
  const file = registry.boxFile(record);
  const present = await access(file).then(() => true, () => false);
  if (!present) problems.push(`box file ${file} is missing`);
  else {
    const actual = await sha256File(file);
    if (actual !== record.sha256) problems.push(`box file ${file} has sha256 ${actual.slice(0, 16)}..., the registry recorded ${record.sha256.slice(0, 16)}...`);
    else {
      await ownCopy(context, record.name, file);
      const dir = await mkdtemp(path.join(context.home, 'verify-'));
      try {
        const unpacked = await context.runner.run('tar', ['-xf', file, '-C', dir, 'box.img', 'metadata.json'], { readOnly: true, check: false });
        if (unpacked.exitCode !== 0) problems.push(`box file ${file} cannot be unpacked: ${unpacked.stderr.trim().split('\n')[0] ?? ''}`);
        else {
          const check = await context.runner.run('qemu-img', ['check', path.join(dir, 'box.img')], { readOnly: true, check: false });
          if (check.exitCode !== 0) problems.push(`qemu-img check of box.img in ${file}: ${check.stdout.trim().split('\n').at(-1)}`);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  if (!boxes.some((box) => box.name === record.box && box.version === record.boxVersion)) problems.push(`Vagrant box ${record.box} ${record.boxVersion} is missing`);
  const volume = volumes.find((name) => name.startsWith(`${poolVolumePrefix(record.box)}${record.boxVersion}_`));
  if (!volume) context.ui.info(`${record.name}: no pool volume yet (uploaded at the first VM)`);
  const ok = problems.length === 0;
  return { image: record.name, ok, problems, file, ...(ok ? {} : { next: damagedFix(record, Boolean(await recipeFor(context, record.name).catch(() => undefined))) }) };
}

/**
 * An older vmlab hard-linked the cached box into every registry: one inode for all, so damage to one was
 * damage to all. A sound box file that still shares its inode gets a copy of its own (same bytes).
 */
async function ownCopy(context: Context, image: string, file: string): Promise<void> {
  const links = (await stat(file)).nlink;
  if (links < 2) return;
  if (context.dryRun) {
    context.ui.out(formatArgv('cp', ['--reflink=auto', file, file]));
    return;
  }
  await copyBox(file, file);
  context.ui.info(`${image}: gave ${file} a copy of its own (it shared its inode with ${links - 1} other file(s): hard links made by an older vmlab)`);
}
