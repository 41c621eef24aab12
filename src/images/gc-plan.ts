import { isVolumeOf } from '../commands/delete.js';
import { registryClaims } from './host-registries.js';
import type { RegistryIndex } from './registry-schema.js';

/*
 * What `make gc` removes, decided from facts alone (no tool is run here). Only what vmlab makes is ever
 * considered: pool volumes named after vmlab boxes, seeds and machines, Vagrant boxes named vmlab/<image>,
 * and the work folders of vmlab's jobs. Everything else in the pool and the box store is never listed.
 */

export type GcKind = 'vagrant-box' | 'box-volume' | 'seed-volume' | 'disk-volume' | 'temp-folder' | 'image-folder' | 'network';

export interface GcItem {
  kind: GcKind;
  /** The volume, the box ("vmlab/debian-12 0.20261120100000") or the folder. */
  name: string;
  /** What it takes on disk; null when unknown. */
  bytes: number | null;
  why: string;
  /** false: listed (verbose, JSON) but kept, for the reason in why. */
  remove: boolean;
  /** Volumes and folders: the file or folder. */
  path?: string;
  /** Vagrant boxes and box volumes. */
  box?: string;
  version?: string;
}

export interface GcVolume {
  name: string;
  path: string;
  bytes: number | null;
  /** Last modification (ms since the epoch); null when it could not be read. */
  mtimeMs: number | null;
}

export interface GcBox {
  name: string;
  version: string;
  provider?: string;
  bytes: number | null;
  /** When Vagrant unpacked this version (its folder's mtime); null when unknown. */
  mtimeMs: number | null;
}

export interface GcFacts {
  now: number;
  /** Every registry on this host that could be read. */
  registries: { file: string; index: RegistryIndex }[];
  /** Registries (or the host-wide list of them) that could not be read: what they claim is unknown. */
  unreadable: string[];
  /** Every libvirt domain, of any lab. */
  domains: string[];
  /** The pool's volumes. */
  volumes: GcVolume[];
  /** Files some domain's disks or CD-ROMs stand on, backing files included. */
  inUse: ReadonlySet<string>;
  /** Why `inUse` may be incomplete; then no volume is removed. */
  inUseProblems: string[];
  /** `vagrant box list`. */
  boxes: GcBox[];
  /** Jobs (build, export) running now in any known VMLAB_HOME, by the image they make. */
  liveJobs: { image: string; dir: string }[];
  /** Work folders of this VMLAB_HOME whose job is gone. */
  staleWork: { dir: string; bytes: number | null }[];
  /** vmlab's libvirt networks (vmlab-mgmt, vmlab-<lab>-*), each with the domains (any state) on it. */
  networks: { name: string; usedBy: string[] }[];
  /** The folders under this VMLAB_HOME's images/, by image name (a registered image keeps its box there). */
  imageFolders: { name: string; dir: string; bytes: number | null; mtimeMs: number | null }[];
}

/** A volume or box younger than this may belong to a `vagrant up` or a build still under way. */
export const RECENT_MS = 10 * 60_000;

const BOX_VOLUME = /^vmlab-VAGRANTSLASH-([a-z][a-z0-9.-]*)_vagrant_box_image_([^_/]+)_box(?:_\d+)?\.img$/;
const SEED_VOLUME = /^vmlab-seed-([a-z][a-z0-9.-]*)-(\d[\d.]*)\.iso$/;
/** vmlab-<lab>-<machine>...: lab names are lowercase letters and digits, so VAGRANTSLASH never matches. */
const MACHINE_VOLUME = /^vmlab-[a-z][a-z0-9]{0,15}-[a-z][a-z0-9-]*(?:\.img$|-)/;
const VMLAB_BOX = /^vmlab\/([a-z][a-z0-9.-]*)$/;

export type VolumeClass =
  | { kind: 'box-volume'; box: string; image: string; version: string }
  | { kind: 'seed-volume'; image: string; version: string }
  | { kind: 'disk-volume' };

/** Which of vmlab's volumes this is, by its name; undefined for a volume vmlab did not make. */
export function classifyVolume(name: string): VolumeClass | undefined {
  const box = BOX_VOLUME.exec(name);
  if (box?.[1] && box[2]) return { kind: 'box-volume', box: `vmlab/${box[1]}`, image: box[1], version: box[2] };
  const seed = SEED_VOLUME.exec(name);
  if (seed?.[1] && seed[2]) return { kind: 'seed-volume', image: seed[1], version: seed[2] };
  // A seed ISO never counts as a machine's disk, even in a lab named "seed".
  if (MACHINE_VOLUME.test(name) && !name.endsWith('.iso')) return { kind: 'disk-volume' };
  return undefined;
}

function minutesAgo(now: number, mtimeMs: number): string {
  const minutes = Math.max(0, Math.floor((now - mtimeMs) / 60_000));
  return minutes === 0 ? 'just now' : `${minutes} min ago`;
}

export function planGc(facts: GcFacts): GcItem[] {
  const { boxes: claims, seeds: claimedSeeds, images: claimedImages } = registryClaims(facts.registries);
  const unreadable = facts.unreadable.length ? `kept: ${facts.unreadable.join(', ')} could not be read, so what it claims is unknown` : undefined;
  const inUseUnknown = facts.inUseProblems.length ? `kept: which volumes VMs use is not fully known (${facts.inUseProblems.join('; ')})` : undefined;
  const liveJob = (image: string) => facts.liveJobs.find((job) => job.image === image);
  const recent = (mtimeMs: number | null) => mtimeMs !== null && facts.now - mtimeMs < RECENT_MS;
  const items: GcItem[] = [];

  for (const stale of facts.staleWork) {
    items.push({ kind: 'temp-folder', name: stale.dir, path: stale.dir, bytes: stale.bytes, remove: true, why: 'work folder of a job that is no longer running' });
  }

  // A box moved into images/<name>/ whose build or export was killed before the index listed it.
  for (const folder of facts.imageFolders) {
    if (claimedImages.has(folder.name)) continue;
    const base = { kind: 'image-folder' as const, name: folder.dir, path: folder.dir, bytes: folder.bytes };
    const why = `folder of image ${folder.name}, which the registry does not list (its build or export was killed while registering)`;
    const job = liveJob(folder.name);
    if (unreadable) items.push({ ...base, remove: false, why: `${why}; ${unreadable}` });
    else if (job) items.push({ ...base, remove: false, why: `${why}; a job making image ${folder.name} is running (${job.dir}), skipped` });
    else if (folder.mtimeMs === null || recent(folder.mtimeMs)) items.push({ ...base, remove: false, why: `${why}; recent, skipped` });
    else items.push({ ...base, remove: true, why });
  }

  for (const network of facts.networks) {
    if (!network.name.startsWith('vmlab-') || network.usedBy.length) continue;
    items.push({ kind: 'network', name: network.name, bytes: null, remove: true, why: 'vmlab network that no VM is on, running or not' });
  }

  for (const volume of facts.volumes) {
    const found = classifyVolume(volume.name);
    if (!found) continue;
    const base = { name: volume.name, path: volume.path, bytes: volume.bytes };
    const keep = (why: string, extra: object = {}) => items.push({ kind: found.kind, ...base, ...extra, remove: false, why });
    if (found.kind === 'disk-volume') {
      const owner = facts.domains.find((domain) => isVolumeOf(domain, volume.name));
      if (owner) continue;
      if (facts.inUse.has(volume.path)) continue;
      const why = 'disk of a machine whose libvirt domain is gone';
      if (inUseUnknown) keep(`${why}; ${inUseUnknown}`);
      else if (volume.mtimeMs === null) keep(`${why}; age unknown, skipped`);
      else if (recent(volume.mtimeMs)) keep(`${why}; recent, skipped (modified ${minutesAgo(facts.now, volume.mtimeMs)}: a vagrant up may be creating its VM)`);
      else items.push({ kind: 'disk-volume', ...base, remove: true, why });
      continue;
    }
    if (found.kind === 'box-volume' ? claims.has(`box ${found.box} ${found.version}`) : claimedSeeds.has(`seed ${found.image} ${found.version}`)) continue;
    if (facts.inUse.has(volume.path)) continue;
    const extra = found.kind === 'box-volume' ? { box: found.box, version: found.version } : { version: found.version };
    const why =
      found.kind === 'box-volume'
        ? `box ${found.box} ${found.version}: no registry claims it, no VM stands on it`
        : `seed of image ${found.image} ${found.version}: no registry claims it, no VM uses it`;
    const job = liveJob(found.image);
    if (unreadable) keep(`${why}; ${unreadable}`, extra);
    else if (inUseUnknown) keep(`${why}; ${inUseUnknown}`, extra);
    else if (job) keep(`${why}; a job making image ${found.image} is running (${job.dir}), skipped`, extra);
    else if (recent(volume.mtimeMs)) keep(`${why}; recent, skipped (modified ${minutesAgo(facts.now, volume.mtimeMs as number)})`, extra);
    else items.push({ kind: found.kind, ...base, ...extra, remove: true, why });
  }

  for (const box of facts.boxes) {
    const image = VMLAB_BOX.exec(box.name)?.[1];
    if (!image || (box.provider !== undefined && box.provider !== 'libvirt')) continue;
    if (claims.has(`box ${box.name} ${box.version}`)) continue;
    const base = { kind: 'vagrant-box' as const, name: `${box.name} ${box.version}`, box: box.name, version: box.version, bytes: box.bytes };
    const why = claimedImages.has(image) ? `no registry claims version ${box.version} of image ${image}` : `image ${image} is in no registry`;
    const job = liveJob(image);
    if (unreadable) items.push({ ...base, remove: false, why: `${why}; ${unreadable}` });
    else if (job) items.push({ ...base, remove: false, why: `${why}; a job making image ${image} is running (${job.dir}), skipped` });
    else if (recent(box.mtimeMs)) items.push({ ...base, remove: false, why: `${why}; recent, skipped (added ${minutesAgo(facts.now, box.mtimeMs as number)})` });
    else items.push({ ...base, remove: true, why });
  }
  return items;
}

/** The order removals run in: what VMs could stand on last. */
export const GC_ORDER: readonly GcKind[] = ['temp-folder', 'image-folder', 'disk-volume', 'seed-volume', 'box-volume', 'vagrant-box', 'network'];

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes < 2 ** 20) return `${Math.ceil(bytes / 1024)} KiB`;
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}
