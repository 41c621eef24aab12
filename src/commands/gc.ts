import { lstat, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseBoxList, VAGRANT_ENV, vagrantArgs } from '../adapters/vagrant.js';
import { parseInterfaceNetworks, Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { checkLibvirt } from '../host/preflight.js';
import { classifyVolume, formatBytes, GC_ORDER, planGc, type GcBox, type GcFacts, type GcItem, type GcVolume } from '../images/gc-plan.js';
import { readHostRegistries } from '../images/host-registries.js';
import { forgetRegistries } from '../images/known-registries.js';
import { Registry } from '../images/registry.js';
import { parseWorkFolder, staleWork, clearStaleWork, workAlive, type StaleWork } from '../images/stale-builds.js';
import { boxDirectoryName, vagrantHome } from '../images/vagrant-box-store.js';
import { removeBox } from '../images/vagrant-boxes.js';
import { filesInUse } from '../images/volumes-in-use.js';
import { formatArgv } from '../runner.js';
import { renderTable } from '../ui/ui.js';

/**
 * make gc: what vmlab made and nothing uses any more. By default it only lists (a dry list, exit 0);
 * YES=1 removes. Pool volumes of boxes and seeds no registry on this host claims and no VM stands on,
 * disks of machines whose domain is gone (any lab), vmlab/<image> boxes of unclaimed versions, and
 * the work folders of dead jobs. Returns the exit code.
 */
export async function gc(context: Context, options: { verbose?: boolean } = {}): Promise<number> {
  const { facts, gone, stale } = await gatherFacts(context);
  const items = planGc(facts);
  const removable = items.filter((item) => item.remove);
  const kept = items.filter((item) => !item.remove);

  if (!context.yes) {
    const shown = options.verbose ? items : removable;
    context.ui.result(items, () => {
      const lines: string[] = [];
      if (shown.length) lines.push(renderTable(['KIND', 'NAME', 'SIZE', 'WHY'], shown.map((item) => [item.kind, item.name, formatBytes(item.bytes), item.why])));
      if (!options.verbose && kept.length) lines.push(`${kept.length} more kept for now (recent, in use by a running job, or unknown); VERBOSE=1 shows why.`);
      if (removable.length) lines.push(`${removable.length} to remove, about ${formatBytes(total(removable))}. Nothing removed. To remove these: make gc YES=1`);
      else lines.push('Nothing to remove.');
      return lines.join('\n');
    });
    return 0;
  }

  const virsh = new Virsh(context.runner, context.libvirtUri);
  const results: (GcItem & { removed: boolean; error?: string })[] = kept.map((item) => ({ ...item, removed: false }));
  if (options.verbose && !context.ui.json) for (const item of kept) context.ui.info(`kept ${item.kind} ${item.name}: ${item.why}`);
  let failed = 0;
  let freed = 0;
  for (const kind of GC_ORDER) {
    for (const item of removable.filter((candidate) => candidate.kind === kind)) {
      try {
        await removeItem(context, virsh, item, stale);
        results.push({ ...item, removed: !context.dryRun });
        freed += item.bytes ?? 0;
        if (!context.dryRun && !context.ui.json) context.ui.out(`removed ${item.kind} ${item.name}${item.bytes === null ? '' : ` (${formatBytes(item.bytes)})`}`);
      } catch (error) {
        failed++;
        results.push({ ...item, removed: false, error: (error as Error).message });
        context.ui.error(`could not remove ${item.kind} ${item.name}: ${(error as Error).message.trim().split('\n')[0]}`);
      }
    }
  }
  if (context.dryRun) return 0;
  if (gone.length) {
    await forgetRegistries(gone, context.env);
    for (const file of gone) context.ui.info(`forgot registry ${file}: its checkout is gone`);
  }
  if (context.ui.json) context.ui.out(JSON.stringify(results, null, 2));
  else {
    const keptNote = kept.length ? ` ${kept.length} kept for now${options.verbose ? '' : ' (VERBOSE=1 shows why)'}.` : '';
    context.ui.out(removable.length ? `Removed ${removable.length - failed} of ${removable.length}, about ${formatBytes(freed)} freed.${keptNote}` : `Nothing to remove.${keptNote}`);
  }
  return failed ? 1 : 0;
}

function total(items: GcItem[]): number {
  return items.reduce((sum, item) => sum + (item.bytes ?? 0), 0);
}

async function removeItem(context: Context, virsh: Virsh, item: GcItem, stale: StaleWork[]): Promise<void> {
  switch (item.kind) {
    case 'temp-folder': {
      const work = stale.find((candidate) => candidate.dir === item.path);
      if (!work) return;
      await clearStaleWork(context, work);
      if (context.dryRun) context.ui.out(formatArgv('rm', ['-rf', work.dir]));
      return;
    }
    case 'image-folder':
      if (context.dryRun) context.ui.out(formatArgv('rm', ['-rf', item.path as string]));
      else await rm(item.path as string, { recursive: true, force: true });
      return;
    case 'network':
      await virsh.tryChange(virshArgs.netDestroy(item.name));
      await virsh.change(virshArgs.netUndefine(item.name));
      return;
    case 'disk-volume':
    case 'seed-volume':
    case 'box-volume':
      await virsh.change(virshArgs.volDelete(context.pool, item.name));
      return;
    case 'vagrant-box': {
      const result = await removeBox(context.runner, item.box as string, item.version);
      if (result.exitCode !== 0) throw new Error(`vagrant box remove exited ${result.exitCode}: ${(result.stderr || result.stdout).trim()}`);
      return;
    }
  }
}

interface Gathered {
  facts: GcFacts;
  /** Listed registries whose checkout is gone: dropped from the host-wide list after a removal run. */
  gone: string[];
  stale: StaleWork[];
}

async function gatherFacts(context: Context): Promise<Gathered> {
  const { registries, unreadable, gone } = await readHostRegistries(context);

  await checkLibvirt(context);
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const domains = (await virsh.domains()).map((domain) => domain.name);
  const volumes: GcVolume[] = [];
  for (const volume of await virsh.volumes(context.pool)) {
    if (classifyVolume(volume.name)) volumes.push({ ...volume, ...(await volumeFacts(context, virsh, volume)) });
  }
  const inUseProblems: string[] = [];
  const inUse = await filesInUse(context, inUseProblems);
  for (const problem of inUseProblems) context.ui.warn(`${problem}; no volume is removed`);

  const boxList = await context.runner.run('vagrant', vagrantArgs.boxList(), { readOnly: true, env: VAGRANT_ENV });
  const boxes: GcBox[] = [];
  for (const box of parseBoxList(boxList.stdout)) {
    if (!box.name.startsWith('vmlab/') || !box.version) continue;
    const versionDir = path.join(vagrantHome(context.env), 'boxes', boxDirectoryName(box.name), box.version);
    const mtimeMs = await stat(versionDir).then((info) => info.mtimeMs, () => null);
    boxes.push({ name: box.name, version: box.version, provider: box.provider, mtimeMs, bytes: mtimeMs === null ? null : await diskUsage(versionDir) });
  }

  const stale = await staleWork(context);
  const staleFacts = await Promise.all(stale.map(async (work) => ({ dir: work.dir, bytes: await diskUsage(work.dir, work.mounts) })));
  const homes = [...registries.map((registry) => registry.file), ...unreadable.filter((file) => file.endsWith('index.json'))].map((file) => path.dirname(path.dirname(file)));
  const liveJobs = await findLiveJobs([context.home, ...homes]);
  return {
    facts: { now: Date.now(), registries, unreadable, domains, volumes, inUse, inUseProblems, boxes, liveJobs, staleWork: staleFacts, imageFolders: await imageFolders(context), networks: await vmlabNetworks(virsh, domains) },
    gone,
    stale,
  };
}

/** vmlab's networks and the domains (running or not) with an interface on each. */
async function vmlabNetworks(virsh: Virsh, domains: string[]): Promise<GcFacts['networks']> {
  const names = (await virsh.networks()).filter((name) => name.startsWith('vmlab-'));
  if (names.length === 0) return [];
  const attached = await Promise.all(
    domains.map(async (domain) => {
      const list = await virsh.query(virshArgs.domiflist(domain), false);
      return { domain, known: list.exitCode === 0, networks: parseInterfaceNetworks(list.stdout) };
    }),
  );
  // A domain whose interfaces cannot be read might be on any of them: then every network is kept.
  const unknown = attached.filter((entry) => !entry.known).map((entry) => entry.domain);
  return names.map((name) => ({ name, usedBy: [...unknown, ...attached.filter((entry) => entry.networks.includes(name)).map((entry) => entry.domain)] }));
}

/** The image folders of this VMLAB_HOME (images/<name>/; the index and its lock are not image folders). */
async function imageFolders(context: Context): Promise<GcFacts['imageFolders']> {
  const dir = new Registry(context.home).dir;
  const folders: GcFacts['imageFolders'] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || entry.name.endsWith('.lock')) continue;
    const folder = path.join(dir, entry.name);
    folders.push({ name: entry.name, dir: folder, bytes: await diskUsage(folder), mtimeMs: (await stat(folder).catch(() => undefined))?.mtimeMs ?? null });
  }
  return folders;
}

/** Size and age of a volume's file; through libvirt (vol-dumpxml) when this user cannot stat it. */
async function volumeFacts(context: Context, virsh: Virsh, volume: { name: string; path: string }): Promise<Pick<GcVolume, 'bytes' | 'mtimeMs'>> {
  const info = await stat(volume.path).catch(() => undefined);
  if (info) return { bytes: allocated(info), mtimeMs: info.mtimeMs };
  const xml = await virsh.query(['vol-dumpxml', '--pool', context.pool, volume.name], false);
  if (xml.exitCode !== 0) return { bytes: null, mtimeMs: null };
  return parseVolumeXmlFacts(xml.stdout);
}

/** `virsh vol-dumpxml`: allocation and the file's mtime (seconds, with a fraction). */
export function parseVolumeXmlFacts(xml: string): { bytes: number | null; mtimeMs: number | null } {
  const allocation = /<allocation unit=['"]bytes['"]>(\d+)<\/allocation>/.exec(xml)?.[1];
  const mtime = /<timestamps>[\s\S]*?<mtime>([\d.]+)<\/mtime>/.exec(xml)?.[1];
  return { bytes: allocation ? Number(allocation) : null, mtimeMs: mtime ? Math.round(Number(mtime) * 1000) : null };
}

function allocated(info: { blocks: number; size: number }): number {
  return info.blocks > 0 ? info.blocks * 512 : info.size;
}

/** Bytes a folder takes, without following links or descending into the given mount points. */
async function diskUsage(dir: string, skip: string[] = []): Promise<number | null> {
  const walk = async (file: string): Promise<number> => {
    if (skip.includes(file)) return 0;
    const info = await lstat(file).catch(() => undefined);
    if (!info) return 0;
    if (!info.isDirectory()) return allocated(info);
    const entries = await readdir(file).catch(() => [] as string[]);
    let sum = allocated(info);
    for (const entry of entries) sum += await walk(path.join(file, entry));
    return sum;
  };
  return lstat(dir).then(() => walk(dir), () => null);
}

/** Builds and exports running now in these VMLAB_HOMEs, by the image they make. */
async function findLiveJobs(homes: string[]): Promise<GcFacts['liveJobs']> {
  const jobs: GcFacts['liveJobs'] = [];
  const alive = await workAlive();
  for (const home of [...new Set(homes)]) {
    const tmp = path.join(home, 'tmp');
    for (const entry of await readdir(tmp).catch(() => [] as string[])) {
      const work = parseWorkFolder(entry);
      if (!work || !alive(work.pid, path.join(tmp, entry))) continue;
      jobs.push({ image: work.job === 'clone' ? `clone-${work.name}` : work.name, dir: path.join(tmp, entry) });
    }
  }
  return jobs;
}
