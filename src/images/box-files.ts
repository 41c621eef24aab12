import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../atomic-write.js';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export async function fileSize(file: string): Promise<number> {
  return (await stat(file)).size;
}

/**
 * A copy of its own (`cp --reflink=auto`): a reflink where the file system has them (instant, shares
 * blocks until one side changes), a plain copy elsewhere. Never a hard link: a registry's box file must not
 * share its inode with the cache or with another checkout's registry, or damage to one is damage to all.
 * Written under a temporary name and renamed, so `to` is never half a file.
 */
export async function copyBox(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  const temporary = path.join(path.dirname(to), `.${path.basename(to)}.${process.pid}.tmp`);
  try {
    await copyFile(from, temporary, constants.COPYFILE_FICLONE);
    await rename(temporary, to);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Built base boxes are kept outside any clone, keyed by their input digest, so that a fresh clone
 * (or CI) reuses a box whose inputs have not changed instead of building it again.
 */
export function boxCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.VMLAB_CACHE) return path.resolve(env.VMLAB_CACHE);
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'vmlab', 'boxes');
}

export function cachedBoxFile(env: NodeJS.ProcessEnv, name: string, digest: string): string {
  return path.join(boxCacheDir(env), `${name}-${digest.slice(0, 16)}.box`);
}

/** Keep one cached box per image: the new one (and its record). */
export async function pruneCache(env: NodeJS.ProcessEnv, name: string, keep: string): Promise<void> {
  const dir = boxCacheDir(env);
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    if (file.startsWith(`${name}-`) && path.join(dir, file.replace(/\.json$/, '')) !== keep && /^[0-9a-f]{16}\.box(\.json)?$/.test(file.slice(name.length + 1))) {
      await rm(path.join(dir, file), { force: true });
    }
  }
}

/** What was recorded when a cached box was built: its checksum (checked before each reuse) and its build. */
export interface CacheRecord {
  sha256: string;
  buildSeconds: number;
  /** When it was built (ISO): with the checksum, it makes the box's Vagrant version, the same in every checkout. */
  builtAt: string;
}

function cacheRecordFile(cached: string): string {
  return `${cached}.json`;
}

/** Put a freshly built box into the cache (a copy, then its record), replacing what was there. */
export async function cacheBox(env: NodeJS.ProcessEnv, name: string, built: string, cached: string, record: CacheRecord): Promise<void> {
  await rm(cacheRecordFile(cached), { force: true });
  await copyBox(built, cached);
  const recordFile = cacheRecordFile(cached);
  await writeFileAtomic(recordFile, `${JSON.stringify(record, null, 2)}\n`);
  await pruneCache(env, name, cached);
}

export type CacheCheck = { state: 'missing' } | { state: 'good'; record: CacheRecord } | { state: 'bad'; why: string };

/**
 * Whether a cached box can be reused: it exists, it has the record written when it was built (a box cached by
 * an older vmlab has none), and its checksum is still the recorded one.
 */
export async function checkCachedBox(cached: string): Promise<CacheCheck> {
  const present = await stat(cached).then(() => true, () => false);
  if (!present) return { state: 'missing' };
  let record: Partial<CacheRecord>;
  try {
    record = JSON.parse(await readFile(cacheRecordFile(cached), 'utf8')) as Partial<CacheRecord>;
  } catch {
    return { state: 'bad', why: `it has no readable record of its checksum (${cacheRecordFile(cached)}; cached by an older vmlab, or interrupted)` };
  }
  if (typeof record.sha256 !== 'string' || typeof record.buildSeconds !== 'number' || typeof record.builtAt !== 'string') {
    return { state: 'bad', why: `its record ${cacheRecordFile(cached)} is incomplete` };
  }
  const actual = await sha256File(cached);
  if (actual !== record.sha256) return { state: 'bad', why: `its sha256 is ${actual}, not ${record.sha256} as recorded when it was built` };
  return { state: 'good', record: record as CacheRecord };
}

/** Drop a cache entry that cannot be trusted. */
export async function dropCachedBox(cached: string): Promise<void> {
  await rm(cached, { force: true });
  await rm(cacheRecordFile(cached), { force: true });
}
